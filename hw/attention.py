"""The programmable attention block: memories, array, requantizers, units and controller."""

from __future__ import annotations

from typing import Any

from amaranth import Cat, Const, Module, ResetInserter, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ivita.firmware.isa import INSTR_BITS, Op
from ivita.firmware.memory_map import BUS_BITS, MemoryMap, memory_map
from ivita.model.block_config import BlockConfig
from ivita.model.checks import check_int
from ivita.model.config import GeluConfig, LayerNormConfig, RequantConfig, SoftmaxConfig

from .array import SystolicArray
from .block_bus import BlockBus
from .block_controller import DECIDE_INTERVAL, GO_DELAY, UNITS, BlockController
from .block_decode import instr_view
from .block_ports import connect_memories
from .lane_writer import LaneWriter
from .layernorm import IntLayerNorm
from .gelu import ShiftGELU
from .row_affine import RowAffine, gelu_requant_config, ln_requant_config
from ._dyadic import DYADIC_LATENCY
from .pe import PE_LATENCY
from .requant import Requantizer
from .row_serializer import RowSerializer
from .softmax import Shiftmax
from .tile_epilogue import TileEpilogue, const_lane_layout, matmul_requant_config
from .tile_sequencer import SEQ_LATENCY, TileSequencer
from .tile_writeback import WB_LATENCY, TileWriteBack
from .timing import Timing

__all__ = ["AttentionBlock"]


class AttentionBlock(wiring.Component):
    """One quantized pre-norm ViT self-attention layer from a program, bit-exact with
    :func:`ivita.model.attention_block_trace` (compiled by :mod:`ivita.firmware.compiler`).

    ``start`` (while idle) also resets every datapath unit (in the next cycle), so a program
    never sees state left by an aborted one (memories keep their contents).

    Ports: the host bus (``addr``, ``w_data``, ``w_en``, ``r_en``, ``r_data`` one cycle after
    ``r_en``; map: :func:`ivita.firmware.memory_map.memory_map`), ``start`` (runs the program
    from address 0), ``busy``, ``done``, ``error``, ``error_code``
    (:data:`ivita.firmware.isa.ERRORS`), ``cycles`` (cycles of the last run), ``pc`` (the
    instruction being executed, or where the program stopped). The host
    accesses the memories only while ``busy`` is low (the datapath owns them while busy).

    Execution is in program order; a MATMUL and a SOFTMAX writing different A-mem banks (or
    a MATMUL into another memory) may overlap (see :class:`BlockController`): A-mem is two
    memories, bank 0 below ``cfg.a_split`` and bank 1 from it, one write port each.
    Datapaths: MATMUL = :class:`TileSequencer` -> :class:`SystolicArray` ->
    :class:`TileEpilogue` (bias, constants) -> :class:`Requantizer` (per-beat constants) ->
    :class:`TileWriteBack`; LAYERNORM = :class:`RowSerializer` (R-mem) ->
    :class:`IntLayerNorm` -> :class:`RowAffine` -> :class:`Requantizer` -> :class:`LaneWriter`
    (A-mem lanes); SOFTMAX = :class:`RowSerializer` (S-mem) -> :class:`Shiftmax` ->
    :class:`LaneWriter`; GELU (only when ``cfg.max_hidden > 0``) = :class:`RowSerializer`
    (R-mem) -> :class:`ShiftGELU` -> :class:`RowAffine` -> :class:`Requantizer` ->
    :class:`LaneWriter`.
    """

    def __init__(self, cfg: BlockConfig) -> None:
        if not isinstance(cfg, BlockConfig):
            raise TypeError(f"cfg must be a BlockConfig, not {type(cfg).__name__}")
        self._cfg = cfg
        self._mmap = memory_map(cfg)
        self._units: dict[str, Any] = {}   # filled by elaborate (fault injection, probes)
        super().__init__({
            "addr": In(self._mmap.addr_bits), "w_data": In(BUS_BITS), "w_en": In(1),
            "r_en": In(1), "r_data": Out(BUS_BITS),
            "start": In(1), "busy": Out(1), "done": Out(1), "error": Out(1),
            "error_code": Out(4), "cycles": Out(32), "pc": Out(16),
        })

    @property
    def config(self) -> BlockConfig:
        return self._cfg

    @property
    def memory_map(self) -> MemoryMap:
        return self._mmap

    def elaborate(self, platform: object) -> Module:
        m, cfg = Module(), self._cfg
        m.submodules.bus = bus = BlockBus(self._mmap, split={"A": cfg.a_split})
        m.submodules.ctrl = ctrl = BlockController(cfg, self._mmap)
        m.d.comb += [bus.addr.eq(self.addr), bus.w_data.eq(self.w_data), bus.w_en.eq(self.w_en),
                     bus.r_en.eq(self.r_en), self.r_data.eq(bus.r_data),
                     ctrl.start.eq(self.start)]
        for name in ("busy", "done", "error", "error_code", "cycles", "pc"):
            m.d.comb += getattr(self, name).eq(getattr(ctrl, name))
        mems = self._memories(m)
        m.d.comb += ctrl.prog_data.eq(mems["prog"]["r"].data)
        # every datapath unit starts a program from reset (nothing left from an aborted one):
        # a flip-flop set in the cycle after a start while idle (the first go is later); each
        # unit has its own ResetInserter on it (Yosys merges copies of the flip-flop, and the
        # OR with the block's reset is a LUT per unit anyway); the units' data registers have
        # no reset, so each such LUT drives few flip-flops
        self._dp_rst = Signal(name="datapath_reset")
        m.d.sync += self._dp_rst.eq(self.start & ~ctrl.busy)
        dp = Module()
        mm_fin, mm_ports = self._matmul_path(dp, ctrl, mems)
        ln_fin, ln_err, ln_ports = self._ln_path(dp, ctrl, mems)
        sm_fin, sm_err, sm_ports = self._sm_path(dp, ctrl, mems)
        ge_fin, ge_err, ge_ports = self._gelu_path(dp, ctrl, mems) if cfg.max_hidden else \
            (Const(0, 1), Const(0, 1), None)
        m.submodules.datapath = dp
        m.d.comb += [
            ctrl.finished.eq(Cat(mm_fin[0], ln_fin, sm_fin, ge_fin)),
            ctrl.finish_hold[UNITS[Op.MATMUL]].eq(mm_fin[1]),
            ctrl.unit_error.eq(ln_err | sm_err | ge_err),
        ]
        connect_memories(m, cfg, bus, ctrl, mems, mm_ports, ln_ports, sm_ports, ge_ports)
        return m

    def timing(self, n: int | None = None) -> Timing:
        """Built on :meth:`matmul_cycles`; the item is an instruction, a one-tile ``ROW``
        MATMUL with ``k = n`` (default ``k_max``; at least ``rows + cols``, where the cycle
        model is exact): ``done`` ``matmul_cycles(1, 1, n) + 12`` cycles after ``start`` for
        the program MATMUL, HALT (the first ``go`` ``DECIDE_INTERVAL + GO_DELAY`` = 10 cycles
        after ``start``: fetch 2, checks 6, decide 1, ``go`` 1; the MATMUL, finish 1, ``done``
        1); back-to-back MATMULs are dispatched every ``matmul_cycles(1, 1, n) + 2`` cycles
        (the unit's busy bit clears one cycle after it finishes, the registered ``go`` one
        cycle after the decision)."""
        cfg = self._cfg
        k = cfg.k_max if n is None else check_int(n, "n", cfg.rows + cfg.cols, cfg.k_max)
        mm = self.matmul_cycles(1, 1, k)
        first_go = DECIDE_INTERVAL + GO_DELAY
        return Timing(latency=mm + first_go + 2, latency_from="first", interval=mm + 1 + GO_DELAY,
                      per="instruction")

    def matmul_cycles(self, row_blocks: int, col_blocks: int, k: int, mode: str = "ROW") -> int:
        """Cycles a MATMUL occupies the matmul unit, from its dispatch to the unit being free:
        ``row_blocks*col_blocks*k + 2*rows + 1 + SEQ_LATENCY + WB_LATENCY + PE_LATENCY +
        DYADIC_LATENCY`` (the sequencer's latency, 3, the write-back's, 9, the PE's, 2, and the
        requantizer's, 6: ``+ 21`` in all; ``+ cols`` in ``TRANSPOSE``: the last tile's drain).
        Exact when ``k >= rows + cols`` (the epilogue's constant reload and the transposer's
        drain then hide between tiles); a lower bound otherwise. A program of one
        MATMUL and HALT takes 11 cycles more (the first ``go`` 10 cycles after ``start``,
        finish 1)."""
        n = (check_int(row_blocks, "row_blocks", 1) * check_int(col_blocks, "col_blocks", 1)
             * check_int(k, "k", 1))
        return (n + 2 * self._cfg.rows + 1 + SEQ_LATENCY + WB_LATENCY + PE_LATENCY
                + DYADIC_LATENCY
                + (self._cfg.cols if mode == "TRANSPOSE" else 0))

    @staticmethod
    def _latch(m: Module, ctrl: BlockController, op: int) -> Signal:
        """The instruction of ``op``'s unit, latched when it is dispatched (the controller
        fetches the next one while the unit runs; no reset: read only after a dispatch). It is
        loaded at the dispatch decision (``go_next``; ``instr`` holds then too), so ``go``
        itself only drives the units."""
        iq = Signal(INSTR_BITS, name=f"instr_op{op}", reset_less=True)
        with m.If(ctrl.go_next[UNITS[op]]):
            m.d.sync += iq.eq(ctrl.instr)
        return iq

    def _addr_bits(self, name: str) -> int:
        """Bits of a word address of memory ``name``."""
        return max(1, (self._mmap[name].depth - 1).bit_length())

    def _unit(self, m: Module, name: str, unit: Any) -> None:
        """Add datapath ``unit`` as submodule ``name`` of ``m``, reset by the datapath reset."""
        m.submodules[name] = ResetInserter({"sync": self._dp_rst})(unit)

    def _memories(self, m: Module) -> dict:
        """One block RAM per memory, A-mem as two banks (``mem_A0``: words ``0 ..
        a_split - 1``, ``mem_A1``: the rest; each with one read and one lane-granular write
        port, wired by :func:`~ivita.hw.block_ports.connect_memories`); ``mems["A"]["rdata"]``
        is the read data of the bank last read."""
        cfg, mm = self._cfg, self._mmap
        mems: dict = {}
        for name in ("prog", "B", "S", "R", "C"):
            r = mm[name]
            mem = Memory(shape=r.word_bits, depth=r.depth, init=[])
            m.submodules[f"mem_{name}"] = mem
            mems[name] = {"mem": mem, "w": mem.write_port(), "r": mem.read_port()}
        mems["C"]["r2"] = mems["C"]["mem"].read_port()
        a, gran = mm["A"], ({"granularity": cfg.pe_a_bits} if cfg.rows > 1 else {})
        banks = []
        for b, (lo, hi) in enumerate(((0, cfg.a_split), (cfg.a_split, a.depth))):
            mem = Memory(shape=a.word_bits, depth=hi - lo, init=[])
            m.submodules[f"mem_A{b}"] = mem
            banks.append({"mem": mem, "w": mem.write_port(**gran), "r": mem.read_port(),
                          "base": lo, "end": hi})
        mems["A"] = {"banks": banks, "rdata": Signal(a.word_bits, name="a_rdata")}
        self._units["a_banks"] = banks
        return mems

    def _matmul_path(self, m: Module, ctrl: BlockController, mems: dict) -> tuple:
        cfg = self._cfg
        mmi = instr_view(self._latch(m, ctrl, Op.MATMUL), Op.MATMUL)
        seq, arr, epi = TileSequencer(cfg), SystolicArray(cfg.array_config), TileEpilogue(cfg)
        rq, wb = Requantizer(matmul_requant_config(cfg), per_beat=True), TileWriteBack(cfg)
        for name, unit in (("seq", seq), ("array", arr), ("epi", epi), ("rq", rq), ("wb", wb)):
            self._unit(m, name, unit)
        go = ctrl.go[UNITS[Op.MATMUL]]
        for name in ("a_base", "a_stride", "b_base", "b_stride", "row_blocks", "col_blocks",
                     "k"):
            m.d.comb += getattr(seq, name).eq(getattr(mmi, name))
        m.d.comb += [seq.start.eq(go), epi.start.eq(go), wb.start.eq(go),
                     epi.row_blocks.eq(mmi.row_blocks), epi.const_base.eq(mmi.const_base)]
        for name in ("mode", "row_blocks", "col_blocks", "dst_base", "s_row", "s_col",
                     "sat_bits"):
            m.d.comb += getattr(wb, name).eq(getattr(mmi, name))
        wiring.connect(m, seq.o_stream, arr.i_stream)
        wiring.connect(m, arr.o_stream, epi.i_stream)
        wiring.connect(m, epi.o_stream, rq.i_stream)
        wiring.connect(m, rq.o_stream, wb.i_stream)
        c_lanes = data.ArrayLayout(const_lane_layout(cfg), cfg.cols)
        r_lanes = data.ArrayLayout(signed(cfg.resid_bits), cfg.cols)
        m.d.comb += [
            seq.a_data.eq(mems["A"]["rdata"]), seq.b_data.eq(mems["B"]["r"].data),
            epi.c_data.eq(data.View(c_lanes, mems["C"]["r"].data)),
            mems["C"]["r2"].addr.eq(mmi.aux),
            wb.res_const.eq(data.View(c_lanes, mems["C"]["r2"].data)),
            wb.x_data.eq(data.View(r_lanes, mems["R"]["r"].data)),
        ]
        ports = {"seq": seq, "epi": epi, "wb": wb, "dst_mem": mmi.dst_mem}
        return (wb.finished, seq.busy), ports    # finished unless the sequencer is busy

    def _affine_row_path(self, m: Module, ctrl: BlockController, mems: dict, op: int, *,
                         name: str, prefix: str, unit: Any, aff: RowAffine,
                         rq_cfg: RequantConfig, rows: str, length: str, max_len: int) -> tuple:
        """The row path shared by LAYERNORM and GELU: R-mem rows -> :class:`RowSerializer` ->
        ``unit`` -> :class:`RowAffine` (per-channel constants from C-mem) -> per-beat
        :class:`Requantizer` -> :class:`LaneWriter` into A-mem. ``name`` is the unit's submodule
        name and ``prefix`` that of its parts (``<prefix>_ser`` ...); ``rows``/``length`` name
        the instruction fields holding the row count and the row length (at most ``max_len``)."""
        cfg = self._cfg
        ins = instr_view(self._latch(m, ctrl, op), op)
        ser = RowSerializer(lanes=cfg.cols, lane_bits=cfg.resid_bits,
                            addr_bits=self._addr_bits("R"),
                            max_len=max(max_len, cfg.max_tokens))
        rq = Requantizer(rq_cfg, per_beat=True)
        lw = LaneWriter(lanes=cfg.rows, lane_bits=cfg.pe_a_bits, in_shape=signed(cfg.a_bits),
                        max_cols=max_len)
        self._unit(m, name, unit)
        for part, sub in (("ser", ser), ("aff", aff), ("rq", rq), ("lw", lw)):
            self._unit(m, f"{prefix}_{part}", sub)
        go = ctrl.go[UNITS[op]]
        n_rows, n_elems = getattr(ins, rows), getattr(ins, length)
        m.d.comb += [ser.start.eq(go), aff.start.eq(go), lw.start.eq(go),
                     ser.base.eq(ins.src), ser.stride.eq(ins.src_stride),
                     ser.n_rows.eq(n_rows), ser.n_elems.eq(n_elems),
                     aff.const_base.eq(ins.const_base),
                     lw.dst.eq(ins.dst), lw.dst_stride.eq(ins.dst_stride),
                     lw.n_rows.eq(n_rows), lw.n_cols.eq(n_elems),
                     unit.error_clear.eq(self.start & ~ctrl.busy),
                     ser.rd_data.eq(data.View(ser.rd_data.shape(), mems["R"]["r"].data)),
                     aff.c_data.eq(data.View(aff.c_data.shape(), mems["C"]["r"].data)),
                     unit.i_stream.valid.eq(ser.o_stream.valid),
                     unit.i_stream.payload.x.eq(ser.o_stream.payload.x),
                     unit.i_stream.payload.last.eq(ser.o_stream.payload.last),
                     ser.o_stream.ready.eq(unit.i_stream.ready)]
        wiring.connect(m, unit.o_stream, aff.i_stream)
        wiring.connect(m, aff.o_stream, rq.i_stream)
        m.d.comb += [lw.i_stream.valid.eq(rq.o_stream.valid),
                     lw.i_stream.payload.y.eq(rq.o_stream.payload.q[0]),
                     lw.i_stream.payload.last.eq(rq.o_stream.payload.last),
                     rq.o_stream.ready.eq(lw.i_stream.ready)]
        return ins, lw.finished, unit.error, {"ser": ser, "aff": aff, "lw": lw}

    def _ln_path(self, m: Module, ctrl: BlockController, mems: dict) -> tuple:
        cfg = self._cfg
        ln = IntLayerNorm(LayerNormConfig(in_bits=cfg.resid_bits, channels=cfg.max_dim))
        _, done, error, ports = self._affine_row_path(
            m, ctrl, mems, Op.LAYERNORM, name="ln", prefix="ln", unit=ln, aff=RowAffine(cfg),
            rq_cfg=ln_requant_config(cfg), rows="tokens", length="channels",
            max_len=cfg.max_dim)
        return done, error, ports

    def _gelu_path(self, m: Module, ctrl: BlockController, mems: dict) -> tuple:
        cfg = self._cfg
        ge = ShiftGELU(GeluConfig(in_bits=cfg.gelu_bits, n=cfg.n, sig_bits=cfg.sig_bits))
        aff = RowAffine(cfg, in_bits=cfg.gelu_out_bits, rq=gelu_requant_config(cfg))
        gi, done, error, ports = self._affine_row_path(
            m, ctrl, mems, Op.GELU, name="gelu", prefix="ge", unit=ge, aff=aff,
            rq_cfg=gelu_requant_config(cfg), rows="rows", length="length",
            max_len=cfg.max_hidden)
        m.d.comb += ge.x0.eq(gi.x0)
        return done, error, ports

    def _sm_path(self, m: Module, ctrl: BlockController, mems: dict) -> tuple:
        cfg = self._cfg
        si = instr_view(self._latch(m, ctrl, Op.SOFTMAX), Op.SOFTMAX)
        ser = RowSerializer(lanes=cfg.cols, lane_bits=cfg.attn_bits,
                            addr_bits=self._addr_bits("S"), max_len=cfg.max_tokens)
        sm = self._units["sm"] = Shiftmax(SoftmaxConfig(in_bits=cfg.attn_bits, n=cfg.n,
                                                      out_bits=cfg.prob_bits,
                                                      max_tokens=cfg.max_tokens))
        lw = LaneWriter(lanes=cfg.rows, lane_bits=cfg.pe_a_bits,
                        in_shape=sm.o_stream.payload.y.shape(), max_cols=cfg.max_tokens)
        for name, unit in (("sm_ser", ser), ("sm", sm), ("sm_lw", lw)):
            self._unit(m, name, unit)
        go = ctrl.go[UNITS[Op.SOFTMAX]]
        m.d.comb += [ser.start.eq(go), lw.start.eq(go),
                     ser.base.eq(si.src), ser.stride.eq(si.src_stride),
                     ser.n_rows.eq(si.rows), ser.n_elems.eq(si.length),
                     lw.dst.eq(si.dst), lw.dst_stride.eq(si.dst_stride),
                     lw.n_rows.eq(si.rows), lw.n_cols.eq(si.length), sm.x0.eq(si.x0),
                     sm.error_clear.eq(self.start & ~ctrl.busy),
                     ser.rd_data.eq(data.View(ser.rd_data.shape(), mems["S"]["r"].data))]
        m.d.comb += [sm.i_stream.valid.eq(ser.o_stream.valid),
                     sm.i_stream.payload.x.eq(ser.o_stream.payload.x),
                     sm.i_stream.payload.last.eq(ser.o_stream.payload.last),
                     ser.o_stream.ready.eq(sm.i_stream.ready)]
        wiring.connect(m, sm.o_stream, lw.i_stream)
        return lw.finished, sm.error, {"ser": ser, "lw": lw}
