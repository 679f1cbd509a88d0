"""Reads rows of lane-vector memory words and streams their elements one per cycle."""

from __future__ import annotations

from amaranth import Array, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int

from .timing import Timing

__all__ = ["RowSerializer"]


class RowSerializer(wiring.Component):
    """Row ``t`` of ``n_rows``: elements ``e = 0..n_elems-1`` = lane ``e % lanes`` of word
    ``base + t*stride + e // lanes``, as ``{x: signed(lane_bits), last}`` beats (``last`` on
    the row's final element).

    ``start`` (one cycle; parameters stable until ``busy`` falls) begins the run. The read port
    (``rd_addr``, one-cycle latency, enabled by ``rd_en`` only when the output advances) is
    read once per element. Throughput one element per cycle; first beat valid three cycles
    after ``start`` (the parameters are read from the cycle after ``start``, when the block
    has latched its instruction, into the address registers; the read address is a
    register stepped by one adder: ``+ 1`` per word, ``+ stride`` per row, no multiplier);
    ``o_stream`` back-pressure holds the beat (nothing lost).
    """

    def __init__(self, *, lanes: int, lane_bits: int, addr_bits: int = 16) -> None:
        self._lanes = check_int(lanes, "lanes", 1, 32)
        self._bits = check_int(lane_bits, "lane_bits", 2, 48)
        A = unsigned(addr_bits)
        super().__init__({
            "start": In(1), "busy": Out(1),
            "base": In(A), "stride": In(A), "n_rows": In(16), "n_elems": In(16),
            "rd_addr": Out(A), "rd_en": Out(1),
            "rd_data": In(data.ArrayLayout(signed(lane_bits), lanes)),
            "o_stream": Out(stream.Signature(data.StructLayout({"x": signed(lane_bits),
                                                                "last": 1}))),
        })

    def timing(self, n: int | None = None) -> Timing:
        """Rows of ``n`` elements (default 1): the first beat 3 cycles after ``start`` (the
        input "beat"), then one row per ``n`` cycles."""
        n = 1 if n is None else check_int(n, "n", 1, 65535)
        return Timing(latency=3, latency_from="first", interval=n, per="row")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        o, L = self.o_stream, self._lanes
        load, running = Signal(), Signal()
        t, e = Signal(16), Signal(16)
        row = Signal.like(self.rd_addr)                   # first word of row t
        e_end, t_end = Signal(16), Signal(16)             # n_elems - 1, n_rows - 1
        lane, lane_q = Signal(range(max(L, 2))), Signal(range(max(L, 2)))
        advance = Signal()
        m.d.comb += [
            advance.eq(~o.valid | o.ready),
            self.rd_en.eq(advance),
            o.payload.x.eq(Array(self.rd_data[n] for n in range(L))[lane_q]),
            self.busy.eq(load | running | o.valid),
        ]
        m.d.sync += [e_end.eq(self.n_elems - 1), t_end.eq(self.n_rows - 1)]
        last_e = e == e_end
        with m.If(self.start):
            m.d.sync += [load.eq(1), running.eq(0), o.valid.eq(0)]
        with m.Elif(load):                                # the parameters are valid from here
            m.d.sync += [load.eq(0), running.eq(1), t.eq(0), e.eq(0), lane.eq(0),
                         row.eq(self.base), self.rd_addr.eq(self.base)]
        with m.Elif(advance):
            m.d.sync += [o.valid.eq(running), o.payload.last.eq(last_e), lane_q.eq(lane)]
            with m.If(running):
                m.d.sync += [e.eq(e + 1), lane.eq(lane + 1)]
                with m.If(lane == L - 1):
                    m.d.sync += [lane.eq(0), self.rd_addr.eq(self.rd_addr + 1)]
                with m.If(last_e):
                    m.d.sync += [e.eq(0), lane.eq(0), t.eq(t + 1),
                                 row.eq(row + self.stride), self.rd_addr.eq(row + self.stride)]
                    with m.If(t == t_end):
                        m.d.sync += running.eq(0)
        return m
