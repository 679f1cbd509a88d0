"""Operand sequencer of the attention block: streams A-mem and B-mem words into the array."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.block_config import BlockConfig
from ivita.model.checks import check_int

from .array import array_input_layout
from .timing import Timing

__all__ = ["TileSequencer", "SEQ_LATENCY"]

#: Cycles from ``start`` to the first beat: the parameters are loaded into the address
#: registers the cycle after ``start``, the first read the cycle after, its data the next.
SEQ_LATENCY = 3


class TileSequencer(wiring.Component):
    """For every output tile ``(rb, cb)`` (``cb`` outer, ``rb`` inner) and ``k = 0..K-1``:
    one array beat ``a = A-mem[a_base + rb*a_stride + k]``, ``b = B-mem[b_base + cb*b_stride +
    k]``, ``last`` on ``k = K-1`` (the memory words are already in the array's lane layout).

    ``start`` (one cycle) begins a run of ``row_blocks * col_blocks * k`` beats; the
    parameters are read from the cycle after ``start`` (the block latches the instruction on
    ``start``) and must stay stable until ``busy`` falls. The addresses are registers stepped
    by one adder each (``+ 1``, ``+ a_stride`` at a new row block, ``+ b_stride`` at a new
    column block), so no multiplier sits before the memories. Both read ports have a latency
    of one cycle; their read registers are the head of a two-entry skid buffer (a
    ``spare`` register takes their beat when a new read would overwrite it in a stall),
    so ``rd_en`` is ``running & ~full``, a function of flip-flops only (``o_stream.ready``
    does not reach the memories' enables). Throughput: one beat per cycle while ``o_stream.ready``; the
    first beat is valid :data:`SEQ_LATENCY` = 3 cycles after ``start``. Back-pressure:
    ``o_stream`` stalls the sequencer, nothing is lost.
    """

    def __init__(self, cfg: BlockConfig, addr_bits: int = 16) -> None:
        self._cfg = cfg
        A = unsigned(addr_bits)
        super().__init__({
            "start": In(1), "busy": Out(1),
            "a_base": In(A), "a_stride": In(A), "b_base": In(A), "b_stride": In(A),
            "row_blocks": In(8), "col_blocks": In(8), "k": In(16),
            "a_addr": Out(A), "b_addr": Out(A), "rd_en": Out(1),
            "a_data": In(cfg.rows * cfg.pe_a_bits), "b_data": In(cfg.cols * cfg.pe_b_bits),
            "o_stream": Out(stream.Signature(array_input_layout(cfg.array_config))),
        })

    def timing(self, n: int | None = None) -> Timing:
        """Tiles of ``K = n`` beats (default ``k_max``): the first beat :data:`SEQ_LATENCY`
        = 3 cycles after ``start`` (the input "beat"), then one tile per ``K`` cycles."""
        k = self._cfg.k_max if n is None else check_int(n, "n", 1, self._cfg.k_max)
        return Timing(latency=SEQ_LATENCY, latency_from="first", interval=k, per="tile")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        o = self.o_stream
        load, running = Signal(), Signal()
        k, rb, cb = Signal(16), Signal(8), Signal(8)
        a_row, b_col = Signal.like(self.a_addr), Signal.like(self.b_addr)   # row / col bases
        k_end, rb_end, cb_end = Signal(16), Signal(8), Signal(8)           # the counts - 1
        # read-ahead skid: the memory read registers are the head, ``spare`` holds the beat
        # they held when a read overwrote them while the array stalled; the read enable is
        # ``running & ~full`` (flip-flops only: the array's ready does not reach the memories)
        issue, full, mv, last_m, spare_last = Signal(), Signal(), Signal(), Signal(), Signal()
        spare_a, spare_b = Signal.like(self.a_data), Signal.like(self.b_data)
        m.d.comb += [
            issue.eq(running & ~full),
            self.rd_en.eq(issue),
            o.valid.eq(full | mv),
            o.payload.a.as_value().eq(Mux(full, spare_a, self.a_data)),
            o.payload.b.as_value().eq(Mux(full, spare_b, self.b_data)),
            o.payload.last.eq(Mux(full, spare_last, last_m)),
            self.busy.eq(load | running | o.valid),
        ]
        with m.If(self.start):
            m.d.sync += [full.eq(0), mv.eq(0)]
        with m.Elif(full):
            with m.If(o.ready):
                m.d.sync += full.eq(0)
        with m.Elif(issue):
            m.d.sync += mv.eq(1)
            with m.If(mv & ~o.ready):
                m.d.sync += [spare_a.eq(self.a_data), spare_b.eq(self.b_data),
                             spare_last.eq(last_m), full.eq(1)]
        with m.Elif(o.ready):
            m.d.sync += mv.eq(0)
        m.d.sync += [k_end.eq(self.k - 1), rb_end.eq(self.row_blocks - 1),
                     cb_end.eq(self.col_blocks - 1)]
        last_k, last_rb, last_cb = k == k_end, rb == rb_end, cb == cb_end
        with m.If(self.start):
            m.d.sync += [load.eq(1), running.eq(0)]
        with m.Elif(load):                         # the parameters are valid from here
            m.d.sync += [load.eq(0), running.eq(1), k.eq(0), rb.eq(0), cb.eq(0),
                         self.a_addr.eq(self.a_base), a_row.eq(self.a_base),
                         self.b_addr.eq(self.b_base), b_col.eq(self.b_base)]
        with m.Elif(issue):
            m.d.sync += last_m.eq(last_k)
            with m.If(running):
                m.d.sync += [k.eq(k + 1), self.a_addr.eq(self.a_addr + 1),
                             self.b_addr.eq(self.b_addr + 1)]
                with m.If(last_k):
                    m.d.sync += [k.eq(0), rb.eq(rb + 1), self.a_addr.eq(a_row + self.a_stride),
                                 a_row.eq(a_row + self.a_stride), self.b_addr.eq(b_col)]
                    with m.If(last_rb):
                        m.d.sync += [rb.eq(0), cb.eq(cb + 1), self.a_addr.eq(self.a_base),
                                     a_row.eq(self.a_base), self.b_addr.eq(b_col + self.b_stride),
                                     b_col.eq(b_col + self.b_stride)]
                        with m.If(last_cb):
                            m.d.sync += running.eq(0)
        return m
