"""Shift-based exponential, normalized reciprocal division, Shiftmax and ShiftGELU
(NUMERICS.md §4, §4.1, §5, §6). Exact int64 arithmetic, reductions over the last axis."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import as_int, check_int, finish, max_abs_bits
from .core import bit_length

__all__ = ["shift_exp", "recip_div", "shiftmax", "shift_gelu", "check_x0"]

_Z_LIMIT_BITS = 59  # |z| below 2^59 keeps z + (z >> 1) exact in int64


def check_x0(x0: Any) -> int:
    """``x0`` must be an integer <= -1 (``x0 = floor(-1 / S)``)."""
    x0 = check_int(x0, "x0")
    if x0 > -1:
        raise ValueError(f"x0={x0} must be negative (x0 = floor(-1/S) <= -1)")
    return x0


def _check_exp_width(x0: int, n: int) -> None:
    width = abs(x0).bit_length() + n
    if width > 62:
        raise ValueError(f"shift_exp with x0={x0} and n={n} needs {width} bits; at most 62 fit "
                         f"int64 (bit_length(|x0|) + n <= 62)")


def shift_exp(z: Any, x0: int, n: int) -> Any:
    """``~ exp(z*S) * |x0| * 2^n`` for ``z <= 0`` (NUMERICS.md §4).

    ``shift_exp(0, x0, n) == |x0| << n`` (the real value 1). Output width:
    ``bit_length(|x0|) + n`` bits, unsigned.
    """
    zz, scalar = as_int(z, "z")
    x0 = check_x0(x0)
    n = check_int(n, "n", 0, 61)
    _check_exp_width(x0, n)
    if zz.size and int(zz.max()) > 0:
        raise ValueError(f"shift_exp needs z <= 0, got z={int(zz.max())}")
    if max_abs_bits(zz) > _Z_LIMIT_BITS:
        raise ValueError(f"|z| needs {max_abs_bits(zz)} bits; at most {_Z_LIMIT_BITS} are supported")
    zp = zz + (zz >> 1) - (zz >> 4)
    zp = np.maximum(zp, n * x0)
    q = zp // x0
    r = zp - q * x0
    e = (r >> 1) - x0
    return finish(np.left_shift(e, n - q), scalar)


def recip_div(num: Any, s: Any, out_bits: int) -> Any:
    """``num / s`` as an unsigned code with scale ``2^-(out_bits-1)`` (NUMERICS.md §4.1).

    Requires ``0 <= num <= s`` and ``s >= 1`` (broadcast). Never above the exact quotient
    ``num * 2^(out_bits-1) / s``, less than 1.25 LSB below it. Needs
    ``bit_length(s) + out_bits + 2 <= 63``.
    """
    nn, n_scalar = as_int(num, "num")
    ss, s_scalar = as_int(s, "s")
    out_bits = check_int(out_bits, "out_bits", 2, 32)
    if ss.size and int(ss.min()) < 1:
        raise ValueError(f"recip_div needs s >= 1, got s={int(ss.min())}")
    if nn.size and int(nn.min()) < 0:
        raise ValueError(f"recip_div needs num >= 0, got num={int(nn.min())}")
    nb, sb = np.broadcast_arrays(nn, ss)
    if nb.size and bool(np.any(nb > sb)):
        i = int(np.argmax(nb > sb))
        raise ValueError(f"recip_div needs num <= s, got num={int(nb.reshape(-1)[i])} > "
                         f"s={int(sb.reshape(-1)[i])}")
    width = max_abs_bits(ss) + out_bits + 2
    if width > 63:
        raise ValueError(f"recip_div with s of {max_abs_bits(ss)} bits and out_bits={out_bits} "
                         f"needs {width} bits; at most 63 fit int64")
    L = bit_length(ss)
    f = np.left_shift(np.int64(1), L + out_bits + 1) // ss
    q = np.right_shift(nn * f + np.left_shift(np.int64(1), L + 1), L + 2)
    out = np.minimum(q, (1 << (out_bits - 1)) - 1)
    return finish(out, n_scalar and s_scalar)


def shiftmax(x: Any, x0: int, n: int = 15, out_bits: int = 8) -> Any:
    """Integer softmax over the last axis (NUMERICS.md §5).

    Output: unsigned codes ``0 .. 2^(out_bits-1)-1`` with scale ``2^-(out_bits-1)``. The row sum
    needs ``bit_length(|x0|) + n + ceil(log2 N)`` bits.
    """
    xx, _ = as_int(x, "x")
    if xx.ndim == 0 or xx.shape[-1] == 0:
        raise ValueError(f"shiftmax needs rows of at least one element, got shape {xx.shape}")
    z = xx - xx.max(axis=-1, keepdims=True)
    ex = shift_exp(z, x0, n)
    s = ex.sum(axis=-1, keepdims=True)
    return recip_div(ex, s, out_bits)


def shift_gelu(x: Any, x0: int, n: int = 15, sig_bits: int = 8) -> Any:
    """Sign-symmetric integer GELU ``x * sigma(1.702 x S)`` (NUMERICS.md §6), element-wise.

    Output scale ``S * 2^-(sig_bits-1)``; width ``in_bits + sig_bits - 1`` signed bits.
    """
    xx, scalar = as_int(x, "x")
    x0 = check_x0(x0)
    n = check_int(n, "n", 0, 61)
    U = abs(x0) << n
    e = shift_exp(-np.abs(xx), x0, n)
    num = np.where(xx >= 0, U, e)
    sig = recip_div(num, U + e, sig_bits)
    return finish(xx * sig, scalar)
