# amaranth: UnusedElaboratable=no
"""AttentionBlock end to end in the Amaranth simulator: memory images loaded through the host
bus, the compiled program run, results read back and compared with
``ivita.model.attention_block_trace`` using ==."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ivita.firmware.compiler import CompiledBlock, compile_attention
from ivita.firmware.isa import Op, encode
from ivita.hw.attention import AttentionBlock
from ivita.sim.block_bus_run import run_block
from ivita.model import (
    AttentionConfig, attention_block_trace, make_block_input, make_float_block, quantize_block,
)
from ivita.model.block_config import BlockConfig


def layer(tokens: int, dim: int, heads: int, seed: int, **kw: int):  # type: ignore[no-untyped-def]
    lc = AttentionConfig(tokens=tokens, dim=dim, heads=heads, **kw)
    params = quantize_block(make_float_block(lc, seed), lc, make_block_input(lc, seed + 1, 4))
    xf = make_block_input(lc, seed + 2, 1)[0] / params.scales.x
    lo, hi = -(1 << (lc.resid_bits - 1)), (1 << (lc.resid_bits - 1)) - 1
    x = np.clip(np.round(xf), lo, hi).astype(np.int64)
    return lc, params, x


def run_compiled(cb: CompiledBlock, names: list[str], stop: int | None = None):  # type: ignore[no-untyped-def]
    images = {k: dict(v) for k, v in cb.images.items()}
    if stop is not None:
        images["prog"][stop] = encode(Op.HALT)
    reads: dict[str, list[int]] = {}
    for n in names:
        reads.setdefault(cb.tensors[n].mem, []).extend(cb.words_of(n))
    run = run_block(AttentionBlock(cb.config), images, reads)
    got = {n: cb.unpack(n, run.reads[cb.tensors[n].mem]) for n in names}
    return run, got


def macs(lc: AttentionConfig, tokens: int) -> int:
    T, D = tokens, lc.dim
    return 4 * T * D * D + 2 * lc.heads * T * T * lc.head_dim


CASES = [
    pytest.param(8, 8, 2, 4, 7, id="T8-D8-H2-4x4"),
    pytest.param(6, 8, 1, 4, 11, id="T6-D8-H1-4x4-padded"),
    pytest.param(5, 4, 2, 2, 13, id="T5-D4-H2-2x2"),
    pytest.param(7, 16, 4, 4, 41, id="T7-D16-H4-4x4"),
    pytest.param(16, 16, 2, 4, 17, id="T16-D16-H2-4x4", marks=pytest.mark.slow),
    pytest.param(12, 16, 2, 8, 19, id="T12-D16-H2-8x8", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("tokens", "dim", "heads", "rows", "seed"), CASES)
def test_block_matches_trace(tokens, dim, heads, rows, seed) -> None:  # type: ignore[no-untyped-def]
    lc, params, x = layer(tokens, dim, heads, seed)
    cfg = BlockConfig.for_attention(lc, rows=rows)
    cb = compile_attention(params, cfg, x)
    tr = attention_block_trace(x, params)
    run, got = run_compiled(cb, ["h", "k", "v", "a", "p", "o", "out"])
    assert (run.done, run.error, run.error_code) == (1, 0, 0)
    for n in ("h", "k", "v", "o", "out"):       # Q is overwritten by O (test_q_projection)
        assert (got[n] == tr[n]).all(), (n, seed)
    assert (got["a"] == tr["a"][-1]).all() and (got["p"] == tr["p"][-1]).all()
    assert run.cycles == run.wall
    print(f"\n{tokens}x{dim} heads={heads} {rows}x{rows}: {run.cycles} cycles, compute bound "
          f"{macs(lc, tokens) // (rows * rows)} (MACs/(rows*cols))")


def test_overlap_saves_cycles_and_sequential_program_agrees() -> None:
    lc, params, x = layer(8, 8, 2, 37)
    cfg = BlockConfig.for_attention(lc, rows=4)
    want = attention_block_trace(x, params)["out"]
    cycles = {}
    for overlap in (True, False):
        run, got = run_compiled(compile_attention(params, cfg, x, overlap=overlap), ["out"])
        assert run.done == 1 and (got["out"] == want).all()
        cycles[overlap] = run.cycles
    # the scores of head 1 run under Shiftmax of head 0 (SYNCs also cost fetch cycles)
    assert cycles[True] < cycles[False] - 40, cycles


def test_layernorm_stage_matches_trace() -> None:
    lc, params, x = layer(8, 8, 2, 23)
    cb = compile_attention(params, BlockConfig.for_attention(lc, rows=4), x)
    run, got = run_compiled(cb, ["h"], stop=1)
    assert run.done == 1 and (got["h"] == attention_block_trace(x, params)["h"]).all()


@pytest.mark.parametrize(("tokens", "dim", "heads", "rows", "seed"), [
    (8, 8, 2, 4, 7), (6, 8, 1, 4, 11)])
def test_q_projection(tokens, dim, heads, rows, seed) -> None:  # type: ignore[no-untyped-def]
    """Q before the P.V instructions overwrite it with O (every head's Q is computed before
    the first P.V when heads <= 2: stop there)."""
    lc, params, x = layer(tokens, dim, heads, seed)
    cb = compile_attention(params, BlockConfig.for_attention(lc, rows=rows), x)
    first_pv = next(pc for pc, (op, f) in enumerate(cb.program)
                    if op == Op.MATMUL and f["a_base"] >= cb.config.a_split)
    run, got = run_compiled(cb, ["q"], stop=first_pv)
    assert run.done == 1 and (got["q"] == attention_block_trace(x, params)["q"]).all()


def test_first_head_scores_and_probabilities() -> None:
    lc, params, x = layer(8, 8, 2, 29)
    cb = compile_attention(params, BlockConfig.for_attention(lc, rows=4), x)
    tr = attention_block_trace(x, params)
    cb.tensors["a"] = dataclasses.replace(cb.tensors["a"], base=0)   # head 0: buffer 0
    cb.tensors["p"] = dataclasses.replace(cb.tensors["p"], base=cb.config.a_split)  # P buffer 0
    run, got = run_compiled(cb, ["a", "p"], stop=6)   # LN, Q, K0, scores 0, SYNC, softmax 0
    assert run.done == 1
    assert (got["a"] == tr["a"][0]).all() and (got["p"] == tr["p"][0]).all()
