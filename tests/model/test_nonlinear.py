"""model/nonlinear.py: shift_exp, recip_div, shiftmax, shift_gelu (docs/numerics.md §4-§6).

Bounds used here (derived in docs/numerics.md §"Error bounds"):

- shift_exp envelope. With ``L = |x0|`` and ``E = shift_exp(z, x0, n) / (L * 2^n)``:
  ``(1 - 1/L) * 2^((1.4375 z - 1/2) / L)  <=  E  <=  K * 2^(max(1.4375 z + 15/16, -n L) / L)``
  where ``K = max (1 + f/2) / 2^f = 2^(2 - 1/ln2) / (2 ln2) = 1.06148`` (the chord of ``2^f``).
  The floors of ``z >> 1``, ``z >> 4`` move ``zp`` by -1/2..+15/16, ``r >> 1`` loses < 1/2.
- recip_div (revision 2, rounded): before the clamp ``q`` lies in
  ``(num * 2^(out_bits-1) / s - 3/4, num * 2^(out_bits-1) / s + 1/2]``; the clamp to
  ``2^(out_bits-1) - 1`` only lowers it. (Revision 1 floored: ``(exact - 5/4, exact]``.)
- shiftmax: an element is ``E_i / sum_j E_j`` plus the recip_div error, so with the envelope
  ``min(lo_i / (lo_i + sum_{j!=i} up_j) - 0.75 LSB, 1 - 1 LSB) <= P_i * 2^-(out_bits-1) <=
  up_i / (up_i + sum_{j!=i} lo_j) + 0.5 LSB``; rows sum to more than
  ``2^(out_bits-1) - N/2 - 5/4`` and at most ``2^(out_bits-1) + N/2``.
- shift_gelu: ``sigma(1.702 x S)`` from ``E(-|x|)`` through the same envelope and recip_div.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivita.model import gelu_x0, recip_div, shift_exp, shift_gelu, shiftmax, softmax_x0

PROP = settings(max_examples=150, derandomize=True, deadline=None, database=None)
WIDTHS = [2, 3, 4, 5, 6, 7, 8, 16]
K_CHORD = 2.0 ** (2.0 - 1.0 / math.log(2.0)) / (2.0 * math.log(2.0))
SLACK = 1e-12  # float round-off of the envelope formulas themselves


def envelope(z: np.ndarray, L: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bound of ``shift_exp(z, -L, n) / (L * 2^n)`` (see module docstring)."""
    zf = np.asarray(z, dtype=np.float64)
    lo = (1.0 - 1.0 / L) * np.exp2((1.4375 * zf - 0.5) / L)
    up = K_CHORD * np.exp2(np.maximum(1.4375 * zf + 15.0 / 16.0, -n * L) / L)
    return lo, up


# ----------------------------------------------------------------------------- shift_exp

def test_shift_exp_of_zero_is_unity() -> None:
    for x0 in (-1, -2, -13, -1000):
        for n in (0, 1, 15, 30):
            assert shift_exp(0, x0, n) == abs(x0) << n


@pytest.mark.parametrize("L", [1, 2, 3, 7, 13, 16, 100, 4097])
@pytest.mark.parametrize("n", [0, 1, 8, 15])
def test_shift_exp_envelope_exhaustive(L: int, n: int) -> None:
    z = np.arange(-(2 * n * L + 64), 1)        # down past the underflow clamp
    e = shift_exp(z, -L, n)
    E = e / float(L << n)
    lo, up = envelope(z, L, n)
    assert np.all(E >= lo * (1 - SLACK))
    assert np.all(E <= up * (1 + SLACK))
    # monotone non-decreasing in z, and never below the last bucket 2^-n
    assert np.all(np.diff(e) >= 0)
    assert int(e.min()) == L


@pytest.mark.parametrize("k", [4, 8, 16, 32, 128])
def test_shift_exp_vs_float_exp(k: int) -> None:
    # Scale S = 1/k (x0 = -k exactly). Documented: |E - exp(zS)| <= 0.15 for k >= 4, and
    # <= 0.07 for k >= 16 (the chord 1 + f/2 of 2^f contributes up to 0.043 by itself).
    z = np.arange(-40 * k, 1)
    E = shift_exp(z, -k, 15) / float(k << 15)
    err = float(np.max(np.abs(E - np.exp(z / k))))
    assert err <= (0.07 if k >= 16 else 0.15), err


def test_shift_exp_vector_equals_scalar() -> None:
    z = np.arange(-300, 1, 7)
    assert shift_exp(z, -13, 15).tolist() == [shift_exp(int(v), -13, 15) for v in z]


# ----------------------------------------------------------------------------- recip_div

def _recip_div_in_bounds(num, s, out_bits: int) -> np.ndarray:
    """Elementwise: is ``q = recip_div(num, s, out_bits)`` within the revision-2 bound?

    With ``E = num * 2^(out_bits-1) / s`` (exact) and the cap ``2^(out_bits-1) - 1``:
    ``q <= E + 1/2`` and (``q >= E - 3/4`` or ``q`` is the cap). Exact integer arithmetic
    (everything multiplied by ``4 s``), so it also runs vectorized on int64 for small values.
    """
    q = np.asarray(recip_div(num, s, out_bits), dtype=object)
    num, s = np.asarray(num, dtype=object), np.asarray(s, dtype=object)
    e4 = 4 * (num << (out_bits - 1))                # 4 s E
    cap = (1 << (out_bits - 1)) - 1
    ok_hi = 4 * s * q <= e4 + 2 * s
    ok_lo = (4 * s * q >= e4 - 3 * s) | (q == cap)
    return np.asarray(ok_hi & ok_lo & (q >= 0) & (q <= cap), dtype=bool)


@PROP
@given(data=st.data(), out_bits=st.integers(2, 32))
def test_recip_div_exact_rational_bound(data: st.DataObject, out_bits: int) -> None:
    s = data.draw(st.integers(1, (1 << (63 - out_bits - 2)) - 1))
    num = data.draw(st.integers(0, s))
    q = recip_div(num, s, out_bits)
    exact = Fraction(num << (out_bits - 1), s)
    cap = (1 << (out_bits - 1)) - 1
    assert q <= exact + Fraction(1, 2)
    assert q >= exact - Fraction(3, 4) or q == cap
    assert 0 <= q <= cap


@PROP
@given(data=st.data(), out_bits=st.integers(2, 16))
def test_recip_div_bound_near_integer_and_half_quotients(data: st.DataObject,
                                                         out_bits: int) -> None:
    # num chosen so that the exact quotient sits just below k + 1/2 or k + 1: where a floor
    # (revision 1) is furthest from it
    s = data.draw(st.integers(2, (1 << 40) - 1))
    k = data.draw(st.integers(0, (1 << (out_bits - 1)) - 1))
    for target in (Fraction(2 * k + 1, 2), Fraction(k + 1)):
        num = min(s, int(target * s / (1 << (out_bits - 1))))   # floor: exact <= target
        for nm in (num, max(num - 1, 0)):
            assert bool(_recip_div_in_bounds(nm, s, out_bits)), (nm, s, out_bits)


@pytest.mark.parametrize("out_bits", [2, 3, 4, 5, 8, 16])
def test_recip_div_bound_exhaustive_small(out_bits: int) -> None:
    # every s in 1..400 and every num in 0..s
    s = np.concatenate([np.full(v + 1, v) for v in range(1, 401)])
    num = np.concatenate([np.arange(v + 1) for v in range(1, 401)])
    ok = _recip_div_in_bounds(num, s, out_bits)
    assert bool(ok.all()), list(zip(num[~ok][:5], s[~ok][:5]))


def test_recip_div_bound_is_tight() -> None:
    # the +1/2 end is reached (s a power of two, quotient exactly k + 1/2: half rounds up),
    # the -3/4 end is approached (s just above a power of two loses ~1/4 in the reciprocal)
    hi = lo = Fraction(0)
    for L in range(1, 40):
        for s in ((1 << (L - 1)) + 1, (1 << L) - 1, 1 << (L - 1)):
            for num in sorted({s, s - 1, s // 2, (s * 2) // 3, (s + 1) // 2, 1}):
                for ob in (2, 8, 16):
                    q = recip_div(num, s, ob)
                    d = q - Fraction(num << (ob - 1), s)
                    if q < (1 << (ob - 1)) - 1:
                        assert Fraction(-3, 4) <= d <= Fraction(1, 2), (num, s, ob)
                        lo, hi = min(lo, d), max(hi, d)
    assert hi == Fraction(1, 2) and lo >= Fraction(-3, 4)
    # found by search (s < 5000, out_bits 8): 3939 * 128 / 4010 = 125.73 comes out as 125
    assert Fraction(-3, 4) < recip_div(3939, 4010, 8) - Fraction(3939 << 7, 4010) < Fraction(-7, 10)
    assert recip_div(1, 4, 2) == 1            # 1 * 2 / 4 = 1/2 rounds up (a floor gives 0)
    assert recip_div(1, 1, 8) == 127          # num = s: 128 clamps to 127
    assert recip_div(128, 197 * 128, 8) == 1  # 128/197 = 0.65 LSB rounds to 1 (floor: 0)


def test_recip_div_vector_equals_scalar() -> None:
    rng = np.random.default_rng(5)
    s = rng.integers(1, 1 << 40, size=50)
    num = (s * rng.uniform(0, 1, size=50)).astype(np.int64)
    assert recip_div(num, s, 8).tolist() == [recip_div(int(a), int(b), 8)
                                            for a, b in zip(num, s)]


# ----------------------------------------------------------------------------- shiftmax

@PROP
@given(data=st.data(), in_bits=st.sampled_from(WIDTHS), out_bits=st.sampled_from(WIDTHS),
       N=st.integers(1, 64), x0=st.integers(-64, -1))
def test_shiftmax_rows_sum_to_about_one(data: st.DataObject, in_bits: int, out_bits: int,
                                        N: int, x0: int) -> None:
    # the reciprocal loses < s/2^(L+2) < 1/4 over the whole row, each rounding is within
    # (-1/2, +1/2], and the clamp (one element at most) loses at most 1 more:
    # 2^(ob-1) - N/2 - 5/4 < sum <= 2^(ob-1) + N/2 (revision 1's floor: 2^(ob-1) - N .. 2^(ob-1)).
    lo, hi = -(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1
    row = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=N, max_size=N)))
    p = shiftmax(row, x0, 15, out_bits)
    total = int(p.sum())
    half = 1 << (out_bits - 1)
    assert 4 * total > 4 * half - 2 * N - 5
    assert 2 * total <= 2 * half + N
    assert int(p.min()) >= 0 and int(p.max()) <= (1 << (out_bits - 1)) - 1


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("in_bits", WIDTHS)
@pytest.mark.parametrize("out_bits", WIDTHS)
def test_shiftmax_within_envelope_and_vs_float_softmax(in_bits: int, out_bits: int) -> None:
    rng = np.random.default_rng(1000 * in_bits + out_bits)
    # scores spanning about +-8 in real units, as attention scores do
    S = 8.0 / (1 << (in_bits - 1))
    x0 = softmax_x0(S)
    L, n = -x0, 15
    x = rng.integers(-(1 << (in_bits - 1)), 1 << (in_bits - 1), size=(40, 16))
    P = shiftmax(x, x0, n, out_bits) / float(1 << (out_bits - 1))
    z = x - x.max(axis=-1, keepdims=True)
    lo, up = envelope(z, L, n)
    s_lo, s_up = lo.sum(-1, keepdims=True), up.sum(-1, keepdims=True)
    p_lo = lo / (lo + (s_up - up))
    p_up = up / (up + (s_lo - lo))
    lsb = 1.0 / (1 << (out_bits - 1))
    # q = min(r, cap) with r >= exact - 3/4: the clamp can only pull down to the cap
    assert np.all(P >= np.minimum(p_lo - 0.75 * lsb, 1.0 - lsb) - SLACK)
    assert np.all(P <= p_up + 0.5 * lsb + SLACK)
    # against float softmax of the real scores (x * S): documented bound for S <= 1/8
    if S <= 1.0 / 8:
        err = float(np.max(np.abs(P - _softmax(x * S))))
        assert err <= 0.06 + lsb, err       # the clamp: q >= exact - 1 LSB


def test_shiftmax_vector_equals_rowwise() -> None:
    rng = np.random.default_rng(9)
    x = rng.integers(-128, 128, size=(3, 4, 10))
    out = shiftmax(x, -16, 15, 8)
    for idx in np.ndindex(3, 4):
        assert out[idx].tolist() == shiftmax(x[idx], -16, 15, 8).tolist()


def test_shiftmax_single_element_row() -> None:
    assert shiftmax(np.array([5]), -8, 15, 8).tolist() == [127]


# ----------------------------------------------------------------------------- shift_gelu

def _gelu_sigmoid(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-1.702 * x))


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


@pytest.mark.parametrize("in_bits", WIDTHS)
@pytest.mark.parametrize("sig_bits", [2, 4, 8, 16])
def test_shift_gelu_within_envelope_and_vs_float(in_bits: int, sig_bits: int) -> None:
    lo_c, hi_c = -(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1
    x = np.arange(lo_c, hi_c + 1) if in_bits <= 12 else np.linspace(lo_c, hi_c, 4001).astype(
        np.int64)
    S = 6.0 / (1 << (in_bits - 1))               # inputs spanning about +-6
    x0 = gelu_x0(S)
    L, n = -x0, 15
    out = shift_gelu(x, x0, n, sig_bits)
    assert out.dtype == np.int64
    lsb = 1.0 / (1 << (sig_bits - 1))
    nz = x != 0
    sig = np.zeros(x.shape)
    sig[nz] = out[nz] / x[nz].astype(np.float64) / (1 << (sig_bits - 1))
    lo, up = envelope(-np.abs(x), L, n)
    pos = x >= 0
    sig_lo = np.minimum(np.where(pos, 1.0 / (1.0 + up), lo / (1.0 + lo)) - 0.75 * lsb,
                        1.0 - lsb)                         # the clamp pulls down to the cap
    sig_hi = np.where(pos, 1.0 / (1.0 + lo), up / (1.0 + up)) + 0.5 * lsb
    assert np.all(sig[nz] >= sig_lo[nz] - SLACK)
    assert np.all(sig[nz] <= sig_hi[nz] + SLACK)
    assert out[~nz].tolist() == [0] * int((~nz).sum())
    # against float GELU (sigmoid form), relative to |x|: documented |sigma error| <=
    # 0.07 + 1 LSB when the folded scale 1.702 S is <= 1/8 (the clamp: q >= exact - 1 LSB)
    if 1.702 * S <= 1.0 / 8:
        xr = x * S
        real = out * S * lsb
        err = np.abs(real - _gelu_sigmoid(xr))
        assert np.all(err <= np.abs(xr) * (0.07 + lsb) + SLACK)
        # and the sigmoid form itself is within 0.021 of the erf GELU
        assert float(np.max(np.abs(_gelu_sigmoid(xr) - _gelu_erf(xr)))) <= 0.021


def test_shift_gelu_is_sign_symmetric_for_very_negative_inputs() -> None:
    # I-ViT's row-max form gives GELU(-12.8) ~ -6.3; the sign-symmetric form gives ~0
    S = 0.1
    x = np.array([-128, -64, 0, 64, 127])
    out = shift_gelu(x, gelu_x0(S), 15, 8) * S / 128
    assert abs(out[0]) < 0.1 and abs(out[1]) < 0.1
    assert out[2] == 0
    assert abs(out[4] - 12.7) < 0.15


def test_shift_gelu_vector_equals_scalar() -> None:
    x = np.arange(-128, 128, 5)
    assert shift_gelu(x, -10, 15, 8).tolist() == [shift_gelu(int(v), -10, 15, 8) for v in x]


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize(("call", "exc", "msg"), [
    (lambda: shift_exp(1, -4, 15), ValueError, "shift_exp needs z <= 0, got z=1"),
    (lambda: shift_exp(0, 0, 15), ValueError, "x0=0 must be negative (x0 = floor(-1/S) <= -1)"),
    (lambda: shift_exp(0, -4, 62), ValueError,
     "n=62 is out of range; it must be at most 61"),
    (lambda: shift_exp(0, -(1 << 50), 15), ValueError,
     "shift_exp with x0=-1125899906842624 and n=15 needs 66 bits; at most 62 fit int64 "
     "(bit_length(|x0|) + n <= 62)"),
    (lambda: shift_exp(-(1 << 60), -4, 15), ValueError,
     "|z| needs 61 bits; at most 59 are supported"),
    (lambda: shift_exp(0, 1.5, 15), TypeError, "x0 must be an integer, not float (1.5)"),
    (lambda: recip_div(1, 0, 8), ValueError, "recip_div needs s >= 1, got s=0"),
    (lambda: recip_div(-1, 4, 8), ValueError, "recip_div needs num >= 0, got num=-1"),
    (lambda: recip_div(5, 4, 8), ValueError, "recip_div needs num <= s, got num=5 > s=4"),
    (lambda: recip_div(1, 1 << 60, 8), ValueError,
     "recip_div with s of 61 bits and out_bits=8 needs 71 bits; at most 63 fit int64"),
    (lambda: recip_div(1, 2, 1), ValueError, "out_bits=1 is out of range; it must be at least 2"),
    (lambda: shiftmax(np.zeros((2, 0), dtype=np.int64), -4), ValueError,
     "shiftmax needs rows of at least one element, got shape (2, 0)"),
    (lambda: shiftmax(3, -4), ValueError,
     "shiftmax needs rows of at least one element, got shape ()"),
    (lambda: shift_gelu(np.array([1.0]), -4), TypeError,
     "x must be an integer or an integer array, got dtype float64"),
    (lambda: shift_gelu(1, -1, 15, 1), ValueError,
     "out_bits=1 is out of range; it must be at least 2"),
])
def test_errors_are_pinned(call, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=re.escape(msg)):
        call()
