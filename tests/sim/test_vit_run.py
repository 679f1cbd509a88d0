# amaranth: UnusedElaboratable=no
"""The shipped tiny ViT (8 bits, prob_mode="direct") with encoder blocks on the simulated
AttentionBlock: every tensor read back, the logits and the class == the integer model."""

from __future__ import annotations

import numpy as np
import pytest

from ivita.firmware.compiler import compile_attention
from ivita.hw.attention import AttentionBlock
from ivita.sim.block_bus_run import BlockRun, run_block
from ivita.model import ViTQuantConfig, int_vit_trace, quantize_images, quantize_vit
from ivita.model.digits import load_digits_split, load_tiny_vit
from ivita.model.int_vit import IntViT
from ivita.sim import vit_run
from ivita.sim.vit_run import HW_TENSORS, run_vit_on_block, vit_block_config


def _quantized(method: str, prob_mode: str = "direct") -> IntViT:
    data = load_digits_split()
    cfg = ViTQuantConfig(a_bits=8, w_bits=8, prob_mode=prob_mode)
    return quantize_vit(load_tiny_vit(), data.calib_x, cfg, method).model


@pytest.fixture(scope="module")
def minmax() -> IntViT:
    return _quantized("minmax")


def _codes(ivit: IntViT, first: int, count: int) -> np.ndarray:
    return quantize_images(load_digits_split().test_x[first:first + count], ivit)


def _model_view(tr: dict[str, np.ndarray], key: str) -> np.ndarray:
    """The model tensor a hardware key stands for (``attn.a``: the last head's scores)."""
    return tr[key][:, -1] if key.endswith("attn.a") else tr[key]


def _check_equal(run: vit_run.VitBlockRun, tr: dict[str, np.ndarray], hw_blocks: int) -> None:
    assert sorted(run.tensors) == sorted(f"b{b}.{k}" for b in range(hw_blocks)
                                         for k in HW_TENSORS.values())
    for key, got in run.tensors.items():
        want = _model_view(tr, key)
        assert got.shape == want.shape, key
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"{key}: first difference at {tuple(bad[0])}: hardware "
                               f"{got[tuple(bad[0])]}, model {want[tuple(bad[0])]}")
    assert (run.logits == tr["logits"]).all()
    assert (run.classes == np.argmax(tr["logits"], axis=-1)).all()


def test_block_config_comes_from_the_model(minmax: IntViT) -> None:
    cfg = vit_block_config(minmax, rows=8)
    a, m = minmax.attn[0].config, minmax.mlp[0].config
    assert (cfg.rows, cfg.cols, cfg.max_tokens, cfg.max_dim, cfg.max_heads, cfg.max_hidden) == (
        8, 8, 17, 32, 2, 64)
    for name in ("a_bits", "w_bits", "attn_bits", "prob_bits", "resid_bits", "mult_bits", "n"):
        assert getattr(cfg, name) == getattr(a, name), name
    assert (cfg.gelu_bits, cfg.sig_bits) == (m.gelu_bits, m.sig_bits)


def test_first_encoder_block_on_the_block_equals_the_model(minmax: IntViT) -> None:
    """3 test images, block 0 on a 4x4 block, block 1 + head in the model: every tensor the
    block still holds after the encoder program, the logits and the class are ==."""
    x = _codes(minmax, 0, 3)
    tr = int_vit_trace(x, minmax)
    run = run_vit_on_block(x, minmax, hw_blocks=1, rows=4)
    _check_equal(run, tr, 1)
    assert len(np.unique(run.tensors["b0.mlp.out"])) > 200      # a real residual stream
    assert len(set(run.classes.tolist())) > 1                    # not one constant class
    assert all(len(c) == 1 and c[0] > 0 for c in run.cycles)
    print(f"\nb0 on 4x4: cycles per image {[c[0] for c in run.cycles]}, "
          f"classes {run.classes.tolist()}")


def test_attention_half_alone_equals_the_model(minmax: IntViT) -> None:
    """The tensors the MLP overwrites in the encoder program (attention ``o``, the last
    head's ``p``, the attention ``out``): the attention program alone, on one image."""
    x = _codes(minmax, 0, 1)
    tr = int_vit_trace(x, minmax)
    cfg = vit_block_config(minmax, rows=4)
    cb = compile_attention(minmax.attn[0], cfg, tr["embed"][0])
    reads: dict[str, list[int]] = {}
    for name in ("o", "p", "out"):
        reads.setdefault(cb.tensors[name].mem, []).extend(cb.words_of(name))
    run = run_block(AttentionBlock(cfg), cb.images, reads)
    assert (run.done, run.error) == (1, 0)
    for name, want in (("o", tr["b0.attn.o"][0]), ("p", tr["b0.attn.p"][0, -1]),
                       ("out", tr["b0.attn.out"][0])):
        assert (cb.unpack(name, run.reads[cb.tensors[name].mem]) == want).all(), name


def test_layers_that_do_not_fit_are_rejected(minmax: IntViT) -> None:
    x = _codes(minmax, 0, 1)
    with pytest.raises(ValueError, match="head_dim=16 is not a multiple of cols=3"):
        run_vit_on_block(x, minmax, rows=3)
    for bad in (0, 3, True):
        with pytest.raises(ValueError, match=rf"hw_blocks={bad!r} is out of range; it must "
                                             rf"be in 1\.\.2"):
            run_vit_on_block(x, minmax, hw_blocks=bad)
    split = _quantized("minmax", "split")
    with pytest.raises(ValueError, match="layer prob_mode='split' is not implemented; the "
                                         "block computes prob_mode='direct' only"):
        run_vit_on_block(_codes(split, 0, 1), split)


def test_a_block_error_names_image_block_and_code(minmax: IntViT,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def stopped(dut: AttentionBlock, *args: object, **kwargs: object) -> BlockRun:
        dut._MustUse__used = True          # type: ignore[attr-defined]  # not simulated here
        return BlockRun(done=0, error=1, error_code=2, cycles=7)

    monkeypatch.setattr(vit_run, "run_block", stopped)
    with pytest.raises(RuntimeError, match="image 0, block 0: the block stopped with done=0 "
                                           "error=1 error_code=2"):
        run_vit_on_block(_codes(minmax, 0, 1), minmax)


@pytest.mark.slow
def test_both_encoder_blocks_on_the_block_ptq() -> None:
    """10 test images, PTQ at 8 bits, both encoder blocks on an 8x8 block (block 1 runs on
    block 0's hardware output); only the final norm and head in the model."""
    ivit = _quantized("ptq")
    x = _codes(ivit, 3, 10)
    tr = int_vit_trace(x, ivit)
    run = run_vit_on_block(x, ivit, hw_blocks=2, rows=8)
    _check_equal(run, tr, 2)
    print(f"\nb0+b1 on 8x8: cycles {run.cycles}, classes {run.classes.tolist()}")
