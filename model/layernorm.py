"""I-LayerNorm with an exact integer square root (docs/numerics.md §7)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import as_int, max_abs_bits
from .core import isqrt

__all__ = ["int_layernorm", "layernorm_out_bits", "G_NUM"]

#: the dividend of the gain ``g = G_NUM // std`` (docs/numerics.md §7); the hardware uses this constant
G_NUM = (1 << 31) - 1


def layernorm_out_bits() -> int:
    """Signed width of ``int_layernorm`` outputs: 31, for every ``C``.

    Each ``y_c^2 <= var``, so ``|y_c| <= isqrt(var) = std`` and ``|y_c * g| <= 2^31 - 1``;
    after ``>> 1`` the output lies in ``[-2^30, 2^30 - 1]``.
    """
    return 31


def int_layernorm(x: Any) -> Any:
    """Normalize each row over the last axis, before the affine part (docs/numerics.md §7).

    ``mu = (sum + C//2) // C`` (floor division; ``sum`` may be negative), ``var = sum((x-mu)^2)``
    (not divided by ``C``), ``std = max(isqrt(var), 1)``, ``g = (2^31-1) // std``,
    ``out = ((x - mu) * g) >> 1`` with scale ``sqrt(C) / 2^30``.
    """
    xx, _ = as_int(x, "x")
    if xx.ndim == 0 or xx.shape[-1] == 0:
        raise ValueError(f"int_layernorm needs rows of at least one channel, got shape {xx.shape}")
    C = xx.shape[-1]
    w = max_abs_bits(xx) + 1
    if 2 * w + C.bit_length() > 62:
        raise ValueError(f"int_layernorm on {w - 1}-bit inputs over C={C} channels needs "
                         f"{2 * w + C.bit_length()} bits for the variance; at most 62 fit int64")
    mu = (xx.sum(axis=-1, keepdims=True) + C // 2) // C
    y = xx - mu
    var = (y * y).sum(axis=-1, keepdims=True)
    std = np.maximum(isqrt(var), 1)
    g = G_NUM // std
    return (y * g) >> 1
