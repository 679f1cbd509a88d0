"""Bias add and per-column constants between the array and the requantizer of the block."""

from __future__ import annotations

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.memory_map import const_fields
from ivita.model.block_config import BlockConfig
from ivita.model.config import RequantConfig

from ._skid import output_skid
from ._blockutil import wrap_counter
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
    register (loaded from their next values; never a function of ``i_stream.valid`` or
    ``o_stream.ready`` in the same cycle). Normative model: the ``+ bias`` of :func:`ivita.model.linear_acc`.
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
        accept, start_q = Signal(), Signal(name="epi_start_q", reset_less=True)
        # the counters are reset-less with registered last flags (start loads them; row_blocks
        # holds from the cycle after start: its counter loads then)
        m.d.sync += start_q.eq(self.start)
        _, last_r = wrap_counter(m, cfg.rows, self.start, accept,
                                 width=max(cfg.rows - 1, 1).bit_length(), name="epi_r")
        _, last_rb = wrap_counter(m, self.row_blocks, start_q, accept & last_r, width=8,
                                  name="epi_rb")
        cb, cb_step = Signal(8, name="epi_cb", reset_less=True), Signal()
        m.d.comb += [self.c_addr.eq(self.const_base + cb),
                     cb_step.eq(accept & last_r & last_rb)]
        with m.If(self.start):
            m.d.sync += cb.eq(0)
        with m.Elif(cb_step):
            m.d.sync += cb.eq(cb + 1)
        nxt = Signal.like(o.payload, name="epi_nxt")
        for j in range(cfg.cols):
            lane = self.c_data[j]
            m.d.comb += [nxt.acc[j].eq(i.payload.c[j] + lane.bias),
                         nxt.b[j].eq(lane.b), nxt.c[j].eq(lane.c)]
        m.d.comb += nxt.last.eq(i.payload.last)
        # the output register is the head of a skid buffer: ready is a function of registers
        # (no row arrives in the cycle of start: the MATMUL before has finished, the
        # datapath reset cleared an aborted one)
        _, en_next = output_skid(m, o, nxt, accept, name="epi_skid")
        # ready = the port's data belong to c_addr (cb did not move at the last edge and no
        # start came: const_base is held from the cycle after start) and the skid's spare is
        # free; one register, from the next values of both
        rdy = Signal(name="epi_ready")
        m.d.sync += rdy.eq(~self.start & ~cb_step & en_next)
        m.d.comb += [i.ready.eq(rdy), accept.eq(i.valid & rdy)]
        return m
