"""Attention probabilities of the integer tiny ViT at low widths, per ``prob_mode``.

    python benchmarks/vit_prob_stats.py [--bits 8,4,3,2] [--images 100]

For every width (``a_bits = w_bits = prob_bits``) and mode it calibrates the shipped tiny ViT
(min/max, calibration split), runs the integer model on the first test images and reports,
over every attention row of both blocks: the mean real row sum of ``P`` (1.0 is exact), the
fraction of probabilities coded as 0, the fraction of rows that are entirely 0, and the
relative L2 error of the dequantized ``P`` against the float softmax of the same integer
scores (which isolates the coding of ``P`` from everything upstream). Prints measured numbers;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from ivita.model import (
    PROB_MODES, ViTQuantConfig, int_vit_trace, load_digits_split, load_tiny_vit,
    quantize_images, quantize_vit,
)
from ivita.model.probs import prob_frac_bits


def _p_real(p: np.ndarray, mode: str, bits: int) -> np.ndarray:
    f = prob_frac_bits(mode, bits)
    if mode == "log2":
        return np.where(p > 0, np.exp2(-(p - 1).astype(np.float64)), 0.0)
    return p.astype(np.float64) / (1 << f)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", default="8,4,3,2")
    ap.add_argument("--images", type=int, default=100)
    args = ap.parse_args()
    data, vit = load_digits_split(), load_tiny_vit()
    x = data.test_x[:args.images]
    print(f"tiny ViT, {args.images} test images, min/max calibration; rows over "
          f"{vit.tokens} tokens, both blocks and heads")
    print(f"{'bits':>4} {'mode':>7} {'row sum':>8} {'P = 0':>7} {'rows = 0':>9} "
          f"{'rel L2 vs softmax':>18}")
    for bits in (int(b) for b in args.bits.split(",")):
        for mode in PROB_MODES:
            cfg = ViTQuantConfig(a_bits=bits, w_bits=bits, prob_mode=mode)
            iv = quantize_vit(vit, data.calib_x, cfg, "minmax").model
            tr = int_vit_trace(quantize_images(x, iv), iv)
            sums, zeros, zrows, num, den = [], [], [], 0.0, 0.0
            for i, ap_ in enumerate(iv.attn):
                p = _p_real(tr[f"b{i}.attn.p"], mode, bits)
                s_a = 1.0 / -ap_.x0                 # the snapped score scale, x0 = -1/S_A
                a = tr[f"b{i}.attn.a"] * s_a
                e = np.exp(a - a.max(-1, keepdims=True))
                ref = e / e.sum(-1, keepdims=True)
                sums.append(p.sum(-1).ravel())
                zeros.append((tr[f"b{i}.attn.p"] == 0).ravel())
                zrows.append((p.sum(-1) == 0).ravel())
                num += float(np.sum((p - ref) ** 2))
                den += float(np.sum(ref ** 2))
            print(f"{bits:>4} {mode:>7} {np.mean(np.concatenate(sums)):8.3f} "
                  f"{100 * np.mean(np.concatenate(zeros)):6.1f}% "
                  f"{100 * np.mean(np.concatenate(zrows)):8.1f}% {math.sqrt(num / den):18.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
