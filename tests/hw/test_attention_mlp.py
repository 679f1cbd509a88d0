# amaranth: UnusedElaboratable=no
"""The MLP half and a whole encoder layer on the AttentionBlock, == the model's
``mlp_block_trace`` / ``encoder_block_trace`` (outputs and the intermediates the block keeps)."""

from __future__ import annotations

import numpy as np
import pytest

from ivita.firmware.mlp_compiler import compile_encoder, compile_mlp
from ivita.hw.attention import AttentionBlock
from ivita.model import (
    AttentionConfig, MlpConfig, MlpParams, encoder_block_trace, make_block_input,
    make_float_block, mlp_block_trace, quantize_block,
)
from ivita.model.block_config import BlockConfig
from ivita.sim.block_bus_run import run_block


def random_mlp(dim: int, hidden: int, seed: int) -> MlpParams:
    """Random integer codes in the model's ``MlpParams`` (ranges that keep every stage busy:
    not saturated, not all zero)."""
    rng = np.random.default_rng(seed)

    def mult(size: int | None = None) -> np.ndarray:
        return rng.integers(1 << 15, 1 << 16, size=size)

    return MlpParams(
        config=MlpConfig(dim=dim, hidden=hidden), ln_b=mult(dim),
        ln_c=rng.integers(37, 40, size=dim), ln_beta=rng.integers(-(1 << 28), 1 << 28, size=dim),
        h_zero=0, w1=rng.integers(-128, 128, size=(hidden, dim)),
        b1=rng.integers(-4000, 4000, size=hidden), f_b=mult(hidden),
        f_c=rng.integers(22, 25, size=hidden), x0=-23, u_b=int(mult()), u_c=21, u_off=-37,
        u_zero=0, w2=rng.integers(-128, 128, size=(dim, hidden)),
        b2=rng.integers(-4000, 4000, size=dim), y_b=mult(dim), y_c=rng.integers(14, 17, size=dim),
        rx_b=int(mult()), rx_c=16, ry_b=int(mult()), ry_c=16)


def _run(cb, names):  # type: ignore[no-untyped-def]
    reads: dict[str, list[int]] = {}
    for n in names:
        reads.setdefault(cb.tensors[n].mem, []).extend(cb.words_of(n))
    run = run_block(AttentionBlock(cb.config), cb.images, reads)
    return run, {n: cb.unpack(n, run.reads[cb.tensors[n].mem]) for n in names}


def test_mlp_matches_model() -> None:
    T, dim, hidden = 6, 8, 16
    p = random_mlp(dim, hidden, 3)
    x = np.random.default_rng(4).integers(-30000, 30000, size=(T, dim))
    cfg = BlockConfig(rows=4, cols=4, max_tokens=T, max_dim=dim, max_heads=1,
                      max_hidden=hidden)
    cb = compile_mlp(p, cfg, x)
    run, got = _run(cb, ["h", "f", "u", "out"])
    ref = mlp_block_trace(x, p)
    assert (run.done, run.error) == (1, 0)
    assert len(np.unique(ref["u"])) > 10 and len(np.unique(ref["out"])) > 20   # not degenerate
    for n in ("h", "f", "u", "out"):
        assert (got[n] == ref[n]).all(), n
    print(f"\nMLP T={T} dim={dim} hidden={hidden} 4x4: {run.cycles} cycles")


def test_mlp_that_does_not_fit_is_rejected() -> None:
    p = random_mlp(8, 16, 3)
    x = np.zeros((4, 8), dtype=np.int64)
    with pytest.raises(ValueError, match="hidden=16 exceeds max_hidden=12"):
        compile_mlp(p, BlockConfig(rows=4, cols=4, max_tokens=4, max_dim=8, max_hidden=12), x)
    with pytest.raises(ValueError, match=r"this block has no MLP half \(max_hidden=0\)"):
        compile_mlp(p, BlockConfig(rows=4, cols=4, max_tokens=4, max_dim=8), x)


def test_compilers_take_the_model_params() -> None:
    p = random_mlp(8, 16, 3)
    cfg = BlockConfig(rows=4, cols=4, max_tokens=4, max_dim=8, max_hidden=16)
    x = np.zeros((4, 8), dtype=np.int64)
    with pytest.raises(TypeError, match="^params must be MlpParams, not dict$"):
        compile_mlp(vars(p), cfg, x)
    lc = AttentionConfig(tokens=4, dim=8, heads=2)
    attn = quantize_block(make_float_block(lc, 1), lc, make_block_input(lc, 2, 2))
    with pytest.raises(TypeError, match="^mlp must be MlpParams, not AttentionParams$"):
        compile_encoder(attn, attn, cfg, x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"dim=8, resid_bits=16\) and MLP block \(dim=4"):
        compile_encoder(attn, random_mlp(4, 16, 3), cfg, x)


@pytest.mark.parametrize("seed", [31])
def test_encoder_layer(seed: int) -> None:
    lc = AttentionConfig(tokens=8, dim=8, heads=2)
    attn = quantize_block(make_float_block(lc, seed), lc, make_block_input(lc, seed + 1, 4))
    x = np.clip(np.round(make_block_input(lc, seed + 2, 1)[0] / attn.scales.x),
                -32768, 32767).astype(np.int64)
    mlp = random_mlp(8, 16, seed)
    cfg = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8, max_heads=2, max_hidden=16)
    cb = compile_encoder(attn, mlp, cfg, x)
    names = ["mlp_h", "mlp_f", "mlp_u", "out"]
    run, got = _run(cb, names)
    ref = encoder_block_trace(x, attn, mlp)
    assert (run.done, run.error) == (1, 0)
    assert len(np.unique(ref["mlp.out"])) > 20                             # not degenerate
    for n in names:
        key = "mlp.out" if n == "out" else n.replace("_", ".")
        assert (got[n] == ref[key]).all(), n
    print(f"\nencoder T=8 dim=8 heads=2 hidden=16 4x4: {run.cycles} cycles")
