"""Small arithmetic and handshake helpers of the attention block (private to ``ivita.hw``)."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.hdl import Value

__all__ = ["clamp_to"]


def clamp_to(m: Module, value: Value, hi: Value, lo: Value, width: int, name: str) -> Signal:
    """``value`` clamped to ``lo .. hi`` (combinational; bounds usually registered, e.g. from
    a runtime ``sat_bits``); returns a ``signed(width)`` signal."""
    out = Signal(signed(width), name=name)
    m.d.comb += out.eq(Mux(value > hi, hi, Mux(value < lo, lo, value)))
    return out
