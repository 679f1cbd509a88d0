"""Small arithmetic and handshake helpers of the attention block (private to ``ivita.hw``)."""

from __future__ import annotations

from collections.abc import Callable

from amaranth import Elaboratable, Module, Mux, Signal, signed
from amaranth.hdl import Value

__all__ = ["clamp_to", "pinned"]


def clamp_to(m: Module, value: Value, hi: Value, lo: Value, width: int, name: str) -> Signal:
    """``value`` clamped to ``lo .. hi`` (combinational; bounds usually registered, e.g. from
    a runtime ``sat_bits``); returns a ``signed(width)`` signal."""
    out = Signal(signed(width), name=name)
    m.d.comb += out.eq(Mux(value > hi, hi, Mux(value < lo, lo, value)))
    return out


class _Pinned(Elaboratable):
    """``out = fn(*ins)`` alone in a module (see :func:`pinned`)."""

    def __init__(self, fn: Callable[..., Value], inputs: list[Value], name: str) -> None:
        self._fn = fn
        self.ins = [Signal(Value.cast(v).shape(), name=f"{name}_in{n}")
                    for n, v in enumerate(inputs)]
        self.out = Signal(Value.cast(fn(*self.ins)).shape(), name=name)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.out.eq(self._fn(*self.ins))
        return m


def pinned(m: Module, name: str, fn: Callable[..., Value], *inputs: Value) -> Signal:
    """``fn(*inputs)`` computed in a submodule ``name`` of ``m`` of its own: Yosys maps the
    LUTs of each module separately, so a function of at most six input bits is one LUT
    there, whatever else ``m`` holds (the mapper would otherwise share a term with other
    logic and put a second LUT level on a late input such as a ``ready``)."""
    sub = _Pinned(fn, list(inputs), name)
    m.submodules[name] = sub
    m.d.comb += [i.eq(v) for i, v in zip(sub.ins, inputs)]
    return sub.out
