"""Dyadic requantization and integer linear layers (docs/numerics.md §2 and §3)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .checks import as_index, as_int, check_int, finish, max_abs_bits
from .core import round_shift, saturate

__all__ = ["dyadic", "requantize", "residual_add", "linear_acc", "dequant_first_operand",
           "required_acc_bits"]


def _dyadic_scalar(m: float, mult_bits: int) -> tuple[int, int]:
    if isinstance(m, bool) or not isinstance(m, numbers.Real):
        raise TypeError(f"m must be a real number, not {type(m).__name__} ({m!r})")
    m = float(m)
    if not math.isfinite(m) or m <= 0.0:
        raise ValueError(f"m={m!r} is not a positive finite scale ratio")
    mant, e = math.frexp(m)                       # m = mant * 2^e, mant in [0.5, 1)
    b = math.floor(mant * (1 << mult_bits) + 0.5)  # exact: mult_bits <= 32 < 52
    if b == 1 << mult_bits:
        b, e = 1 << (mult_bits - 1), e + 1
    c = mult_bits - e
    if not 0 <= c <= 63:
        raise ValueError(
            f"m={m!r} needs a shift c={c} with mult_bits={mult_bits}; c must lie in 0..63 "
            f"(m must be in [2^-{63 - mult_bits + 1}, 2^{mult_bits}) roughly)")
    return b, c


def dyadic(m: Any, mult_bits: int = 16) -> tuple[Any, Any]:
    """Offline: a positive real ratio ``m`` as ``(b, c)`` with ``m ~ b / 2^c``
    (docs/numerics.md §2).

    ``b`` lies in ``[2^(mult_bits-1), 2^mult_bits)``, so it fits an unsigned ``mult_bits``-wide
    multiplier. ``m`` may be a float or a float array (per channel); ``(int, int)`` or two int64
    arrays come back. ``mult_bits`` is 2..32.
    """
    mult_bits = check_int(mult_bits, "mult_bits", 2, 32)
    if isinstance(m, numbers.Real) and not isinstance(m, bool):
        return _dyadic_scalar(m, mult_bits)
    raw = np.asarray(m)
    if raw.dtype == np.bool_ or not (np.issubdtype(raw.dtype, np.floating)
                                     or np.issubdtype(raw.dtype, np.integer)):
        raise TypeError(f"m must be a real number or a real array, got dtype {raw.dtype}")
    arr = raw.astype(np.float64)
    pairs = [_dyadic_scalar(float(x), mult_bits) for x in arr.reshape(-1)]
    b = np.array([p[0] for p in pairs], dtype=np.int64).reshape(arr.shape)
    c = np.array([p[1] for p in pairs], dtype=np.int64).reshape(arr.shape)
    return b, c


def _scale_shift(acc: Any, b: Any, c: Any, name: str = "acc") -> tuple[np.ndarray, bool]:
    """``round_shift(acc * b, c)`` with the argument and width checks of :func:`requantize`."""
    a, scalar = as_int(acc, name)
    bb, b_scalar = as_int(b, "b")
    cc, c_scalar = as_index(c, "c", 0, 63)
    if bb.size and int(bb.min()) < 0:
        raise ValueError(f"b={int(bb.min())} is negative; dyadic multipliers are non-negative")
    acc_w, b_w = max_abs_bits(a), max_abs_bits(bb)
    if acc_w + b_w > 62:
        raise ValueError(
            f"requantize would overflow int64: accumulator values need {acc_w} bits and b needs "
            f"{b_w} bits; their sum {acc_w + b_w} exceeds 62 (acc_bits + mult_bits <= 62)")
    return np.asarray(round_shift(a * bb, cc)), scalar and b_scalar and c_scalar


def requantize(acc: Any, b: Any, c: Any, out_bits: int) -> Any:
    """``saturate(round_shift(acc * b, c), out_bits)`` (docs/numerics.md §2).

    ``b`` (>= 0) and ``c`` (0..63) broadcast over the last axis (per output channel). The product
    ``acc * b`` must fit 62 bits of magnitude (the hardware's ``acc_bits + mult_bits <= 62``);
    a larger one is a ValueError naming both widths. ``out_bits`` is 2..32.
    """
    out_bits = check_int(out_bits, "out_bits", 2, 32)
    shifted, scalar = _scale_shift(acc, b, c)
    out = saturate(shifted, out_bits)
    return finish(np.asarray(out), scalar)


def residual_add(x: Any, bx: Any, cx: Any, y: Any, by: Any, cy: Any, out_bits: int) -> Any:
    """Residual add of two branches toward a common scale (docs/numerics.md §2).

    ``saturate(round_shift(x * bx, cx) + round_shift(y * by, cy), out_bits)``: each branch has
    its own dyadic ``(b, c)`` (broadcast over the last axis) and is rounded separately; the sum
    is saturated once. Each product must fit 62 bits; ``out_bits`` is 2..32.
    """
    out_bits = check_int(out_bits, "out_bits", 2, 32)
    xs, x_scalar = _scale_shift(x, bx, cx, "x")
    ys, y_scalar = _scale_shift(y, by, cy, "y")
    out = saturate(xs + ys, out_bits)   # each term is below 2^62 in magnitude: no overflow
    return finish(np.asarray(out), x_scalar and y_scalar)


def required_acc_bits(a_bits: int, b_bits: int, k: int, bias_bits: int = 0) -> int:
    """Smallest signed accumulator width that holds any sum of ``k`` products exactly.

    The extreme is ``k`` products of the two most negative codes: ``k * 2^(a_bits+b_bits-2)``,
    which needs ``bit_length(k * 2^(a_bits+b_bits-2)) + 1`` signed bits. With ``bias_bits > 0``
    a signed bias of that width is added too. This exact bound is the normative accumulator
    width (docs/numerics.md §3; revision 1's ``a_bits + b_bits - 1 + ceil(log2 K)`` is one bit
    short for powers of two of ``K`` when both operands are most negative).
    """
    a_bits = check_int(a_bits, "a_bits", 1, 32)
    b_bits = check_int(b_bits, "b_bits", 1, 32)
    k = check_int(k, "k", 1)
    bias_bits = check_int(bias_bits, "bias_bits", 0, 62)
    peak = k << (a_bits + b_bits - 2)
    if bias_bits:
        peak += 1 << (bias_bits - 1)
    return peak.bit_length() + 1


def linear_acc(x: Any, w: Any, bias: Any, x_zero_point: Any = 0) -> Any:
    """``x @ w.T + (bias - x_zero_point * w.sum(axis=1))`` on integer codes (docs/numerics.md §3).

    ``x`` is ``(..., in)``, ``w`` is ``(out, in)``, ``bias`` broadcasts over ``(..., out)``.
    The bracket is the per-column constant folded offline; the array computes only ``x @ w.T``.
    Exact int64 arithmetic; a product that could exceed int64 is a ValueError.
    """
    xx, _ = as_int(x, "x")
    ww, _ = as_int(w, "w")
    bb, _ = as_int(bias, "bias")
    zz, _ = as_int(x_zero_point, "x_zero_point")
    if ww.ndim != 2:
        raise ValueError(f"w must be 2-D (out, in), got shape {ww.shape}")
    if xx.ndim < 1 or xx.shape[-1] != ww.shape[1]:
        raise ValueError(f"x has {xx.shape[-1] if xx.ndim else 0} input features but w expects "
                         f"{ww.shape[1]} (w.shape={ww.shape})")
    k = ww.shape[1]
    bound_bits = max_abs_bits(xx) + max_abs_bits(ww) + max(k, 1).bit_length()
    if bound_bits + 1 > 63 or max_abs_bits(bb) > 61:
        raise ValueError(f"linear_acc could overflow int64: |x|,|w| and k={k} need up to "
                         f"{bound_bits + 1} bits")
    const = bb - zz * ww.sum(axis=1)
    return np.matmul(xx, ww.T) + const


def dequant_first_operand(x: Any, b: Any, c: Any, bits: int = 16) -> Any:
    """Dequant-first baseline: ``saturate(round_shift(x * b, c), bits)`` (docs/numerics.md §3).

    The conversion of integer codes to ``bits``-wide fixed point that a dequantize-first datapath
    applies before the array; identical arithmetic to :func:`requantize`, named for its role.
    """
    return requantize(x, b, c, bits)
