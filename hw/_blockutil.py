"""Small arithmetic and handshake helpers of the attention block (private to ``ivita.hw``)."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.hdl import Value

__all__ = ["const_ready", "clamp", "round_shift_expr"]


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


def clamp(m: Module, value: Value, sat_bits: Value, width: int, name: str) -> Signal:
    """``saturate(value, sat_bits)`` for a runtime ``sat_bits`` in ``2..width`` (combinational);
    returns a ``signed(width)`` signal."""
    sh = Signal(range(64), name=f"{name}_sh")
    m.d.comb += sh.eq(sat_bits - 1)
    top = Const(1, width + 1) << sh
    hi = (top - 1).as_signed()
    lo = -top
    out = Signal(signed(width), name=name)
    m.d.comb += out.eq(Mux(value > hi, hi, Mux(value < lo, lo, value)))
    return out


def round_shift_expr(p: Value, c: Value) -> Value:
    """``round_shift(p, c)`` (round half up) for a runtime ``c``: ``((2p >> c) + 1) >> 1``."""
    return ((Cat(Const(0, 1), p).as_signed() >> c) + 1) >> 1
