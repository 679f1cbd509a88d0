"""Attention probabilities at low operand widths: how ``P`` is coded and how ``P @ V`` runs.

Shiftmax outputs unsigned codes with scale ``2^-(out_bits-1)``. If ``P`` is a ``prob_bits``-wide
signed operand of the PE array, it has only ``prob_bits - 1`` bits of magnitude: at 4 bits a
near-uniform row over 17 tokens (``p ~ 1/17 = 0.47`` LSB of ``2^-3``) rounds to 0 or 1 LSB,
so ``P @ V`` loses most of its signal. Three modes (``AttentionConfig.prob_mode``), all integer:

``"direct"``
    ``P = shiftmax(A, x0, n, prob_bits)``; ``P @ V`` is one pass of the array. Scale
    ``2^-(prob_bits-1)``. The baseline (docs/numerics.md §8).
``"split"``
    ``P = shiftmax(A, x0, n, 2 prob_bits - 1)`` (``2 prob_bits - 2`` bits of magnitude), split
    as ``P = P_hi 2^(prob_bits-1) + P_lo`` with ``0 <= P_lo, P_hi < 2^(prob_bits-1)``, both
    legal ``prob_bits`` operands; ``P @ V = ((P_hi @ V) << (prob_bits-1)) + P_lo @ V``: two
    passes of the same array, the first accumulator shifted before the second is added.
    Scale ``2^-(2 prob_bits - 2)``. Exactly the product with the wider ``P``.
    Hardware cost: ``P @ V`` takes two passes (it is ``T^2 d`` MACs per head, as ``Q K^T``);
    a ``(prob_bits-1)``-bit shift of the partial accumulator; ``prob_bits - 1`` more
    accumulator bits; Shiftmax's divider produces ``2 prob_bits - 1`` bits instead of
    ``prob_bits``.
``"log2"``
    ``P`` is a power of two: code ``c`` in ``0 .. 2^prob_bits - 1``, ``c = 0`` is zero and
    ``c >= 1`` means ``2^-(c-1)``, down to ``2^-smax`` with ``smax = min(2^prob_bits - 2, 15)``.
    The code is the nearest level (in value, ties up; zero included) to
    ``shiftmax(A, x0, n, 16)`` (scale ``2^-15``), found with a leading-one detector and two
    comparisons. ``P @ V = sum_j V_j << (smax -
    (c_j - 1))`` (shift and add, no multiplier). Scale ``2^-smax``. Hardware cost: the PE's
    multiplier becomes a ``smax``-position barrel shifter (cheaper than a multiplier from
    about 4 bits up), the accumulator grows by ``smax`` bits; Shiftmax's divider runs at 16
    output bits plus the leading-one detector.

The normative functions are :func:`attention_probs` and :func:`prob_value_matmul`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import as_int, check_int
from .core import bit_length
from .nonlinear import shiftmax

__all__ = ["PROB_MODES", "LOG2_SOURCE_BITS", "check_prob_mode", "prob_softmax_bits",
           "prob_frac_bits", "attention_probs", "prob_value_matmul", "log2_smax"]

PROB_MODES = ("direct", "split", "log2")
LOG2_SOURCE_BITS = 16   #: Shiftmax output width the log2 codes are rounded from


def check_prob_mode(mode: Any) -> str:
    if not isinstance(mode, str):
        raise TypeError(f"prob_mode must be a str, not {type(mode).__name__} ({mode!r})")
    if mode not in PROB_MODES:
        raise ValueError(f"prob_mode={mode!r} is not one of {', '.join(PROB_MODES)}")
    return mode


def log2_smax(prob_bits: int) -> int:
    """Largest shift of the ``"log2"`` mode: ``min(2^prob_bits - 2, 15)``."""
    prob_bits = check_int(prob_bits, "prob_bits", 2, 16)
    return min((1 << prob_bits) - 2, LOG2_SOURCE_BITS - 1)


def prob_softmax_bits(mode: str, prob_bits: int) -> int:
    """``out_bits`` of the Shiftmax unit in each mode: ``prob_bits``, ``2 prob_bits - 1``, 16."""
    mode = check_prob_mode(mode)
    prob_bits = check_int(prob_bits, "prob_bits", 2, 16)
    if mode == "direct":
        return prob_bits
    if mode == "split":
        return 2 * prob_bits - 1
    return LOG2_SOURCE_BITS


def prob_frac_bits(mode: str, prob_bits: int) -> int:
    """``f`` such that ``P`` as consumed by :func:`prob_value_matmul` has scale ``2^-f``."""
    if check_prob_mode(mode) == "log2":
        return log2_smax(prob_bits)
    return prob_softmax_bits(mode, prob_bits) - 1


def attention_probs(a: Any, x0: int, n: int, prob_bits: int, mode: str = "direct"
                    ) -> np.ndarray:
    """The ``P`` codes of ``mode`` from integer scores ``a`` (rows on the last axis).

    ``"direct"``/``"split"``: Shiftmax codes (``prob_softmax_bits`` wide, unsigned);
    ``"log2"``: power-of-two codes ``0 .. smax + 1`` (see the module docstring).
    """
    mode = check_prob_mode(mode)
    prob_bits = check_int(prob_bits, "prob_bits", 2, 16)
    p = np.asarray(shiftmax(a, x0, n, prob_softmax_bits(mode, prob_bits)), dtype=np.int64)
    if mode != "log2":
        return p
    smax = log2_smax(prob_bits)
    top = LOG2_SOURCE_BITS - 1                       # p has scale 2^-top
    L = np.asarray(bit_length(p), dtype=np.int64)    # p in [2^(L-1), 2^L) for p > 0
    lower = np.maximum(L - 1, 0)
    # nearest of 2^(L-1) and 2^L in value: round up iff p >= 3 * 2^(L-2)
    up = (p > 0) & ((p << 2) >= (np.int64(3) << L))
    e = np.where(up, L, lower)                        # exponent of the nearest power of two
    e = np.minimum(e, top)
    c = top - e + 1
    # below the smallest level 2^(top-smax): nearest of 0 and that level (ties go up)
    tail = np.where((p << 1) >= (1 << (top - smax)), smax + 1, 0)
    return np.where(p == 0, 0, np.where(e >= top - smax, c, tail)).astype(np.int64)


def prob_value_matmul(p: Any, v: Any, prob_bits: int, mode: str = "direct") -> np.ndarray:
    """``P @ V`` as the array computes it in ``mode``; scale ``2^-prob_frac_bits * S_V``.

    ``p``: ``(..., T, T)`` codes of :func:`attention_probs`; ``v``: ``(..., T, d)`` codes.
    """
    mode = check_prob_mode(mode)
    prob_bits = check_int(prob_bits, "prob_bits", 2, 16)
    pp, _ = as_int(p, "p")
    vv, _ = as_int(v, "v")
    if mode == "direct":
        return np.matmul(pp, vv)
    if mode == "split":
        k = prob_bits - 1
        hi, lo = pp >> k, pp & ((1 << k) - 1)
        if pp.size and int(hi.max()) >= 1 << k:
            raise ValueError(f"split P codes need at most {2 * k} magnitude bits, got "
                             f"{int(pp.max())}")
        return (np.matmul(hi, vv) << k) + np.matmul(lo, vv)
    smax = log2_smax(prob_bits)
    if pp.size and (int(pp.min()) < 0 or int(pp.max()) > smax + 1):
        raise ValueError(f"log2 P codes lie in 0..{smax + 1}, got {int(pp.min())}.."
                         f"{int(pp.max())}")
    shift = np.where(pp > 0, smax - (pp - 1), 0)
    # shift and add: every V row shifted by its probability's exponent, zero codes skipped
    terms = np.where((pp > 0)[..., None], vv[..., None, :, :] << shift[..., None], 0)
    return terms.sum(axis=-2)
