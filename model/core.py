"""Elementary integer operations of docs/numerics.md §0 and §7 (exact square root).

All functions are exact on int64 and never use floats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import as_index, as_int, check_int, finish, max_abs_bits

__all__ = ["saturate", "round_shift", "isqrt", "bit_length", "ceil_log2", "signed_range",
           "unsigned_range"]


def signed_range(bits: int) -> tuple[int, int]:
    """``(-2^(bits-1), 2^(bits-1) - 1)``."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def unsigned_range(bits: int) -> tuple[int, int]:
    """``(0, 2^bits - 1)``."""
    return 0, (1 << bits) - 1


def saturate(v: Any, bits: int, signed: bool = True) -> Any:
    """Clamp to the ``bits``-wide signed (or unsigned) range (docs/numerics.md §0).

    ``bits`` is 1..63 (signed needs at least 1 bit, unsigned at most 62 so the bound fits int64).
    """
    arr, scalar = as_int(v, "v")
    bits = check_int(bits, "bits", 1, 63 if signed else 62)
    lo, hi = signed_range(bits) if signed else unsigned_range(bits)
    return finish(np.clip(arr, lo, hi), scalar)


def round_shift(v: Any, s: Any) -> Any:
    """``(v + 2^(s-1)) >> s`` for ``s > 0``, ``v`` for ``s == 0``: round half up
    (docs/numerics.md §0).

    ``s`` broadcasts against ``v`` and lies in 0..63. ``v + 2^(s-1)`` must fit int64; a value
    that would overflow is a ValueError.
    """
    arr, scalar = as_int(v, "v")
    sh, s_scalar = as_index(s, "s", 0, 63)
    half = np.where(sh > 0, np.left_shift(np.int64(1), np.maximum(sh - 1, 0)), 0)
    if arr.size and sh.size:
        if int(arr.max()) + int(half.max()) >= (1 << 63):
            raise ValueError(
                f"round_shift overflows int64: v up to {int(arr.max())} plus 2^(s-1) = "
                f"{int(half.max())} exceeds 2^63 - 1")
    out = np.right_shift(arr + half, sh)
    return finish(out, scalar and s_scalar)


def bit_length(v: Any) -> Any:
    """Bit length of non-negative integers (``int.bit_length`` vectorized, exact, no floats)."""
    arr, scalar = as_int(v, "v")
    if arr.size and int(arr.min()) < 0:
        raise ValueError(f"bit_length needs non-negative values, got {int(arr.min())}")
    x = arr.copy()
    n = np.zeros_like(x)
    for sh in (32, 16, 8, 4, 2, 1):
        big = x >= (np.int64(1) << sh)
        n = np.where(big, n + sh, n)
        x = np.where(big, x >> sh, x)
    n = n + (x > 0)
    return finish(n, scalar)


def ceil_log2(v: int) -> int:
    """``ceil(log2(v))`` of a Python int ``v >= 1`` (0 for ``v <= 1``): the address bits of
    ``v`` words, the extra sum bits of ``v`` terms. Used by the configs and the generators."""
    return max(v - 1, 0).bit_length()


def isqrt(v: Any) -> Any:
    """Exact floor square root of non-negative int64 values (docs/numerics.md §7).

    Implemented digit by digit (two result bits per step, shifts and subtractions only), the
    same recurrence the hardware square root uses.
    """
    arr, scalar = as_int(v, "v")
    if arr.size and int(arr.min()) < 0:
        raise ValueError(f"isqrt needs non-negative values, got {int(arr.min())}")
    rem = arr.copy()
    res = np.zeros_like(rem)
    bit = np.int64(1) << 62
    while bit > 0:
        t = res + bit
        ge = rem >= t
        rem = np.where(ge, rem - t, rem)
        res = np.where(ge, (res >> 1) + bit, res >> 1)
        bit = bit >> 2
    return finish(res, scalar)
