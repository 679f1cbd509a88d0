"""model/core.py: saturate, round_shift, bit_length, isqrt (docs/numerics.md §0, §7).

Exactness against Python integers (unbounded, so they cannot overflow), properties with
hypothesis (derandomized: CI is deterministic), scalar vs vectorized agreement, and every rejected
argument with its message pinned.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivita.model import bit_length, isqrt, round_shift, saturate, signed_range, unsigned_range

PROP = settings(max_examples=200, derandomize=True, deadline=None, database=None)
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)
WIDTHS = [2, 3, 4, 5, 6, 7, 8, 16]


# ----------------------------------------------------------------------------- saturate

@PROP
@given(v=INT64, bits=st.integers(1, 63))
def test_saturate_signed_matches_python_and_is_idempotent(v: int, bits: int) -> None:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    out = saturate(v, bits)
    assert isinstance(out, int)
    assert out == min(max(v, lo), hi)
    assert lo <= out <= hi
    assert saturate(out, bits) == out


@PROP
@given(v=INT64, bits=st.integers(1, 62))
def test_saturate_unsigned_matches_python_and_is_idempotent(v: int, bits: int) -> None:
    out = saturate(v, bits, signed=False)
    assert out == min(max(v, 0), (1 << bits) - 1)
    assert saturate(out, bits, signed=False) == out


@pytest.mark.parametrize("bits", WIDTHS)
def test_saturate_vector_equals_scalar(bits: int) -> None:
    rng = np.random.default_rng(bits)
    v = rng.integers(-(1 << 20), 1 << 20, size=(5, 7))
    vec = saturate(v, bits)
    assert vec.dtype == np.int64 and vec.shape == v.shape
    assert vec.tolist() == [[saturate(int(e), bits) for e in row] for row in v]


def test_ranges() -> None:
    assert signed_range(8) == (-128, 127)
    assert unsigned_range(8) == (0, 255)
    assert saturate(np.array([-200, 200]), 8).tolist() == [-128, 127]


# ----------------------------------------------------------------------------- round_shift

@PROP
@given(data=st.data(), s=st.integers(0, 63))
def test_round_shift_is_floor_of_half_up(data: st.DataObject, s: int) -> None:
    half = (1 << (s - 1)) if s else 0
    v = data.draw(st.integers(-(1 << 63), (1 << 63) - 1 - half))
    out = round_shift(v, s)
    assert isinstance(out, int)
    if s == 0:
        assert out == v
    else:
        assert out == (v + (1 << (s - 1))) // (1 << s)   # Python // floors: exact reference


def test_round_shift_rounds_half_up_for_negatives() -> None:
    # -2.5 -> -2, -1.5 -> -1, 2.5 -> 3 (half up, not half away from zero, not half even)
    assert round_shift(np.array([-5, -3, 5, 3, -4]), 1).tolist() == [-2, -1, 3, 2, -2]


def test_round_shift_broadcasts_per_channel_shifts() -> None:
    v = np.array([[100, 100, 100], [-100, -100, -100]])
    s = np.array([0, 3, 7])
    out = round_shift(v, s)
    assert out.tolist() == [[round_shift(int(a), int(b)) for a, b in zip(row, s)] for row in v]


def test_round_shift_overflow_is_rejected() -> None:
    with pytest.raises(ValueError, match=re.escape(
            "round_shift overflows int64: v up to 9223372036854775807 plus 2^(s-1) = 1 "
            "exceeds 2^63 - 1")):
        round_shift((1 << 63) - 1, 1)


# ----------------------------------------------------------------------------- bit_length

@PROP
@given(v=st.integers(0, (1 << 63) - 1))
def test_bit_length_matches_python(v: int) -> None:
    assert bit_length(v) == v.bit_length()


def test_bit_length_vector() -> None:
    v = np.array([0, 1, 2, 3, 255, 256, (1 << 62), (1 << 63) - 1])
    assert bit_length(v).tolist() == [int(e).bit_length() for e in v]


# ----------------------------------------------------------------------------- isqrt

@PROP
@given(v=st.integers(0, (1 << 63) - 1))
def test_isqrt_exact_over_int64(v: int) -> None:
    assert isqrt(v) == math.isqrt(v)


def test_isqrt_exact_at_square_boundaries() -> None:
    roots = [0, 1, 2, 3, 1 << 15, (1 << 16) - 1, 1 << 31, 3037000498, 3037000499]
    vals = sorted({max(r * r + d, 0) for r in roots for d in (-1, 0, 1)
                   if r * r + d < (1 << 63)} | {(1 << 63) - 1, 1 << 62, (1 << 62) - 1})
    out = isqrt(np.array(vals, dtype=np.int64))
    assert out.tolist() == [math.isqrt(v) for v in vals]


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize(("call", "exc", "msg"), [
    (lambda: saturate(1.5, 8), TypeError,
     "v must be an integer or an integer array, got dtype float64"),
    (lambda: saturate(True, 8), TypeError, "v must be an integer or an integer array, not bool"),
    (lambda: saturate(1, 0), ValueError, "bits=0 is out of range; it must be at least 1"),
    (lambda: saturate(1, 64), ValueError, "bits=64 is out of range; it must be at most 63"),
    (lambda: saturate(1, 63, signed=False), ValueError,
     "bits=63 is out of range; it must be at most 62"),
    (lambda: saturate(1 << 63, 8), ValueError, "v=9223372036854775808 does not fit int64"),
    (lambda: round_shift(1, -1), ValueError, "s=-1 is out of range; it must be at least 0"),
    (lambda: round_shift(1, 64), ValueError, "s=64 is out of range; it must be at most 63"),
    (lambda: isqrt(-1), ValueError, "isqrt needs non-negative values, got -1"),
    (lambda: bit_length(np.array([3, -2])), ValueError,
     "bit_length needs non-negative values, got -2"),
    (lambda: isqrt(np.array([1.0])), TypeError,
     "v must be an integer or an integer array, got dtype float64"),
])
def test_errors_are_pinned(call, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=re.escape(msg)):
        call()
