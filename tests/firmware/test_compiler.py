"""firmware/compiler.py, layout.py, memory_map.py, program_check.py (no hardware: the end-to-end
== checks are in tests/hw/test_attention.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ivita.firmware.asm import assemble, disassemble
from ivita.firmware.compiler import compile_attention
from ivita.firmware.isa import MODES, Op
from ivita.firmware.layout import pack_a, pack_b, pack_rows, unpack_a, unpack_b, unpack_rows
from ivita.firmware.memory_map import memory_map
from ivita.firmware.program_check import ProgramError, a_write_banks, check_program, may_overlap
from ivita.model import AttentionConfig, make_block_input, make_float_block, quantize_block
from ivita.model.block_config import BlockConfig


def _layer(tokens: int = 8, dim: int = 8, heads: int = 2):  # type: ignore[no-untyped-def]
    lc = AttentionConfig(tokens=tokens, dim=dim, heads=heads)
    params = quantize_block(make_float_block(lc, 1), lc, make_block_input(lc, 2, 2))
    x = np.clip(np.round(make_block_input(lc, 3, 1)[0] / params.scales.x), -32768, 32767)
    return lc, params, x.astype(np.int64)


@pytest.mark.parametrize("pack,unpack,shape", [(pack_a, unpack_a, (7, 5)),
                                               (pack_b, unpack_b, (5, 7)),
                                               (pack_rows, unpack_rows, (6, 9))])
def test_layout_round_trip(pack, unpack, shape) -> None:  # type: ignore[no-untyped-def]
    m = np.random.default_rng(0).integers(-128, 128, size=shape)
    words = pack(m, 4, 8, 3, 17)
    assert (unpack(words, shape, 4, 8, 3, 17) == m).all()


def test_a_layout_word_content() -> None:
    m = np.arange(12).reshape(6, 2)          # rows 0..5, k 0..1, lanes 4 -> 2 row blocks
    words = pack_a(m, 4, 8, 10, 5)
    assert sorted(words) == [10, 11, 15, 16]
    assert words[11] == 1 | 3 << 8 | 5 << 16 | 7 << 24          # column k=1 of rows 0..3
    assert words[15] == 8 | 10 << 8                               # rows 4, 5; padding 0


def test_memory_map_regions_are_aligned_and_disjoint() -> None:
    cfg = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8)
    mm = memory_map(cfg)
    spans = sorted((r.base, r.base + r.size) for r in mm.regions.values())
    for (a0, a1), (b0, _) in zip(spans, spans[1:]):
        assert a1 <= b0
    for r in mm.regions.values():
        assert r.base % r.size == 0 and r.size >= r.depth * r.sub_words
        assert r.sub_words * 32 >= r.word_bits
    assert max(s[1] for s in spans) <= 1 << mm.addr_bits


def test_program_shape_and_asm_round_trip() -> None:
    lc, params, x = _layer()
    cb = compile_attention(params, BlockConfig.for_attention(lc, rows=4), x)
    ops = [op for op, _ in cb.program]
    MM, SM = Op.MATMUL, Op.SOFTMAX
    assert ops == ([Op.LAYERNORM, MM, MM, MM]                       # LN, Q0, K0, scores 0
                   + [Op.SYNC, SM, MM, MM, MM]                       # under SM 0: Q1 K1 scores 1
                   + [Op.SYNC, SM, MM, MM]                           # under SM 1: V0, P.V 0
                   + [MM, Op.SYNC, MM, MM, Op.HALT])                 # V1, P.V 1, Wo
    # two P buffers in A-mem bank 1: the Shiftmax of head 1 writes one while the P.V of head 0
    # (behind the SYNC before that Shiftmax) reads the other
    cfg = cb.config
    sm = [f for op, f in cb.program if op == SM]
    mm = [f for op, f in cb.program if op == MM]
    pv = [f for f in mm if f["dst_mem"] == 0 and f["a_base"] >= cfg.a_split]
    p_buf = cfg.token_blocks * cfg.padded_tokens
    assert [f["dst"] for f in sm] == [f["a_base"] for f in pv] == [cfg.a_split,
                                                                     cfg.a_split + p_buf]
    assert cb.tensors["p"].base == cfg.a_split + p_buf and cfg.a_depth == cfg.a_split + 2 * p_buf
    # Q, K and V one head at a time (A bank 0 / B-mem: they may run under Shiftmax), O over Q
    d, dim = 4, 8
    assert [(f["dst_mem"], f["dst_base"], f["col_blocks"]) for f in (mm[0], mm[3])] == \
        [(0, cb.tensors["q"].base, 1), (0, cb.tensors["q"].base + d, 1)]
    assert [(f["dst_mem"], f["dst_base"], f["col_blocks"]) for f in (mm[1], mm[4], mm[6],
                                                                     mm[8])] == \
        [(1, cb.tensors["k"].base, 1), (1, cb.tensors["k"].base + d, 1),
         (1, cb.tensors["v"].base, 1), (1, cb.tensors["v"].base + cb.tensors["v"].stride, 1)]
    assert [f["dst_base"] for f in (mm[7], mm[9])] == [cb.tensors["q"].base,
                                                      cb.tensors["q"].base + d] == \
        [f["dst_base"] for f in pv]
    assert cb.tensors["o"].base == cb.tensors["q"].base != cb.tensors["h"].base
    assert mm[10]["a_base"] == cb.tensors["o"].base and mm[10]["col_blocks"] == dim // 4
    assert [f["dst_base"] for op, f in cb.program if op == Op.MATMUL and f["dst_mem"] == 2] \
        == [0, cb.tensors["a"].base]                      # the two scores buffers
    seq = compile_attention(params, BlockConfig.for_attention(lc, rows=4), x, overlap=False)
    assert [op for op, _ in seq.program if op != Op.SYNC] == [op for op in ops if op != Op.SYNC]
    assert all(seq.program[i + 1][0] in (Op.SYNC, Op.HALT) for i, (op, _) in
               enumerate(seq.program) if op not in (Op.SYNC, Op.HALT))
    assert cb.program[-2][1]["mode"] == MODES["RESIDUAL"]
    words = [cb.images["prog"][pc] for pc in range(len(cb.program))]
    assert assemble(disassemble(words)) == words


@pytest.mark.parametrize(("layer", "block", "msg"), [
    ((16, 8, 2), {}, "tokens=16 exceeds max_tokens=8"),
    ((8, 16, 2), {}, "dim=16 exceeds max_dim=8"),
    ((8, 8, 4), {}, "heads=4 exceeds max_heads=2"),
    ((8, 8, 2), {"a_bits": 6}, "layer a_bits=8 differs from the block's a_bits=6"),
])
def test_layer_that_does_not_fit_is_rejected(layer, block, msg) -> None:  # type: ignore[no-untyped-def]
    lc, params, x = _layer(*layer)
    cfg = BlockConfig(**{"rows": 4, "cols": 4, "max_tokens": 8, "max_dim": 8, "max_heads": 2,
                         **block})
    with pytest.raises(ValueError, match=re.escape(msg)):
        compile_attention(params, cfg, x)


def test_a_mem_too_small_for_the_p_buffers_is_rejected(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """The A-mem capacity check counts both P buffers (a block whose A-mem lost one word)."""
    lc, params, x = _layer(8, 8, 2)
    cfg = BlockConfig.for_attention(lc, rows=4)
    need = cfg.a_split + 2 * cfg.token_blocks * cfg.padded_tokens
    assert cfg.a_depth == need == 64
    compile_attention(params, cfg, x)
    monkeypatch.setattr(BlockConfig, "a_depth", property(lambda self: need - 1))
    with pytest.raises(ValueError, match=re.escape(
            "A-mem needs 64 words for this layer; its depth is 63")):
        compile_attention(params, cfg, x)
    one = BlockConfig.for_attention(AttentionConfig(tokens=8, dim=8, heads=1), rows=4)
    lc1, params1, x1 = _layer(8, 8, 1)
    monkeypatch.setattr(BlockConfig, "a_depth", property(lambda self: 48))
    compile_attention(params1, one, x1)              # one head: one P buffer, 48 words


def test_head_dim_must_be_a_multiple_of_cols() -> None:
    lc, params, x = _layer(8, 8, 4)          # head_dim 2 on a 4x4 array
    with pytest.raises(ValueError, match=re.escape("head_dim=2 is not a multiple of cols=4")):
        compile_attention(params, BlockConfig.for_attention(lc, rows=4), x)


def test_short_input_rejected_and_program_too_long() -> None:
    lc, params, x = _layer()
    cfg = BlockConfig.for_attention(lc, rows=4, prog_depth=10)
    with pytest.raises(ProgramError, match=re.escape("program has 18 instructions; "
                                                     "prog_depth=10")):
        compile_attention(params, cfg, x)
    with pytest.raises(ValueError, match=re.escape("tokens=9 exceeds max_tokens=8")):
        compile_attention(params, BlockConfig.for_attention(lc, rows=4),
                          np.zeros((9, 8), dtype=np.int64))


def test_check_program_overrun_and_missing_halt() -> None:
    cfg = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8)
    depth = memory_map(cfg)["S"].depth
    bad = dict(a_base=0, a_stride=8, b_base=0, b_stride=8, row_blocks=2, col_blocks=2, k=8,
               const_base=0, mode=0, dst_mem=2, dst_base=depth - 1, s_row=2, s_col=1,
               sat_bits=8)
    with pytest.raises(ProgramError, match=re.escape(
            f"instruction 1 (MATMUL): destination word {depth - 1 + 15} exceeds S-mem depth "
            f"{depth}")):
        check_program(cfg, [(Op.SYNC, {}), (Op.MATMUL, bad), (Op.HALT, {})])
    with pytest.raises(ProgramError, match="program has no HALT"):
        check_program(cfg, [(Op.SYNC, {})])


def test_check_program_rejects_overlapping_hazards() -> None:
    cfg = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8)
    scores = dict(a_base=0, a_stride=8, b_base=0, b_stride=8, row_blocks=2, col_blocks=2, k=4,
                  const_base=0, mode=0, dst_mem=2, dst_base=0, s_row=2, s_col=1, sat_bits=8)
    sm = dict(src=0, src_stride=2, dst=32, dst_stride=8, rows=8, length=8, x0=-5)
    with pytest.raises(ProgramError, match=re.escape(
            "instruction 1 (SOFTMAX) may run alongside instruction 0 (MATMUL) and both touch "
            "S-mem words 0..15; put a SYNC between them")):
        check_program(cfg, [(Op.MATMUL, scores), (Op.SOFTMAX, sm), (Op.HALT, {})])
    check_program(cfg, [(Op.MATMUL, scores), (Op.SYNC, {}), (Op.SOFTMAX, sm), (Op.HALT, {})])
    # the second scores buffer is disjoint from the first: allowed to overlap
    check_program(cfg, [(Op.MATMUL, scores), (Op.SYNC, {}), (Op.SOFTMAX, sm),
                        (Op.MATMUL, dict(scores, dst_base=16)), (Op.HALT, {})])
    # ... but not when the MATMUL reads the A-mem rows the SOFTMAX writes (P)
    with pytest.raises(ProgramError, match=re.escape("both touch A-mem words 32..43")):
        check_program(cfg, [(Op.SOFTMAX, sm), (Op.MATMUL, dict(scores, dst_base=16,
                                                               a_base=32)), (Op.HALT, {})])
    # A-mem bank 0 ends at a_split = 32: a MATMUL into bank 0 (a P.V writing O) may run
    # beside a SOFTMAX into bank 1, so reading the P it writes needs a SYNC ...
    assert cfg.a_split == 32
    pv = dict(scores, dst_mem=0, dst_base=0, s_row=4, a_base=32)
    with pytest.raises(ProgramError, match=re.escape(
            "instruction 1 (MATMUL) may run alongside instruction 0 (SOFTMAX) and both touch "
            "A-mem words 32..43; put a SYNC between them")):
        check_program(cfg, [(Op.SOFTMAX, sm), (Op.MATMUL, pv), (Op.HALT, {})])
    check_program(cfg, [(Op.SOFTMAX, sm), (Op.SYNC, {}), (Op.MATMUL, pv), (Op.HALT, {})])
    # ... while a MATMUL into bank 1 (the SOFTMAX's bank: one write port) waits for it
    check_program(cfg, [(Op.SOFTMAX, sm), (Op.MATMUL, dict(pv, dst_base=34)), (Op.HALT, {})])
    # and a SOFTMAX waits for a MATMUL writing its bank, not for one writing the other
    check_program(cfg, [(Op.MATMUL, dict(pv, a_base=0, dst_base=34)), (Op.SOFTMAX, sm),
                        (Op.HALT, {})])
    with pytest.raises(ProgramError, match=re.escape("both touch A-mem words 0..11")):
        check_program(cfg, [(Op.MATMUL, dict(pv, a_base=0, dst_base=32)),
                            (Op.SOFTMAX, dict(sm, dst=0)), (Op.HALT, {})])


def test_a_write_banks_and_may_overlap() -> None:
    cfg = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8)     # a_split 32, A depth 64
    mm = dict(a_base=0, a_stride=8, b_base=0, b_stride=8, row_blocks=2, col_blocks=1, k=8,
              const_base=0, mode=MODES["TRANSPOSE"], dst_mem=0, dst_base=28, s_row=1,
              s_col=8, sat_bits=8)
    sm = dict(src=0, src_stride=2, dst=32, dst_stride=8, rows=8, length=8, x0=-5)
    # TRANSPOSE: words 28 .. 28 + 3 + 8 = 39 span both banks
    assert a_write_banks(cfg, Op.MATMUL, mm) == 0b11
    assert a_write_banks(cfg, Op.MATMUL, dict(mm, dst_base=24)) == 0b11
    assert a_write_banks(cfg, Op.MATMUL, dict(mm, dst_base=20)) == 0b01      # 20..31
    assert a_write_banks(cfg, Op.MATMUL, dict(mm, dst_mem=1)) == 0
    assert a_write_banks(cfg, Op.SOFTMAX, sm) == 0b10
    assert a_write_banks(cfg, Op.SOFTMAX, dict(sm, dst=17)) == 0b11           # 17..32
    assert a_write_banks(cfg, Op.SOFTMAX, dict(sm, dst=16)) == 0b01           # 16..31
    assert may_overlap(cfg, Op.MATMUL, dict(mm, dst_base=20), Op.SOFTMAX, sm)
    assert may_overlap(cfg, Op.SOFTMAX, sm, Op.MATMUL, dict(mm, dst_base=20))
    assert not may_overlap(cfg, Op.MATMUL, mm, Op.SOFTMAX, sm)
    assert not may_overlap(cfg, Op.MATMUL, dict(mm, dst_base=20), Op.MATMUL, mm)
    assert not may_overlap(cfg, Op.LAYERNORM, {}, Op.SOFTMAX, sm)
