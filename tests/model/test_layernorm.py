"""model/layernorm.py: int_layernorm (docs/numerics.md §7) against float LayerNorm.

Bound (derived in docs/numerics.md): with the true mean ``m``, ``V0 = sum (x - m)^2``,
``d = mu - m`` (``|d| <= 1/2``, the rounded integer mean), ``V = V0 + C d^2``:
``g / 2^31`` lies in ``[1/sqrt(V0 + C/4) - 2^-30, 1/(sqrt(V0) - 1))``, so with
``dg = max(1/(sqrt(V0) - 1) - 1/sqrt(V0), 1/sqrt(V0) - 1/sqrt(V0 + C/4) + 2^-30)``
every output (in real units, scale ``sqrt(C)/2^30``) is within
``sqrt(C) * (|x - m| * dg + (1/2) / (sqrt(V0) - 1)) + sqrt(C) / 2^30`` of
``(x - m) / sqrt(V0 / C)``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivita.model import int_layernorm, layernorm_out_bits, layernorm_scale

PROP = settings(max_examples=150, derandomize=True, deadline=None, database=None)
WIDTHS = [2, 3, 4, 5, 6, 7, 8, 16]


def _bound(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float LayerNorm (no eps) and the per-element bound of the module docstring."""
    C = x.shape[-1]
    xf = x.astype(np.float64)
    m = xf.mean(axis=-1, keepdims=True)
    V0 = ((xf - m) ** 2).sum(axis=-1, keepdims=True)
    r0 = np.sqrt(V0)
    dg = np.maximum(1.0 / (r0 - 1.0) - 1.0 / r0,
                    1.0 / r0 - 1.0 / np.sqrt(V0 + C / 4.0) + 2.0 ** -30)
    sc = math.sqrt(C)
    bound = sc * (np.abs(xf - m) * dg + 0.5 / (r0 - 1.0)) + sc * 2.0 ** -30
    return (xf - m) / np.sqrt(V0 / C), bound


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("C", [4, 64, 192])
def test_int_layernorm_vs_float(bits: int, C: int) -> None:
    rng = np.random.default_rng(10 * bits + C)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    x = rng.integers(lo, hi + 1, size=(256, C))
    xf = x.astype(np.float64)
    keep = ((xf - xf.mean(-1, keepdims=True)) ** 2).sum(-1) > 4.0   # sqrt(V0) > 2
    x = x[keep]
    assert len(x) >= 16
    out = int_layernorm(x) * layernorm_scale(C)
    ref, bound = _bound(x)
    err = np.abs(out - ref)
    assert np.all(err <= bound * (1 + 1e-9)), float(np.max(err - bound))
    if bits >= 8 and C >= 64:   # large variance: the bound is small, a real check
        assert float(np.max(err)) < 0.02


@PROP
@given(data=st.data(), C=st.integers(1, 96), bits=st.integers(2, 24))
def test_int_layernorm_output_fits_31_bits(data: st.DataObject, C: int, bits: int) -> None:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    row = np.array(data.draw(st.lists(st.sampled_from([lo, hi, 0, 1, -1]) | st.integers(lo, hi),
                                      min_size=C, max_size=C)))
    out = int_layernorm(row)
    assert out.dtype == np.int64 and out.shape == row.shape
    assert -(1 << 30) <= int(out.min()) and int(out.max()) <= (1 << 30) - 1
    assert layernorm_out_bits() == 31


def test_int_layernorm_reaches_the_negative_rail() -> None:
    # C = 2: mu = (-1 + 1) // 2 = 0, y = [-1, 0], var = 1, std = 1, g = 2^31 - 1
    assert int_layernorm(np.array([-1, 0])).tolist() == [-(1 << 30), 0]


def test_int_layernorm_constant_row_is_zero() -> None:
    assert int_layernorm(np.full((2, 8), -7)).tolist() == [[0] * 8] * 2


def test_int_layernorm_mean_rounds_half_up_with_floor_division() -> None:
    # sum = -3 over C = 2: (-3 + 1) // 2 = -1 (floor), so y = [0, -1] + ... exactly as specified
    x = np.array([-1, -2])
    mu = (int(x.sum()) + 1) // 2
    assert mu == -1
    y = x - mu
    std = max(math.isqrt(int((y * y).sum())), 1)
    g = ((1 << 31) - 1) // std
    assert int_layernorm(x).tolist() == [(int(v) * g) >> 1 for v in y]


@PROP
@given(data=st.data(), C=st.integers(1, 40))
def test_int_layernorm_equals_python_ints(data: st.DataObject, C: int) -> None:
    row = data.draw(st.lists(st.integers(-(1 << 20), 1 << 20), min_size=C, max_size=C))
    mu = (sum(row) + C // 2) // C
    y = [v - mu for v in row]
    std = max(math.isqrt(sum(v * v for v in y)), 1)
    g = ((1 << 31) - 1) // std
    assert int_layernorm(np.array(row)).tolist() == [(v * g) >> 1 for v in y]


def test_int_layernorm_rows_are_independent() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(-1000, 1000, size=(3, 5, 16))
    out = int_layernorm(x)
    for idx in np.ndindex(3, 5):
        assert out[idx].tolist() == int_layernorm(x[idx]).tolist()


@pytest.mark.parametrize(("call", "exc", "msg"), [
    (lambda: int_layernorm(np.zeros((3, 0), dtype=np.int64)), ValueError,
     "int_layernorm needs rows of at least one channel, got shape (3, 0)"),
    (lambda: int_layernorm(5), ValueError,
     "int_layernorm needs rows of at least one channel, got shape ()"),
    (lambda: int_layernorm(np.full((1, 64), 1 << 28)), ValueError,
     "int_layernorm on 29-bit inputs over C=64 channels needs 67 bits for the variance; at "
     "most 62 fit int64"),
    (lambda: int_layernorm(np.zeros(4)), TypeError,
     "x must be an integer or an integer array, got dtype float64"),
])
def test_errors_are_pinned(call, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=re.escape(msg)):
        call()
