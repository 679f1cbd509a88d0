"""Accuracy of the integer block against its float reference (verification level 1).

:func:`block_accuracy` builds a deterministic random float block, calibrates it on one batch
of random inputs, runs the integer block (:func:`ivita.model.attention_block`) on a *different*
batch, dequantizes its output and compares it with the float block on the same float inputs.
Floats are used here only to measure; the integer path itself is exact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .attention import (
    attention_block_trace, float_block_trace, make_block_input, make_float_block,
    quantize_block,
)
from .config import AttentionConfig
from .quant import dequantize, quantize

__all__ = ["ErrorStats", "error_stats", "BlockAccuracy", "block_accuracy"]


@dataclass(frozen=True)
class ErrorStats:
    """Error of ``approx`` against ``ref`` over all elements.

    ``rel_l2 = ||approx - ref|| / ||ref||``, ``max_abs = max |approx - ref|``,
    ``cosine = <approx, ref> / (||approx|| ||ref||)`` (1.0 when both are zero),
    ``ref_rms`` = root mean square of ``ref`` (the size ``max_abs`` should be read against).
    """

    rel_l2: float
    max_abs: float
    cosine: float
    ref_rms: float


def error_stats(approx: Any, ref: Any) -> ErrorStats:
    """:class:`ErrorStats` of two float arrays of the same shape."""
    a = np.asarray(approx, dtype=np.float64).reshape(-1)
    r = np.asarray(ref, dtype=np.float64).reshape(-1)
    if a.shape != r.shape or a.size == 0:
        raise ValueError(f"approx and ref must be non-empty and of equal size, got {a.size} "
                         f"and {r.size}")
    diff = a - r
    nr, na = float(np.linalg.norm(r)), float(np.linalg.norm(a))
    rel = float(np.linalg.norm(diff)) / nr if nr > 0 else float(np.linalg.norm(diff))
    if na == 0.0 and nr == 0.0:
        cos = 1.0
    elif na == 0.0 or nr == 0.0:
        cos = 0.0
    else:
        cos = float(np.dot(a, r)) / (na * nr)
    return ErrorStats(rel_l2=rel, max_abs=float(np.max(np.abs(diff))), cosine=cos,
                      ref_rms=float(np.sqrt(np.mean(r * r))))


@dataclass(frozen=True)
class BlockAccuracy:
    """Integer-vs-float error of one block configuration.

    ``output``: the block output ``x + attn(x)`` (dominated by the residual ``x``);
    ``branch``: the attention branch alone (``out - x`` in reals), the part the integer
    attention actually computes. ``seed`` seeds the block and the input channel profile
    (``seed``), the calibration batch (``seed + 1``) and the evaluation batch (``seed + 2``).
    """

    config: AttentionConfig
    seed: int
    calib_samples: int
    eval_samples: int
    output: ErrorStats
    branch: ErrorStats

    def as_dict(self) -> dict[str, Any]:
        return {"config": self.config.as_dict(), "seed": self.seed,
                "calib_samples": self.calib_samples, "eval_samples": self.eval_samples,
                "output": asdict(self.output), "branch": asdict(self.branch)}


def block_accuracy(config: AttentionConfig, seed: int = 0, calib_samples: int = 32,
                   eval_samples: int = 8) -> BlockAccuracy:
    """Error of the dequantized integer block against the float block on random data.

    Deterministic: the same ``(config, seed, samples)`` always gives the same numbers on the
    same numpy build.
    """
    if not isinstance(config, AttentionConfig):
        raise TypeError(f"config must be an AttentionConfig, not {type(config).__name__}")
    for name, v in (("seed", seed), ("calib_samples", calib_samples),
                    ("eval_samples", eval_samples)):
        low = 0 if name == "seed" else 1
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name}={v!r} must be an int >= {low}")
    block = make_float_block(config, seed)
    calib = make_block_input(config, seed + 1, calib_samples, profile_seed=seed)
    x = make_block_input(config, seed + 2, eval_samples, profile_seed=seed)
    params = quantize_block(block, config, calib)
    sc = params.scales
    assert sc is not None
    x_int = quantize(x, sc.x, config.resid_bits)
    tr = attention_block_trace(x_int, params)
    out = dequantize(tr["out"], sc.out)
    ref = float_block_trace(x, block)
    branch = out - dequantize(x_int, sc.x)
    return BlockAccuracy(config=config, seed=seed, calib_samples=calib_samples,
                         eval_samples=eval_samples, output=error_stats(out, ref["out"]),
                         branch=error_stats(branch, ref["y"]))
