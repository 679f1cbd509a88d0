# amaranth: UnusedElaboratable=no
"""AttentionBlock status: every rejected instruction stops the program with the error code the
firmware's static checker predicts (never a hang); the bus maps every memory."""

from __future__ import annotations

import dataclasses
import random

import pytest

from ivita.firmware.isa import ERRORS, MEMS, MODES, Op, encode
from ivita.firmware.memory_map import memory_map
from ivita.firmware.program_check import instruction_error
from ivita.hw.attention import AttentionBlock
from ivita.hw.block_controller import DECIDE_INTERVAL
from ivita.sim.block_bus_run import run_block
from ivita.model.block_config import BlockConfig

CFG = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8, max_heads=2, prog_depth=8)
MM = memory_map(CFG)
GOOD_MM = dict(a_base=0, a_stride=8, b_base=0, b_stride=8, row_blocks=2, col_blocks=2, k=8,
               const_base=0, mode=MODES["ROW"], dst_mem=MEMS["S"], dst_base=0, s_row=2,
               s_col=1, sat_bits=8)
GOOD_LN = dict(src=0, src_stride=2, dst=0, dst_stride=8, tokens=8, channels=8, const_base=0)
GOOD_SM = dict(src=0, src_stride=2, dst=0, dst_stride=8, rows=8, length=8, x0=-10)

BAD = [
    ("opcode", 0x0F, {}, "BAD_OPCODE"),
    ("opcode_zero", 0, {}, "BAD_OPCODE"),
    ("gelu_no_mlp", Op.GELU, {"rows": 1, "length": 1, "x0": -3}, "UNSUPPORTED"),
    ("mm_k0", Op.MATMUL, dict(GOOD_MM, k=0), "LENGTH"),
    ("mm_rb0", Op.MATMUL, dict(GOOD_MM, row_blocks=0), "LENGTH"),
    ("mm_k_too_long", Op.MATMUL, dict(GOOD_MM, k=CFG.k_max + 1), "LENGTH"),
    ("mm_a_range", Op.MATMUL, dict(GOOD_MM, a_base=MM["A"].depth - 7), "ADDRESS"),
    ("mm_b_range", Op.MATMUL, dict(GOOD_MM, b_stride=MM["B"].depth), "ADDRESS"),
    ("mm_c_range", Op.MATMUL, dict(GOOD_MM, const_base=MM["C"].depth - 1), "ADDRESS"),
    ("mm_dst_range", Op.MATMUL, dict(GOOD_MM, dst_base=MM["S"].depth - 15), "ADDRESS"),
    ("mm_dst_transpose", Op.MATMUL, dict(GOOD_MM, mode=MODES["TRANSPOSE"], s_col=2,
                                         s_row=2, dst_base=MM["S"].depth - 16), "ADDRESS"),
    ("mm_aux", Op.MATMUL, dict(GOOD_MM, mode=MODES["RESIDUAL"], dst_mem=MEMS["R"],
                               sat_bits=16, aux=MM["C"].depth), "ADDRESS"),
    ("mm_mode", Op.MATMUL, dict(GOOD_MM, mode=3), "OPERAND"),
    ("mm_sat_low", Op.MATMUL, dict(GOOD_MM, sat_bits=1), "OPERAND"),
    ("mm_sat_wide", Op.MATMUL, dict(GOOD_MM, sat_bits=9), "OPERAND"),
    ("mm_residual_not_r", Op.MATMUL, dict(GOOD_MM, mode=MODES["RESIDUAL"]), "OPERAND"),
    ("ln_tokens0", Op.LAYERNORM, dict(GOOD_LN, tokens=0), "LENGTH"),
    ("ln_tokens_big", Op.LAYERNORM, dict(GOOD_LN, tokens=9), "LENGTH"),
    ("ln_channels", Op.LAYERNORM, dict(GOOD_LN, channels=4), "LENGTH"),
    ("ln_src", Op.LAYERNORM, dict(GOOD_LN, src_stride=3), "ADDRESS"),
    ("ln_dst", Op.LAYERNORM, dict(GOOD_LN, dst=MM["A"].depth - 8), "ADDRESS"),
    ("ln_const", Op.LAYERNORM, dict(GOOD_LN, const_base=MM["C"].depth - 1), "ADDRESS"),
    ("sm_x0_zero", Op.SOFTMAX, dict(GOOD_SM, x0=0), "OPERAND"),
    ("sm_x0_big", Op.SOFTMAX, dict(GOOD_SM, x0=-(1 << 16)), "OPERAND"),
    ("sm_rows0", Op.SOFTMAX, dict(GOOD_SM, rows=0), "LENGTH"),
    ("sm_len_big", Op.SOFTMAX, dict(GOOD_SM, length=9), "LENGTH"),
    ("sm_src", Op.SOFTMAX, dict(GOOD_SM, src=MM["S"].depth - 15), "ADDRESS"),
    ("sm_dst", Op.SOFTMAX, dict(GOOD_SM, dst=MM["A"].depth - 15), "ADDRESS"),
]


def _word(op: int, fields: dict[str, int]) -> int:
    return encode(op, **fields) if op in (Op.GELU, Op.MATMUL, Op.LAYERNORM, Op.SOFTMAX) else op


@pytest.mark.parametrize(("op", "fields", "code"), [pytest.param(*b[1:], id=b[0]) for b in BAD])
def test_bad_instruction_sets_error(op, fields, code) -> None:  # type: ignore[no-untyped-def]
    expected = ERRORS[code]
    assert instruction_error(CFG, op, fields)[0] == expected       # the static checker agrees
    prog = {0: encode(Op.SYNC), 1: _word(op, fields), 2: encode(Op.HALT)}
    run = run_block(AttentionBlock(CFG), {"prog": prog}, max_cycles=2000)
    assert (run.done, run.error, run.error_code) == (0, 1, expected)
    assert run.cycles == run.wall


def test_good_instructions_pass_both_checkers() -> None:
    for op, f in ((Op.MATMUL, GOOD_MM), (Op.LAYERNORM, GOOD_LN), (Op.SOFTMAX, GOOD_SM),
                  (Op.MATMUL, dict(GOOD_MM, dst_base=MM["S"].depth - 16)),
                  (Op.SOFTMAX, dict(GOOD_SM, src=MM["S"].depth - 16))):
        assert instruction_error(CFG, op, f) == (0, "")     # the boundary itself is legal


def test_program_without_halt_is_a_pc_error() -> None:
    prog = {pc: encode(Op.SYNC) for pc in range(CFG.prog_depth)}
    run = run_block(AttentionBlock(CFG), {"prog": prog}, max_cycles=2000)
    assert (run.done, run.error, run.error_code) == (0, 1, ERRORS["PC"])


def test_halt_only_program_is_done() -> None:
    run = run_block(AttentionBlock(CFG), {"prog": {0: encode(Op.HALT)}})
    assert (run.done, run.error, run.error_code) == (1, 0, 0)
    # fetch, load, the checks, decide (DECIDE_INTERVAL = 9), finish (units idle)
    assert run.cycles == run.wall == DECIDE_INTERVAL + 1 == 10


def test_bus_round_trip_every_memory() -> None:
    rng = random.Random(5)
    images = {}
    for name, reg in MM.regions.items():
        words = rng.sample(range(reg.depth), min(3, reg.depth)) + [0, reg.depth - 1]
        if name == "A":                          # both banks, either side of the split
            words += [CFG.a_split - 1, CFG.a_split]
        images[name] = {w: rng.getrandbits(reg.word_bits) for w in words}
    images["prog"][0] = encode(Op.HALT)
    run = run_block(AttentionBlock(CFG), images, {n: list(v) for n, v in images.items()})
    assert run.reads == images


@pytest.mark.parametrize(("op", "fields"), [
    pytest.param(Op.MATMUL, dict(GOOD_MM, dst_base=MM["S"].depth - 16), id="mm_last_word"),
    pytest.param(Op.SOFTMAX, dict(GOOD_SM, src=MM["S"].depth - 16), id="sm_last_word"),
    pytest.param(Op.LAYERNORM, dict(GOOD_LN, src=MM["R"].depth - 16), id="ln_last_word"),
])
def test_instruction_ending_on_the_last_word_runs(op, fields) -> None:  # type: ignore[no-untyped-def]
    prog = {0: encode(op, **fields), 1: encode(Op.HALT)}
    run = run_block(AttentionBlock(CFG), {"prog": prog}, max_cycles=5000)
    assert (run.done, run.error, run.error_code) == (1, 0, 0)


def test_bus_staging_unmapped_addresses_and_read_latency() -> None:
    from amaranth.sim import Simulator
    cfg = dataclasses.replace(CFG, max_heads=1)  # one P buffer: A-mem 48 words of its 64
    mm = memory_map(cfg)
    dut = AttentionBlock(cfg)
    r = mm["R"]
    assert r.sub_words == 2
    gap = mm["R"].base + mm["R"].size            # between R and C: no memory word
    past_a = mm["A"].base + mm["A"].depth        # inside A's span, past its last word
    assert past_a < mm["A"].base + mm["A"].size
    for g in mm.regions.values():
        assert not g.base <= gap < g.base + g.depth * g.sub_words
        assert not g.base <= past_a < g.base + g.depth * g.sub_words

    async def bench(ctx):
        async def write(addr: int, value: int) -> None:
            ctx.set(dut.addr, addr)
            ctx.set(dut.w_data, value)
            ctx.set(dut.w_en, 1)
            await ctx.tick()
            ctx.set(dut.w_en, 0)

        async def read(addr: int) -> int:
            ctx.set(dut.addr, addr)
            ctx.set(dut.r_en, 1)
            await ctx.tick()
            ctx.set(dut.r_en, 0)
            ctx.set(dut.addr, 0)                 # r_data must not follow the address
            return ctx.get(dut.r_data)

        await write(r.bus_address(3, 0), 0x1111)
        await write(r.bus_address(3, 1), 0x2222)          # commits word 3
        await write(r.bus_address(4, 0), 0x3333)          # staged only: word 4 unchanged
        await write(gap, 0xDEAD)
        await write(past_a, 0xBEEF)
        assert await read(r.bus_address(3, 0)) == 0x1111
        assert await read(r.bus_address(3, 1)) == 0x2222
        assert await read(r.bus_address(4, 0)) == 0
        assert await read(gap) == 0
        assert await read(past_a) == 0
        assert await read(mm["A"].base) == 0          # the write past A did not wrap around

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_unit_error_stops_the_program() -> None:
    """No program reaches a unit error (the checks come first), so inject one: a Shiftmax
    flag raised while a SOFTMAX runs stops the block at once with UNIT; start clears it."""
    from amaranth.sim import Simulator
    dut = AttentionBlock(CFG)
    prog = {0: encode(Op.SOFTMAX, **GOOD_SM), 1: encode(Op.HALT)}
    sim = Simulator(dut)
    sm = dut._units["sm"]
    seen = {}

    async def bench(ctx):
        reg = MM["prog"]
        for word, value in prog.items():
            for sub in range(reg.sub_words):
                ctx.set(dut.addr, reg.bus_address(word, sub))
                ctx.set(dut.w_data, (value >> (32 * sub)) & 0xFFFFFFFF)
                ctx.set(dut.w_en, 1)
                await ctx.tick()
        ctx.set(dut.w_en, 0)
        for run in range(2):
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for _ in range(10):
                await ctx.tick()
            assert ctx.get(dut.busy)
            if run == 0:
                ctx.set(sm.error_flags.bad_x0, 1)
            for n in range(2000):
                if not ctx.get(dut.busy):
                    break
                await ctx.tick()
            seen[run] = (ctx.get(dut.done), ctx.get(dut.error), ctx.get(dut.error_code), n)

    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen[0][:3] == (0, 1, ERRORS["UNIT"]) and seen[0][3] <= 2
    assert seen[1][:3] == (1, 0, 0)                   # the next start clears the unit flag


def test_bus_read_right_after_a_write_sees_it() -> None:
    """The block registers a bus write (it lands one cycle later); a read in the very next
    cycle still returns the new word (forwarded), every sub-word, both A-mem banks, over an
    old value; a read of another word in that cycle is not disturbed."""
    from amaranth.sim import Simulator
    dut = AttentionBlock(CFG)
    mm = dut.memory_map
    words = [("R", 5), ("C", 2), ("A", 0), ("A", CFG.a_split), ("prog", 7), ("S", 3)]
    seen: list[tuple[str, int, int, int, int]] = []

    async def bench(ctx):
        for rnd in range(2):
            for name, w in words:
                reg = mm[name]
                for sub in range(reg.sub_words):
                    ctx.set(dut.addr, reg.bus_address(w, sub))
                    ctx.set(dut.w_data, (0x1234567 * (sub + 1) + 77 * w + rnd * 999) & 0xFFFFFFFF)
                    ctx.set(dut.w_en, 1)
                    await ctx.tick()
                ctx.set(dut.w_en, 0)
                for sub in range(reg.sub_words):       # the first read: the cycle after
                    ctx.set(dut.addr, reg.bus_address(w, sub))
                    ctx.set(dut.r_en, 1)
                    await ctx.tick()
                    ctx.set(dut.r_en, 0)
                    seen.append((name, w, sub, rnd, ctx.get(dut.r_data)))
                ctx.set(dut.addr, mm["B"].bus_address(1))   # another word, right after a write
                ctx.set(dut.w_data, 0x55)
                ctx.set(dut.w_en, 1)
                await ctx.tick()
                ctx.set(dut.w_en, 0)
                ctx.set(dut.addr, mm["B"].bus_address(2))
                ctx.set(dut.r_en, 1)
                await ctx.tick()
                ctx.set(dut.r_en, 0)
                assert ctx.get(dut.r_data) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for name, w, sub, rnd, got in seen:
        reg = mm[name]
        full = sum(((0x1234567 * (s + 1) + 77 * w + rnd * 999) & 0xFFFFFFFF) << (32 * s)
                   for s in range(reg.sub_words)) & ((1 << reg.word_bits) - 1)
        assert got == (full >> (32 * sub)) & 0xFFFFFFFF, (name, w, sub, rnd)
