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
    ``start``). ``n_cols`` is registered: it must be stable from the cycle before the first
    element (the block latches the instruction on ``start``). Values are ``in_shape`` (signed codes, or unsigned Shiftmax probabilities).
    """

    def __init__(self, *, lanes: int, lane_bits: int, in_shape: object,
                 addr_bits: int = 16) -> None:
        self._lanes = check_int(lanes, "lanes", 1, 32)
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
        tb, tl, col, done_rows = Signal(16), Signal(range(max(L, 2))), Signal(16), Signal(16)
        m.d.comb += [i.ready.eq(1), self.finished.eq((done_rows == self.n_rows) & ~self.w_en)]
        m.d.sync += self.w_en.eq(i.valid & ~self.start)
        # row_off = tb * dst_stride, stepped with tb (no multiplier before the address)
        row_off = Signal(unsigned(len(self.w_addr)), name="row_off")
        col_end = Signal(16, name="col_end")            # n_cols - 1, registered
        m.d.sync += col_end.eq(self.n_cols - 1)
        m.d.sync += [self.w_addr.eq(self.dst + row_off + col), self.w_lanes.eq(1 << tl)]
        m.d.sync += [self.w_data[n].eq(i.payload.y) for n in range(L)]
        with m.If(self.start):
            m.d.sync += [tb.eq(0), tl.eq(0), col.eq(0), done_rows.eq(0), row_off.eq(0)]
        with m.Elif(i.valid):
            m.d.sync += col.eq(col + 1)
            with m.If(col == col_end):
                m.d.sync += [col.eq(0), tl.eq(tl + 1), done_rows.eq(done_rows + 1)]
                with m.If(tl == L - 1):
                    m.d.sync += [tl.eq(0), tb.eq(tb + 1), row_off.eq(row_off + self.dst_stride)]
        return m
