"""Load timm ViT/DeiT state dicts into :class:`ivita.model.FloatViT` (numpy only, offline).

Reads ``.npz`` (``numpy.savez``) and ``.safetensors`` files (the format is parsed here with
numpy: an 8-byte little-endian header length, a JSON header, raw little-endian tensors; no
``safetensors`` package is needed). Keys follow timm's ``VisionTransformer`` naming::

    patch_embed.proj.weight (dim, C, p, p)   patch_embed.proj.bias (dim,)
    cls_token (1, 1, dim)                    pos_embed (1, tokens, dim)
    blocks.{i}.norm1.weight/bias             blocks.{i}.attn.qkv.weight (3 dim, dim) + bias
    blocks.{i}.attn.proj.weight/bias         blocks.{i}.norm2.weight/bias
    blocks.{i}.mlp.fc1.weight/bias           blocks.{i}.mlp.fc2.weight/bias
    norm.weight/bias                         head.weight/bias

The fused ``qkv`` weight is split in rows ``[q; k; v]``. The number of heads is not in a timm
state dict: pass ``heads=``, or store it as the scalar ``ivita.heads`` (the shipped tiny ViT
does). A leading ``module.`` or ``model.`` prefix is stripped. Distilled DeiT checkpoints
(``dist_token``) and models without a class token are rejected with a clear error. A missing
or misshapen key is a ``KeyError``/``ValueError`` naming the key and the expected shape.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import struct
from typing import Any

import numpy as np

from .attention import FloatBlock
from .vit import FloatMlp, FloatViT

__all__ = ["read_state_dict", "read_safetensors", "write_safetensors", "vit_from_state_dict",
           "load_timm_vit", "DEFAULT_EPS"]

DEFAULT_EPS = 1e-6   #: timm's ViT LayerNorm epsilon

_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8}


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file as a numpy array (BF16 is not supported)."""
    data = pathlib.Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} exceeds the file size {len(data)}")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out: dict[str, np.ndarray] = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        dt = info.get("dtype")
        if dt not in _ST_DTYPES:
            raise ValueError(f"{path}: tensor {key!r} has dtype {dt}; supported: "
                             f"{', '.join(_ST_DTYPES)}")
        start, end = info["data_offsets"]
        arr = np.frombuffer(data[base + start:base + end], dtype=np.dtype(_ST_DTYPES[dt])
                            .newbyteorder("<"))
        out[key] = arr.reshape(info["shape"]).copy()
    return out


def write_safetensors(path: str | os.PathLike[str], tensors: dict[str, Any]) -> None:
    """Write numpy arrays as a ``.safetensors`` file (for tests and conversions)."""
    names = {np.dtype(v): k for k, v in _ST_DTYPES.items()}
    header: dict[str, Any] = {}
    blobs = []
    off = 0
    for key in sorted(tensors):
        arr = np.ascontiguousarray(tensors[key])
        if arr.dtype not in names:
            raise ValueError(f"tensor {key!r} has dtype {arr.dtype}; supported: "
                             f"{', '.join(str(d) for d in names)}")
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": names[arr.dtype], "shape": list(arr.shape),
                       "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode("utf-8")
    h += b" " * (-len(h) % 8)
    pathlib.Path(path).write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """A state dict from ``.npz`` or ``.safetensors`` (chosen by the file suffix)."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint {str(p)!r} does not exist")
    if p.suffix == ".safetensors":
        return read_safetensors(p)
    if p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    raise ValueError(f"checkpoint {str(p)!r}: unknown suffix {p.suffix!r}; use .npz or "
                     f".safetensors")


class _Keys:
    def __init__(self, sd: dict[str, np.ndarray]) -> None:
        self.sd = {re.sub(r"^(module|model)\.", "", k): v for k, v in sd.items()}

    def get(self, key: str, shape: tuple[int | None, ...]) -> np.ndarray:
        if key not in self.sd:
            raise KeyError(f"checkpoint has no key {key!r} (expected shape "
                           f"{_fmt(shape)})")
        arr = np.asarray(self.sd[key])
        if arr.ndim != len(shape) or any(s is not None and a != s
                                         for a, s in zip(arr.shape, shape)):
            raise ValueError(f"checkpoint key {key!r} has shape {tuple(arr.shape)}; expected "
                             f"{_fmt(shape)}")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"checkpoint key {key!r} has dtype {arr.dtype}; expected a real "
                             f"array")
        return arr.astype(np.float64)


def _fmt(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def vit_from_state_dict(sd: dict[str, Any], heads: int | None = None,
                        eps: float = DEFAULT_EPS) -> FloatViT:
    """Build a :class:`FloatViT` from a timm-named state dict (see the module docstring).

    ``heads`` overrides ``ivita.heads``; one of them is required. Square images are assumed:
    ``image = patch * sqrt(tokens - 1)``.
    """
    k = _Keys(sd)
    if "dist_token" in k.sd:
        raise ValueError("distilled DeiT checkpoints (dist_token, head_dist) are not supported; "
                         "use the non-distilled model")
    if heads is None:
        if "ivita.heads" not in k.sd:
            raise KeyError("the number of heads is not stored in a timm state dict: pass "
                           "heads= (or store the scalar 'ivita.heads')")
        heads = int(np.asarray(k.sd["ivita.heads"]))
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise ValueError(f"heads={heads!r} must be a positive int")
    pw = k.get("patch_embed.proj.weight", (None, None, None, None))
    dim, ch, p, p2 = pw.shape
    if p != p2:
        raise ValueError(f"checkpoint key 'patch_embed.proj.weight' has shape {pw.shape}; "
                         f"only square patches are supported")
    pb = k.get("patch_embed.proj.bias", (dim,))
    cls = k.get("cls_token", (1, 1, dim))
    pos = k.get("pos_embed", (1, None, dim))
    tokens = pos.shape[1]
    side = int(round(np.sqrt(tokens - 1)))
    if side * side != tokens - 1:
        raise ValueError(f"checkpoint key 'pos_embed' has {tokens} tokens; expected a class "
                         f"token plus a square grid of patches")
    depth = 0
    while f"blocks.{depth}.norm1.weight" in k.sd:
        depth += 1
    if depth == 0:
        raise KeyError("checkpoint has no key 'blocks.0.norm1.weight' (expected shape "
                       f"({dim},)): no encoder blocks found")
    attn, mlp = [], []
    for i in range(depth):
        pre = f"blocks.{i}."
        qkv = k.get(pre + "attn.qkv.weight", (3 * dim, dim))
        qkv_b = k.get(pre + "attn.qkv.bias", (3 * dim,))
        if dim % heads:
            raise ValueError(f"dim={dim} is not a multiple of heads={heads}")
        attn.append(FloatBlock(
            gamma=k.get(pre + "norm1.weight", (dim,)), beta=k.get(pre + "norm1.bias", (dim,)),
            wq=qkv[:dim], bq=qkv_b[:dim], wk=qkv[dim:2 * dim], bk=qkv_b[dim:2 * dim],
            wv=qkv[2 * dim:], bv=qkv_b[2 * dim:],
            wo=k.get(pre + "attn.proj.weight", (dim, dim)),
            bo=k.get(pre + "attn.proj.bias", (dim,)), heads=heads, eps=eps))
        w1 = k.get(pre + "mlp.fc1.weight", (None, dim))
        hidden = w1.shape[0]
        mlp.append(FloatMlp(
            gamma=k.get(pre + "norm2.weight", (dim,)), beta=k.get(pre + "norm2.bias", (dim,)),
            w1=w1, b1=k.get(pre + "mlp.fc1.bias", (hidden,)),
            w2=k.get(pre + "mlp.fc2.weight", (dim, hidden)),
            b2=k.get(pre + "mlp.fc2.bias", (dim,)), eps=eps))
    hw = k.get("head.weight", (None, dim))
    return FloatViT(
        patch=p, channels=ch, image=side * p, embed_w=pw.reshape(dim, -1), embed_b=pb,
        cls=cls.reshape(dim), pos=pos.reshape(tokens, dim), attn=tuple(attn), mlp=tuple(mlp),
        norm_gamma=k.get("norm.weight", (dim,)), norm_beta=k.get("norm.bias", (dim,)),
        head_w=hw, head_b=k.get("head.bias", (hw.shape[0],)), eps=eps)


def load_timm_vit(path: str | os.PathLike[str], heads: int | None = None,
                  eps: float = DEFAULT_EPS) -> FloatViT:
    """:func:`read_state_dict` then :func:`vit_from_state_dict`."""
    return vit_from_state_dict(read_state_dict(path), heads=heads, eps=eps)
