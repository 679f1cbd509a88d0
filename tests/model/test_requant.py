"""model/requant.py: dyadic, requantize, residual_add, required_acc_bits, linear_acc,
dequant_first_operand (docs/numerics.md §2, §3).

requantize is checked against the real ratio with exact rationals: ``|out - clamp(acc * m)| <=
1/2 + |acc| * |b/2^c - m|`` (0.5 LSB of rounding plus the dyadic error; clamping is
1-Lipschitz so saturation keeps the bound), at every output width 2-8, 16 and 32.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivita.model import (
    dequant_first_operand, dyadic, linear_acc, required_acc_bits, requantize, residual_add,
    round_shift, saturate,
)

PROP = settings(max_examples=150, derandomize=True, deadline=None, database=None)
WIDTHS = [2, 3, 4, 5, 6, 7, 8, 16, 32]


# ----------------------------------------------------------------------------- dyadic

@PROP
@given(mant=st.floats(0.5, 1.0, exclude_max=True), data=st.data(),
       mult_bits=st.integers(2, 32))
def test_dyadic_relative_error_and_ranges(mant: float, data: st.DataObject,
                                          mult_bits: int) -> None:
    # representable: c = mult_bits - e in 0..63 (one less at the top for the rounding carry)
    e = data.draw(st.integers(mult_bits - 63, mult_bits - 1))
    m = math.ldexp(mant, e)
    b, c = dyadic(m, mult_bits)
    assert isinstance(b, int) and isinstance(c, int)
    assert (1 << (mult_bits - 1)) <= b < (1 << mult_bits)
    assert 0 <= c <= 63
    # |b/2^c - m| <= m * 2^-mult_bits  (b rounded half up, b >= 2^(mult_bits-1))
    assert abs(Fraction(b, 1 << c) - Fraction(m)) <= Fraction(m) / (1 << mult_bits)


def test_dyadic_mantissa_rounding_carry() -> None:
    # mant * 2^4 + 0.5 rounds up to 2^4: b wraps to 2^3 and the exponent grows
    m = 0.999
    assert dyadic(m, 4) == (8, 3)
    assert dyadic(0.5, 16) == (1 << 15, 16)
    assert dyadic(3.0, 2) == (3, 0)


def test_dyadic_per_channel_equals_scalar() -> None:
    ms = np.array([0.001, 0.3, 1.7, 123.0])
    b, c = dyadic(ms)
    assert [(int(x), int(y)) for x, y in zip(b, c)] == [dyadic(float(m)) for m in ms]


# ----------------------------------------------------------------------------- requantize

def _real_bound(acc: int, b: int, c: int, m: float) -> Fraction:
    return Fraction(1, 2) + abs(acc) * abs(Fraction(b, 1 << c) - Fraction(m))


@pytest.mark.parametrize("out_bits", WIDTHS)
def test_requantize_against_real_ratio(out_bits: int) -> None:
    rng = np.random.default_rng(100 + out_bits)
    lo, hi = -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1
    checked = 0
    for _ in range(300):
        m = float(2.0 ** rng.uniform(-20, 3))
        b, c = dyadic(m)
        acc = int(rng.integers(-(1 << 30), 1 << 30)) >> int(rng.integers(0, 30))
        out = requantize(acc, b, c, out_bits)
        clamped = min(max(Fraction(acc) * Fraction(m), Fraction(lo)), Fraction(hi))
        assert lo <= out <= hi
        assert abs(Fraction(out) - clamped) <= _real_bound(acc, b, c, m), (acc, m, out_bits)
        checked += lo < acc * m < hi
    assert checked > 50   # the unsaturated region was exercised, not only the rails


@PROP
@given(a1=st.integers(-(1 << 40), 1 << 40), a2=st.integers(-(1 << 40), 1 << 40),
       b=st.integers(0, (1 << 16) - 1), c=st.integers(0, 63), out_bits=st.integers(2, 32))
def test_requantize_is_monotone_in_acc(a1: int, a2: int, b: int, c: int, out_bits: int) -> None:
    lo, hi = sorted((a1, a2))
    assert requantize(lo, b, c, out_bits) <= requantize(hi, b, c, out_bits)


@PROP
@given(acc=st.integers(-(1 << 40), 1 << 40), b=st.integers(0, (1 << 16) - 1),
       c=st.integers(0, 63), out_bits=st.integers(2, 32))
def test_requantize_equals_python_definition(acc: int, b: int, c: int, out_bits: int) -> None:
    p = acc * b
    r = p if c == 0 else (p + (1 << (c - 1))) // (1 << c)
    lim = 1 << (out_bits - 1)
    assert requantize(acc, b, c, out_bits) == min(max(r, -lim), lim - 1)


def test_requantize_per_channel_vector_equals_scalar() -> None:
    rng = np.random.default_rng(7)
    acc = rng.integers(-(1 << 24), 1 << 24, size=(6, 5))
    b = rng.integers(1 << 15, 1 << 16, size=5)
    c = rng.integers(10, 30, size=5)
    out = requantize(acc, b, c, 8)
    assert out.dtype == np.int64
    assert out.tolist() == [[requantize(int(a), int(bb), int(cc), 8)
                             for a, bb, cc in zip(row, b, c)] for row in acc]


# ----------------------------------------------------------------------------- residual_add

@PROP
@given(x=st.integers(-(1 << 15), (1 << 15) - 1), y=st.integers(-(1 << 15), (1 << 15) - 1),
       bx=st.integers(0, (1 << 16) - 1), cx=st.integers(0, 40),
       by=st.integers(0, (1 << 16) - 1), cy=st.integers(0, 40), out_bits=st.integers(2, 32))
def test_residual_add_rounds_each_branch_then_saturates(x: int, y: int, bx: int, cx: int,
                                                        by: int, cy: int, out_bits: int) -> None:
    want = saturate(round_shift(x * bx, cx) + round_shift(y * by, cy), out_bits)
    assert residual_add(x, bx, cx, y, by, cy, out_bits) == want


def test_residual_add_against_real_scales() -> None:
    rng = np.random.default_rng(3)
    sx, sy, so = 0.01, 0.003, 0.02
    bx, cx = dyadic(sx / so)
    by, cy = dyadic(sy / so)
    x = rng.integers(-(1 << 15), 1 << 15, size=200)
    y = rng.integers(-(1 << 15), 1 << 15, size=200)
    out = residual_add(x, bx, cx, y, by, cy, 16)
    real = (x * sx + y * sy) / so
    assert np.max(np.abs(out - np.clip(real, -(1 << 15), (1 << 15) - 1))) <= 1.0 + 1e-3


# ----------------------------------------------------------------------------- widths

def _brute_acc_bits(a_bits: int, b_bits: int, k: int) -> int:
    amin, amax = -(1 << (a_bits - 1)), (1 << (a_bits - 1)) - 1
    bmin, bmax = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    prods = [amin * bmin, amin * bmax, amax * bmin, amax * bmax]
    lo, hi = k * min(prods), k * max(prods)
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


@pytest.mark.parametrize("a_bits", [2, 3, 4, 8])
@pytest.mark.parametrize("b_bits", [2, 5, 8])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 8, 64, 100])
def test_required_acc_bits_is_exact(a_bits: int, b_bits: int, k: int) -> None:
    assert required_acc_bits(a_bits, b_bits, k) == _brute_acc_bits(a_bits, b_bits, k)


def test_numerics_formula_is_one_bit_short_for_powers_of_two() -> None:
    # revision 1 of docs/numerics.md §3: a_bits + b_bits - 1 + ceil(log2 K), one bit short:
    # 64 * (-128) * (-128) = 2^20 needs 22.
    formula = 8 + 8 - 1 + math.ceil(math.log2(64))
    assert formula == 21
    assert required_acc_bits(8, 8, 64) == 22
    assert required_acc_bits(8, 8, 63) == 21


def test_required_acc_bits_with_bias() -> None:
    peak = 64 * (1 << 14) + (1 << 31)
    assert required_acc_bits(8, 8, 64, bias_bits=32) == peak.bit_length() + 1 == 33


# ----------------------------------------------------------------------------- linear_acc

def test_linear_acc_equals_python_ints_and_folds_zero_point() -> None:
    rng = np.random.default_rng(11)
    x = rng.integers(-8, 8, size=(3, 5))
    w = rng.integers(-8, 8, size=(4, 5))
    bias = rng.integers(-1000, 1000, size=4)
    z = 3
    out = linear_acc(x, w, bias, z)
    want = [[sum(int(x[i, k]) * int(w[j, k]) for k in range(5)) + int(bias[j])
             - z * sum(int(w[j, k]) for k in range(5)) for j in range(4)] for i in range(3)]
    assert out.tolist() == want
    # the meaning of the zero point: W (x - z) + b
    assert out.tolist() == ((x - z) @ w.T + bias).tolist()
    # the folded constant is what the array adds to x @ W.T
    folded = linear_acc(np.zeros(5, dtype=np.int64), w, bias, z)
    assert linear_acc(x, w, folded).tolist() == out.tolist()


def test_linear_acc_is_exact_beyond_float53() -> None:
    x = np.array([[(1 << 30) - 1, (1 << 30) - 1]])
    w = np.array([[(1 << 30) - 3, (1 << 30) - 5]])
    want = 2 ** 61 - 2 ** 30 * 10 + 8 + 0  # (2^30-1)(2^30-3) + (2^30-1)(2^30-5)
    assert int(linear_acc(x, w, np.array([0]))[0, 0]) == want


# ----------------------------------------------------------------------------- dequant first

def test_dequant_first_operand_is_requantize_to_16_bits() -> None:
    x = np.arange(-128, 128)
    b, c = dyadic(0.05 * 2 ** 8)
    out = dequant_first_operand(x, b, c)
    assert out.tolist() == requantize(x, b, c, 16).tolist()
    assert np.max(np.abs(out - x * 0.05 * 256)) <= 0.5 + 128 * 0.05 * 256 * 2.0 ** -16


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize(("call", "exc", "msg"), [
    (lambda: dyadic(0.0), ValueError, "m=0.0 is not a positive finite scale ratio"),
    (lambda: dyadic(-1.0), ValueError, "m=-1.0 is not a positive finite scale ratio"),
    (lambda: dyadic(float("nan")), ValueError, "m=nan is not a positive finite scale ratio"),
    (lambda: dyadic(float("inf")), ValueError, "m=inf is not a positive finite scale ratio"),
    (lambda: dyadic("1"), TypeError, "m must be a real number or a real array, got dtype <U1"),
    (lambda: dyadic(np.array([0.5, -0.5])), ValueError,
     "m=-0.5 is not a positive finite scale ratio"),
    (lambda: dyadic(2.0 ** 20), ValueError,
     "m=1048576.0 needs a shift c=-5 with mult_bits=16; c must lie in 0..63"),
    (lambda: dyadic(0.5, 1), ValueError, "mult_bits=1 is out of range; it must be at least 2"),
    (lambda: requantize(1, -1, 0, 8), ValueError,
     "b=-1 is negative; dyadic multipliers are non-negative"),
    (lambda: requantize(1, 1, 64, 8), ValueError, "c=64 is out of range; it must be at most 63"),
    (lambda: requantize(1, 1, 0, 1), ValueError,
     "out_bits=1 is out of range; it must be at least 2"),
    (lambda: requantize(1 << 47, 1 << 16, 0, 8), ValueError,
     "requantize would overflow int64: accumulator values need 48 bits and b needs 17 bits; "
     "their sum 65 exceeds 62 (acc_bits + mult_bits <= 62)"),
    (lambda: requantize(np.array([1.0]), 1, 0, 8), TypeError,
     "acc must be an integer or an integer array, got dtype float64"),
    (lambda: linear_acc(np.zeros((2, 3), dtype=np.int64), np.zeros(3, dtype=np.int64), 0),
     ValueError, "w must be 2-D (out, in), got shape (3,)"),
    (lambda: linear_acc(np.zeros((2, 4), dtype=np.int64), np.zeros((5, 3), dtype=np.int64), 0),
     ValueError, "x has 4 input features but w expects 3 (w.shape=(5, 3))"),
    (lambda: linear_acc(np.full((1, 2), 1 << 31), np.full((1, 2), 1 << 31), 0), ValueError,
     "linear_acc could overflow int64: |x|,|w| and k=2 need up to 67 bits"),
    (lambda: residual_add(1, 1, 0, 1, 1, 0, 40), ValueError,
     "out_bits=40 is out of range; it must be at most 32"),
    (lambda: required_acc_bits(0, 8, 4), ValueError,
     "a_bits=0 is out of range; it must be at least 1"),
    (lambda: required_acc_bits(8, 8, 0), ValueError, "k=0 is out of range; it must be at least 1"),
])
def test_errors_are_pinned(call, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=re.escape(msg)):
        call()
