"""Bias add and per-column constants between the array and the requantizer of the block."""

from __future__ import annotations

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.memory_map import const_fields
from ivita.model.block_config import BlockConfig
from ivita.model.config import RequantConfig

from ._skid import output_skid
from .array import array_output_layout
from .requant import requant_input_layout
from .timing import Timing

__all__ = ["TileEpilogue", "const_lane_layout", "matmul_requant_config"]


def const_lane_layout(cfg: BlockConfig) -> data.StructLayout:
    """One C-mem lane: ``bias`` (signed 40), ``b``, ``c``, ``b2``, ``c2``."""
    from amaranth import signed
    return data.StructLayout({name: (signed(w) if s else unsigned(w))
                              for name, w, s in const_fields(cfg)})


def matmul_requant_config(cfg: BlockConfig) -> RequantConfig:
    return RequantConfig(lanes=cfg.cols, acc_bits=cfg.acc_bits, out_bits=cfg.out_bits,
                         mult_bits=cfg.mult_bits, max_shift=63)


class TileEpilogue(wiring.Component):
    """``acc[j] + bias[j]`` and the lane's ``(b, c)`` for every output row of the array.

    Output rows arrive in tile order (``cb`` outer, ``rb`` inner, ``rows`` beats per tile);
    the constants of column block ``cb`` are C-mem word ``const_base + cb``, read through a
    port (``c_addr`` -> ``c_data`` one cycle later) that stays enabled. One register stage,
    one row per cycle; one bubble whenever ``cb`` changes (the constant word is re-read). The
    output register is the head of a two-entry skid buffer
    (:func:`~ivita.hw._skid.output_skid`): ``i_stream.ready = const_ok & ~spare_full``, a
    function of registers (never of ``i_stream.valid`` or ``o_stream.ready``). Normative model: the ``+ bias`` of :func:`ivita.model.linear_acc`.
    """

    def __init__(self, cfg: BlockConfig, addr_bits: int = 16) -> None:
        self._cfg = cfg
        rq = matmul_requant_config(cfg)
        super().__init__({
            "start": In(1), "row_blocks": In(8), "const_base": In(addr_bits),
            "c_addr": Out(addr_bits),
            "c_data": In(data.ArrayLayout(const_lane_layout(cfg), cfg.cols)),
            "i_stream": In(stream.Signature(array_output_layout(cfg.array_config))),
            "o_stream": Out(stream.Signature(requant_input_layout(rq, per_beat=True))),
        })

    def timing(self, n: int | None = None) -> Timing:
        """One register stage: latency 1, one row (vector) per cycle within a column block
        (``n`` is ignored; one bubble per column-block change)."""
        return Timing(latency=1, latency_from="first", interval=1, per="vector")

    def elaborate(self, platform: object) -> Module:
        cfg = self._cfg
        m = Module()
        i, o = self.i_stream, self.o_stream
        r = Signal(range(max(cfg.rows, 2)))
        rb, cb = Signal(8), Signal(8)
        last_r, last_rb = Signal(), Signal()
        m.d.comb += self.c_addr.eq(self.const_base + cb)
        # the port's data belong to c_addr when cb did not move at the last edge and no start
        # came (const_base is held from the cycle after start)
        moved, fresh, ok = Signal(init=1, name="cst_moved"), Signal(name="cst_fresh"), Signal()
        m.d.sync += [moved.eq(0), fresh.eq(~self.start)]
        m.d.comb += ok.eq(fresh & ~moved)
        nxt = Signal.like(o.payload, name="epi_nxt")
        for j in range(cfg.cols):
            lane = self.c_data[j]
            m.d.comb += [nxt.acc[j].eq(i.payload.c[j] + lane.bias),
                         nxt.b[j].eq(lane.b), nxt.c[j].eq(lane.c)]
        m.d.comb += nxt.last.eq(i.payload.last)
        accept = Signal()
        # the output register is the head of a skid buffer: ready is a function of registers
        en, _ = output_skid(m, o, nxt, accept & ~self.start, name="epi_skid")
        m.d.comb += [i.ready.eq(ok & en), accept.eq(i.valid & i.ready),
                     last_r.eq(r == cfg.rows - 1), last_rb.eq(rb == self.row_blocks - 1)]
        with m.If(self.start):
            m.d.sync += [r.eq(0), rb.eq(0), cb.eq(0), o.valid.eq(0), moved.eq(1)]
        with m.Elif(accept):
            m.d.sync += r.eq(r + 1)
            with m.If(last_r):
                m.d.sync += [r.eq(0), rb.eq(rb + 1)]
                with m.If(last_rb):
                    m.d.sync += [rb.eq(0), cb.eq(cb + 1), moved.eq(1)]
        return m
