"""model/attention.py: the float reference block, quantize_block and the integer block.

- the float block equals a plain per-head loop;
- the integer block equals a per-head, per-sequence loop over the model functions (so the
  batched head split/merge cannot silently differ from docs/numerics.md §8);
- its dequantized output is close to the float block: documented bounds on the attention
  branch per width, and the error shrinks as the width grows;
- LayerNorm gamma of either sign or zero is handled (sign moved into Wq/Wk/Wv);
- every parameter and input is validated with pinned messages.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

from ivita.model import (
    AttentionConfig, AttentionParams, FloatBlock, attention_block, attention_block_trace,
    block_accuracy, dequantize, float_attention_block, float_block_trace, int_layernorm,
    linear_acc, make_block_input, make_float_block, quantize, quantize_block, requantize,
    residual_add, shiftmax,
)

SMALL = AttentionConfig(tokens=8, dim=16, heads=2)


@pytest.fixture(scope="module")
def small() -> tuple[FloatBlock, AttentionParams, np.ndarray]:
    block = make_float_block(SMALL, 3)
    params = quantize_block(block, SMALL, make_block_input(SMALL, 4, 16, profile_seed=3))
    x = make_block_input(SMALL, 5, 3, profile_seed=3)
    return block, params, x


# ----------------------------------------------------------------------------- float block

def test_make_float_block_is_deterministic() -> None:
    a, b, c = make_float_block(SMALL, 1), make_float_block(SMALL, 1), make_float_block(SMALL, 2)
    for f in ("gamma", "beta", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
        assert not np.array_equal(getattr(a, f), getattr(c, f))
    x1 = make_block_input(SMALL, 7, 2)
    assert np.array_equal(x1, make_block_input(SMALL, 7, 2))
    assert x1.shape == (2, 8, 16)


def test_float_block_equals_per_head_loop() -> None:
    block = make_float_block(SMALL, 0)
    x = make_block_input(SMALL, 1, 2)
    out = float_attention_block(x, block)
    d = SMALL.head_dim
    for s in range(2):
        xs = x[s]
        mu = xs.mean(-1, keepdims=True)
        h = (xs - mu) / np.sqrt(xs.var(-1, keepdims=True) + block.eps) * block.gamma + block.beta
        q, k, v = (h @ w.T + b for w, b in ((block.wq, block.bq), (block.wk, block.bk),
                                             (block.wv, block.bv)))
        heads = []
        for i in range(SMALL.heads):
            sl = slice(i * d, (i + 1) * d)
            sc = q[:, sl] @ k[:, sl].T / math.sqrt(d)
            p = np.exp(sc - sc.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            heads.append(p @ v[:, sl])
        want = xs + np.concatenate(heads, axis=-1) @ block.wo.T + block.bo
        assert np.allclose(out[s], want, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- integer block

def _loop_reference(x: np.ndarray, p: AttentionParams) -> np.ndarray:
    """docs/numerics.md §8 written out per sequence and per head with 2-D model calls."""
    c = p.config
    d = c.head_dim
    outs = []
    for xs in x:
        n = int_layernorm(xs)
        h = requantize(n + p.ln_beta, p.ln_b, p.ln_c, c.a_bits)
        q = requantize(linear_acc(h, p.wq, p.bq), p.q_b, p.q_c, c.a_bits)
        k = requantize(linear_acc(h, p.wk, p.bk), p.k_b, p.k_c, c.a_bits)
        v = requantize(linear_acc(h, p.wv, p.bv), p.v_b, p.v_c, c.a_bits)
        heads = []
        for i in range(c.heads):
            sl = slice(i * d, (i + 1) * d)
            a = requantize(q[:, sl] @ k[:, sl].T, p.a_b, p.a_c, c.attn_bits)
            pr = shiftmax(a, p.x0, c.n, c.prob_bits)
            heads.append(requantize(pr @ v[:, sl], p.o_b, p.o_c, c.a_bits))
        o = np.concatenate(heads, axis=-1)
        y = requantize(linear_acc(o, p.wo, p.bo), p.y_b, p.y_c, c.resid_bits)
        outs.append(residual_add(xs, p.rx_b, p.rx_c, y, p.ry_b, p.ry_c, c.resid_bits))
    return np.stack(outs)


def test_integer_block_equals_per_head_loop(small) -> None:  # type: ignore[no-untyped-def]
    _, params, x = small
    xi = quantize(x, params.scales.x, SMALL.resid_bits)
    out = attention_block(xi, params)
    assert out.dtype == np.int64 and out.shape == xi.shape
    assert out.tolist() == _loop_reference(xi, params).tolist()
    # one sequence at a time (2-D input) gives the same rows; fewer tokens are allowed
    assert attention_block(xi[1], params).tolist() == out[1].tolist()
    assert attention_block(xi[0, :5], params).tolist() == _loop_reference(xi[:1, :5],
                                                                         params)[0].tolist()


def test_integer_trace_widths(small) -> None:  # type: ignore[no-untyped-def]
    _, params, x = small
    c = params.config
    tr = attention_block_trace(quantize(x, params.scales.x, c.resid_bits), params)
    def within(a: np.ndarray, bits: int) -> bool:
        return -(1 << (bits - 1)) <= int(a.min()) and int(a.max()) < (1 << (bits - 1))
    assert all(v.dtype == np.int64 for v in tr.values())
    assert within(tr["n"], 31)
    for key in ("h", "q", "k", "v", "o"):
        assert within(tr[key], c.a_bits), key
    assert within(tr["a"], c.attn_bits) and tr["a"].shape == (3, c.heads, 8, 8)
    assert int(tr["p"].min()) >= 0 and int(tr["p"].max()) < (1 << (c.prob_bits - 1))
    assert within(tr["y"], c.resid_bits) and within(tr["out"], c.resid_bits)


def test_params_are_integers_within_their_widths(small) -> None:  # type: ignore[no-untyped-def]
    _, p, _ = small
    c = p.config
    for name, arr in p.arrays().items():
        assert arr.dtype == np.int64, name
    for w in (p.wq, p.wk, p.wv, p.wo):
        assert int(np.abs(w).max()) <= 1 << (c.w_bits - 1)
    for b in (p.bq, p.bk, p.bv, p.bo):
        assert int(np.abs(b).max()) < 1 << 31
    assert int(np.abs(p.ln_beta).max()) < 1 << 39
    assert p.x0 == -round(1 / p.scales.attn)           # the score scale is snapped to 1/k
    with pytest.raises(ValueError):                     # read-only arrays
        p.wq[0, 0] = 1


def test_arrays_round_trip(small) -> None:  # type: ignore[no-untyped-def]
    _, p, x = small
    q = AttentionParams.from_arrays(p.config, p.arrays())
    xi = quantize(x, p.scales.x, 16)
    assert q.scales is None
    assert attention_block(xi, q).tolist() == attention_block(xi, p).tolist()


# ----------------------------------------------------------------------------- accuracy

# Attention-branch relative L2 error, default config (dim 64, 4 heads, 16 tokens, mse
# calibration, attn/prob 8 bits), seed 0; measured values in docs/numerics.md. The bounds
# leave about 30 % headroom, so a regression of the integer path or of calibration fails
# (revision 1's flooring recip_div, 0.0592 at 8 bits, fails the 8-bit bound).
BRANCH_REL_L2_MAX = {2: 1.2, 3: 0.76, 4: 0.44, 5: 0.25, 6: 0.155, 7: 0.087, 8: 0.053}


@pytest.fixture(scope="module")
def sweep() -> dict[int, object]:
    return {w: block_accuracy(AttentionConfig(a_bits=w, w_bits=w), seed=0)
            for w in range(2, 9)}


@pytest.mark.parametrize("bits", range(2, 9))
def test_block_accuracy_bounds_per_width(sweep, bits: int) -> None:  # type: ignore[no-untyped-def]
    r = sweep[bits]
    assert r.branch.rel_l2 <= BRANCH_REL_L2_MAX[bits], r.branch
    assert r.output.rel_l2 <= r.branch.rel_l2   # the exact residual only dilutes the error
    if bits >= 6:
        assert r.branch.cosine >= 0.99


def test_block_accuracy_improves_with_width(sweep) -> None:  # type: ignore[no-untyped-def]
    errs = [sweep[w].branch.rel_l2 for w in range(2, 9)]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs


def test_block_accuracy_is_deterministic() -> None:
    cfg = AttentionConfig(a_bits=4, w_bits=4, tokens=8, dim=32, heads=2)
    assert block_accuracy(cfg, seed=5) == block_accuracy(cfg, seed=5)
    assert block_accuracy(cfg, seed=5) != block_accuracy(cfg, seed=6)


@pytest.mark.parametrize("calib", ["minmax", "percentile", "mse"])
def test_block_accuracy_8_bits_every_calibration(calib: str) -> None:
    cfg = AttentionConfig(act_calibration=calib, w_calibration="minmax", asymmetric=False)
    r = block_accuracy(cfg, seed=0)
    assert r.branch.rel_l2 <= 0.1 and r.branch.cosine >= 0.99, r.branch


# ----------------------------------------------------------------------------- gamma signs

def test_negative_and_zero_gamma() -> None:
    cfg = AttentionConfig(tokens=16, dim=32, heads=2)
    block = make_float_block(cfg, 11)
    g = block.gamma.copy()
    g[::3] *= -1.0       # a third of the channels negative
    g[5] = 0.0           # one constant channel: its beta goes into the Q/K/V biases
    block = dataclasses.replace(block, gamma=g)
    calib = make_block_input(cfg, 12, 32, profile_seed=11)
    x = make_block_input(cfg, 13, 8, profile_seed=11)
    p = quantize_block(block, cfg, calib)
    assert p.ln_b[5] == 0 and p.ln_beta[5] == 0 and np.all(p.wq[:, 5] == 0)
    xi = quantize(x, p.scales.x, 16)
    tr = attention_block_trace(xi, p)
    # float reference on the 16-bit input codes (a few eval values exceed the calibrated range)
    ref = float_block_trace(dequantize(xi, p.scales.x), block)
    # the LayerNorm codes carry sign(gamma) * h: check against the float h channel by channel
    sign = np.where(g < 0, -1.0, 1.0)
    h = dequantize(tr["h"], p.scales.h, zero_point=p.h_zero) * sign
    lo, hi = -(1 << 7), (1 << 7) - 1
    ok = (tr["h"] > lo) & (tr["h"] < hi)
    live = np.arange(cfg.dim) != 5
    err = np.abs(h - ref["h"])[:, :, live][ok[:, :, live]]
    assert float(err.max()) <= 0.5 * p.scales.h + 0.01
    # and Q (which sees the sign-folded weights) matches the float Q
    q = dequantize(tr["q"], p.scales.q)
    assert float(np.linalg.norm(q - ref["q"]) / np.linalg.norm(ref["q"])) < 0.03
    out = dequantize(tr["out"], p.scales.out) - dequantize(tr["x"], p.scales.x)
    assert float(np.linalg.norm(out - ref["y"]) / np.linalg.norm(ref["y"])) < 0.1


# ----------------------------------------------------------------------------- validation

def test_input_validation(small) -> None:  # type: ignore[no-untyped-def]
    _, p, _ = small
    cases = [
        (np.zeros((8, 15), dtype=np.int64), ValueError,
         "x_int must be (..., tokens, 16), got shape (8, 15)"),
        (np.zeros((9, 16), dtype=np.int64), ValueError, "x_int has 9 tokens; config allows 1..8"),
        (np.full((8, 16), 1 << 15), ValueError,
         "x_int=32768 is outside the resid_bits=16 code range [-32768, 32767]"),
        (np.zeros((8, 16)), TypeError,
         "x_int must be an integer or an integer array, got dtype float64"),
    ]
    for x, exc, msg in cases:
        with pytest.raises(exc, match=re.escape(msg)):
            attention_block(x, p)
    with pytest.raises(TypeError, match=re.escape("params must be AttentionParams, not dict")):
        attention_block(np.zeros((8, 16), dtype=np.int64), {})  # type: ignore[arg-type]


def test_params_validation(small) -> None:  # type: ignore[no-untyped-def]
    _, p, _ = small
    cases = [
        ({"wq": np.zeros((16, 15), dtype=np.int64)}, ValueError,
         "wq has shape (16, 15); expected (16, 16)"),
        ({"wq": np.full((16, 16), 128)}, ValueError,
         "wq has codes outside the w_bits=8 range [-128, 127]"),
        ({"q_b": np.full(16, 1 << 16)}, ValueError,
         "q_b=65536 does not fit an unsigned mult_bits=16 multiplier"),
        ({"ln_c": np.full(16, 64)}, ValueError, "ln_c=64 is out of range; shifts lie in 0..63"),
        ({"x0": 0}, ValueError, "x0=0 must be negative (x0 = floor(-1/S) <= -1)"),
        ({"x0": 1.5}, TypeError, "x0 must be an int, not float (1.5)"),
        ({"h_zero": 200}, ValueError,
         "h_zero=200 is outside the a_bits=8 code range [-128, 127]"),
        ({"bq": np.zeros(16)}, TypeError,
         "bq must be an integer or an integer array, got dtype float64"),
        ({"config": SMALL.as_dict()}, TypeError, "config must be an AttentionConfig, not dict"),
    ]
    for change, exc, msg in cases:
        with pytest.raises(exc, match=re.escape(msg)):
            dataclasses.replace(p, **change)


def test_quantize_block_validation() -> None:
    block = make_float_block(SMALL, 0)
    calib = make_block_input(SMALL, 1, 2)
    with pytest.raises(ValueError, match=re.escape(
            "block has dim=16, heads=2 but config has dim=32, heads=2")):
        quantize_block(block, AttentionConfig(tokens=8, dim=32, heads=2), calib)
    with pytest.raises(ValueError, match=re.escape(
            "calib_x must be (..., tokens, 16), got shape (8,)")):
        quantize_block(block, SMALL, np.zeros(8))
    with pytest.raises(TypeError, match=re.escape("block must be a FloatBlock, not str")):
        quantize_block("block", SMALL, calib)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape("wq has shape (16, 15); expected (16, 16)")):
        dataclasses.replace(block, wq=np.zeros((16, 15)))
    with pytest.raises(ValueError, match=re.escape("dim=16 is not a multiple of heads=3")):
        dataclasses.replace(block, heads=3)
