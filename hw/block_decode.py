"""Instruction views and the range checks of the block's controller (from ``firmware/isa``)."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import Value
from amaranth.lib import data

from ivita.firmware.isa import ERRORS, FIELDS, INSTR_BITS, MEMS, MODES, OPCODE_BITS, Op, \
    field_offsets
from ivita.firmware.memory_map import MemoryMap
from ivita.model.block_config import BlockConfig

__all__ = ["instr_layout", "instr_view", "check_instruction", "a_banks"]


def instr_layout(op: int) -> data.StructLayout:
    """The :data:`~ivita.firmware.isa.FIELDS` of ``op`` as an Amaranth layout of
    :data:`~ivita.firmware.isa.INSTR_BITS` bits (the opcode first)."""
    fields: dict = {"opcode": unsigned(OPCODE_BITS)}
    for f, _ in field_offsets(op):
        fields[f.name] = signed(f.width) if f.signed else unsigned(f.width)
    used = sum(f.width for f in FIELDS[op]) + OPCODE_BITS
    fields["_pad"] = unsigned(INSTR_BITS - used)
    return data.StructLayout(fields)


def instr_view(instr: Value, op: int) -> data.View:
    return data.View(instr_layout(op), instr)


def _ceil_div(v: Value, d: int) -> Value:
    return (v + (d - 1)) // d


def _mm_dst_last(mm: data.View, cfg: BlockConfig) -> Value:
    """Last destination word of a MATMUL (by its write-back ``mode``)."""
    rows, cols = cfg.rows, cfg.cols
    last_row = (mm.dst_base + (mm.row_blocks * rows - 1) * mm.s_row
                + (mm.col_blocks - 1) * mm.s_col)
    last_tr = (mm.dst_base + (mm.col_blocks * cols - 1) * mm.s_row
               + (mm.row_blocks - 1) * mm.s_col)
    return Mux(mm.mode == MODES["TRANSPOSE"], last_tr, last_row)


def _sm_dst_end(sm: data.View, cfg: BlockConfig) -> Value:
    """One past the last A-mem word a SOFTMAX writes."""
    return sm.dst + ((sm.rows - 1) // cfg.rows) * sm.dst_stride + sm.length


def a_banks(m: Module, instr: Value, cfg: BlockConfig) -> Signal:
    """The A-mem banks a MATMUL or SOFTMAX ``instr`` writes (bit 0: words below
    ``cfg.a_split``, bit 1: the others; 0 for a MATMUL into another memory), as
    :func:`ivita.firmware.program_check.a_write_banks`. Meaningful for a checked instruction
    of those two opcodes only."""
    banks = Signal(2, name="a_banks")
    mm, sm = instr_view(instr, Op.MATMUL), instr_view(instr, Op.SOFTMAX)
    split = cfg.a_split
    with m.If(instr[:OPCODE_BITS] == Op.SOFTMAX):
        m.d.comb += banks.eq(Cat(sm.dst < split, _sm_dst_end(sm, cfg) > split))
    with m.Elif(mm.dst_mem == MEMS["A"]):
        m.d.comb += banks.eq(Cat(mm.dst_base < split, _mm_dst_last(mm, cfg) >= split))
    return banks


def check_instruction(m: Module, instr: Value, cfg: BlockConfig, mmap: MemoryMap) -> Signal:
    """Combinational error code (:data:`~ivita.firmware.isa.ERRORS`) of ``instr``; 0 if OK."""
    code = Signal(4, name="check_code")
    depth = {name: mmap[name].depth for name in ("A", "B", "S", "R", "C")}
    lane_bits = [min(w, cfg.out_bits)
                 for w in (cfg.pe_a_bits, cfg.pe_b_bits, cfg.attn_bits, cfg.resid_bits)]
    mem_names = {v: k for k, v in MEMS.items()}
    op = instr[:OPCODE_BITS]
    E = ERRORS

    def first(*conds: tuple[Value, int]) -> Value:
        out: Value = E["NONE"]
        for cond, c in reversed(conds):
            out = Mux(cond, c, out)
        return out

    mm = instr_view(instr, Op.MATMUL)
    rows, cols = cfg.rows, cfg.cols
    dst_last = _mm_dst_last(mm, cfg)
    dst_depth = Signal(range(max(depth.values()) + 1))
    dst_lane = Signal(range(33))
    with m.Switch(mm.dst_mem):
        for v, name in mem_names.items():
            with m.Case(v):
                m.d.comb += [dst_depth.eq(depth[name]), dst_lane.eq(lane_bits[v])]
    mm_code = first(
        ((mm.mode > MODES["RESIDUAL"]) | (mm.sat_bits < 2) | (mm.sat_bits > dst_lane)
         | ((mm.mode == MODES["RESIDUAL"]) & (mm.dst_mem != MEMS["R"])), E["OPERAND"]),
        ((mm.row_blocks == 0) | (mm.col_blocks == 0) | (mm.k == 0) | (mm.k > cfg.k_max),
         E["LENGTH"]),
        ((mm.a_base + (mm.row_blocks - 1) * mm.a_stride + mm.k > depth["A"])
         | (mm.b_base + (mm.col_blocks - 1) * mm.b_stride + mm.k > depth["B"])
         | (mm.const_base + mm.col_blocks > depth["C"])
         | ((mm.mode == MODES["RESIDUAL"]) & (mm.aux >= depth["C"]))
         | (dst_last >= dst_depth), E["ADDRESS"]),
    )
    ln = instr_view(instr, Op.LAYERNORM)
    ln_words = _ceil_div(ln.channels, cols)
    ln_code = first(
        ((ln.tokens == 0) | (ln.tokens > cfg.max_tokens) | (ln.channels != cfg.max_dim),
         E["LENGTH"]),
        ((ln.src + (ln.tokens - 1) * ln.src_stride + ln_words > depth["R"])
         | (ln.dst + ((ln.tokens - 1) // rows) * ln.dst_stride + ln.channels > depth["A"])
         | (ln.const_base + ln_words > depth["C"]), E["ADDRESS"]),
    )
    sm = instr_view(instr, Op.SOFTMAX)
    sm_words = _ceil_div(sm.length, cols)
    sm_code = first(
        ((sm.x0 > -1) | (sm.x0 < -((1 << cfg_x0_bits(cfg)) - 1)), E["OPERAND"]),
        ((sm.rows == 0) | (sm.rows > cfg.max_tokens) | (sm.length == 0)
         | (sm.length > cfg.max_tokens), E["LENGTH"]),
        ((sm.src + (sm.rows - 1) * sm.src_stride + sm_words > depth["S"])
         | (_sm_dst_end(sm, cfg) > depth["A"]),
         E["ADDRESS"]),
    )
    ge = instr_view(instr, Op.GELU)
    ge_words = _ceil_div(ge.length, cols)
    ge_code = E["UNSUPPORTED"] if not cfg.max_hidden else first(
        ((ge.x0 > -1) | (ge.x0 < -((1 << cfg_x0_bits(cfg)) - 1)), E["OPERAND"]),
        ((ge.rows == 0) | (ge.rows > cfg.max_tokens) | (ge.length == 0)
         | (ge.length > cfg.max_hidden), E["LENGTH"]),
        ((ge.src + (ge.rows - 1) * ge.src_stride + ge_words > depth["R"])
         | (ge.dst + ((ge.rows - 1) // rows) * ge.dst_stride + ge.length > depth["A"])
         | (ge.const_base + ge_words > depth["C"]), E["ADDRESS"]),
    )
    with m.Switch(op):
        with m.Case(Op.MATMUL):
            m.d.comb += code.eq(mm_code)
        with m.Case(Op.LAYERNORM):
            m.d.comb += code.eq(ln_code)
        with m.Case(Op.SOFTMAX):
            m.d.comb += code.eq(sm_code)
        with m.Case(Op.HALT, Op.SYNC):
            m.d.comb += code.eq(0)
        with m.Case(Op.GELU):
            m.d.comb += code.eq(ge_code)
        with m.Default():
            m.d.comb += code.eq(E["BAD_OPCODE"])
    return code


def cfg_x0_bits(cfg: BlockConfig) -> int:
    """``x0_bits`` of the block's Shiftmax and ShiftGELU (the config defaults, both 16)."""
    from ivita.model.config import SoftmaxConfig
    return SoftmaxConfig().x0_bits
