"""firmware/cycle_model.py: the compute bound of a program (MACs / (rows*cols))."""

from __future__ import annotations

import numpy as np
import pytest

from ivita.firmware.compiler import compile_attention
from ivita.firmware.cycle_model import attention_macs, bound_ratio, compute_bound, program_macs
from ivita.firmware.isa import Op
from ivita.model import AttentionConfig, make_block_input, make_float_block, quantize_block
from ivita.model.block_config import BlockConfig


def _compiled(tokens: int, dim: int, heads: int, rows: int):  # type: ignore[no-untyped-def]
    lc = AttentionConfig(tokens=tokens, dim=dim, heads=heads)
    params = quantize_block(make_float_block(lc, 1), lc, make_block_input(lc, 2, 2))
    x = np.clip(np.round(make_block_input(lc, 3, 1)[0] / params.scales.x), -32768, 32767)
    return compile_attention(params, BlockConfig.for_attention(lc, rows=rows), x.astype(np.int64))


@pytest.mark.parametrize("tokens,dim,heads,rows", [(16, 32, 2, 4), (8, 8, 2, 4), (6, 8, 1, 4),
                                                   (64, 64, 2, 8), (13, 16, 2, 8)])
def test_bound_is_the_documented_formula(tokens: int, dim: int, heads: int, rows: int) -> None:
    cb = _compiled(tokens, dim, heads, rows)
    tp = -(-tokens // rows) * rows
    macs = 4 * tp * dim * dim + tp * tp * dim + tp * tokens * dim
    assert attention_macs(tokens, dim, rows) == macs == program_macs(cb.program, cb.config)
    assert compute_bound(cb) == macs // (rows * rows) == compute_bound(cb.program, cb.config)


def test_known_numbers() -> None:
    # docs/attention.md: 16 tokens x dim 32 on 4x4 -> 5120; the target layer: 24576
    assert compute_bound(_compiled(16, 32, 2, 4)) == 5120
    assert attention_macs(64, 64, 8) // 64 == 24576
    assert bound_ratio(7244, _compiled(16, 32, 2, 4)) == pytest.approx(7244 / 5120)


def test_only_matmuls_count_and_errors() -> None:
    cfg = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8)
    prog = [(Op.LAYERNORM, {"tokens": 8}), (Op.MATMUL, {"row_blocks": 2, "col_blocks": 3,
                                                        "k": 5}), (Op.HALT, {})]
    assert compute_bound(prog, cfg) == 30
    with pytest.raises(TypeError, match="needs its BlockConfig"):
        compute_bound(prog)
    with pytest.raises(ValueError, match="tokens=0"):
        attention_macs(0, 8, 4)
