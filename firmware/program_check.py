"""Static checks of a block program: the same range rules the hardware controller applies
(``ivita.hw.block_decode.check_pipeline``), run before a program reaches the hardware."""

from __future__ import annotations

from ivita.model.block_config import BlockConfig
from ivita.model.config import SoftmaxConfig

from .isa import ERRORS, FIELDS, MEMS, MODES, OP_NAMES, Op
from .memory_map import memory_map

__all__ = ["ProgramError", "instruction_error", "check_program", "a_write_banks",
           "may_overlap"]


class ProgramError(ValueError):
    """A program the block would reject; the message names the instruction and the numbers."""


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def instruction_error(cfg: BlockConfig, op: int, f: dict[str, int]) -> tuple[int, str]:
    """``(error code, reason)`` of one instruction, ``(0, "")`` if the hardware accepts it."""
    mm = memory_map(cfg)
    depth = {n: mm[n].depth for n in ("A", "B", "S", "R", "C")}
    E = ERRORS
    if op not in FIELDS:
        return E["BAD_OPCODE"], f"opcode {op} is not defined"
    if op == Op.GELU and not cfg.max_hidden:
        return E["UNSUPPORTED"], "GELU needs a block built with max_hidden > 0"
    if op == Op.MATMUL:
        mems = {v: k for k, v in MEMS.items()}
        dst = mems[f["dst_mem"]]
        lane = {"A": cfg.pe_a_bits, "B": cfg.pe_b_bits, "S": cfg.attn_bits,
                "R": cfg.resid_bits}[dst]
        lane = min(lane, cfg.out_bits)
        if f["mode"] > MODES["RESIDUAL"]:
            return E["OPERAND"], f"mode={f['mode']} is not one of {sorted(MODES.values())}"
        if not 2 <= f["sat_bits"] <= lane:
            return E["OPERAND"], f"sat_bits={f['sat_bits']} must be in 2..{lane} for {dst}-mem"
        if f["mode"] == MODES["RESIDUAL"] and dst != "R":
            return E["OPERAND"], f"RESIDUAL writes R-mem, not {dst}-mem"
        for name in ("row_blocks", "col_blocks", "k"):
            if f[name] == 0:
                return E["LENGTH"], f"{name}=0"
        if f["k"] > cfg.k_max:
            return E["LENGTH"], f"k={f['k']} exceeds k_max={cfg.k_max}"
        rb, cb = f["row_blocks"], f["col_blocks"]
        ends = {
            "A": f["a_base"] + (rb - 1) * f["a_stride"] + f["k"],
            "B": f["b_base"] + (cb - 1) * f["b_stride"] + f["k"],
            "C": f["const_base"] + cb,
        }
        for mem, end in ends.items():
            if end > depth[mem]:
                return E["ADDRESS"], (f"operand words up to {end - 1} exceed {mem}-mem depth "
                                      f"{depth[mem]}")
        if f["mode"] == MODES["RESIDUAL"] and f["aux"] >= depth["C"]:
            return E["ADDRESS"], f"aux={f['aux']} exceeds C-mem depth {depth['C']}"
        if f["mode"] == MODES["TRANSPOSE"]:
            last = f["dst_base"] + (cb * cfg.cols - 1) * f["s_row"] + (rb - 1) * f["s_col"]
        else:
            last = f["dst_base"] + (rb * cfg.rows - 1) * f["s_row"] + (cb - 1) * f["s_col"]
        if last >= depth[dst]:
            return E["ADDRESS"], f"destination word {last} exceeds {dst}-mem depth {depth[dst]}"
    if op == Op.LAYERNORM:
        if not 1 <= f["tokens"] <= cfg.max_tokens:
            return E["LENGTH"], f"tokens={f['tokens']} must be in 1..{cfg.max_tokens}"
        if f["channels"] != cfg.max_dim:
            return E["LENGTH"], f"channels={f['channels']} must equal max_dim={cfg.max_dim}"
        words = _cdiv(f["channels"], cfg.cols)
        if f["src"] + (f["tokens"] - 1) * f["src_stride"] + words > depth["R"]:
            return E["ADDRESS"], f"source rows exceed R-mem depth {depth['R']}"
        if f["dst"] + (f["tokens"] - 1) // cfg.rows * f["dst_stride"] + f["channels"] > depth["A"]:
            return E["ADDRESS"], f"destination exceeds A-mem depth {depth['A']}"
        if f["const_base"] + words > depth["C"]:
            return E["ADDRESS"], f"constants exceed C-mem depth {depth['C']}"
    if op in (Op.SOFTMAX, Op.GELU):
        x0_bits = SoftmaxConfig().x0_bits
        src, max_len = ("S", cfg.max_tokens) if op == Op.SOFTMAX else ("R", cfg.max_hidden)
        if not -((1 << x0_bits) - 1) <= f["x0"] <= -1:
            return E["OPERAND"], f"x0={f['x0']} must be in -{(1 << x0_bits) - 1}..-1"
        if not 1 <= f["rows"] <= cfg.max_tokens:
            return E["LENGTH"], f"rows={f['rows']} must be in 1..{cfg.max_tokens}"
        if not 1 <= f["length"] <= max_len:
            return E["LENGTH"], f"length={f['length']} must be in 1..{max_len}"
        words = _cdiv(f["length"], cfg.cols)
        if f["src"] + (f["rows"] - 1) * f["src_stride"] + words > depth[src]:
            return E["ADDRESS"], f"source rows exceed {src}-mem depth {depth[src]}"
        if f["dst"] + (f["rows"] - 1) // cfg.rows * f["dst_stride"] + f["length"] > depth["A"]:
            return E["ADDRESS"], f"destination exceeds A-mem depth {depth['A']}"
        if op == Op.GELU and f["const_base"] + words > depth["C"]:
            return E["ADDRESS"], f"constants exceed C-mem depth {depth['C']}"
    return 0, ""


def _span(base: int, *steps: tuple[int, int]) -> tuple[int, int]:
    """First and last word of ``base + sum(i * stride)`` over ``i < count`` per step."""
    return base, base + sum((n - 1) * stride for n, stride in steps)


def _accesses(cfg: BlockConfig, op: int, f: dict[str, int]) -> dict[str, list]:
    """``{"r": [(mem, first, last)], "w": [...]}`` of a MATMUL or SOFTMAX (word ranges)."""
    if op == Op.SOFTMAX:
        words = _cdiv(f["length"], cfg.cols)
        return {"r": [("S", *_span(f["src"], (f["rows"], f["src_stride"]), (words, 1)))],
                "w": [("A", *_span(f["dst"], (_cdiv(f["rows"], cfg.rows), f["dst_stride"]),
                                   (f["length"], 1)))]}
    rb, cb, k = f["row_blocks"], f["col_blocks"], f["k"]
    dst = {v: n for n, v in MEMS.items()}[f["dst_mem"]]
    if f["mode"] == MODES["TRANSPOSE"]:
        w = _span(f["dst_base"], (cb * cfg.cols, f["s_row"]), (rb, f["s_col"]))
    else:
        w = _span(f["dst_base"], (rb * cfg.rows, f["s_row"]), (cb, f["s_col"]))
    return {"r": [("A", *_span(f["a_base"], (rb, f["a_stride"]), (k, 1))),
                  ("B", *_span(f["b_base"], (cb, f["b_stride"]), (k, 1)))],
            "w": [(dst, *w)]}


def _a_write_span(cfg: BlockConfig, op: int, f: dict[str, int]) -> tuple[int, int] | None:
    """First and last A-mem word ``(op, f)`` may write (``None``: it writes no A-mem)."""
    if op == Op.MATMUL:
        if f["dst_mem"] != MEMS["A"]:
            return None
        return _accesses(cfg, op, f)["w"][0][1:]
    if op in (Op.SOFTMAX, Op.GELU):
        n = f["length"]
    elif op == Op.LAYERNORM:
        n = f["channels"]
    else:
        return None
    rows = f["tokens"] if op == Op.LAYERNORM else f["rows"]
    return _span(f["dst"], (_cdiv(rows, cfg.rows), f["dst_stride"]), (n, 1))


def a_write_banks(cfg: BlockConfig, op: int, f: dict[str, int]) -> int:
    """The A-mem banks ``(op, f)`` writes as a mask (bit 0: bank 0, words below
    :attr:`~ivita.model.block_config.BlockConfig.a_split`; bit 1: bank 1), 0 when it writes
    no A-mem: the controller's ``Checked.banks`` (``ivita.hw.block_decode.check_pipeline``)."""
    span = _a_write_span(cfg, op, f)
    if span is None:
        return 0
    lo, hi = span
    return (1 if lo < cfg.a_split else 0) | (2 if hi >= cfg.a_split else 0)


def may_overlap(cfg: BlockConfig, op: int, f: dict[str, int], other: int,
                other_f: dict[str, int]) -> bool:
    """Whether the controller dispatches ``(op, f)`` while ``(other, other_f)`` still runs:
    only a MATMUL beside a SOFTMAX (either order) whose A-mem writes go to different banks
    (each bank has one write port)."""
    if {op, other} != {Op.MATMUL, Op.SOFTMAX}:
        return False
    return not a_write_banks(cfg, op, f) & a_write_banks(cfg, other, other_f)


def _clash(x: dict[str, list], y: dict[str, list]) -> str | None:
    """A word range one instruction writes and the other reads or writes."""
    for a, b in ((x, y), (y, x)):
        for mem, lo, hi in a["w"]:
            for mem2, lo2, hi2 in b["r"] + b["w"]:
                if mem == mem2 and lo <= hi2 and lo2 <= hi:
                    return f"{mem}-mem words {max(lo, lo2)}..{min(hi, hi2)}"
    return None


def check_program(cfg: BlockConfig, program: list[tuple[int, dict[str, int]]]) -> None:
    """Raise :class:`ProgramError` for the first instruction the hardware would reject, for a
    program longer than ``prog_depth``, one without a reachable ``HALT``, or a MATMUL and a
    SOFTMAX that may overlap (the controller's only overlapping pair, see
    ``ivita.hw.block_controller``, :func:`may_overlap`) while one writes words the other reads
    or writes."""
    if len(program) > cfg.prog_depth:
        raise ProgramError(f"program has {len(program)} instructions; prog_depth="
                           f"{cfg.prog_depth}")
    running: dict[int, tuple[int, dict[str, int]]] = {}      # op -> (pc, fields)
    for pc, (op, fields) in enumerate(program):
        name = OP_NAMES.get(op, str(op))
        code, why = instruction_error(cfg, op, fields)
        if code:
            raise ProgramError(f"instruction {pc} ({name}): {why}")
        if op == Op.HALT:
            return
        if op not in (Op.MATMUL, Op.SOFTMAX):
            running = {}                        # waits until every unit is idle
            continue
        other = Op.MATMUL if op == Op.SOFTMAX else Op.SOFTMAX
        if other in running:
            opc, other_f = running[other]
            if not may_overlap(cfg, op, fields, other, other_f):
                running = {}                    # waits until the other unit is idle too
            else:
                where = _clash(_accesses(cfg, op, fields), _accesses(cfg, other, other_f))
                if where:
                    raise ProgramError(
                        f"instruction {pc} ({name}) may run alongside instruction {opc} "
                        f"({OP_NAMES[other]}) and both touch {where}; put a SYNC between them")
        running[op] = (pc, fields)
    raise ProgramError("program has no HALT")
