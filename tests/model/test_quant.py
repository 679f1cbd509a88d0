"""model/quant.py: the offline side (scales, codes, calibration, folded integer constants).

Each folding function is checked by running the *integer* model functions on its output and
comparing with the real-valued operation it replaces, within rounding bounds derived from the
constants (0.5 LSB of the final rounding plus the dyadic error ``|b/2^c - m| <= m 2^-16``).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivita.model import (
    attention_score_multiplier, calibrate_asymmetric, calibrate_minmax, calibrate_mse,
    calibrate_percentile, dequant_first_constants, dequant_first_frac_bits,
    dequant_first_operand, dequantize, fold_layernorm, fold_layernorm_into_linear,
    fold_zero_point, gelu_x0, int_layernorm, layernorm_scale, linear_acc, quantize,
    quantize_asymmetric, quantize_bias, requant_multiplier, requantize, softmax_x0,
    symmetric_scale,
)

PROP = settings(max_examples=100, derandomize=True, deadline=None, database=None)
WIDTHS = [2, 3, 4, 5, 6, 7, 8, 16]


# ----------------------------------------------------------------------------- codes

@pytest.mark.parametrize("bits", WIDTHS)
def test_quantize_round_trip_within_half_step(bits: int) -> None:
    rng = np.random.default_rng(bits)
    r = rng.normal(size=1000)
    s = calibrate_minmax(r, bits)
    q = quantize(r, s, bits)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    assert q.dtype == np.int64 and int(q.min()) >= lo and int(q.max()) <= hi
    assert int(np.abs(q).max()) == hi            # min/max maps the largest |r| to the top code
    assert np.max(np.abs(dequantize(q, s) - r)) <= s / 2 * (1 + 1e-12)


def test_quantize_saturates_and_rounds_half_to_even() -> None:
    assert quantize([100.0, -100.0], 1.0, 4).tolist() == [7, -8]
    assert quantize([0.5, 1.5, 2.5, -0.5], 1.0, 8).tolist() == [0, 2, 2, 0]


def test_quantize_per_channel_axis() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 6)) * np.array([[1.0], [10.0], [0.1], [3.0]])
    s = calibrate_minmax(w, 8, axis=0)
    assert s.shape == (4,)
    q = quantize(w, s, 8, axis=0)
    assert np.abs(q).max(axis=1).tolist() == [127] * 4
    for j in range(4):
        assert q[j].tolist() == quantize(w[j], float(s[j]), 8).tolist()
    assert np.allclose(dequantize(q, s, axis=0), w, atol=float(s.max()) / 2)
    # along the last axis too
    s1 = calibrate_minmax(w, 8, axis=1)
    assert quantize(w, s1, 8, axis=-1).tolist() == quantize(w, s1, 8, axis=1).tolist()


def test_calibrate_minmax_zero_channel_gets_largest_scale() -> None:
    w = np.array([[1.0, -2.0], [0.0, 0.0]])
    s = calibrate_minmax(w, 4, axis=0)
    assert s.tolist() == [2.0 / 7, 2.0 / 7]


def test_asymmetric_codes() -> None:
    x = np.linspace(-1.0, 3.0, 101)
    s, z = calibrate_asymmetric(x, 8)
    assert -128 <= z <= 127
    q = quantize_asymmetric(x, s, z, 8)
    assert int(q.min()) == -128 and int(q.max()) == 127
    assert np.max(np.abs(dequantize(q, s, zero_point=z) - x)) <= s / 2 * (1 + 1e-9)


@pytest.mark.parametrize("bits", WIDTHS)
def test_asymmetric_falls_back_when_zero_point_overflows(bits: int) -> None:
    # all-positive range: the zero point would sit below the lowest code (Q-HyViT overflow)
    x = np.linspace(5.0, 6.0, 50)
    s, z = calibrate_asymmetric(x, bits)
    assert z == 0
    assert s == symmetric_scale(6.0, bits)
    s2, z2 = calibrate_asymmetric(x, bits, mse=True)
    assert z2 == 0 and s2 == calibrate_mse(x, bits)
    s3, z3 = calibrate_asymmetric(-x, bits, percentile=99.0)
    assert z3 == 0


@PROP
@given(lo=st.floats(-100, 0), width=st.floats(1e-3, 100), bits=st.sampled_from(WIDTHS))
def test_asymmetric_zero_point_always_inside_code_range(lo: float, width: float,
                                                        bits: int) -> None:
    x = np.array([lo, lo + width, lo + width / 3])
    s, z = calibrate_asymmetric(x, bits)
    assert -(1 << (bits - 1)) <= z <= (1 << (bits - 1)) - 1
    assert s > 0


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_mse_calibration_never_worse_than_minmax(bits: int) -> None:
    rng = np.random.default_rng(bits)
    x = rng.standard_t(3, size=4000)          # heavy tails: clipping pays at low bits
    def err(s: float) -> float:
        return float(np.sum((dequantize(quantize(x, s, bits), s) - x) ** 2))
    s_mm, s_mse = calibrate_minmax(x, bits), calibrate_mse(x, bits)
    assert s_mse <= s_mm
    assert err(s_mse) <= err(s_mm)
    if bits <= 4:
        assert err(s_mse) < 0.8 * err(s_mm)
    sa, za = calibrate_asymmetric(x, bits, mse=True)
    sb, zb = calibrate_asymmetric(x, bits)
    def aerr(s: float, z: int) -> float:
        return float(np.sum((dequantize(quantize_asymmetric(x, s, z, bits), s, zero_point=z)
                             - x) ** 2))
    assert aerr(sa, za) <= aerr(sb, zb)
    w = rng.normal(size=(5, 64))
    sw = calibrate_mse(w, bits, axis=0)
    assert sw.shape == (5,) and np.all(sw <= calibrate_minmax(w, bits, axis=0))


def test_percentile_calibration() -> None:
    x = np.concatenate([np.linspace(-1, 1, 9999), [50.0]])
    assert calibrate_percentile(x, 8, 100.0) == calibrate_minmax(x, 8)
    s = calibrate_percentile(x, 8, 99.9)
    assert s < 1.01 / 127
    assert calibrate_percentile(np.array([0.0] * 99 + [1.0]), 8, 60.0) == 1.0 / 127


# ----------------------------------------------------------------------------- x0

@pytest.mark.parametrize(("S", "x0"), [(0.1, -10), (0.07, -15), (1.0, -1), (4.0, -1),
                                       (1.0 / 16, -16)])
def test_softmax_x0(S: float, x0: int) -> None:
    assert softmax_x0(S) == x0 == math.floor(-1 / S)


@pytest.mark.parametrize("S", [0.01, 0.1, 0.5, 2.0])
def test_gelu_x0(S: float) -> None:
    x0 = gelu_x0(S)
    assert x0 == math.floor(-1 / (1.702 * S)) and x0 <= -1


# ----------------------------------------------------------------------------- biases

def test_quantize_bias_and_zero_point_fold_match_the_real_linear() -> None:
    rng = np.random.default_rng(4)
    bits = 6
    x = rng.uniform(-0.5, 2.0, size=(20, 12))
    w = rng.normal(size=(5, 12)) * 0.3
    b = rng.normal(size=5)
    s_x, z = calibrate_asymmetric(x, bits)
    assert z != 0
    s_w = calibrate_minmax(w, bits, axis=0)
    xq, wq = quantize_asymmetric(x, s_x, z, bits), quantize(w, s_w, bits, axis=0)
    b_int = quantize_bias(b, s_x, s_w)
    assert np.all(np.abs(b_int * s_x * s_w - b) <= s_x * s_w / 2 * (1 + 1e-9))
    folded = fold_zero_point(b_int, wq, z)
    assert folded.tolist() == (b_int - z * wq.sum(axis=1)).tolist()
    acc = linear_acc(xq, wq, folded)
    assert acc.tolist() == linear_acc(xq, wq, b_int, z).tolist()
    # acc * S_x * S_w is the linear layer on the dequantized codes, up to the bias rounding
    real = dequantize(xq, s_x, zero_point=z) @ dequantize(wq, s_w, axis=0).T + b
    assert np.max(np.abs(acc * (s_x * s_w) - real)) <= float(np.max(s_x * s_w)) / 2 + 1e-9


# ----------------------------------------------------------------------------- LayerNorm fold

@pytest.mark.parametrize("z", [0, 5, -3])
def test_fold_layernorm_with_gamma_of_either_sign_and_zero(z: int) -> None:
    rng = np.random.default_rng(8 + z)
    C, bits = 32, 8
    gamma = rng.normal(size=C)
    gamma[:8] = -np.abs(gamma[:8])     # negative gammas
    gamma[8] = 0.0                     # a constant channel
    gamma[9] = 1e-12                   # too small to fold: beta_int would overflow 40 bits
    beta = rng.normal(size=C) * 0.5
    x = rng.integers(-3000, 3000, size=(40, C))
    n = int_layernorm(x)
    s_n = layernorm_scale(C)
    h = gamma * (n * s_n) + beta                       # the real LayerNorm output
    sign = np.where(gamma < 0, -1.0, 1.0)
    s_h = float(np.max(np.abs(h))) / 100
    fold = fold_layernorm(gamma, beta, s_h, zero_point=z)
    assert fold.constant.tolist() == [i in (8, 9) for i in range(C)]
    assert fold.sign.tolist() == sign.astype(int).tolist()
    assert np.all(fold.b >= 0) and np.all(np.abs(fold.beta_int) < 1 << 39)
    codes = requantize(n + fold.beta_int, fold.b, fold.c, bits)
    live = ~fold.constant
    m = np.abs(gamma) * s_n / s_h
    dy_err = np.abs(fold.b * np.exp2(-fold.c.astype(float)) - m)     # dyadic error per channel
    want = sign * h / s_h + z                                         # h' / S_h + z
    bound = 0.5 + 0.5 * m + dy_err * np.abs(n + fold.beta_int) + 1e-6  # rounding of beta_int
    assert np.all((np.abs(codes - want) <= bound)[:, live])
    # the next Linear: W' h' + b' == W h + b (exactly in reals; here in float64)
    w = rng.normal(size=(6, C))
    bias = rng.normal(size=6)
    w2, bias2 = fold_layernorm_into_linear(w, bias, beta, fold)
    hp = sign * h
    hp[:, ~live] = 123.0               # whatever the constant channels carry is ignored
    assert np.allclose(hp @ w2.T + bias2, h @ w.T + bias, atol=1e-9)


def test_attention_score_multiplier_folds_inverse_sqrt_d() -> None:
    b, c = attention_score_multiplier(0.05, 0.04, 0.07, 16)
    m = 0.05 * 0.04 / (4 * 0.07)
    assert abs(b / 2 ** c - m) <= m * 2 ** -16
    assert (b, c) == requant_multiplier(0.05 * 0.04 / 4, 0.07)


# ----------------------------------------------------------------------------- dequant first

@pytest.mark.parametrize("code_bits", [2, 4, 8])
def test_dequant_first_constants_give_16_bit_fixed_point(code_bits: int) -> None:
    S = 0.0123
    f = dequant_first_frac_bits(S, code_bits)
    top = (1 << (code_bits - 1)) * S
    assert top * 2 ** f <= (1 << 15) - 1 < top * 2 ** (f + 1)
    bx, cx = dequant_first_constants(S, f)
    x = np.arange(-(1 << (code_bits - 1)), 1 << (code_bits - 1))
    xf = dequant_first_operand(x, bx, cx)
    ideal = x * S * 2.0 ** f
    assert int(np.abs(xf).max()) <= (1 << 15)       # no saturation needed
    assert np.max(np.abs(xf - ideal)) <= 0.5 + np.max(np.abs(x)) * S * 2.0 ** f * 2.0 ** -16


def test_dequant_first_per_channel() -> None:
    s = np.array([0.01, 0.2, 3.0])
    b, c = dequant_first_constants(s, 4)
    assert [(int(x), int(y)) for x, y in zip(b, c)] == [dequant_first_constants(float(v), 4)
                                                         for v in s]


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize(("call", "exc", "msg"), [
    (lambda: quantize([1.0], 0.0, 8), ValueError, "scale=0.0 must be a positive finite number"),
    (lambda: quantize([1.0], -1.0, 8), ValueError, "scale=-1.0 must be a positive finite number"),
    (lambda: quantize([1.0], float("nan"), 8), ValueError,
     "scale=nan must be a positive finite number"),
    (lambda: quantize([1.0], float("inf"), 8), ValueError,
     "scale=inf must be a positive finite number"),
    (lambda: quantize([1.0], True, 8), TypeError,
     "scale must be a real number or a real array, got dtype bool"),
    (lambda: quantize([1.0], 0.1, 1), ValueError, "bits=1 is out of range; it must be at least 2"),
    (lambda: quantize([1.0], 0.1, 17), ValueError,
     "bits=17 is out of range; it must be at most 16"),
    (lambda: quantize([float("nan")], 0.1, 8), ValueError, "r contains NaN or infinite values"),
    (lambda: quantize(["a"], 0.1, 8), TypeError, "r must be a real array, got dtype <U1"),
    (lambda: quantize(np.ones((2, 3)), np.ones(2), 8), ValueError,
     "scale is an array of shape (2,); pass axis= for per-channel scales"),
    (lambda: quantize(np.ones((2, 3)), np.ones(3), 8, axis=0), ValueError,
     "scale has shape (3,); per-channel scales along axis 0 need shape (2,)"),
    (lambda: quantize(np.ones((2, 3)), np.array([1.0, -2.0]), 8, axis=0), ValueError,
     "scale=-2.0 must be a positive finite number"),
    (lambda: quantize(np.ones((2, 3)), 0.1, 8, axis=2), ValueError,
     "axis=2 is out of range; it must be at most 1"),
    (lambda: quantize_asymmetric([1.0], 0.1, 200, 8), ValueError,
     "zero_point=200 is out of range; it must be at most 127"),
    (lambda: quantize_asymmetric([1.0], np.ones(2), 0, 8), TypeError,
     "quantize_asymmetric takes one per-tensor scale, not an array"),
    (lambda: dequantize(np.array([1.0]), 0.1), TypeError,
     "codes must be an integer array, got dtype float64"),
    (lambda: symmetric_scale(0.0, 8), ValueError, "absmax=0.0 must be a positive finite number"),
    (lambda: calibrate_minmax(np.zeros(4), 8), ValueError,
     "cannot calibrate an all-zero tensor: max|x| = 0"),
    (lambda: calibrate_minmax(np.zeros(0), 8), ValueError, "cannot calibrate an empty tensor"),
    (lambda: calibrate_percentile(np.ones(4), 8, 50), ValueError,
     "percentile=50.0 is out of range; it must be in (50, 100]"),
    (lambda: calibrate_mse(np.ones(4), 8, grid=2), ValueError,
     "grid=2 is out of range; it must be at least 4"),
    (lambda: calibrate_asymmetric(np.ones(4), 8, mse=1), TypeError,
     "mse must be a bool, not int (1)"),
    (lambda: softmax_x0(0.0), ValueError, "scale=0.0 must be a positive finite number"),
    (lambda: softmax_x0(-0.5), ValueError, "scale=-0.5 must be a positive finite number"),
    (lambda: softmax_x0(float("nan")), ValueError, "scale=nan must be a positive finite number"),
    (lambda: softmax_x0(1e-12), ValueError,
     "scale=1e-12 gives x0=-1000000000000; |x0| must be below 2^31"),
    (lambda: softmax_x0("1"), TypeError, "scale must be a real number, not str ('1')"),
    (lambda: gelu_x0(0.0), ValueError, "scale=0.0 must be a positive finite number"),
    (lambda: gelu_x0(1e-12), ValueError,
     "scale=1e-12 gives x0=-587544065805; |x0| must be below 2^31"),
    (lambda: quantize_bias(np.array([1.0]), 1e-6, np.array([1e-6])), ValueError,
     "bias[0]=1000000000000.0 (in codes) overflows 32-bit signed range "
     "[-2147483648, 2147483647]"),
    (lambda: quantize_bias(np.array([1.0, 2.0]), 0.1, np.array([0.1])), ValueError,
     "w_scales has shape (1,) but bias has shape (2,)"),
    (lambda: fold_zero_point(np.array([2 ** 31 - 1]), np.array([[-1, -1]]), 1), ValueError,
     "folded bias[0]=2147483649 overflows 32-bit signed range [-2147483648, 2147483647]"),
    (lambda: fold_zero_point(np.array([0]), np.array([1, 1]), 1), ValueError,
     "w_codes must be 2-D (out, in), got shape (2,)"),
    (lambda: fold_layernorm(np.ones(3), np.ones(2), 0.1), ValueError,
     "gamma and beta must be 1-D of equal length, got (3,) and (2,)"),
    (lambda: fold_layernorm(np.ones(3), np.ones(3), 0.0), ValueError,
     "out_scale=0.0 must be a positive finite number"),
    (lambda: attention_score_multiplier(0.1, 0.1, 0.1, 0), ValueError,
     "head_dim=0 is out of range; it must be at least 1"),
    (lambda: dequant_first_constants(0.1, 70), ValueError,
     "frac_bits=70 is out of range; it must be at most 62"),
    (lambda: dequant_first_frac_bits(1e30, 8), ValueError,
     "scale=1e+30 is too large for 16-bit fixed point"),
    (lambda: requant_multiplier(1.0, 0.0), ValueError,
     "out_scale=0.0 must be a positive finite number"),
    (lambda: layernorm_scale(0), ValueError, "channels=0 is out of range; it must be at least 1"),
])
def test_errors_are_pinned(call, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=re.escape(msg)):
        call()
