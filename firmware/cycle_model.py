"""The compute bound of a block program: array MACs / (rows * cols) (pure Python).

The bound is what a program would take if the ``rows x cols`` array did one useful
multiply-accumulate per PE per cycle and nothing else cost time: every MATMUL contributes its
array work ``row_blocks * rows * col_blocks * cols * k`` MACs (padding of the token count to
whole row blocks included: the array computes it), and the bound is the sum divided by
``rows * cols``, i.e. ``sum(row_blocks * col_blocks * k)`` over the program's MATMULs.

For :func:`ivita.firmware.compiler.compile_attention` (``T`` tokens, ``Tp`` = ``T`` rounded up
to ``rows``, ``dim``, any number of heads) that is

    MACs = 4 * Tp * dim^2   (Q, K, V, Wo projections)
         + Tp^2 * dim       (scores Q.K^T, all heads: heads * Tp * Tp * head_dim)
         + Tp * T * dim     (P.V, all heads: k = T)

(:func:`attention_macs`). The cycle model of whole programs, checked against the simulator, is
:func:`ivita.sim.cycle_model.predict_cycles`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ivita.model.block_config import BlockConfig

from .isa import Op

__all__ = ["program_macs", "compute_bound", "attention_macs", "bound_ratio"]


def _program_of(x: Any, cfg: BlockConfig | None) -> tuple[list, BlockConfig]:
    """``(program, cfg)`` of a compiled block (``.program``, ``.config``) or a program list."""
    if hasattr(x, "program") and hasattr(x, "config"):
        return list(x.program), x.config
    if cfg is None:
        raise TypeError("a program list needs its BlockConfig: compute_bound(program, cfg)")
    return list(x), cfg


def program_macs(program: Iterable[tuple[int, Mapping[str, int]]], cfg: BlockConfig) -> int:
    """Array MACs of ``program``: ``sum(row_blocks*rows * col_blocks*cols * k)`` over its
    MATMULs (other instructions do no array work)."""
    return sum(f["row_blocks"] * cfg.rows * f["col_blocks"] * cfg.cols * f["k"]
               for op, f in program if op == Op.MATMUL)


def compute_bound(compiled: Any, cfg: BlockConfig | None = None) -> int:
    """Cycles of the compute bound ``MACs / (rows * cols)`` of a compiled block
    (:class:`~ivita.firmware.compiler.CompiledBlock`, or any object with ``program`` and
    ``config``) or of a program list ``[(op, fields), ...]`` with its ``cfg``. MACs are those
    of :func:`program_macs` (for an attention layer: :func:`attention_macs`)."""
    program, cfg = _program_of(compiled, cfg)
    return program_macs(program, cfg) // (cfg.rows * cfg.cols)


def attention_macs(tokens: int, dim: int, rows: int) -> int:
    """Array MACs of ``compile_attention``'s program for ``tokens`` tokens of ``dim`` channels
    on a ``rows``-row array (any head count): ``4*Tp*dim^2 + Tp^2*dim + Tp*T*dim`` with ``Tp =
    ceil(T/rows)*rows``."""
    for name, v in (("tokens", tokens), ("dim", dim), ("rows", rows)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} must be an int >= 1")
    tp = -(-tokens // rows) * rows
    return 4 * tp * dim * dim + tp * tp * dim + tp * tokens * dim


def bound_ratio(cycles: int, compiled: Any, cfg: BlockConfig | None = None) -> float:
    """``cycles / compute_bound(compiled, cfg)`` (1.0 = the array never idles)."""
    return cycles / compute_bound(compiled, cfg)
