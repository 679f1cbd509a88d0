"""Reads rows of lane-vector memory words and streams their elements one per cycle."""

from __future__ import annotations

from amaranth import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int

from ._blockutil import pinned
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
    ``o_stream`` back-pressure holds the beat (nothing lost). Only the control flags
    (``load``, ``running``, the output's ``valid`` and the last-element/row flags) have a reset.
    ``max_len``: the largest ``n_rows`` and ``n_elems`` (the counters' width; larger values
    are not supported); ``addr_bits``: the read address's width (the addresses a run reads
    fit in it).
    """

    def __init__(self, *, lanes: int, lane_bits: int, addr_bits: int = 16,
                 max_len: int = 65535) -> None:
        self._lanes = check_int(lanes, "lanes", 1, 32)
        self._len_bits = check_int(max_len, "max_len", 1, 65535).bit_length()
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
        # counters without reset (``load`` sets them): elements / rows left after the current
        # one, and whether it is the last, as flip-flops computed from the next count (no
        # comparison with the row length in front of the counters)
        lb = self._len_bits
        e_left, t_left = Signal(lb, reset_less=True), Signal(lb, reset_less=True)
        last_e, last_t = Signal(name="last_e"), Signal(name="last_t")
        row = Signal.like(self.rd_addr, reset_less=True)          # first word of row t
        rd_addr = Signal.like(self.rd_addr, reset_less=True)
        lane = Signal(range(max(L, 2)), reset_less=True)
        lane_q = Signal(range(max(L, 2)), name="lane_q", reset_less=True)
        last_q = Signal(name="last_q", reset_less=True)
        advance = Signal()
        word_end = Signal(name="word_end")
        # the read address moves on after the last element of a word or row: its enable is one
        # LUT of the late o_stream.ready and flip-flops (a module of its own)
        step = pinned(m, "addr_step", lambda ld, v, r, run, we: ld | ((~v | r) & run & we),
                      load, o.valid, o.ready, running, word_end)
        m.d.comb += [
            advance.eq(~o.valid | o.ready),
            self.rd_en.eq(advance),
            self.rd_addr.eq(rd_addr),
            o.payload.x.eq(Array(self.rd_data[n] for n in range(L))[lane_q]),
            o.payload.last.eq(last_q),
            self.busy.eq(load | running | o.valid),
        ]
        # the flags: start first
        with m.If(self.start):
            m.d.sync += [load.eq(1), running.eq(0), o.valid.eq(0)]
        with m.Elif(load):                                # the parameters are valid from here
            m.d.sync += [load.eq(0), running.eq(1)]
        with m.Elif(advance):
            m.d.sync += [o.valid.eq(running), last_q.eq(last_e), lane_q.eq(lane)]
            with m.If(running & last_e & last_t):
                m.d.sync += running.eq(0)
        # the counters (``load`` sets them, so ``start`` need not gate them); word_end: the
        # element is the last of its word or row (the read address moves on after it)
        first_end = (L == 1) | (self.n_elems == 1)        # word_end of a row's element 0
        with m.If(step):
            m.d.sync += rd_addr.eq(Mux(load, self.base, Mux(last_e, row + self.stride,
                                                              rd_addr + 1)))
        with m.If(load):
            m.d.sync += [lane.eq(0), e_left.eq(self.n_elems - 1), last_e.eq(self.n_elems == 1),
                         t_left.eq(self.n_rows - 1), last_t.eq(self.n_rows == 1),
                         word_end.eq(first_end), row.eq(self.base)]
        with m.Elif(advance & running):
            lane_last = lane == L - 1
            m.d.sync += [e_left.eq(e_left - 1), last_e.eq(e_left == 1), lane.eq(lane + 1),
                         word_end.eq(Mux(lane_last, L == 1, lane == L - 2) | (e_left == 1))]
            with m.If(lane_last):
                m.d.sync += lane.eq(0)
            with m.If(last_e):
                m.d.sync += [e_left.eq(self.n_elems - 1), last_e.eq(self.n_elems == 1),
                             lane.eq(0), t_left.eq(t_left - 1), last_t.eq(t_left == 1),
                             word_end.eq(first_end), row.eq(row + self.stride)]
        return m
