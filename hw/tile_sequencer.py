"""Operand sequencer of the attention block: streams A-mem and B-mem words into the array."""

from __future__ import annotations

from amaranth import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.block_config import BlockConfig
from ivita.model.checks import check_int

from .array import array_input_layout
from .timing import Timing

__all__ = ["TileSequencer"]


class TileSequencer(wiring.Component):
    """For every output tile ``(rb, cb)`` (``cb`` outer, ``rb`` inner) and ``k = 0..K-1``:
    one array beat ``a = A-mem[a_base + rb*a_stride + k]``, ``b = B-mem[b_base + cb*b_stride +
    k]``, ``last`` on ``k = K-1`` (the memory words are already in the array's lane layout).

    ``start`` (one cycle, parameters stable from then until ``busy`` falls) begins a run of
    ``row_blocks * col_blocks * k`` beats. Both read ports have a latency of one cycle and are
    enabled only when the output register advances (``rd_en``), so a stalled beat holds its
    data. Throughput: one beat per cycle while ``o_stream.ready``; the first beat is valid two
    cycles after ``start``. Back-pressure: ``o_stream`` stalls the sequencer, nothing is lost.
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
        """Tiles of ``K = n`` beats (default ``k_max``): the first beat 2 cycles after
        ``start`` (the input "beat"), then one tile per ``K`` cycles."""
        k = self._cfg.k_max if n is None else check_int(n, "n", 1, self._cfg.k_max)
        return Timing(latency=2, latency_from="first", interval=k, per="tile")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        o = self.o_stream
        running = Signal()
        k, rb, cb = Signal(16), Signal(8), Signal(8)
        advance = Signal()
        m.d.comb += [
            advance.eq(~o.valid | o.ready),
            self.rd_en.eq(advance),
            self.a_addr.eq(self.a_base + rb * self.a_stride + k),
            self.b_addr.eq(self.b_base + cb * self.b_stride + k),
            o.payload.a.as_value().eq(self.a_data),
            o.payload.b.as_value().eq(self.b_data),
            self.busy.eq(running | o.valid),
        ]
        last_k = k == self.k - 1
        last_rb = rb == self.row_blocks - 1
        last_cb = cb == self.col_blocks - 1
        with m.If(self.start):
            m.d.sync += [running.eq(1), k.eq(0), rb.eq(0), cb.eq(0), o.valid.eq(0)]
        with m.Elif(advance):
            m.d.sync += [o.valid.eq(running), o.payload.last.eq(last_k)]
            with m.If(running):
                m.d.sync += k.eq(k + 1)
                with m.If(last_k):
                    m.d.sync += [k.eq(0), rb.eq(rb + 1)]
                    with m.If(last_rb):
                        m.d.sync += [rb.eq(0), cb.eq(cb + 1)]
                        with m.If(last_cb):
                            m.d.sync += running.eq(0)
        return m
