# amaranth: UnusedElaboratable=no
"""One MATMUL instruction on the AttentionBlock (sequencer -> array -> bias -> requantizer ->
write-back) against ivita.model (matmul + bias, requantize, residual_add) with ==, for every
write-back mode and destination memory, on a 3x3 array with unequal code widths."""

from __future__ import annotations

import numpy as np
import pytest

from ivita.firmware.isa import MEMS, MODES, Op, encode
from ivita.firmware.layout import pack_a, pack_b, pack_rows, unpack_a, unpack_b, unpack_rows
from ivita.firmware.memory_map import memory_map, pack_const
from ivita.hw.attention import AttentionBlock
from ivita.hw.block_controller import DECIDE_INTERVAL, GO_DELAY
from ivita.sim.block_bus_run import run_block
from ivita.model import requantize, residual_add
from ivita.model.block_config import BlockConfig

CFG = BlockConfig(rows=3, cols=3, a_bits=6, w_bits=5, attn_bits=7, prob_bits=8, resid_bits=12,
                  mult_bits=12, max_tokens=9, max_dim=9, max_heads=1, prog_depth=4)
MM = memory_map(CFG)
LANE = {"A": CFG.pe_a_bits, "B": CFG.pe_b_bits, "S": CFG.attn_bits, "R": CFG.resid_bits}


def _case(seed: int, rb: int, cb: int, k: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    M, N = rb * CFG.rows, cb * CFG.cols
    a = rng.integers(-32, 32, size=(M, k))
    w = rng.integers(-16, 16, size=(k, N))
    bias = rng.integers(-(1 << 12), 1 << 12, size=N)
    bias[0] = -(1 << 31)
    b = rng.integers(1 << (CFG.mult_bits - 1), 1 << CFG.mult_bits, size=N)
    c = rng.integers(14, 20, size=N)
    return a, w, bias, b, c


def _images(a, w, bias, b, c, extra_const=None):  # type: ignore[no-untyped-def]
    k = a.shape[1]
    consts = {i: pack_const(CFG, [{"bias": int(bias[i * 3 + j]), "b": int(b[i * 3 + j]),
                                   "c": int(c[i * 3 + j])} for j in range(3)])
              for i in range(len(bias) // 3)}
    consts.update(extra_const or {})
    return {"A": pack_a(a, 3, CFG.pe_a_bits, 2, k), "B": pack_b(w, 3, CFG.pe_b_bits, 1, k),
            "C": consts}


def _mm(rb: int, cb: int, k: int, **kw: int) -> int:
    return encode(Op.MATMUL, a_base=2, a_stride=k, b_base=1, b_stride=k, row_blocks=rb,
                  col_blocks=cb, k=k, const_base=0, **kw)


@pytest.mark.parametrize(("mode", "mem", "sat", "seed"), [
    ("ROW", "S", 7, 1), ("ROW", "B", 6, 2), ("TRANSPOSE", "A", 6, 3), ("TRANSPOSE", "B", 6, 4),
    ("ROW", "R", 12, 5), ("TRANSPOSE", "A", 2, 6),
])
def test_matmul_modes(mode, mem, sat, seed) -> None:  # type: ignore[no-untyped-def]
    rb, cb, k = 2, 3, 5
    a, w, bias, b, c = _case(seed, rb, cb, k)
    want = requantize(a @ w + bias, b, c, sat)
    M, N = want.shape
    if mode == "ROW":
        if mem == "B":    # V-style: word (cb, token) = base + token + cb*stride
            s_row, s_col, base = 1, M, 20
        else:             # S/R-style: word (token, cb) = base + token*cb_count + cb
            s_row, s_col, base = cb, 1, 0
    else:                 # A-layout of the transposed result: word (rb, col) = base + col + rb*N
        s_row, s_col, base = 1, N, 20     # past the operands (they are read while writing)
    prog = {0: _mm(rb, cb, k, mode=MODES[mode], dst_mem=MEMS[mem], dst_base=base, s_row=s_row,
                   s_col=s_col, sat_bits=sat), 1: encode(Op.HALT)}
    images = _images(a, w, bias, b, c)
    words = list(range(MM[mem].depth))
    run = run_block(AttentionBlock(CFG), {**images, "prog": prog}, {mem: words})
    assert (run.done, run.error) == (1, 0)
    got_words = run.reads[mem]
    if mode == "ROW" and mem == "B":
        got = unpack_b(got_words, (M, N), 3, LANE[mem], base, s_col)
    elif mode == "ROW":
        got = unpack_rows(got_words, (M, N), 3, LANE[mem], base, s_row)
    else:
        got = unpack_a(got_words, (M, N), 3, LANE[mem], base, N)
    assert (got == want).all(), seed


def test_matmul_residual() -> None:
    rb, cb, k = 2, 2, 7
    a, w, bias, b, c = _case(8, rb, cb, k)
    rng = np.random.default_rng(9)
    M, N = rb * 3, cb * 3
    x = rng.integers(-2048, 2048, size=(M, N))
    x[0, :] = 2047                                        # drive the sum into saturation
    rx = (int(rng.integers(2048, 4096)), 11)
    ry = (int(rng.integers(2048, 4096)), 12)
    res = pack_const(CFG, [{"b": rx[0], "c": rx[1], "b2": ry[0], "c2": ry[1]}] * 3)
    images = _images(a, w, bias, b, c, {10: res})
    images["R"] = pack_rows(x, 3, 12, 0, cb)
    prog = {0: _mm(rb, cb, k, mode=MODES["RESIDUAL"], dst_mem=MEMS["R"], dst_base=0, s_row=cb,
                   s_col=1, sat_bits=12, aux=10), 1: encode(Op.HALT)}
    run = run_block(AttentionBlock(CFG), {**images, "prog": prog}, {"R": range(M * cb)})
    y = requantize(a @ w + bias, b, c, 12)
    want = residual_add(x, rx[0], rx[1], y, ry[0], ry[1], 12)
    assert (want == 2047).any()
    got = unpack_rows(run.reads["R"], (M, N), 3, 12, 0, cb)
    assert (run.done, run.error) == (1, 0) and (got == want).all()


@pytest.mark.parametrize("size", [2, 3])
def test_matmul_cycle_model(size: int) -> None:
    cfg = BlockConfig(rows=size, cols=size, max_tokens=16, max_dim=16, max_heads=1,
                      prog_depth=4)
    dut = AttentionBlock(cfg)
    for mode, mem, s_row, s_col in (("ROW", "S", 6, 1), ("TRANSPOSE", "A", 1, 16)):
        for rb, cb, k in ((1, 1, 2 * size), (2, 3, 2 * size), (2, 2, 2 * size + 3),
                          (3, 1, 16)):
            ins = encode(Op.MATMUL, a_base=0, a_stride=16, b_base=0, b_stride=16,
                         row_blocks=rb, col_blocks=cb, k=k, const_base=0, mode=MODES[mode],
                         dst_mem=MEMS[mem], dst_base=0, s_row=s_row, s_col=s_col, sat_bits=8)
            run = run_block(dut, {"prog": {0: ins, 1: encode(Op.HALT)}})
            assert run.error == 0
            # the first go DECIDE_INTERVAL + GO_DELAY = 10 cycles after start; finish 1
            assert run.cycles == DECIDE_INTERVAL + GO_DELAY + 1 + dut.matmul_cycles(
                rb, cb, k, mode), (mode, rb, cb, k)
