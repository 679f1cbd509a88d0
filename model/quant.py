"""Offline quantization: scales, codes and the integer constants of the inference path.

This is the *offline* side of the reference model (docs/numerics.md §1-§3, §5-§7): floats are
allowed here, and only here, to turn real tensors and scales into the integer codes, dyadic
``(b, c)`` tables, integer biases and ``x0`` constants that the integer path consumes. Nothing
in this module runs at inference time. numpy + stdlib only.

Conventions
-----------
- A real tensor ``R`` is represented as ``R ~ S * (I - z)``: symmetric (``z = 0``) by default,
  ``I = saturate(rint(R / S), bits)``; ``rint`` is numpy's round half to even.
- Code widths ``bits`` are 2..16 (:data:`CODE_BITS`); scales are positive finite floats.
- Weights use per-output-channel scales (axis 0 of an ``(out, in)`` matrix); activations use one
  scale per tensor. An asymmetric zero point is produced only for Linear-layer inputs, and only
  when it lies inside the signed code range (Q-HyViT's zero-point overflow is never emitted).
- Every bad input is a ``TypeError``/``ValueError`` naming the value and the limit.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import check_int
from .core import signed_range
from .requant import dyadic, linear_acc

__all__ = [
    "CODE_BITS", "BIAS_BITS", "LN_BETA_BITS",
    "check_scale", "symmetric_scale", "quantize", "dequantize", "quantize_asymmetric",
    "calibrate_minmax", "calibrate_percentile", "calibrate_mse", "calibrate_asymmetric",
    "requant_multiplier", "softmax_x0", "gelu_x0", "quantize_bias", "fold_zero_point",
    "layernorm_scale", "LayerNormFold", "fold_layernorm", "fold_layernorm_into_linear",
    "attention_score_multiplier", "dequant_first_frac_bits", "dequant_first_constants",
]

CODE_BITS = (2, 16)   #: legal code widths of quantized tensors and of every operand (configs, PE)
BIAS_BITS = 32        #: signed width of integer Linear biases (docs/numerics.md §1)
LN_BETA_BITS = 40     #: signed width of the integer LayerNorm offset ``beta_int``
X0_MAX_BITS = 31      #: ``|x0|`` must stay below ``2^31``


# --------------------------------------------------------------------------- checks

def _check_bits(bits: Any, name: str = "bits") -> int:
    return check_int(bits, name, *CODE_BITS)


def _check_real(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(v).__name__} ({v!r})")
    return float(v)


def check_scale(scale: Any, name: str = "scale") -> Any:
    """Return ``scale`` as a float (or float64 array) after checking it is positive and finite.

    Raises ``TypeError`` for non-real input and ``ValueError`` naming the first bad value.
    """
    if isinstance(scale, numbers.Real) and not isinstance(scale, bool):
        s = float(scale)
        if not (math.isfinite(s) and s > 0.0):
            raise ValueError(f"{name}={s!r} must be a positive finite number")
        return s
    arr = np.asarray(scale)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating)
                                     or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a real number or a real array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~(np.isfinite(arr) & (arr > 0.0))
    if bool(np.any(bad)):
        v = float(arr.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
        raise ValueError(f"{name}={v!r} must be a positive finite number")
    return arr


def _as_real_array(r: Any, name: str) -> np.ndarray:
    arr = np.asarray(r)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating)
                                     or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.size and not bool(np.all(np.isfinite(arr))):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _channel_shape(scale: np.ndarray, ndim: int, size: int, axis: int, name: str) -> np.ndarray:
    """Reshape a 1-D per-channel ``scale`` to broadcast along ``axis`` of an ``ndim`` array."""
    if scale.ndim != 1 or scale.shape[0] != size:
        raise ValueError(f"{name} has shape {scale.shape}; per-channel scales along axis {axis} "
                         f"need shape ({size},)")
    shape = [1] * ndim
    shape[axis] = size
    return scale.reshape(shape)


def _broadcast_scale(scale: Any, r: np.ndarray, axis: int | None, name: str = "scale") -> Any:
    s = check_scale(scale, name)
    if isinstance(s, float):
        if axis is not None:
            check_int(axis, "axis", -r.ndim, r.ndim - 1)
        return s
    if axis is None:
        if s.ndim == 0:
            return float(s)
        raise ValueError(f"{name} is an array of shape {s.shape}; pass axis= for per-channel "
                         f"scales")
    axis = check_int(axis, "axis", -r.ndim, r.ndim - 1) % r.ndim
    return _channel_shape(s, r.ndim, r.shape[axis], axis, name)


# --------------------------------------------------------------------------- codes

def symmetric_scale(absmax: Any, bits: int) -> Any:
    """``absmax / (2^(bits-1) - 1)``: the symmetric scale that maps ``absmax`` to the top code.

    ``absmax`` is a positive finite float (or array); ``bits`` is 2..16.
    """
    bits = _check_bits(bits)
    a = check_scale(absmax, "absmax")
    return a / ((1 << (bits - 1)) - 1)


def quantize(r: Any, scale: Any, bits: int, *, axis: int | None = None) -> np.ndarray:
    """Symmetric codes ``saturate(rint(r / scale), bits)`` as int64 (docs/numerics.md §1).

    ``scale`` is a positive float (per tensor) or a 1-D array of per-channel scales along
    ``axis``. Codes lie in ``[-2^(bits-1), 2^(bits-1) - 1]``; ``bits`` is 2..16.
    """
    bits = _check_bits(bits)
    rr = _as_real_array(r, "r")
    s = _broadcast_scale(scale, rr, axis)
    lo, hi = signed_range(bits)
    return np.clip(np.rint(rr / s), lo, hi).astype(np.int64)


def quantize_asymmetric(r: Any, scale: float, zero_point: int, bits: int) -> np.ndarray:
    """Asymmetric codes ``saturate(rint(r / scale) + zero_point, bits)`` as int64.

    ``zero_point`` must lie inside the signed ``bits``-wide code range (docs/numerics.md §1).
    """
    bits = _check_bits(bits)
    lo, hi = signed_range(bits)
    z = check_int(zero_point, "zero_point", lo, hi)
    rr = _as_real_array(r, "r")
    s = check_scale(scale)
    if not isinstance(s, float):
        raise TypeError("quantize_asymmetric takes one per-tensor scale, not an array")
    return np.clip(np.rint(rr / s) + z, lo, hi).astype(np.int64)


def dequantize(codes: Any, scale: Any, *, axis: int | None = None,
               zero_point: int = 0) -> np.ndarray:
    """``scale * (codes - zero_point)`` as float64 (per tensor, or per channel along ``axis``)."""
    c = np.asarray(codes)
    if c.dtype == np.bool_ or not np.issubdtype(c.dtype, np.integer):
        raise TypeError(f"codes must be an integer array, got dtype {c.dtype}")
    z = check_int(zero_point, "zero_point")
    cf = c.astype(np.float64)
    s = _broadcast_scale(scale, cf, axis)
    return (cf - z) * s


# --------------------------------------------------------------------------- calibration

def calibrate_minmax(x: Any, bits: int, *, axis: int | None = None) -> Any:
    """Symmetric scale from the largest magnitude: ``max|x| / (2^(bits-1) - 1)``.

    Per tensor (a float) or, with ``axis``, one scale per index of that axis (1-D array; the
    maximum is taken over all other axes). A channel that is all zero gets the largest channel
    scale (its codes are 0 whatever the scale); an all-zero tensor is a ValueError.
    """
    bits = _check_bits(bits)
    xx = _as_real_array(x, "x")
    if xx.size == 0:
        raise ValueError("cannot calibrate an empty tensor")
    if axis is None:
        amax = float(np.max(np.abs(xx)))
        if amax == 0.0:
            raise ValueError("cannot calibrate an all-zero tensor: max|x| = 0")
        return symmetric_scale(amax, bits)
    axis = check_int(axis, "axis", -xx.ndim, xx.ndim - 1) % xx.ndim
    other = tuple(i for i in range(xx.ndim) if i != axis)
    amax = np.max(np.abs(xx), axis=other) if other else np.abs(xx)
    top = float(np.max(amax))
    if top == 0.0:
        raise ValueError("cannot calibrate an all-zero tensor: max|x| = 0")
    amax = np.where(amax > 0.0, amax, top)
    return symmetric_scale(amax, bits)


MSE_GRID = 64  #: clipping ratios tried by :func:`calibrate_mse`


def calibrate_mse(x: Any, bits: int, *, axis: int | None = None, grid: int = MSE_GRID) -> Any:
    """Symmetric scale minimizing the squared quantization error ``||x - S*quantize(x, S)||^2``.

    Tries the clipping ranges ``max|x| * i / grid`` for ``i = grid/4 .. grid`` (so at most 4x
    below min/max) and keeps the best (the widest on ties); per tensor, or per index of
    ``axis`` like :func:`calibrate_minmax`. The search Q-HyViT uses, without its Hessian
    weighting: at 2-4 bits clipping outliers beats covering them.
    """
    bits = _check_bits(bits)
    grid = check_int(grid, "grid", 4, 4096)
    xx = _as_real_array(x, "x")
    s_max = calibrate_minmax(xx, bits, axis=axis)
    if axis is None:
        flat = xx.reshape(1, -1)
        s_max = np.asarray([s_max])
    else:
        ax = check_int(axis, "axis", -xx.ndim, xx.ndim - 1) % xx.ndim
        flat = np.moveaxis(xx, ax, 0).reshape(xx.shape[ax], -1)
    lo, hi = signed_range(bits)
    best_err = np.full(flat.shape[0], np.inf)
    best = np.array(s_max, dtype=np.float64)
    for i in range(grid, grid // 4 - 1, -1):
        s = s_max * (i / grid)
        q = np.clip(np.rint(flat / s[:, None]), lo, hi) * s[:, None]
        err = np.sum((q - flat) ** 2, axis=1)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best = np.where(better, s, best)
    return float(best[0]) if axis is None else best


def _check_percentile(percentile: Any) -> float:
    p = _check_real(percentile, "percentile")
    if not (50.0 < p <= 100.0):
        raise ValueError(f"percentile={p!r} is out of range; it must be in (50, 100]")
    return p


def calibrate_percentile(x: Any, bits: int, percentile: float = 99.99) -> float:
    """Symmetric per-tensor scale from the ``percentile``-th percentile of ``|x|``.

    Values above it saturate. ``percentile`` is in (50, 100]; 100 equals
    :func:`calibrate_minmax`. If the percentile is 0 the maximum is used instead.
    """
    bits = _check_bits(bits)
    p = _check_percentile(percentile)
    xx = _as_real_array(x, "x")
    if xx.size == 0:
        raise ValueError("cannot calibrate an empty tensor")
    a = np.abs(xx).reshape(-1)
    top = float(np.max(a))
    if top == 0.0:
        raise ValueError("cannot calibrate an all-zero tensor: max|x| = 0")
    v = float(np.percentile(a, p))
    return symmetric_scale(v if v > 0.0 else top, bits)


def _asym_params(lo: float, hi: float, bits: int) -> tuple[float, int] | None:
    qlo, qhi = signed_range(bits)
    if not hi > lo:
        return None
    scale = (hi - lo) / ((1 << bits) - 1)
    z = qlo - int(np.rint(lo / scale))
    return (scale, z) if qlo <= z <= qhi else None


def calibrate_asymmetric(x: Any, bits: int, percentile: float | None = None, *,
                         mse: bool = False, grid: int = MSE_GRID) -> tuple[float, int]:
    """Asymmetric per-tensor ``(scale, zero_point)`` for a **Linear-layer input**.

    Range ``[lo, hi]`` = min/max of ``x`` (or the ``100 - p`` / ``p`` percentiles, or with
    ``mse`` the range ``[a*lo, a*hi]``, ``a = i/grid`` for ``i = grid/4 .. grid``, with the
    least squared error); ``scale = (hi - lo) / (2^bits - 1)``,
    ``zero_point = -2^(bits-1) - rint(lo / scale)``, so ``lo`` maps to the lowest code. If the
    zero point would leave the signed code range (the range does not contain 0: Q-HyViT's
    zero-point overflow) or the range is degenerate, falls back to a symmetric scale (min/max,
    or :func:`calibrate_mse` with ``mse``) with ``zero_point = 0``.
    """
    bits = _check_bits(bits)
    if not isinstance(mse, bool):
        raise TypeError(f"mse must be a bool, not {type(mse).__name__} ({mse!r})")
    grid = check_int(grid, "grid", 4, 4096)
    xx = _as_real_array(x, "x")
    if xx.size == 0:
        raise ValueError("cannot calibrate an empty tensor")
    if percentile is None:
        lo, hi = float(np.min(xx)), float(np.max(xx))
    else:
        p = _check_percentile(percentile)
        lo, hi = (float(v) for v in np.percentile(xx.reshape(-1), [100.0 - p, p]))
    base = _asym_params(lo, hi, bits)
    if base is None:
        if mse:
            return calibrate_mse(xx, bits, grid=grid), 0
        amax = max(abs(lo), abs(hi))
        if amax == 0.0:
            amax = float(np.max(np.abs(xx)))
        if amax == 0.0:
            raise ValueError("cannot calibrate an all-zero tensor: max|x| = 0")
        return symmetric_scale(amax, bits), 0
    if not mse:
        return base
    qlo, qhi = signed_range(bits)
    flat = xx.reshape(-1)
    best, best_err = base, math.inf
    for i in range(grid, grid // 4 - 1, -1):
        cand = _asym_params(lo * i / grid, hi * i / grid, bits)
        if cand is None:
            continue
        sc, z = cand
        q = (np.clip(np.rint(flat / sc) + z, qlo, qhi) - z) * sc
        err = float(np.sum((q - flat) ** 2))
        if err < best_err:
            best, best_err = cand, err
    return best


# --------------------------------------------------------------------------- constants

def requant_multiplier(in_scale: Any, out_scale: Any, mult_bits: int = 16) -> tuple[Any, Any]:
    """Dyadic ``(b, c)`` for ``m = in_scale / out_scale`` (docs/numerics.md §2), scalar or per
    channel.

    ``b`` is an unsigned ``mult_bits``-wide multiplier, ``c`` a shift in 0..63.
    """
    si = check_scale(in_scale, "in_scale")
    so = check_scale(out_scale, "out_scale")
    m = si / so
    if isinstance(m, float):
        return dyadic(m, mult_bits)
    return dyadic(np.asarray(m, dtype=np.float64), mult_bits)


def _x0(denominator: float, what: str) -> int:
    x0 = math.floor(-1.0 / denominator)
    if x0 > -1:                                  # impossible for a positive finite scale
        raise ValueError(f"{what} gives x0={x0}; x0 must be <= -1")
    if -x0 >= 1 << X0_MAX_BITS:
        raise ValueError(f"{what} gives x0={x0}; |x0| must be below 2^{X0_MAX_BITS}")
    return x0


def softmax_x0(scale: float) -> int:
    """Shiftmax constant ``x0 = floor(-1 / S)`` (docs/numerics.md §4), an int ``<= -1``.

    ``S`` is the scale of the Shiftmax input. ``S > 1`` gives ``x0 = -1``: the exponent then has
    no resolution and the approximation is poor (see docs/numerics.md); keep ``S <= 1/8``.
    """
    s = check_scale(_check_real(scale, "scale"))
    return _x0(s, f"scale={s!r}")


def gelu_x0(scale: float) -> int:
    """ShiftGELU constant ``x0 = floor(-1 / (1.702 * S))`` (docs/numerics.md §6), an int
    ``<= -1``."""
    s = check_scale(_check_real(scale, "scale"))
    return _x0(1.702 * s, f"scale={s!r}")


def _check_fits(v: np.ndarray, bits: int, what: str) -> None:
    lo, hi = signed_range(bits)
    if v.size:
        bad = (v < lo) | (v > hi)
        if bool(np.any(bad)):
            i = int(np.argmax(bad.reshape(-1)))
            raise ValueError(f"{what}[{i}]={int(v.reshape(-1)[i])} overflows {bits}-bit signed "
                             f"range [{lo}, {hi}]")


def quantize_bias(bias: Any, in_scale: float, w_scales: Any, bits: int = BIAS_BITS
                  ) -> np.ndarray:
    """Integer Linear bias ``rint(bias[j] / (S_x * S_w[j]))`` (docs/numerics.md §1), int64.

    The result must fit ``bits`` signed bits (default 32); a value outside is a ValueError
    naming the channel, never silently saturated.
    """
    bits = check_int(bits, "bits", 2, 62)
    bb = _as_real_array(bias, "bias")
    sx = check_scale(_check_real(in_scale, "in_scale"), "in_scale")
    sw = check_scale(w_scales, "w_scales")
    if not isinstance(sw, float) and sw.shape != bb.shape:
        raise ValueError(f"w_scales has shape {sw.shape} but bias has shape {bb.shape}")
    q = np.rint(bb / (sx * sw))
    lim = float(1 << (bits - 1))
    if q.size and float(np.max(np.abs(q))) > lim:  # guard before the int64 conversion
        i = int(np.argmax(np.abs(q).reshape(-1)))
        raise ValueError(f"bias[{i}]={float(q.reshape(-1)[i])!r} (in codes) overflows {bits}-bit "
                         f"signed range [{-int(lim)}, {int(lim) - 1}]")
    qi = q.astype(np.int64)
    _check_fits(qi, bits, "bias")
    return qi


def fold_zero_point(bias_int: Any, w_codes: Any, zero_point: int, bits: int = BIAS_BITS
                    ) -> np.ndarray:
    """``bias_int - zero_point * w_codes.sum(axis=1)``: the per-column constant of
    docs/numerics.md §3.

    Computed with :func:`linear_acc` on a zero input, so it is by construction the constant that
    ``linear_acc(x, w, bias_int, zero_point)`` adds. Must fit ``bits`` signed bits (default 32).
    """
    bits = check_int(bits, "bits", 2, 62)
    w = np.asarray(w_codes)
    if w.ndim != 2:
        raise ValueError(f"w_codes must be 2-D (out, in), got shape {w.shape}")
    z = check_int(zero_point, "zero_point")
    folded = linear_acc(np.zeros(w.shape[1], dtype=np.int64), w, bias_int, z)
    folded = np.asarray(folded, dtype=np.int64)
    _check_fits(folded, bits, "folded bias")
    return folded


def layernorm_scale(channels: int) -> float:
    """Scale of ``int_layernorm`` outputs: ``S_n = sqrt(C) / 2^30`` (docs/numerics.md §7)."""
    c = check_int(channels, "channels", 1)
    return math.sqrt(c) / float(1 << 30)


@dataclass(frozen=True)
class LayerNormFold:
    """The affine part of a LayerNorm folded into integers (see :func:`fold_layernorm`).

    Per channel: ``b`` (unsigned ``mult_bits``), ``c`` (0..63) and ``beta_int`` (signed
    :data:`LN_BETA_BITS`) of the requantizer ``requantize(n + beta_int, b, c, bits)``;
    ``sign`` (+1/-1) is the sign of ``gamma`` moved into the next layer's weights; ``constant``
    marks channels whose ``gamma`` is zero (or too small to fold) and whose ``beta`` goes into
    the next layer's bias.
    """

    b: np.ndarray
    c: np.ndarray
    beta_int: np.ndarray
    sign: np.ndarray
    constant: np.ndarray


def fold_layernorm(gamma: Any, beta: Any, out_scale: float, *, zero_point: int = 0,
                   mult_bits: int = 16, beta_bits: int = LN_BETA_BITS) -> LayerNormFold:
    """Fold LayerNorm ``gamma``/``beta`` into the requantizer after ``int_layernorm``.

    ``int_layernorm`` yields ``n`` with scale ``S_n = sqrt(C)/2^30``; the real output is
    ``h = gamma * n * S_n + beta``. A dyadic ``b`` is non-negative, so the sign of ``gamma`` is
    moved into the **next layer**: this fold produces ``h' = sign(gamma) * h`` and the caller
    negates the matching input columns of the next Linear's weights
    (:func:`fold_layernorm_into_linear`), which leaves ``W @ h`` unchanged. Then

        h' / S_h + z = (|gamma| S_n / S_h) * (n + beta / (gamma S_n) + z S_h / (|gamma| S_n))

    so ``(b, c) = dyadic(|gamma| S_n / S_h)`` and ``beta_int = rint(beta/(gamma S_n) + z 2^c/b)``
    (the zero point ``z`` of an asymmetric ``h`` is folded exactly through the chosen ``b/2^c``).
    A channel with ``gamma == 0``, or one whose ``beta_int`` would not fit ``beta_bits`` signed
    bits or whose ratio needs a shift above 63, is *constant*: ``b = c = beta_int = 0`` and its
    ``beta`` is added to the next layer's bias instead (its ``|gamma| * sqrt(C)`` contribution
    is then below ``|beta| * 2^-(beta_bits-31)``; ``2^-9`` with the default 40 bits).
    """
    g = _as_real_array(gamma, "gamma")
    be = _as_real_array(beta, "beta")
    if g.ndim != 1 or be.shape != g.shape:
        raise ValueError(f"gamma and beta must be 1-D of equal length, got {g.shape} and "
                         f"{be.shape}")
    C = g.shape[0]
    if C == 0:
        raise ValueError("gamma must have at least one channel")
    s_h = check_scale(_check_real(out_scale, "out_scale"), "out_scale")
    z = check_int(zero_point, "zero_point", -(1 << 15), (1 << 15) - 1)
    mult_bits = check_int(mult_bits, "mult_bits", 2, 32)
    beta_bits = check_int(beta_bits, "beta_bits", 2, 62)
    s_n = layernorm_scale(C)
    lim = 1 << (beta_bits - 1)
    b = np.zeros(C, dtype=np.int64)
    c = np.zeros(C, dtype=np.int64)
    beta_int = np.zeros(C, dtype=np.int64)
    sign = np.where(g < 0, -1, 1).astype(np.int64)
    constant = np.zeros(C, dtype=bool)
    for i in range(C):
        gi, bi = float(g[i]), float(be[i])
        if gi == 0.0:
            constant[i] = True
            continue
        try:
            bq, cq = dyadic(abs(gi) * s_n / s_h, mult_bits)
        except ValueError:
            constant[i] = True
            continue
        off = bi / (gi * s_n) + z * math.ldexp(1.0, cq) / bq
        if not (math.isfinite(off) and abs(off) < lim - 1):
            constant[i] = True
            continue
        b[i], c[i], beta_int[i] = bq, cq, int(np.rint(off))
    return LayerNormFold(b=b, c=c, beta_int=beta_int, sign=sign, constant=constant)


def fold_layernorm_into_linear(w: Any, bias: Any, beta: Any, fold: LayerNormFold
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Apply a :class:`LayerNormFold` to the float Linear ``(w, bias)`` that follows it.

    Returns ``(w', bias')``: input columns multiplied by ``fold.sign``, the columns of constant
    channels zeroed and their ``w[:, c] * beta[c]`` added to the bias. Then
    ``w' @ h' + bias' == w @ h + bias`` in real arithmetic.
    """
    ww = _as_real_array(w, "w")
    bb = _as_real_array(bias, "bias")
    be = _as_real_array(beta, "beta")
    C = fold.sign.shape[0]
    if ww.ndim != 2 or ww.shape[1] != C or bb.shape != (ww.shape[0],) or be.shape != (C,):
        raise ValueError(f"w {ww.shape}, bias {bb.shape} and beta {be.shape} do not match "
                         f"{C} LayerNorm channels")
    const = fold.constant
    bias2 = bb + ww[:, const] @ be[const]
    w2 = ww * fold.sign[None, :].astype(np.float64)
    w2[:, const] = 0.0
    return w2, bias2


def attention_score_multiplier(q_scale: float, k_scale: float, out_scale: float,
                               head_dim: int, mult_bits: int = 16) -> tuple[int, int]:
    """``(bA, cA)`` for ``A = requantize(Q @ K.T, bA, cA, attn_bits)`` with ``1/sqrt(d)`` folded.

    ``m = S_Q * S_K / (sqrt(head_dim) * S_A)`` (docs/numerics.md §8).
    """
    d = check_int(head_dim, "head_dim", 1)
    sq = check_scale(_check_real(q_scale, "q_scale"), "q_scale")
    sk = check_scale(_check_real(k_scale, "k_scale"), "k_scale")
    sa = check_scale(_check_real(out_scale, "out_scale"), "out_scale")
    return dyadic(sq * sk / (math.sqrt(d) * sa), mult_bits)


def dequant_first_frac_bits(scale: Any, code_bits: int, bits: int = 16) -> int:
    """Most fractional bits ``f`` such that every ``code_bits`` code times ``scale * 2^f`` fits.

    For the dequant-first baseline (docs/numerics.md §3): the largest magnitude
    ``2^(code_bits-1) * max(scale) * 2^f`` must stay ``<= 2^(bits-1) - 1``. May be negative for
    large scales; a ValueError if even ``f = -32`` does not fit.
    """
    s = check_scale(scale)
    code_bits = _check_bits(code_bits, "code_bits")
    bits = check_int(bits, "bits", 2, 32)
    top = float(np.max(s)) * (1 << (code_bits - 1))
    lim = (1 << (bits - 1)) - 1
    for f in range(62, -33, -1):
        if top * math.ldexp(1.0, f) <= lim:
            return f
    raise ValueError(f"scale={float(np.max(s))!r} is too large for {bits}-bit fixed point")


def dequant_first_constants(scale: Any, frac_bits: int, mult_bits: int = 16
                            ) -> tuple[Any, Any]:
    """Dyadic ``(bx, cx)`` for ``S_x * 2^frac_bits`` (docs/numerics.md §3, dequant-first baseline).

    ``dequant_first_operand(x, bx, cx, 16) ~ x * S_x * 2^frac_bits``: the operand as 16-bit fixed
    point with ``frac_bits`` fractional bits. ``scale`` may be per channel (an array).
    """
    s = check_scale(scale)
    f = check_int(frac_bits, "frac_bits", -32, 62)
    m = s * math.ldexp(1.0, f)
    if isinstance(m, float):
        return dyadic(m, mult_bits)
    return dyadic(np.asarray(m, dtype=np.float64), mult_bits)
