"""model/block_config.py: validation messages, derived widths and depths."""

from __future__ import annotations

import re

import pytest

from ivita.model import AttentionConfig, required_acc_bits
from ivita.model.block_config import BlockConfig


@pytest.mark.parametrize(("kwargs", "exc", "msg"), [
    ({"rows": 4, "cols": 8}, ValueError,
     "rows=4 and cols=8 differ; the attention block needs a square array (rows == cols) for "
     "its tile transposer"),
    ({"rows": 0, "cols": 0}, ValueError, "rows=0 is out of range; it must be at least 1"),
    ({"a_bits": 1}, ValueError, "a_bits=1 is out of range; it must be at least 2"),
    ({"max_tokens": 0}, ValueError, "max_tokens=0 is out of range; it must be at least 1"),
    ({"prog_depth": 1}, ValueError, "prog_depth=1 is out of range; it must be at least 2"),
    ({"mult_bits": 32}, ValueError,
     "mult_bits=32 is too wide for the matmul requantizer: its input needs 33 bits and "
     "acc_bits + mult_bits must be at most 62"),
    ({"max_dim": 2.0}, TypeError, "max_dim must be an integer, not float (2.0)"),
])
def test_rejects(kwargs, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=re.escape(msg)):
        BlockConfig(**kwargs)


def test_derived_widths() -> None:
    cfg = BlockConfig(a_bits=6, w_bits=4, prob_bits=8, attn_bits=5, max_tokens=64, max_dim=32)
    assert (cfg.pe_a_bits, cfg.pe_b_bits) == (8, 6)
    assert cfg.acc_bits == max(required_acc_bits(6, 4, 32, 32), required_acc_bits(6, 6, 32),
                               required_acc_bits(8, 6, 64), required_acc_bits(8, 6, 64))
    assert cfg.array_config.acc_bits == cfg.acc_bits and cfg.array_config.k_max == 64
    assert cfg.out_bits == 16


def test_for_attention_and_depths() -> None:
    lc = AttentionConfig(tokens=6, dim=8, heads=2)
    cfg = BlockConfig.for_attention(lc, rows=4)
    assert (cfg.max_tokens, cfg.max_dim, cfg.max_heads, cfg.rows, cfg.cols) == (6, 8, 2, 4, 4)
    assert cfg.padded_tokens == 8 and cfg.token_blocks == 2 and cfg.dim_blocks == 2
    assert cfg.s_depth == 32 and cfg.r_depth == 16
    # A-mem: bank 0 = H and Q/O (2 token blocks x 8 channels each), bank 1 = two P buffers
    # (2 token blocks x 8 padded tokens each), or one for a one-head block, or the GELU output
    assert (cfg.a_split, cfg.p_buffers, cfg.a_depth) == (2 * 2 * 8, 2, 2 * 2 * 8 + 2 * 2 * 8)
    one = BlockConfig.for_attention(AttentionConfig(tokens=6, dim=8, heads=1), rows=4)
    assert (one.p_buffers, one.a_depth) == (1, 32 + 2 * 8)
    mlp = BlockConfig(rows=4, cols=4, max_tokens=6, max_dim=8, max_heads=2, max_hidden=40)
    assert mlp.a_depth == 32 + 2 * 40
    cfg.check_fits(lc)
    with pytest.raises(ValueError, match=re.escape(
            "layer prob_mode='split' is not implemented; the block computes "
            "prob_mode='direct' only")):
        cfg.check_fits(AttentionConfig(tokens=6, dim=8, heads=2, prob_mode="split"))
    with pytest.raises(TypeError, match="config must be an AttentionConfig, not int"):
        BlockConfig.for_attention(3)  # type: ignore[arg-type]


def test_round_trip_dict() -> None:
    cfg = BlockConfig(rows=2, cols=2, max_tokens=5)
    assert BlockConfig.from_dict(cfg.as_dict()) == cfg
