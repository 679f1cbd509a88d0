# amaranth: UnusedElaboratable=no
"""The P.V / Shiftmax overlap of the attention block: A-mem is two banks with a write port each,
the controller lets a MATMUL and a SOFTMAX run together only when they write different banks
(``ivita.firmware.program_check.may_overlap``, the cycle model's rule), and the data hazard --
a P.V reading the P a running Shiftmax has not written yet -- is kept out by the compiler's
SYNC, which ``check_program`` insists on."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ivita.firmware.compiler import CompiledBlock, compile_attention
from ivita.firmware.isa import MEMS, MODES, Op, encode
from ivita.firmware.memory_map import memory_map, pack_const, pack_lanes
from ivita.firmware.program_check import ProgramError, check_program, may_overlap
from ivita.hw.attention import AttentionBlock
from ivita.model import attention_block_trace
from ivita.model.block_config import BlockConfig
from ivita.sim.block_bus_run import run_block
from ivita.sim.cycle_model import predict_cycles

from .test_attention import layer

CFG = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8, max_heads=2)   # a_split 32
#: a SOFTMAX of 8 rows x 8 into P buffer 0 (A-mem bank 1, words 32..47)
SM = dict(src=0, src_stride=2, dst=32, dst_stride=8, rows=8, length=8, x0=-10)
#: a ROW MATMUL (2 x 2 tiles, k = 8: the cycle model is exact) into A-mem words 0..29 (bank 0)
MM = dict(a_base=16, a_stride=0, b_base=0, b_stride=8, row_blocks=2, col_blocks=2, k=8,
          const_base=0, mode=MODES["ROW"], dst_mem=MEMS["A"], dst_base=0, s_row=4, s_col=1,
          sat_bits=8)


def both_banks_written(dut: AttentionBlock) -> dict[str, object]:
    w0, w1 = (b["w"] for b in dut._units["a_banks"])
    return {"both": (w0.en != 0) & (w1.en != 0)}


# (first, second, may the second start while the first runs)
PAIRS = [
    pytest.param((Op.SOFTMAX, SM), (Op.MATMUL, MM), True, id="mm-bank0-beside-sm-bank1"),
    pytest.param((Op.MATMUL, MM), (Op.SOFTMAX, SM), True, id="sm-bank1-beside-mm-bank0"),
    pytest.param((Op.SOFTMAX, SM), (Op.MATMUL, dict(MM, dst_base=34)), False,
                 id="mm-bank1-waits-for-sm-bank1"),
    pytest.param((Op.MATMUL, dict(MM, dst_base=34)), (Op.SOFTMAX, dict(SM, dst=0)), True,
                 id="sm-bank0-beside-mm-bank1"),
    pytest.param((Op.MATMUL, MM), (Op.SOFTMAX, dict(SM, dst=0, src=16)), False,
                 id="sm-bank0-waits-for-mm-bank0"),
    pytest.param((Op.SOFTMAX, SM), (Op.MATMUL, dict(MM, dst_base=4)), False,
                 id="mm-both-banks-waits"),            # words 4..33 cross a_split
    pytest.param((Op.SOFTMAX, SM), (Op.MATMUL, dict(MM, dst_mem=MEMS["S"], dst_base=16,
                                                    s_row=2)), True, id="mm-into-S-beside-sm"),
]


@pytest.mark.parametrize(("first", "second", "overlaps"), PAIRS)
def test_controller_overlaps_only_writers_of_different_banks(first, second, overlaps) -> None:  # type: ignore[no-untyped-def]
    """Each dispatch cycle of the gateware equals the cycle model's (whose rule is
    ``may_overlap``), and the second instruction starts before the first is done exactly when
    their A-mem writes go to different banks."""
    assert may_overlap(CFG, *first, *second) == overlaps
    prog = [first, second, (Op.HALT, {})]
    check_program(CFG, prog)                  # no data hazard in these pairs
    run = run_block(AttentionBlock(CFG), {"prog": {pc: encode(op, **f) for pc, (op, f) in
                                                   enumerate(prog)}}, max_cycles=5000)
    assert (run.done, run.error) == (1, 0)
    est = predict_cycles(prog, CFG)
    assert est.exact and run.cycles == est.cycles
    assert run.pc_cycles[1:] == [i.dispatch for i in est.instructions[:-1]]
    one, two = est.instructions[:2]
    assert (two.dispatch < one.free) == overlaps


def test_writes_to_both_banks_in_one_cycle_land() -> None:
    """A SOFTMAX into bank 1 and, beside it, three MATMULs into bank 0: the lane writer and
    the tile write-back write A-mem in the same cycles, and A-mem ends as when the MATMULs
    wait for the SOFTMAX (a SYNC between)."""
    rng = np.random.default_rng(3)
    mm = memory_map(CFG)
    lanes = lambda bits: pack_lanes(list(rng.integers(-100, 100, size=4)), bits)  # noqa: E731
    images = {"A": {w: lanes(8) for w in range(48, 56)},
              "B": {w: lanes(8) for w in range(16)},
              "S": {w: lanes(8) for w in range(16)},
              "C": {w: pack_const(CFG, [{"bias": 5 * w, "b": 1 << 14, "c": 21}] * 4)
                    for w in range(2)}}
    mms = [(Op.MATMUL, dict(MM, a_base=48, a_stride=4, s_row=1, s_col=8, dst_base=base,
                            b_base=b)) for base, b in ((0, 0), (16, 8), (0, 4))]
    reads = {"A": list(range(mm["A"].depth))}
    got = {}
    for sync in (False, True):
        prog = [(Op.SOFTMAX, SM)] + [(Op.SYNC, {})] * sync + mms + [(Op.HALT, {})]
        check_program(CFG, prog)
        run = run_block(AttentionBlock(CFG), dict(images, prog={
            pc: encode(op, **f) for pc, (op, f) in enumerate(prog)}), reads,
            max_cycles=5000, watch=both_banks_written)
        assert (run.done, run.error) == (1, 0)
        assert (run.watched["both"] > 0) != sync
        got[sync] = run.reads["A"]
    assert got[False] == got[True]
    assert len({got[True][w] for w in range(48)}) > 16           # not all one value


def drop_sync_before_last_pv(cb: CompiledBlock) -> tuple[list, int, int]:
    """The compiled program without the SYNC that keeps the P.V of the last head behind the
    Shiftmax of that head (the other P.V follow their Shiftmax in program order: the in-order
    controller dispatches them after it, and the SOFTMAX unit runs one at a time); the new
    program and the pcs of that SOFTMAX and P.V in it."""
    prog = list(cb.program)
    pv = max(pc for pc, (op, f) in enumerate(prog) if op == Op.MATMUL
             and f["a_base"] >= cb.config.a_split)
    sm = max(pc for pc, (op, _) in enumerate(prog) if op == Op.SOFTMAX)
    assert prog[pv - 1][0] == Op.SYNC and sm < pv - 1
    return prog[:pv - 1] + prog[pv:], sm, pv - 1


def test_pv_beside_shiftmax_is_exact() -> None:
    """The compiled two-head program: P.V of head 0 runs beside the Shiftmax of head 1, the
    cycle model predicts the run exactly, and every tensor equals the trace."""
    lc, params, x = layer(8, 16, 2, 43)
    cb = compile_attention(params, BlockConfig.for_attention(lc, rows=4), x)
    est = predict_cycles(cb)
    pv0 = next(i for i in est.instructions if i.op == "MATMUL"
               and cb.program[i.pc][1]["a_base"] == cb.config.a_split)
    sm1 = [i for i in est.instructions if i.op == "SOFTMAX"][1]
    assert sm1.dispatch < pv0.dispatch < sm1.free                   # the overlap
    tr = attention_block_trace(x, params)
    names = ["o", "out", "p"]
    reads: dict[str, list[int]] = {}
    for n in names:
        reads.setdefault(cb.tensors[n].mem, []).extend(cb.words_of(n))
    run = run_block(AttentionBlock(cb.config), cb.images, reads)
    assert (run.done, run.error) == (1, 0) and run.cycles == est.cycles
    got = {n: cb.unpack(n, run.reads[cb.tensors[n].mem]) for n in names}
    assert (got["o"] == tr["o"]).all() and (got["out"] == tr["out"]).all()
    assert (got["p"] == tr["p"][-1]).all()


def test_pv_without_its_sync_reads_p_too_early() -> None:
    """The hazard the SYNC prevents (a mutation of the compiled program): without it
    ``check_program`` rejects the program, and the gateware, run anyway, dispatches the P.V
    of the last head beside the Shiftmax still writing its P -- its O is wrong."""
    lc, params, x = layer(8, 16, 2, 43)
    cb = compile_attention(params, BlockConfig.for_attention(lc, rows=4), x)
    bad, sm_pc, pv_pc = drop_sync_before_last_pv(cb)
    with pytest.raises(ProgramError, match=re.escape(
            f"instruction {pv_pc} (MATMUL) may run alongside instruction {sm_pc} (SOFTMAX) and "
            f"both touch A-mem words")):
        check_program(cb.config, bad)
    images = dict(cb.images, prog={pc: encode(op, **f) for pc, (op, f) in enumerate(bad)})
    run = run_block(AttentionBlock(cb.config), images, {"A": cb.words_of("o")})
    assert (run.done, run.error) == (1, 0)
    est = predict_cycles(bad, cb.config)
    assert run.cycles == est.cycles
    sm, pv = est.instructions[sm_pc], est.instructions[pv_pc]
    assert pv.dispatch < sm.free                         # P.V started before P was complete
    o = cb.unpack("o", run.reads["A"])
    want = attention_block_trace(x, params)["o"]
    d = lc.head_dim
    assert (o[:, :d] == want[:, :d]).all()               # head 0: after its Shiftmax
    assert not (o[:, d:] == want[:, d:]).all()           # head 1 read a partial P
