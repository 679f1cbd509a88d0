# amaranth: UnusedElaboratable=no
"""The GELU instruction of a block built with an MLP half (max_hidden > 0): R-mem rows ->
ShiftGELU -> + offset -> requantize -> A-mem lanes, == the model's shift_gelu/requantize; and
its error rules, in hardware and in the static checker."""

from __future__ import annotations

import numpy as np
import pytest

from ivita.firmware.isa import ERRORS, Op, encode
from ivita.firmware.layout import pack_rows, unpack_a
from ivita.firmware.memory_map import memory_map, pack_const
from ivita.firmware.program_check import instruction_error
from ivita.hw.attention import AttentionBlock
from ivita.sim.block_bus_run import run_block
from ivita.model import requantize, shift_gelu
from ivita.model.block_config import BlockConfig

CFG = BlockConfig(rows=4, cols=4, max_tokens=6, max_dim=8, max_heads=2, prog_depth=4,
                  max_hidden=12, gelu_bits=7, sig_bits=6)
MM = memory_map(CFG)


def test_gelu_instruction_matches_model() -> None:
    rng = np.random.default_rng(5)
    T, H, x0 = 6, 12, -9
    f = rng.integers(-64, 64, size=(T, H))
    f[0, :4] = [-64, 63, 0, -1]
    off = rng.integers(-(1 << 12), 1 << 12, size=H)
    ub = rng.integers(1 << 15, 1 << 16, size=H)
    uc = rng.integers(17, 21, size=H)
    consts = {2 + w: pack_const(CFG, [{"bias": int(off[w * 4 + j]), "b": int(ub[w * 4 + j]),
                                       "c": int(uc[w * 4 + j])} for j in range(4)])
              for w in range(3)}
    fields = dict(src=1, src_stride=3, dst=4, dst_stride=H, rows=T, length=H, const_base=2,
                  x0=x0)
    assert instruction_error(CFG, Op.GELU, fields) == (0, "")
    images = {"R": pack_rows(f, 4, CFG.resid_bits, 1, 3), "C": consts,
              "prog": {0: encode(Op.GELU, **fields), 1: encode(Op.HALT)}}
    run = run_block(AttentionBlock(CFG), images, {"A": range(MM["A"].depth)})
    assert (run.done, run.error) == (1, 0)
    g = shift_gelu(f, x0, CFG.n, CFG.sig_bits)
    want = requantize(g + off, ub, uc, CFG.a_bits)
    got = unpack_a(run.reads["A"], (T, H), 4, CFG.pe_a_bits, 4, H)
    assert (got == want).all()
    print(f"\nGELU {T}x{H}: {run.cycles} cycles")


GOOD = dict(src=0, src_stride=3, dst=0, dst_stride=12, rows=6, length=12, const_base=0, x0=-9)


@pytest.mark.parametrize(("fields", "code"), [
    (dict(GOOD, x0=0), "OPERAND"),
    (dict(GOOD, length=13), "LENGTH"),
    (dict(GOOD, rows=0), "LENGTH"),
    (dict(GOOD, src=MM["R"].depth - 17), "ADDRESS"),
    (dict(GOOD, dst=MM["A"].depth - 23), "ADDRESS"),
    (dict(GOOD, const_base=MM["C"].depth - 2), "ADDRESS"),
])
def test_gelu_errors(fields, code) -> None:  # type: ignore[no-untyped-def]
    assert instruction_error(CFG, Op.GELU, fields)[0] == ERRORS[code]
    images = {"prog": {0: encode(Op.GELU, **fields), 1: encode(Op.HALT)}}
    run = run_block(AttentionBlock(CFG), images, max_cycles=2000)
    assert (run.done, run.error, run.error_code) == (0, 1, ERRORS[code])
