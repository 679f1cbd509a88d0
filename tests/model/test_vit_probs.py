"""model/probs.py: attention-probability modes at low widths (direct, split, log2)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ivita.model import (
    AttentionConfig, attention_probs, block_accuracy, prob_value_matmul, required_acc_bits,
    shiftmax,
)
from ivita.model.probs import log2_smax, prob_frac_bits, prob_softmax_bits


def test_uniform_row_of_17_vanishes_at_4_bits_direct_but_not_split() -> None:
    """The problem statement: 4-bit P has 3 magnitude bits; 1/17 = 0.47 LSB rounds to 0."""
    row = np.zeros((1, 17), dtype=np.int64)
    p = attention_probs(row, -20, 15, 4, "direct")
    assert p.tolist() == [[0] * 17]
    ps = attention_probs(row, -20, 15, 4, "split")    # 7-bit codes, scale 2^-6
    assert ps.tolist() == [[4] * 17]                   # 64/17 = 3.76 -> 4
    pl = attention_probs(row, -20, 15, 4, "log2")     # nearest power of two of 1/17: 1/16
    assert pl.tolist() == [[5] * 17]                   # code 5 = 2^-4


def test_modes_widths_and_scales() -> None:
    assert [prob_softmax_bits(m, 4) for m in ("direct", "split", "log2")] == [4, 7, 16]
    assert [prob_frac_bits(m, 4) for m in ("direct", "split", "log2")] == [3, 6, 14]
    assert [log2_smax(b) for b in (2, 3, 4, 8)] == [2, 6, 14, 15]
    with pytest.raises(ValueError, match=re.escape(
            "prob_mode='exact' is not one of direct, split, log2")):
        AttentionConfig(prob_mode="exact")
    cfg = AttentionConfig(tokens=17, dim=32, heads=2, a_bits=4, prob_bits=4, prob_mode="split")
    assert cfg.softmax.out_bits == 7 and cfg.pv_operand_bits == 7
    for mode, pbits in (("direct", 4), ("split", 7), ("log2", 16)):
        c = AttentionConfig(tokens=17, a_bits=4, prob_bits=4, prob_mode=mode)
        assert c.acc_widths()["pv"] == required_acc_bits(pbits, 4, 17), mode


def test_block_split_probabilities_beat_direct_at_4_bits() -> None:
    """The mode reaches the attention block: same random block, lower branch error."""
    err = {m: block_accuracy(AttentionConfig(tokens=17, dim=32, heads=2, a_bits=4, w_bits=4,
                                             prob_bits=4, prob_mode=m)).branch.rel_l2
           for m in ("direct", "split")}
    assert err["split"] < 0.9 * err["direct"]


@pytest.mark.parametrize("bits", [2, 3, 4, 6, 8])
def test_split_is_exactly_the_wide_product(bits: int) -> None:
    rng = np.random.default_rng(bits)
    a = rng.integers(-128, 128, size=(3, 2, 17, 17))
    v = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(3, 2, 17, 5))
    p = attention_probs(a, -12, 15, bits, "split")
    assert int(p.max()) < 1 << (2 * bits - 2)
    assert np.array_equal(p, shiftmax(a, -12, 15, 2 * bits - 1))
    assert np.array_equal(prob_value_matmul(p, v, bits, "split"), p @ v)
    # both passes use legal prob_bits operands: high and low halves below 2^(bits-1)
    assert int((p >> (bits - 1)).max()) < 1 << (bits - 1)


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_log2_codes_are_nearest_power_of_two_and_shift_add(bits: int) -> None:
    rng = np.random.default_rng(10 + bits)
    a = rng.integers(-128, 128, size=(4, 17, 17))
    v = rng.integers(-8, 8, size=(4, 17, 6))
    c = attention_probs(a, -10, 15, bits, "log2")
    smax = log2_smax(bits)
    assert int(c.min()) >= 0 and int(c.max()) <= smax + 1
    p16 = shiftmax(a, -10, 15, 16)
    levels = np.array([0] + [1 << (15 - k) for k in range(smax + 1)])   # 0, 2^15, 2^14, ...
    val = np.where(c > 0, 1 << np.maximum(15 - (c - 1), 0), 0)
    err = np.abs(val - p16)
    best = np.abs(levels[None, :] - p16.reshape(-1, 1)).min(axis=1).reshape(p16.shape)
    assert np.array_equal(err, best)               # the nearest representable level
    dense = np.where(c > 0, 1 << np.maximum(smax - (c - 1), 0), 0)
    assert np.array_equal(prob_value_matmul(c, v, bits, "log2"), dense @ v)


def test_bad_codes_rejected() -> None:
    with pytest.raises(ValueError, match=re.escape("log2 P codes lie in 0..15")):
        prob_value_matmul(np.array([[16]]), np.array([[1]]), 4, "log2")
    with pytest.raises(ValueError, match="split P codes need at most 6 magnitude bits"):
        prob_value_matmul(np.array([[64]]), np.array([[1]]), 4, "split")
