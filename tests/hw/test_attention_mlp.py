# amaranth: UnusedElaboratable=no
"""The MLP half and a whole encoder layer on the AttentionBlock, == the integer dataflow.

The MLP parameters are random integer codes in an object with the fields of the model's
``MlpParams`` (that class lives on the ViT-model branch; after the merge ``reference_mlp``
below should be replaced by ``ivita.model.mlp_block_trace``: it is the same formula list)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ivita.firmware.mlp_compiler import compile_encoder, compile_mlp
from ivita.hw.attention import AttentionBlock
from ivita.sim.block_bus_run import run_block
from ivita.model import (
    AttentionConfig, attention_block_trace, int_layernorm, linear_acc, make_block_input,
    make_float_block, quantize_block, requantize, residual_add, shift_gelu,
)
from ivita.model.block_config import BlockConfig


def random_mlp(dim: int, hidden: int, seed: int) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    cfg = SimpleNamespace(dim=dim, hidden=hidden, a_bits=8, w_bits=8, gelu_bits=8, sig_bits=8,
                          resid_bits=16, mult_bits=16, n=15)

    def mult(size: int | None = None) -> np.ndarray:
        return rng.integers(1 << 15, 1 << 16, size=size)

    return SimpleNamespace(
        config=cfg, ln_b=mult(dim), ln_c=rng.integers(37, 40, size=dim),
        ln_beta=rng.integers(-(1 << 28), 1 << 28, size=dim),
        w1=rng.integers(-128, 128, size=(hidden, dim)), b1=rng.integers(-4000, 4000, size=hidden),
        f_b=mult(hidden), f_c=rng.integers(22, 25, size=hidden), x0=-23,
        u_b=int(mult()), u_c=21, u_off=-37,
        w2=rng.integers(-128, 128, size=(dim, hidden)), b2=rng.integers(-4000, 4000, size=dim),
        y_b=mult(dim), y_c=rng.integers(14, 17, size=dim),
        rx_b=int(mult()), rx_c=16, ry_b=int(mult()), ry_c=16)


def reference_mlp(x: np.ndarray, p: SimpleNamespace) -> dict[str, np.ndarray]:
    c = p.config
    h = requantize(int_layernorm(x) + p.ln_beta, p.ln_b, p.ln_c, c.a_bits)
    f = requantize(linear_acc(h, p.w1, p.b1), p.f_b, p.f_c, c.gelu_bits)
    u = requantize(shift_gelu(f, p.x0, c.n, c.sig_bits) + p.u_off, p.u_b, p.u_c, c.a_bits)
    y = requantize(linear_acc(u, p.w2, p.b2), p.y_b, p.y_c, c.resid_bits)
    out = residual_add(x, p.rx_b, p.rx_c, y, p.ry_b, p.ry_c, c.resid_bits)
    return {"h": h, "f": f, "u": u, "out": out}


def _run(cb, names):  # type: ignore[no-untyped-def]
    reads: dict[str, list[int]] = {}
    for n in names:
        reads.setdefault(cb.tensors[n].mem, []).extend(cb.words_of(n))
    run = run_block(AttentionBlock(cb.config), cb.images, reads)
    return run, {n: cb.unpack(n, run.reads[cb.tensors[n].mem]) for n in names}


def test_mlp_matches_reference() -> None:
    T, dim, hidden = 6, 8, 16
    p = random_mlp(dim, hidden, 3)
    x = np.random.default_rng(4).integers(-30000, 30000, size=(T, dim))
    cfg = BlockConfig(rows=4, cols=4, max_tokens=T, max_dim=dim, max_heads=1,
                      max_hidden=hidden)
    cb = compile_mlp(p, cfg, x)
    run, got = _run(cb, ["f", "u", "out"])
    ref = reference_mlp(x, p)
    assert (run.done, run.error) == (1, 0)
    assert len(np.unique(ref["u"])) > 10 and len(np.unique(ref["out"])) > 20   # not degenerate
    for n in ("f", "u", "out"):
        assert (got[n] == ref[n]).all(), n
    print(f"\nMLP T={T} dim={dim} hidden={hidden} 4x4: {run.cycles} cycles")


def test_mlp_that_does_not_fit_is_rejected() -> None:
    p = random_mlp(8, 16, 3)
    x = np.zeros((4, 8), dtype=np.int64)
    with pytest.raises(ValueError, match="hidden=16 exceeds max_hidden=12"):
        compile_mlp(p, BlockConfig(rows=4, cols=4, max_tokens=4, max_dim=8, max_hidden=12), x)
    with pytest.raises(ValueError, match=r"this block has no MLP half \(max_hidden=0\)"):
        compile_mlp(p, BlockConfig(rows=4, cols=4, max_tokens=4, max_dim=8), x)


@pytest.mark.parametrize("seed", [31])
def test_encoder_layer(seed: int) -> None:
    lc = AttentionConfig(tokens=8, dim=8, heads=2)
    attn = quantize_block(make_float_block(lc, seed), lc, make_block_input(lc, seed + 1, 4))
    x = np.clip(np.round(make_block_input(lc, seed + 2, 1)[0] / attn.scales.x),
                -32768, 32767).astype(np.int64)
    mlp = random_mlp(8, 16, seed)
    cfg = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8, max_heads=2, max_hidden=16)
    cb = compile_encoder(attn, mlp, cfg, x)
    run, got = _run(cb, ["out"])
    mid = attention_block_trace(x, attn)["out"]
    want = reference_mlp(mid, mlp)["out"]
    assert (run.done, run.error) == (1, 0) and (got["out"] == want).all()
    print(f"\nencoder T=8 dim=8 heads=2 hidden=16 4x4: {run.cycles} cycles")
