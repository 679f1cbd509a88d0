"""Small stream components of our own that test the simulation harness (``ivita.sim.unit_run``).

Payloads: ``i_stream`` ``{"x": signed(8), "last": 1}``, ``o_stream`` ``{"y": signed(9),
"last": 1}``; ``y = x + 1`` unless stated. ``ToyStage`` is correct (one register, ready =
``~o_stream.valid | o_stream.ready``); the others each break one promise on purpose:

- ``DropsHeldBeat``: ``o_stream.valid`` is high for exactly one cycle per beat, ``ready`` or
  not (a held beat is dropped);
- ``ChangesHeldBeat``: a new input overwrites the output register while it is held (the payload
  of an offered beat changes);
- ``ReadyFromValid``: correct except that ``i_stream.ready = i_stream.valid & (...)``;
- ``NeverReady``: ``i_stream.ready = 0`` (hangs);
- ``ToyTable``: ``y = x + k + count`` where ``k`` is a side port and ``count`` counts the
  cycles with ``we`` high (tests ``writes`` and ``side``).
"""

from __future__ import annotations

from typing import Any

from amaranth import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

I_LAYOUT = data.StructLayout({"x": signed(8), "last": 1})
O_LAYOUT = data.StructLayout({"y": signed(9), "last": 1})


class _Toy(wiring.Component):
    latency = 1

    def __init__(self, extra: dict[str, Any] | None = None) -> None:
        super().__init__({"i_stream": In(stream.Signature(I_LAYOUT)),
                          "o_stream": Out(stream.Signature(O_LAYOUT)), **(extra or {})})

    def _load(self, m: Module, offset: Any = 0) -> None:
        m.d.sync += [self.o_stream.payload.y.eq(self.i_stream.payload.x + 1 + offset),
                     self.o_stream.payload.last.eq(self.i_stream.payload.last)]


class ToyStage(_Toy):
    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.d.comb += self.i_stream.ready.eq(~self.o_stream.valid | self.o_stream.ready)
        with m.If(self.i_stream.valid & self.i_stream.ready):
            self._load(m)
            m.d.sync += self.o_stream.valid.eq(1)
        with m.Elif(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        return m


class DropsHeldBeat(_Toy):
    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.d.comb += self.i_stream.ready.eq(~self.o_stream.valid)
        m.d.sync += self.o_stream.valid.eq(self.i_stream.valid & self.i_stream.ready)
        with m.If(self.i_stream.valid & self.i_stream.ready):
            self._load(m)
        return m


class ChangesHeldBeat(_Toy):
    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.d.comb += self.i_stream.ready.eq(1)
        with m.If(self.i_stream.valid):
            self._load(m)
            m.d.sync += self.o_stream.valid.eq(1)
        with m.Elif(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        return m


class ReadyFromValid(ToyStage):
    def elaborate(self, platform: Any) -> Module:
        m = super().elaborate(platform)
        m.d.comb += self.i_stream.ready.eq(self.i_stream.valid &
                                           (~self.o_stream.valid | self.o_stream.ready))
        return m


class NeverReady(ToyStage):
    def elaborate(self, platform: Any) -> Module:
        m = super().elaborate(platform)
        m.d.comb += self.i_stream.ready.eq(0)
        return m


class ToyTable(_Toy):
    def __init__(self) -> None:
        super().__init__({"k": In(signed(4)), "we": In(1), "count": Out(4)})

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.d.comb += self.i_stream.ready.eq(~self.o_stream.valid | self.o_stream.ready)
        count = Signal(4)
        m.d.comb += self.count.eq(count)
        with m.If(self.we):
            m.d.sync += count.eq(count + 1)
        with m.If(self.i_stream.valid & self.i_stream.ready):
            self._load(m, self.k + count - 1)
            m.d.sync += self.o_stream.valid.eq(1)
        with m.Elif(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        return m
