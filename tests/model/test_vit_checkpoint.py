"""model/checkpoint.py: timm ViT/DeiT state dicts (.npz, .safetensors) into the float model.

The reference forward here is written independently from the state dict (explicit patch loop
as a strided convolution, fused qkv sliced by hand), so a wrong key mapping, a transposed
weight or a wrong patch order in the loader makes it fail.
"""

from __future__ import annotations

import math
import pathlib
import re

import numpy as np
import pytest

from ivita.model import float_vit_logits, load_timm_vit, read_state_dict, vit_from_state_dict, \
    write_safetensors

DIM, HEADS, HIDDEN, PATCH, IMAGE, CH, CLASSES, DEPTH = 8, 2, 12, 2, 4, 3, 5, 2


def _state_dict(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def r(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.5, size=shape).astype(np.float32)

    tokens = (IMAGE // PATCH) ** 2 + 1
    sd = {"patch_embed.proj.weight": r(DIM, CH, PATCH, PATCH), "patch_embed.proj.bias": r(DIM),
          "cls_token": r(1, 1, DIM), "pos_embed": r(1, tokens, DIM),
          "norm.weight": 1 + r(DIM), "norm.bias": r(DIM), "head.weight": r(CLASSES, DIM),
          "head.bias": r(CLASSES)}
    for i in range(DEPTH):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": 1 + r(DIM), p + "norm1.bias": r(DIM),
                   p + "attn.qkv.weight": r(3 * DIM, DIM), p + "attn.qkv.bias": r(3 * DIM),
                   p + "attn.proj.weight": r(DIM, DIM), p + "attn.proj.bias": r(DIM),
                   p + "norm2.weight": 1 + r(DIM), p + "norm2.bias": r(DIM),
                   p + "mlp.fc1.weight": r(HIDDEN, DIM), p + "mlp.fc1.bias": r(HIDDEN),
                   p + "mlp.fc2.weight": r(DIM, HIDDEN), p + "mlp.fc2.bias": r(DIM)})
    return sd


def _reference(sd: dict[str, np.ndarray], img: np.ndarray) -> np.ndarray:
    """timm VisionTransformer forward for one (C, H, W) image, written from the keys."""
    g = {k: v.astype(np.float64) for k, v in sd.items()}
    w = g["patch_embed.proj.weight"]
    toks = []
    for py in range(IMAGE // PATCH):            # the convolution with stride = kernel = patch
        for px in range(IMAGE // PATCH):
            win = img[:, py * PATCH:(py + 1) * PATCH, px * PATCH:(px + 1) * PATCH]
            toks.append(np.einsum("dcij,cij->d", w, win) + g["patch_embed.proj.bias"])
    t = np.vstack([g["cls_token"][0], np.array(toks)]) + g["pos_embed"][0]

    def ln(x: np.ndarray, name: str) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-6) * g[name + ".weight"] + g[name + ".bias"]

    hd = DIM // HEADS
    for i in range(DEPTH):
        p = f"blocks.{i}."
        qkv = ln(t, p + "norm1") @ g[p + "attn.qkv.weight"].T + g[p + "attn.qkv.bias"]
        heads = []
        for h in range(HEADS):
            q = qkv[:, h * hd:(h + 1) * hd]
            k = qkv[:, DIM + h * hd:DIM + (h + 1) * hd]
            v = qkv[:, 2 * DIM + h * hd:2 * DIM + (h + 1) * hd]
            s = q @ k.T / math.sqrt(hd)
            a = np.exp(s - s.max(-1, keepdims=True))
            heads.append((a / a.sum(-1, keepdims=True)) @ v)
        t = t + np.hstack(heads) @ g[p + "attn.proj.weight"].T + g[p + "attn.proj.bias"]
        f = ln(t, p + "norm2") @ g[p + "mlp.fc1.weight"].T + g[p + "mlp.fc1.bias"]
        f = 0.5 * f * (1 + np.vectorize(math.erf)(f / math.sqrt(2)))
        t = t + f @ g[p + "mlp.fc2.weight"].T + g[p + "mlp.fc2.bias"]
    return ln(t[:1], "norm")[0] @ g["head.weight"].T + g["head.bias"]


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_synthetic_timm_checkpoint_matches_reference(tmp_path: pathlib.Path, fmt: str) -> None:
    sd = _state_dict()
    path = tmp_path / f"vit.{fmt}"
    if fmt == "npz":
        np.savez(path, **sd)
    else:
        write_safetensors(path, sd)
    vit = load_timm_vit(path, heads=HEADS)
    assert (vit.dim, vit.heads, vit.depth, vit.patch, vit.image, vit.channels, vit.classes,
            vit.tokens) == (DIM, HEADS, DEPTH, PATCH, IMAGE, CH, CLASSES, 5)
    imgs = np.random.default_rng(1).uniform(0, 1, size=(3, CH, IMAGE, IMAGE))
    got = float_vit_logits(imgs, vit)
    want = np.array([_reference(sd, im) for im in imgs])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_safetensors_round_trip_and_prefix(tmp_path: pathlib.Path) -> None:
    sd = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([-1, 7], np.int64)}
    write_safetensors(tmp_path / "x.safetensors", sd)
    back = read_state_dict(tmp_path / "x.safetensors")
    assert sorted(back) == ["a", "b"]
    for k in sd:
        assert back[k].dtype == sd[k].dtype and np.array_equal(back[k], sd[k])
    # a "module." prefix (DataParallel checkpoints) is stripped
    pre = {"module." + k: v for k, v in _state_dict().items()}
    assert vit_from_state_dict(pre, heads=HEADS).depth == DEPTH


def test_clear_errors(tmp_path: pathlib.Path) -> None:
    sd = _state_dict()
    missing = dict(sd)
    del missing["blocks.1.mlp.fc2.bias"]
    with pytest.raises(KeyError, match=re.escape(
            "checkpoint has no key 'blocks.1.mlp.fc2.bias' (expected shape (8,))")):
        vit_from_state_dict(missing, heads=HEADS)
    bad = dict(sd)
    bad["blocks.0.attn.qkv.weight"] = np.zeros((2 * DIM, DIM), np.float32)
    with pytest.raises(ValueError, match=re.escape(
            "checkpoint key 'blocks.0.attn.qkv.weight' has shape (16, 8); expected (24, 8)")):
        vit_from_state_dict(bad, heads=HEADS)
    with pytest.raises(KeyError, match="pass heads="):
        vit_from_state_dict(sd)
    with pytest.raises(ValueError, match="dim=8 is not a multiple of heads=3"):
        vit_from_state_dict(sd, heads=3)
    with pytest.raises(ValueError, match="distilled DeiT"):
        vit_from_state_dict({**sd, "dist_token": np.zeros((1, 1, DIM))}, heads=HEADS)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_timm_vit(tmp_path / "nope.npz", heads=HEADS)
    (tmp_path / "w.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape("unknown suffix '.pt'")):
        load_timm_vit(tmp_path / "w.pt", heads=HEADS)
