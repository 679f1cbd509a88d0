"""Small arithmetic and handshake helpers of the attention block (private to ``ivita.hw``)."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.hdl import Value

__all__ = ["const_ready", "clamp_to"]


def const_ready(m: Module, want: Value, start: Value, name: str) -> Value:
    """Readiness of a 1-cycle-latency read port kept enabled with address ``want``.

    The port's data belong to the address of the previous cycle; they are usable when that
    address equals ``want`` and no ``start`` happened in between (memory contents only change
    while the block is idle). Costs one cycle whenever ``want`` changes.
    """
    loaded = Signal.like(want, name=f"{name}_loaded")
    fresh = Signal(name=f"{name}_fresh")
    m.d.sync += [loaded.eq(want), fresh.eq(~start)]
    return fresh & (loaded == want)


def clamp_to(m: Module, value: Value, hi: Value, lo: Value, width: int, name: str) -> Signal:
    """``value`` clamped to ``lo .. hi`` (combinational; bounds usually registered, e.g. from
    a runtime ``sat_bits``); returns a ``signed(width)`` signal."""
    out = Signal(signed(width), name=name)
    m.d.comb += out.eq(Mux(value > hi, hi, Mux(value < lo, lo, value)))
    return out
