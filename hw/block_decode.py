"""Instruction views and the pipelined range checks of the block's controller (from
``firmware/isa``)."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import Value
from amaranth.lib import data

from ivita.firmware.isa import ERRORS, FIELDS, INSTR_BITS, MEMS, MODES, OPCODE_BITS, Op, \
    field_offsets
from ivita.firmware.memory_map import MemoryMap
from ivita.model.block_config import BlockConfig

__all__ = ["instr_layout", "instr_view", "CHECK_LATENCY", "Checked", "check_pipeline"]

#: Cycles from a new ``instr`` to its :class:`Checked` result (``instr`` held meanwhile):
#: operands, constants, the DSP48 product register M, the product-plus-constant register P,
#: the comparisons, the error code.
CHECK_LATENCY = 6


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


@dataclass(frozen=True)
class Checked:
    """Registered results of :func:`check_pipeline`, valid :data:`CHECK_LATENCY` cycles after
    ``instr`` changed: ``code`` (:data:`~ivita.firmware.isa.ERRORS`, 0 if OK), ``ok``
    (``code == 0``), ``unit`` (one-hot: MATMUL, LAYERNORM, SOFTMAX, GELU; bit ``u`` of
    :data:`~ivita.hw.block_controller.UNITS`), ``halt``, ``sync``, ``banks`` (the A-mem banks
    the instruction writes, as :func:`ivita.firmware.program_check.a_write_banks`;
    meaningful for a checked MATMUL or SOFTMAX only); ``banks_early``/``unit_early``: the
    values ``banks``/``unit`` take at the next clock edge (so a user can register a function
    of them); ``moves``: ``ok`` and a unit's instruction or ``SYNC`` (it leaves CHECK once the
    units allow). No reset: every register is valid :data:`CHECK_LATENCY` cycles after
    ``instr`` changed, whatever it held before."""

    code: Signal
    ok: Signal
    unit: Signal
    halt: Signal
    sync: Signal
    banks: Signal
    banks_early: Value
    unit_early: Value
    moves: Signal


def _reg(m: Module, v: Value, name: str, n: int = 1) -> Signal:
    """``v`` delayed by ``n`` registers (free-running)."""
    for i in range(n):
        r = Signal(Value.cast(v).shape(), name=f"{name}_d{i + 1}" if n > 1 else name,
                   reset_less=True)
        m.d.sync += r.eq(v)
        v = r
    return v  # type: ignore[return-value]


def check_pipeline(m: Module, instr: Value, cfg: BlockConfig, mmap: MemoryMap) -> Checked:
    """The controller's checks of ``instr`` (its error code, bit-exact with
    :func:`ivita.firmware.program_check.instruction_error`'s code, and its A-mem banks) as a
    free-running pipeline of :data:`CHECK_LATENCY` register stages, so that no path has more
    than one carry chain or one DSP48 stage (the 250 MHz target of docs/fpga.md):

    1. operands: counts minus one, the block-row quotient ``(rows - 1) // cfg.rows``, the
       word counts ``ceil(length / cols)``, the range flags of ``LENGTH``/``OPERAND``;
    2. the constant term of every end address (``base + k`` ...);
    3. ``M = count * stride`` (five products, shared by the opcodes: a DSP48E1 each);
    4. ``P = M + constant`` (the DSP's post-adder), the last word (plus one) of a region;
    5. ``P`` against every memory depth (and ``a_split``), the two-product destination
       check of a MATMUL;
    6. the first error of the opcode (OPERAND, LENGTH, ADDRESS: the order of the model).

    Every product and sum is exact over the fields' full widths, so a check never wraps.
    The MATMUL operands and those of LAYERNORM/SOFTMAX/GELU share bit positions (the
    ``src``/``a_base`` ... fields of :data:`~ivita.firmware.isa.FIELDS`), so the slots
    choose between them with the opcode's bit 2 only.
    """
    depth = {name: mmap[name].depth for name in ("A", "B", "S", "R", "C")}
    lane_bits = [min(w, cfg.out_bits)
                 for w in (cfg.pe_a_bits, cfg.pe_b_bits, cfg.attn_bits, cfg.resid_bits)]
    mem_names = {v: k for k, v in MEMS.items()}
    split, R, C = cfg.a_split, cfg.rows, cfg.cols
    E = ERRORS
    op = instr[:OPCODE_BITS]
    mm = instr_view(instr, Op.MATMUL)
    ln = instr_view(instr, Op.LAYERNORM)      # src, strides, dst, count, length: LN/SM/GE
    sm = instr_view(instr, Op.SOFTMAX)
    ge = instr_view(instr, Op.GELU)
    x0_lim = -((1 << cfg_x0_bits(cfg)) - 1)

    # ---- stage 1: operands and the range flags
    s1 = m.d.sync
    unit = Signal(4, name="chk_unit", reset_less=True)
    halt, sync_ = Signal(name="chk_halt", reset_less=True), Signal(name="chk_sync", reset_less=True)
    rowop, tr = Signal(name="chk_rowop", reset_less=True), Signal(name="chk_tr", reset_less=True)
    s1 += [unit.eq(Cat(op == Op.MATMUL, op == Op.LAYERNORM, op == Op.SOFTMAX, op == Op.GELU)),
           halt.eq(op == Op.HALT), sync_.eq(op == Op.SYNC),
           rowop.eq(instr[2]), tr.eq(mm.mode == MODES["TRANSPOSE"])]
    cnt1 = Signal(16, name="chk_cnt1", reset_less=True)        # tokens / rows minus one
    rb1 = Signal(8, name="chk_rb1", reset_less=True)
    cb1 = Signal(8, name="chk_cb1", reset_less=True)
    # rows (cols in TRANSPOSE) of the destination - 1
    px = Signal(16, name="chk_px", reset_less=True)
    st = [Signal(16, name=f"chk_st{i}", reset_less=True) for i in range(5)]
    words = Signal(16, name="chk_words", reset_less=True)
    f_base0, f_k, dst_base = (Signal(16, name=f"chk_{x}", reset_less=True)
                              for x in ("base0", "k", "dst_base"))
    f_t17 = Signal(17, name="chk_t", reset_less=True)
    dst_depth = Signal(range(max(depth.values()) + 1), name="chk_dst_depth", reset_less=True)
    s1 += [
        cnt1.eq(ln.tokens - 1), rb1.eq(mm.row_blocks - 1), cb1.eq(mm.col_blocks - 1),
        px.eq(Mux(mm.mode == MODES["TRANSPOSE"], mm.col_blocks * C - 1,
                  mm.row_blocks * R - 1)),
        st[0].eq(mm.a_stride), st[1].eq(mm.b_stride), st[2].eq(mm.s_row), st[3].eq(mm.s_col),
        st[4].eq(Mux(instr[2], ln.dst_stride, mm.s_col)),
        words.eq((ln.channels + (C - 1)) // C),
        f_base0.eq(mm.a_base), f_k.eq(mm.k), dst_base.eq(mm.dst_base),
        f_t17.eq(mm.b_base + mm.k),           # b_base + k = dst + length
    ]
    with m.Switch(mm.dst_mem):
        for v, name in mem_names.items():
            with m.Case(v):
                s1 += dst_depth.eq(depth[name])
    dst_lane = Signal(range(33), name="chk_dst_lane", reset_less=True)
    with m.Switch(mm.dst_mem):
        for v, name in mem_names.items():
            with m.Case(v):
                m.d.comb += dst_lane.eq(lane_bits[v])
    resid = mm.mode == MODES["RESIDUAL"]
    # each flag an OR of terms: the terms registered in stage 1, the OR in stage 2
    flag1: dict[str, tuple[Value, ...]] = {
        "mm_operand": (mm.mode > MODES["RESIDUAL"], mm.sat_bits < 2, mm.sat_bits > dst_lane,
                       resid & (mm.dst_mem != MEMS["R"])),
        "mm_length": (mm.row_blocks == 0, mm.col_blocks == 0, mm.k == 0, mm.k > cfg.k_max),
        "mm_aux": (resid & (mm.aux >= depth["C"]),),
        "ln_length": (ln.tokens == 0, ln.tokens > cfg.max_tokens, ln.channels != cfg.max_dim),
        "sm_operand": (sm.x0 > -1, sm.x0 < x0_lim),
        "sm_length": (sm.rows == 0, sm.rows > cfg.max_tokens, sm.length == 0,
                      sm.length > cfg.max_tokens),
        "ge_operand": (ge.x0 > -1, ge.x0 < x0_lim),
        "ge_length": (ge.rows == 0, ge.rows > cfg.max_tokens, ge.length == 0,
                      ge.length > max(cfg.max_hidden, 1)),
        "bank0": (Mux(op == Op.SOFTMAX, sm.dst < split,
                      (mm.dst_mem == MEMS["A"]) & (mm.dst_base < split)),),
        "a_dst": (op == Op.SOFTMAX,),          # bank 1 from P4; else a MATMUL into A-mem
        "mm_to_a": (mm.dst_mem == MEMS["A"],),
    }
    fl = {}
    for k, terms in flag1.items():
        t1 = _reg(m, Cat(*terms), f"chk_{k}_t")
        fl[k] = _reg(m, t1.any(), f"chk_{k}")           # valid in stage 2
    const_base = Signal(16, name="chk_const_base", reset_less=True)
    cb_q = Signal(8, name="chk_cb", reset_less=True)
    s1 += [const_base.eq(mm.const_base), cb_q.eq(mm.col_blocks)]

    # ---- stage 2: the constant terms and the counts
    c = [Signal(signed(19), name=f"chk_c{i}", reset_less=True) for i in range(5)]
    cc = Signal(17, name="chk_cc", reset_less=True)             # last C-mem word + 1
    m.d.sync += [
        c[0].eq(f_base0 + Mux(rowop, words, f_k)),
        c[1].eq(f_t17),
        c[2].eq(0),
        c[3].eq(dst_base - dst_depth),
        c[4].eq(Mux(rowop, f_t17 - (split + 1), dst_base - split)),
        cc.eq(const_base + Mux(rowop, words, cb_q)),
    ]
    # the counts of the products
    n2 = [Signal(16, name=f"chk_n{i}", reset_less=True) for i in range(5)]
    py = Mux(tr, rb1, cb1)
    m.d.sync += [n2[0].eq(Mux(rowop, cnt1, rb1)), n2[1].eq(Mux(rowop, cnt1 // R, cb1)),
                 n2[2].eq(Mux(rowop, 0, px)), n2[3].eq(py),
                 n2[4].eq(Mux(rowop, cnt1 // R, py))]
    st2 = [_reg(m, v, f"chk_st{i}_q") for i, v in enumerate(st)]

    # ---- stages 3, 4: M = n * st (DSP M register), P = M + c (post-adder, P register)
    p = []
    for i in range(5):
        prod = Signal(32, name=f"chk_m{i}", reset_less=True)
        m.d.sync += prod.eq(n2[i] * st2[i])
        c_q = _reg(m, c[i], f"chk_c{i}_q")
        pi = Signal(signed(35), name=f"chk_p{i}", reset_less=True)
        m.d.sync += pi.eq(prod + c_q)
        p.append(pi)
    cc4 = _reg(m, cc, "chk_cc_q", 2)

    # ---- stage 5: comparisons
    sums = {}
    for nm, j in (("mm_dst", 3), ("bank1", 4)):          # >= 0: the sign of P2 + Pj
        sums[nm] = Signal(signed(36), name=f"chk_sum_{nm}", reset_less=True)
        m.d.comb += sums[nm].eq(p[2] + p[j])
    lt = {}
    for nm, v in (("p0_A", p[0] > depth["A"]), ("p0_R", p[0] > depth["R"]),
                  ("p0_S", p[0] > depth["S"]), ("p1_B", p[1] > depth["B"]),
                  ("p1_A", p[1] > depth["A"]), ("cc_C", cc4 > depth["C"]),
                  ("mm_dst", ~sums["mm_dst"][-1]), ("bank1", ~sums["bank1"][-1])):
        lt[nm] = _reg(m, v, f"chk_{nm}")
    f5 = {k: _reg(m, v, f"chk_{k}5", 3) for k, v in fl.items()}   # stage 2 -> stage 5
    unit5 = _reg(m, unit, "chk_unit5", 4)

    # ---- stage 6: the first error of the opcode
    def first(*conds: tuple[Value, int]) -> Value:
        out: Value = E["NONE"]
        for cond, code_ in reversed(conds):
            out = Mux(cond, code_, out)
        return out

    mm_code = first((f5["mm_operand"], E["OPERAND"]), (f5["mm_length"], E["LENGTH"]),
                    (lt["p0_A"] | lt["p1_B"] | lt["cc_C"] | f5["mm_aux"] | lt["mm_dst"],
                     E["ADDRESS"]))
    ln_code = first((f5["ln_length"], E["LENGTH"]),
                    (lt["p0_R"] | lt["p1_A"] | lt["cc_C"], E["ADDRESS"]))
    sm_code = first((f5["sm_operand"], E["OPERAND"]), (f5["sm_length"], E["LENGTH"]),
                    (lt["p0_S"] | lt["p1_A"], E["ADDRESS"]))
    ge_code = E["UNSUPPORTED"] if not cfg.max_hidden else first(
        (f5["ge_operand"], E["OPERAND"]), (f5["ge_length"], E["LENGTH"]),
        (lt["p0_R"] | lt["p1_A"] | lt["cc_C"], E["ADDRESS"]))
    halt5, sync5 = _reg(m, halt, "chk_halt5", 4), _reg(m, sync_, "chk_sync5", 4)
    code = Signal(4, name="check_code", reset_less=True)
    ok = Signal(name="check_ok", reset_less=True)
    code_v = Signal(4, name="check_code_v", reset_less=True)
    with m.If(unit5[0]):
        m.d.comb += code_v.eq(mm_code)
    with m.Elif(unit5[1]):
        m.d.comb += code_v.eq(ln_code)
    with m.Elif(unit5[2]):
        m.d.comb += code_v.eq(sm_code)
    with m.Elif(unit5[3]):
        m.d.comb += code_v.eq(ge_code)
    with m.Elif(halt5 | sync5):
        m.d.comb += code_v.eq(0)
    with m.Else():
        m.d.comb += code_v.eq(E["BAD_OPCODE"])
    moves = Signal(name="check_moves", reset_less=True)
    m.d.sync += [code.eq(code_v), ok.eq(code_v == 0),
                 moves.eq((code_v == 0) & (unit5.any() | sync5))]
    bank1 = Mux(f5["a_dst"], lt["bank1"], f5["mm_to_a"] & lt["bank1"])
    banks_early = Cat(f5["bank0"], bank1)
    banks = _reg(m, banks_early, "check_banks")
    return Checked(code=code, ok=ok, unit=_reg(m, unit5, "check_unit"),
                   halt=_reg(m, halt5, "check_halt"), sync=_reg(m, sync5, "check_sync"),
                   banks=banks, banks_early=banks_early, unit_early=unit5, moves=moves)


def cfg_x0_bits(cfg: BlockConfig) -> int:
    """``x0_bits`` of the block's Shiftmax and ShiftGELU (the config defaults, both 16)."""
    from ivita.model.config import SoftmaxConfig
    return SoftmaxConfig().x0_bits
