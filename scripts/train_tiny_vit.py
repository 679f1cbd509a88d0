"""Train the tiny ViT shipped in ``model/data/tiny_vit_digits.npz`` (offline, optional extra).

    pip install -e '.[train]'            # jax (CPU) and scikit-learn, pinned in pyproject.toml
    python scripts/train_tiny_vit.py     # writes model/data/digits_split.npz and the weights

What it does, deterministically (seed 0):

1. Loads scikit-learn's bundled 8x8 digits (1797 images, pixel values 0..16) and splits it
   with ``numpy.random.default_rng(0).permutation``: 1097 train, 100 calibration, 600 test.
   The split (uint8 images and labels) is saved as ``digits_split.npz`` so that evaluation
   needs neither scikit-learn nor this script.
2. Trains a pre-norm ViT (patch 2 -> 16 patches + class token = 17 tokens, dim 32, 2 heads,
   2 blocks, MLP 64, exact-erf GELU, LayerNorm eps 1e-6) with Adam (lr 3e-3, cosine decay),
   batch 64, 300 epochs, one-pixel random shifts as augmentation, on the train split only.
3. Saves the float32 weights in timm's ViT key naming (``patch_embed.proj.weight`` as a
   ``(dim, 1, 2, 2)`` convolution, fused ``attn.qkv``) plus ``ivita.heads``, and prints the
   float test accuracy measured by the numpy model (:func:`ivita.model.float_vit_logits`).

This script is outside the ``ivita.model`` import path: the package itself never imports jax.
Re-running it on another jax/XLA build may change the last bits of the weights (float
summation order), hence the accuracy by a test image or so; the shipped files are the record.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "model" / "data"

SEED = 0
N_TRAIN, N_CALIB = 1097, 100          # the rest (600) is the test split
DIM, HEADS, DEPTH, MLP, PATCH = 32, 2, 2, 64, 2
EPOCHS, BATCH, LR, WD = 300, 64, 3e-3, 1e-4


def make_split() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits
    d = load_digits()
    images = d.images.astype(np.uint8)          # (1797, 8, 8), values 0..16
    labels = d.target.astype(np.uint8)
    perm = np.random.default_rng(SEED).permutation(len(labels))
    tr, ca, te = np.split(perm, [N_TRAIN, N_TRAIN + N_CALIB])
    return {"train_x": images[tr], "train_y": labels[tr], "calib_x": images[ca],
            "calib_y": labels[ca], "test_x": images[te], "test_y": labels[te]}


def init_params(key: object) -> dict[str, object]:
    import jax
    import jax.numpy as jnp
    keys = iter(jax.random.split(key, 64))
    tokens = (8 // PATCH) ** 2 + 1

    def lin(out: int, inp: int) -> tuple[object, object]:
        w = jax.random.truncated_normal(next(keys), -2, 2, (out, inp)) * math.sqrt(1.0 / inp)
        return w, jnp.zeros(out)

    p: dict[str, object] = {}
    w, b = lin(DIM, PATCH * PATCH)
    p["patch_embed.proj.weight"], p["patch_embed.proj.bias"] = w.reshape(DIM, 1, PATCH, PATCH), b
    p["cls_token"] = 0.02 * jax.random.normal(next(keys), (1, 1, DIM))
    p["pos_embed"] = 0.02 * jax.random.normal(next(keys), (1, tokens, DIM))
    for i in range(DEPTH):
        pre = f"blocks.{i}."
        for ln in ("norm1", "norm2"):
            p[pre + ln + ".weight"], p[pre + ln + ".bias"] = jnp.ones(DIM), jnp.zeros(DIM)
        p[pre + "attn.qkv.weight"], p[pre + "attn.qkv.bias"] = lin(3 * DIM, DIM)
        p[pre + "attn.proj.weight"], p[pre + "attn.proj.bias"] = lin(DIM, DIM)
        p[pre + "mlp.fc1.weight"], p[pre + "mlp.fc1.bias"] = lin(MLP, DIM)
        p[pre + "mlp.fc2.weight"], p[pre + "mlp.fc2.bias"] = lin(DIM, MLP)
    p["norm.weight"], p["norm.bias"] = jnp.ones(DIM), jnp.zeros(DIM)
    p["head.weight"], p["head.bias"] = lin(10, DIM)
    return p


def forward(p: dict[str, object], x: object) -> object:
    """Float ViT on ``(B, 8, 8)`` pixels scaled to [0, 1]; the same graph as the numpy model."""
    import jax
    import jax.numpy as jnp
    B = x.shape[0]
    g = 8 // PATCH
    patches = x.reshape(B, g, PATCH, g, PATCH).transpose(0, 1, 3, 2, 4).reshape(B, g * g, -1)
    w = p["patch_embed.proj.weight"].reshape(DIM, -1)
    t = patches @ w.T + p["patch_embed.proj.bias"]
    cls = jnp.broadcast_to(p["cls_token"], (B, 1, DIM))
    t = jnp.concatenate([cls, t], axis=1) + p["pos_embed"]

    def ln(v: object, name: str) -> object:
        mu = v.mean(-1, keepdims=True)
        var = ((v - mu) ** 2).mean(-1, keepdims=True)
        return (v - mu) / jnp.sqrt(var + 1e-6) * p[name + ".weight"] + p[name + ".bias"]

    hd = DIM // HEADS
    for i in range(DEPTH):
        pre = f"blocks.{i}."
        h = ln(t, pre + "norm1")
        qkv = h @ p[pre + "attn.qkv.weight"].T + p[pre + "attn.qkv.bias"]
        q, k, v = (qkv[..., j * DIM:(j + 1) * DIM].reshape(B, -1, HEADS, hd).transpose(0, 2, 1, 3)
                   for j in range(3))
        a = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd), axis=-1)
        o = (a @ v).transpose(0, 2, 1, 3).reshape(B, -1, DIM)
        t = t + o @ p[pre + "attn.proj.weight"].T + p[pre + "attn.proj.bias"]
        h = ln(t, pre + "norm2")
        h = jax.nn.gelu(h @ p[pre + "mlp.fc1.weight"].T + p[pre + "mlp.fc1.bias"],
                        approximate=False)
        t = t + h @ p[pre + "mlp.fc2.weight"].T + p[pre + "mlp.fc2.bias"]
    t = ln(t, "norm")
    return t[:, 0] @ p["head.weight"].T + p["head.bias"]


def train(split: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import jax
    import jax.numpy as jnp

    x_tr = split["train_x"].astype(np.float32) / 16.0
    y_tr = split["train_y"].astype(np.int32)
    params = init_params(jax.random.PRNGKey(SEED))
    steps_per_epoch = math.ceil(len(y_tr) / BATCH)
    total = EPOCHS * steps_per_epoch
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)

    def loss_fn(pp: dict[str, object], xb: object, yb: object) -> object:
        logits = forward(pp, xb)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(yb.shape[0]), yb])

    @jax.jit
    def step(pp: dict, m: dict, v: dict, xb: object, yb: object, t: object) -> tuple:
        loss, g = jax.value_and_grad(loss_fn)(pp, xb, yb)
        lr = LR * 0.5 * (1 + jnp.cos(jnp.pi * t / total))
        b1, b2 = 0.9, 0.999
        m = jax.tree_util.tree_map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
        c1, c2 = 1 - b1 ** (t + 1), 1 - b2 ** (t + 1)
        pp = jax.tree_util.tree_map(
            lambda w, a, b: w - lr * (a / c1 / (jnp.sqrt(b / c2) + 1e-8) + WD * w), pp, m, v)
        return pp, m, v, loss

    rng = np.random.default_rng(SEED)
    t = 0
    t0 = time.time()
    for epoch in range(EPOCHS):
        perm = rng.permutation(len(y_tr))
        # augmentation: shift each image by -1..1 pixels (zero fill)
        shifted = np.zeros_like(x_tr)
        dy, dx = rng.integers(-1, 2, size=(2, len(y_tr)))
        padded = np.pad(x_tr, ((0, 0), (1, 1), (1, 1)))
        for i in range(len(y_tr)):
            shifted[i] = padded[i, 1 + dy[i]:9 + dy[i], 1 + dx[i]:9 + dx[i]]
        losses = []
        for s in range(steps_per_epoch):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            params, m, v, loss = step(params, m, v, jnp.asarray(shifted[idx]),
                                      jnp.asarray(y_tr[idx]), jnp.float32(t))
            losses.append(float(loss))
            t += 1
        if epoch % 50 == 0 or epoch == EPOCHS - 1:
            print(f"epoch {epoch:3d} loss {np.mean(losses):.4f} ({time.time() - t0:.0f} s)")
    out = {k: np.asarray(val, dtype=np.float32) for k, val in params.items()}
    out["ivita.heads"] = np.asarray(HEADS, dtype=np.int64)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=DATA, help="output folder")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    split = make_split()
    np.savez_compressed(args.out / "digits_split.npz", **split)
    weights = train(split)
    np.savez_compressed(args.out / "tiny_vit_digits.npz", **weights)
    sys.path.insert(0, str(ROOT))
    from ivita.model import float_vit_logits, load_timm_vit
    vit = load_timm_vit(args.out / "tiny_vit_digits.npz")
    for name in ("train", "calib", "test"):
        xs = split[f"{name}_x"].astype(np.float64)[:, None] / 16.0
        acc = float(np.mean(np.argmax(float_vit_logits(xs, vit), -1) == split[f"{name}_y"]))
        print(f"float {name} accuracy (numpy model): {100 * acc:.2f} % of {len(xs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
