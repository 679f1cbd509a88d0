"""Operand streams: real attention-layer tiles at the chosen widths, the dequant-first
conversion, random data, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

from ivita.model import signed_range
from ivita.power.stimulus import attention_tiles, operand_stream


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_attention_tiles_fit_the_pe(bits):
    s = attention_tiles(4, 4, bits, bits, max_beats=128)
    lo, hi = signed_range(bits)
    kinds = [t.kind for t in s.tiles]
    assert set(kinds) == {"xw", "qk", "pv"}
    for kind in ("xw", "qk", "pv"):
        assert sum(t.a.shape[1] for t in s.tiles if t.kind == kind) <= 128
    for t in s.tiles:
        assert t.a.shape[0] == 4 and t.b.shape[1] == 4 and t.a.shape[1] == t.b.shape[0]
        for x in (t.a, t.b):
            assert lo <= x.min() and x.max() <= hi
    assert f"{bits}-bit activations" in s.label and "attention layer" in s.label
    # K of each product: dim 64 (X·W), head_dim 16 (Q·Kᵀ), tokens 16 (P·V)
    assert {t.kind: t.a.shape[1] for t in s.tiles} == {"xw": 64, "qk": 16, "pv": 16}


@pytest.mark.parametrize(("a_bits", "w_bits"), [(4, 8), (6, 4), (8, 4), (3, 2)])
def test_mixed_widths_fit_their_ports(a_bits, w_bits):
    """A operands fit a_bits and B operands fit w_bits (found by the sweep: Q·Kᵀ's K on a
    4-bit B port gave a gate-level mismatch at a8w4); narrower weights than activations run
    X·W only, and the label says so."""
    s = attention_tiles(4, 4, a_bits, w_bits, max_beats=128)
    (alo, ahi), (wlo, whi) = signed_range(a_bits), signed_range(w_bits)
    for t in s.tiles:
        assert alo <= t.a.min() and t.a.max() <= ahi
        assert wlo <= t.b.min() and t.b.max() <= whi, t.kind
    kinds = {t.kind for t in s.tiles}
    if w_bits >= a_bits:
        assert kinds == {"xw", "qk", "pv"}
    else:
        assert kinds == {"xw"} and "X·Wq tiles only" in s.label


def test_qk_tiles_are_the_models_scores():
    """The first Q·Kᵀ tile times its operands is the block's raw score block of head 0."""
    from ivita.model import (AttentionConfig, attention_block_trace, make_block_input,
                             make_float_block, quantize, quantize_block)
    cfg = AttentionConfig(tokens=16, dim=64, heads=4, a_bits=4, w_bits=4, attn_bits=4,
                          prob_bits=3)
    block = make_float_block(cfg, 0)
    params = quantize_block(block, cfg, make_block_input(cfg, 1, 4, profile_seed=0))
    x = make_block_input(cfg, 2, 1, profile_seed=0)[0]
    tr = attention_block_trace(quantize(x, params.scales.x, 16), params)
    q, k = tr["q"][:, :16], tr["k"][:, :16]
    s = attention_tiles(4, 4, 4, 4, max_beats=512)
    qk = [t for t in s.tiles if t.kind == "qk"][0]
    assert np.array_equal(qk.a @ qk.b, (q @ k.T)[:4, :4])


def test_baseline_is_16_bit_and_tracks_the_codes():
    s = attention_tiles(4, 4, 4, 4, max_beats=64)
    b = attention_tiles(4, 4, 4, 4, max_beats=64, baseline=True)
    assert [t.kind for t in s.tiles] == [t.kind for t in b.tiles]
    lo, hi = signed_range(16)
    for t, u in zip(s.tiles, b.tiles):
        assert lo <= u.a.min() and u.a.max() <= hi
        # dequantization is monotone in the code and keeps zero and the sign
        assert np.array_equal(np.sign(t.a), np.sign(u.a))
    assert max(abs(u.a).max() for u in b.tiles) > 1 << 12       # the 16 bits are used
    assert "dequant-first" in b.label


def test_random_and_errors():
    r = operand_stream("random", 2, 3, 3, 5, seed=4, max_beats=32)
    assert "uniform random" in r.label
    a = np.concatenate([t.a.ravel() for t in r.tiles])
    b = np.concatenate([t.b.ravel() for t in r.tiles])
    assert a.min() == -4 and a.max() == 3 and b.min() == -16 and b.max() == 15
    again = operand_stream("random", 2, 3, 3, 5, seed=4, max_beats=32)
    assert all(np.array_equal(x.a, y.a) for x, y in zip(r.tiles, again.tiles))
    with pytest.raises(ValueError, match="data='images' is not one of attention, random"):
        operand_stream("images", 2, 2, 4, 4)
