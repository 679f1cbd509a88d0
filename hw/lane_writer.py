"""Writes a stream of row elements into single lanes of A-mem (the A-layout transpose)."""

from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int

from .timing import Timing

__all__ = ["LaneWriter"]


class LaneWriter(wiring.Component):
    """Element ``(t, col)`` of ``n_rows x n_cols`` (row-major input, ``col`` resets after
    ``n_cols`` elements) -> lane ``t % lanes`` of word ``dst + (t // lanes)*dst_stride + col``.

    ``w_data`` carries the element (sign-extended to ``lane_bits``) in every lane, ``w_lanes``
    enables one lane (the memory's write granularity). Always ready; the write happens in the
    cycle after the element is accepted. ``finished``: ``n_rows`` rows written (after
    ``start``; a register). ``n_cols`` is read a cycle early: it must be stable from the cycle
    before the first element (the block latches the instruction on ``start``); ``n_rows`` at
    least 1 and stable from the cycle after ``start``. Only ``w_en``, ``finished`` and the
    end-of-row flag have a reset (``start`` clears the counters). ``max_cols``: the largest
    ``n_cols`` (the width of the column counters; a larger ``n_cols`` is not supported).
    Values are ``in_shape`` (signed codes, or unsigned Shiftmax probabilities).
    """

    def __init__(self, *, lanes: int, lane_bits: int, in_shape: object,
                 addr_bits: int = 16, max_cols: int = 65534) -> None:
        self._lanes = check_int(lanes, "lanes", 1, 32)
        self._col_bits = (check_int(max_cols, "max_cols", 1, 65534) + 1).bit_length()
        self._bits = lane_bits
        super().__init__({
            "start": In(1), "finished": Out(1),
            "dst": In(unsigned(addr_bits)), "dst_stride": In(unsigned(addr_bits)),
            "n_rows": In(16), "n_cols": In(16),
            "i_stream": In(stream.Signature(data.StructLayout({"y": in_shape, "last": 1}))),
            "w_en": Out(1), "w_addr": Out(unsigned(addr_bits)), "w_lanes": Out(lanes),
            "w_data": Out(data.ArrayLayout(signed(lane_bits), lanes)),
        })

    def timing(self, n: int | None = None) -> Timing:
        """The lane write (``w_en``) 1 cycle after the element is accepted, one element per
        cycle (``n`` is ignored)."""
        return Timing(latency=1, latency_from="first", interval=1, per="element")

    def elaborate(self, platform: object) -> Module:
        m, L = Module(), self._lanes
        i = self.i_stream
        # counters without reset: ``start`` clears them before the first element
        tb, tl = Signal(16, reset_less=True), Signal(range(max(L, 2)), reset_less=True)
        cb = self._col_bits
        col, done_rows = Signal(cb, reset_less=True), Signal(16, reset_less=True)
        # col + 1 and col + 2, stepped with col: ``last_col`` (col == n_cols - 1) is a
        # register computed from the next col, so no comparison sits before the counters
        colp1 = Signal(cb, name="col_p1", reset_less=True, init=1)
        colp2 = Signal(cb, name="col_p2", reset_less=True, init=2)
        last_col = Signal(name="last_col")
        n_cols = self.n_cols[:cb]
        one_col = n_cols == 1
        m.d.comb += i.ready.eq(1)
        # finished = (done_rows == n_rows) & ~w_en, as a register: computed a cycle early (no
        # element and no start then; n_rows is at least 1, so never right after start)
        fin = Signal(name="finished_q")
        m.d.sync += fin.eq(~self.start & ~i.valid & (done_rows == self.n_rows))
        m.d.comb += self.finished.eq(fin)
        m.d.sync += self.w_en.eq(i.valid & ~self.start)
        # row_off = tb * dst_stride, stepped with tb (no multiplier before the address)
        row_off = Signal(unsigned(len(self.w_addr)), name="row_off", reset_less=True)
        w_addr = Signal.like(self.w_addr, reset_less=True)
        w_lanes = Signal.like(self.w_lanes, reset_less=True)
        w_data = Signal.like(self.w_data, reset_less=True)
        m.d.comb += [self.w_addr.eq(w_addr), self.w_lanes.eq(w_lanes), self.w_data.eq(w_data)]
        m.d.sync += [w_addr.eq(self.dst + row_off + col), w_lanes.eq(1 << tl)]
        m.d.sync += [w_data[n].eq(i.payload.y) for n in range(L)]
        with m.If(self.start):
            m.d.sync += [tb.eq(0), tl.eq(0), col.eq(0), colp1.eq(1), colp2.eq(2),
                         done_rows.eq(0), row_off.eq(0), last_col.eq(one_col)]
        with m.Elif(i.valid):
            m.d.sync += [col.eq(colp1), colp1.eq(colp2), colp2.eq(colp2 + 1),
                         last_col.eq(colp2 == n_cols)]
            with m.If(last_col):
                m.d.sync += [col.eq(0), colp1.eq(1), colp2.eq(2), last_col.eq(one_col),
                             tl.eq(tl + 1), done_rows.eq(done_rows + 1)]
                with m.If(tl == L - 1):
                    m.d.sync += [tl.eq(0), tb.eq(tb + 1), row_off.eq(row_off + self.dst_stride)]
        with m.Else():
            m.d.sync += last_col.eq(colp1 == n_cols)
        return m
