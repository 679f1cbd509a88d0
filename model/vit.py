"""Float reference of a whole pre-norm Vision Transformer (numpy, offline side).

Used to *measure* the integer model and to calibrate it; nothing here runs on the integer
path. The graph is timm's ``VisionTransformer`` without dropout (class token, learned position
embedding, pre-norm blocks, final LayerNorm, linear head on the class token)::

    t   = concat(cls, patchify(img) @ We.T + be) + pos          (B, T, dim), T = patches + 1
    t   = t + Wo(MHSA(LN1(t)))                                   per block (FloatBlock)
    t   = t + W2(GELU(W1(LN2(t))))                               per block (FloatMlp)
    out = head(LN(t)[:, 0])

Images are ``(B, C, H, W)`` real values (the digits data: pixels / 16 in [0, 1]); patches are
flattened in ``(C, p, p)`` order, the order of timm's ``patch_embed.proj`` convolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .attention import FloatBlock, float_block_trace, float_layernorm

__all__ = ["FloatMlp", "FloatViT", "patchify", "float_gelu", "float_mlp_trace",
           "float_vit_trace", "float_vit_logits"]


def _erf(x: np.ndarray) -> np.ndarray:
    """Vectorized ``math.erf`` (numpy has no erf; exact to float64 rounding)."""
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def float_gelu(x: Any) -> np.ndarray:
    """Exact GELU ``x * Phi(x) = x/2 * (1 + erf(x / sqrt 2))`` (timm's and jax's default)."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


@dataclass(frozen=True, eq=False)
class FloatMlp:
    """Float parameters of one pre-norm MLP block: ``x + W2 GELU(W1 LN(x) + b1) + b2``.

    ``w1`` is ``(hidden, dim)``, ``w2`` is ``(dim, hidden)``; ``eps`` is the LayerNorm epsilon.
    """

    gamma: np.ndarray
    beta: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    eps: float = 1e-6

    def __post_init__(self) -> None:
        g = np.asarray(self.gamma, dtype=np.float64)
        if g.ndim != 1 or g.shape[0] < 1:
            raise ValueError(f"gamma must be 1-D with at least one channel, got shape {g.shape}")
        dim = g.shape[0]
        w1 = np.asarray(self.w1, dtype=np.float64)
        if w1.ndim != 2 or w1.shape[1] != dim:
            raise ValueError(f"w1 has shape {w1.shape}; expected (hidden, {dim})")
        hidden = w1.shape[0]
        shapes = {"gamma": (dim,), "beta": (dim,), "w1": (hidden, dim), "b1": (hidden,),
                  "w2": (dim, hidden), "b2": (dim,)}
        for name, shape in shapes.items():
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != shape:
                raise ValueError(f"{name} has shape {arr.shape}; expected {shape}")
            object.__setattr__(self, name, arr)

    @property
    def dim(self) -> int:
        return int(self.gamma.shape[0])

    @property
    def hidden(self) -> int:
        return int(self.w1.shape[0])


@dataclass(frozen=True, eq=False)
class FloatViT:
    """Float parameters of a whole ViT (see the module docstring for the graph).

    ``embed_w``: ``(dim, channels * patch * patch)``; ``cls``: ``(dim,)``; ``pos``:
    ``(tokens, dim)`` with ``tokens = (image // patch)^2 + 1``; ``attn``/``mlp``: one
    :class:`FloatBlock` / :class:`FloatMlp` per encoder block; ``head_w``: ``(classes, dim)``.
    """

    patch: int
    channels: int
    image: int
    embed_w: np.ndarray
    embed_b: np.ndarray
    cls: np.ndarray
    pos: np.ndarray
    attn: tuple[FloatBlock, ...]
    mlp: tuple[FloatMlp, ...]
    norm_gamma: np.ndarray
    norm_beta: np.ndarray
    head_w: np.ndarray
    head_b: np.ndarray
    eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.image % self.patch:
            raise ValueError(f"image={self.image} is not a multiple of patch={self.patch}")
        dim = np.asarray(self.embed_b).shape[0]
        shapes = {"embed_w": (dim, self.channels * self.patch ** 2), "embed_b": (dim,),
                  "cls": (dim,), "pos": (self.tokens, dim), "norm_gamma": (dim,),
                  "norm_beta": (dim,)}
        for name, shape in shapes.items():
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != shape:
                raise ValueError(f"{name} has shape {arr.shape}; expected {shape}")
            object.__setattr__(self, name, arr)
        hw = np.asarray(self.head_w, dtype=np.float64)
        if hw.ndim != 2 or hw.shape[1] != dim:
            raise ValueError(f"head_w has shape {hw.shape}; expected (classes, {dim})")
        hb = np.asarray(self.head_b, dtype=np.float64)
        if hb.shape != (hw.shape[0],):
            raise ValueError(f"head_b has shape {hb.shape}; expected ({hw.shape[0]},)")
        object.__setattr__(self, "head_w", hw)
        object.__setattr__(self, "head_b", hb)
        object.__setattr__(self, "attn", tuple(self.attn))
        object.__setattr__(self, "mlp", tuple(self.mlp))
        if len(self.attn) != len(self.mlp) or not self.attn:
            raise ValueError(f"{len(self.attn)} attention and {len(self.mlp)} MLP blocks; "
                             f"need the same number, at least one")
        for i, (a, m) in enumerate(zip(self.attn, self.mlp)):
            if a.dim != dim or m.dim != dim:
                raise ValueError(f"block {i} has dim {a.dim}/{m.dim}; the model has {dim}")

    @property
    def dim(self) -> int:
        return int(self.embed_b.shape[0])

    @property
    def tokens(self) -> int:
        return (self.image // self.patch) ** 2 + 1

    @property
    def depth(self) -> int:
        return len(self.attn)

    @property
    def heads(self) -> int:
        return self.attn[0].heads

    @property
    def classes(self) -> int:
        return int(self.head_w.shape[0])


def patchify(images: Any, patch: int) -> np.ndarray:
    """``(B, C, H, W)`` -> ``(B, (H/p)(W/p), C*p*p)`` in row-major patch order (same dtype).

    A pure reshape, used by the float and the integer model alike.
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[2] % patch or x.shape[3] % patch:
        raise ValueError(f"images must be (B, C, H, W) with H, W multiples of patch={patch}, "
                         f"got shape {x.shape}")
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // patch, patch, W // patch, patch).transpose(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // patch) * (W // patch), C * patch * patch)


def float_mlp_trace(x: Any, mlp: FloatMlp) -> dict[str, np.ndarray]:
    """Float MLP block with intermediates: ``h`` (LN), ``f`` (fc1 out, GELU input), ``g``
    (GELU out), ``y`` (fc2 out, the branch) and ``out = x + y``."""
    x = np.asarray(x, dtype=np.float64)
    h = float_layernorm(x, mlp.gamma, mlp.beta, mlp.eps)
    f = h @ mlp.w1.T + mlp.b1
    g = float_gelu(f)
    y = g @ mlp.w2.T + mlp.b2
    return {"x": x, "h": h, "f": f, "g": g, "y": y, "out": x + y}


def float_vit_trace(images: Any, vit: FloatViT) -> dict[str, np.ndarray]:
    """Float forward pass with every intermediate, keyed by stage name.

    ``patches`` (B, N, C*p*p), ``embed`` (token sequence after position embedding), for block
    ``i`` the :func:`ivita.model.float_block_trace` keys as ``b{i}.attn.<key>`` and the
    :func:`float_mlp_trace` keys as ``b{i}.mlp.<key>``, then ``norm`` (final LayerNorm of the
    class token, (B, dim)) and ``logits`` (B, classes).
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4 or x.shape[1:] != (vit.channels, vit.image, vit.image):
        raise ValueError(f"images must be (B, {vit.channels}, {vit.image}, {vit.image}), got "
                         f"shape {x.shape}")
    pt = patchify(x, vit.patch)
    t = pt @ vit.embed_w.T + vit.embed_b
    cls = np.broadcast_to(vit.cls, (x.shape[0], 1, vit.dim))
    t = np.concatenate([cls, t], axis=1) + vit.pos
    tr: dict[str, np.ndarray] = {"patches": pt, "embed": t}
    for i, (a, m) in enumerate(zip(vit.attn, vit.mlp)):
        at = float_block_trace(t, a)
        tr.update({f"b{i}.attn.{k}": v for k, v in at.items()})
        mt = float_mlp_trace(at["out"], m)
        tr.update({f"b{i}.mlp.{k}": v for k, v in mt.items()})
        t = mt["out"]
    n = float_layernorm(t[:, 0], vit.norm_gamma, vit.norm_beta, vit.eps)
    tr["norm"] = n
    tr["logits"] = n @ vit.head_w.T + vit.head_b
    return tr


def float_vit_logits(images: Any, vit: FloatViT) -> np.ndarray:
    """Float logits ``(B, classes)`` of :func:`float_vit_trace`."""
    return float_vit_trace(images, vit)["logits"]
