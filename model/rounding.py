"""Sequential up/down weight rounding of the integer ViT's Linear layers (offline).

Round-to-nearest and GPTQ choose weight codes from the float input alone. Here every Linear,
in dataflow order, gets the codes that minimize its output error **on the inputs the integer
model actually computes** with the layers before it already quantized (sequential
calibration), against the float model's output:

    E || S_w q x_q - W x_f ||^2    over the calibration samples,

``x_q`` the dequantized integer input of the layer, ``x_f`` the float model's input, ``S_w``
the per-output-channel scales (kept), ``q`` the codes. :func:`refine_codes` minimizes it per
output channel by greedy coordinate descent, each code restricted to rounding **down or up**
(``floor`` or ``ceil`` of ``w / s``, AdaRound's choice, Nagel et al. 2020, without the
relaxation): columns in order, a code flips when that lowers the error, sweeps repeat until
nothing flips. In the last encoder block only the class token reaches the logits, so Q, Wo,
fc1 and fc2 are fitted on the class-token rows there (the loss-aware part: the other rows have
zero gradient). Deterministic; the error never increases; codes stay in the ``bits`` range.
Measured effect and what did not help: docs/accuracy.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .int_vit import IntViT, ViTQuantConfig, build_int_vit, int_vit_trace, quantize_images
from .quant import quantize
from .vit import FloatViT, patchify

__all__ = ["OutputError", "output_error", "refine_codes", "LayerRounding", "linear_order",
           "sequential_rounding"]


class OutputError:
    """One layer's output error as a quadratic form in its weights: ``A = E[x_q x_q^T]``,
    ``B = E[x_q x_f^T]``, ``F = E[x_f x_f^T]`` over the rows of ``x_q`` and ``x_f``
    ``(samples, in)``."""

    def __init__(self, x_q: np.ndarray, x_f: np.ndarray):
        xq = np.asarray(x_q, dtype=np.float64)
        xf = np.asarray(x_f, dtype=np.float64)
        if xq.ndim != 2 or xq.shape != xf.shape or len(xq) == 0:
            raise ValueError(f"x_q {xq.shape} and x_f {xf.shape} must be equal, non-empty "
                             f"(samples, in) arrays")
        n = len(xq)
        self.A, self.B, self.F = xq.T @ xq / n, xq.T @ xf / n, xf.T @ xf / n

    def error(self, w: np.ndarray, scales: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Per output channel ``E (s_j q_j . x_q - w_j . x_f)^2``."""
        r = np.asarray(codes, dtype=np.float64) * np.asarray(scales, dtype=np.float64)[:, None]
        w = np.asarray(w, dtype=np.float64)
        return (np.einsum("ji,ik,jk->j", r, self.A, r)
                - 2 * np.einsum("ji,ik,jk->j", r, self.B, w)
                + np.einsum("ji,ik,jk->j", w, self.F, w))


def output_error(x_q: np.ndarray, x_f: np.ndarray, w: np.ndarray, scales: np.ndarray,
                 codes: np.ndarray) -> float:
    """Summed mean squared output error ``E||S_w q x_q - W x_f||^2`` of one layer."""
    return float(np.sum(OutputError(x_q, x_f).error(w, scales, codes)))


def refine_codes(form: OutputError, w: np.ndarray, scales: np.ndarray, codes: np.ndarray,
                 bits: int, max_sweeps: int = 20) -> np.ndarray:
    """Codes (int64, the shape of ``codes``) after greedy up/down coordinate descent on
    ``form``'s error, starting from ``codes``; each code ends in ``floor(w/s)``..``ceil(w/s)``
    (widened to include its start) and inside ``[-2^(bits-1), 2^(bits-1) - 1]``."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    w = np.asarray(w, dtype=np.float64)
    s = np.asarray(scales, dtype=np.float64)
    q = np.array(codes, dtype=np.int64)
    if q.shape != w.shape or s.shape != (w.shape[0],):
        raise ValueError(f"codes {q.shape}, scales {s.shape} do not match w {w.shape}")
    if q.size and (q.min() < lo or q.max() > hi):
        raise ValueError(f"codes lie in {int(q.min())}..{int(q.max())}, outside the "
                         f"bits={bits} range [{lo}, {hi}]")
    v = w / s[:, None]
    lo_m = np.clip(np.minimum(np.floor(v), q), lo, hi).astype(np.int64)
    hi_m = np.clip(np.maximum(np.ceil(v), q), lo, hi).astype(np.int64)
    A = form.A
    G = (q * s[:, None]) @ A - w @ form.B.T          # half the gradient in r = s q, per row
    rows = np.arange(q.shape[0])
    for _ in range(max_sweeps):
        changed = False
        for i in range(q.shape[1]):
            quad = s ** 2 * A[i, i]
            if A[i, i] <= 0:
                continue
            best_d = np.zeros(q.shape[0], dtype=np.int64)
            best = np.zeros(q.shape[0])
            for d in (-1, 1):
                delta = 2 * d * s * G[:, i] + quad         # error change of q[:, i] += d
                ok = (q[:, i] + d >= lo_m[:, i]) & (q[:, i] + d <= hi_m[:, i]) & (
                    delta < best - 1e-12 * quad)
                best_d, best = np.where(ok, d, best_d), np.where(ok, delta, best)
            hit = rows[best_d != 0]
            if len(hit):
                changed = True
                q[hit, i] += best_d[hit]
                G[hit] += (best_d[hit] * s[hit])[:, None] * A[i][None, :]
        if not changed:
            break
    return q


class LayerRounding:
    """A weight quantizer for :func:`ivita.model.build_int_vit` wrapping ``base`` (the
    per-channel scale rule, optionally with GPTQ ``codes`` and the bias-correction
    ``x_mean``): it records the folded weight, scales and codes of its layer, and once
    ``refined`` is set returns those codes for that same weight and scales (another folded
    weight, e.g. a LayerNorm channel that became constant under another input scale, gets the
    base rule's codes)."""

    def __init__(self, base: Any, bits: int):
        self.base, self.bits = base, bits
        self.seen: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.refined: np.ndarray | None = None

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return self.base(w)

    @property
    def x_mean(self) -> np.ndarray | None:
        return getattr(self.base, "x_mean", None)

    def codes(self, w: np.ndarray, scales: np.ndarray) -> np.ndarray:
        if self.refined is not None and self.seen is not None and \
                np.array_equal(w, self.seen[0]) and np.array_equal(scales, self.seen[1]):
            return self.refined
        base_codes = getattr(self.base, "codes", None)
        q = (base_codes(w, scales) if base_codes is not None
             else quantize(w, scales, self.bits, axis=0))
        if self.refined is None:
            self.seen = (np.array(w), np.array(scales), q)
        return q


def linear_order(depth: int) -> list[list[str]]:
    """The Linear layers in dataflow order, grouped by shared input (Q, K, V together)."""
    out: list[list[str]] = [["embed"]]
    for i in range(depth):
        out += [[f"b{i}.attn.q", f"b{i}.attn.k", f"b{i}.attn.v"], [f"b{i}.attn.o"],
                [f"b{i}.mlp.fc1"], [f"b{i}.mlp.fc2"]]
    return out + [["head"]]


def _int_input(tr: dict[str, np.ndarray], ivit: IntViT, layer: str) -> np.ndarray:
    """The dequantized integer input of ``layer`` (sign-folded, like the float statistics)."""
    act = ivit.act
    if layer == "embed":
        s, z = act["in"]
        return (patchify(tr["x"], ivit.patch) - z) * s
    if layer == "head":
        s, z = act["norm"]
        return (tr["hh"] - z) * s
    blk, _, t = layer.split(".")
    key = {"q": "attn.h", "k": "attn.h", "v": "attn.h", "o": "attn.o", "fc1": "mlp.h",
           "fc2": "mlp.u"}[t]
    s, z = act[f"{blk}.{key}"]
    return (tr[f"{blk}.{key}"] - z) * s


def _rows(layer: str, depth: int, x: np.ndarray, batch: int) -> np.ndarray:
    """The rows of ``x`` ``(batch * tokens, in)`` that reach the logits: in the last block
    only the class token's rows of Q, Wo, fc1 and fc2."""
    if layer.startswith(f"b{depth - 1}.") and layer.rsplit(".", 1)[1] in ("q", "o", "fc1",
                                                                           "fc2"):
        return x.reshape(batch, -1, x.shape[-1])[:, 0]
    return x


def sequential_rounding(vit: FloatViT, config: ViTQuantConfig, act: dict[str, Any],
                        wscale: Callable[[str], Any], images: np.ndarray,
                        float_inputs: dict[str, np.ndarray]) -> Callable[[str], LayerRounding]:
    """The weight quantizer with every Linear's codes refined by :func:`refine_codes`, layer
    by layer in dataflow order on ``images`` (calibration only), each on the integer inputs
    computed with the layers before it already refined. ``act``, ``wscale``: the scales of
    :func:`ivita.model.build_int_vit`; ``float_inputs``: the float input ``(samples, in)`` of
    each layer (``ivita.model.ptq._weight_inputs``). About 1-2 s of CPU for the tiny ViT."""
    layers = {name: LayerRounding(wscale(name), config.w_bits)
              for group in linear_order(vit.depth) for name in group}
    get = layers.__getitem__
    for group in linear_order(vit.depth):
        ivit = build_int_vit(vit, config, act, get)
        tr = int_vit_trace(quantize_images(images, ivit), ivit)
        for name in group:
            lr = layers[name]
            assert lr.seen is not None
            w, s, q = lr.seen
            xq = _int_input(tr, ivit, name).reshape(-1, w.shape[1])
            xq, xf = (_rows(name, vit.depth, v, len(images)) for v in (xq, float_inputs[name]))
            lr.refined = refine_codes(OutputError(xq, xf), w, s, q, config.w_bits)
    return get
