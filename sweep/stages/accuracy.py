"""Stage ``accuracy``: the integer model's accuracy at the point's widths.

Two measures, both from the numpy reference model (:mod:`ivita.model`):

- ``vit`` (``accuracy`` option ``vit``, ``ivita sweep --accuracy vit``): top-1 of the shipped
  tiny ViT on the digits test split, integer-only at ``a_bits``/``w_bits`` (probabilities at ``a_bits``, the adopted
  ``split`` mode), calibrated on the calibration split -- as ``ivita accuracy`` computes it
  (:func:`ivita.model.vit_accuracy`), about 30 s per point here;
- always: the attention block's integer-vs-float error (``ivita accuracy --block``,
  :func:`ivita.model.block_accuracy`, tokens 16, dim 64, heads 4, seed 0): relative L2 and
  cosine of the block output, well under a second.

With the ``accuracy`` option ``block`` (the default of ``ivita sweep``: it keeps the cold
default sweep within 10 minutes) only the block error is computed; the point's headline
``value`` is then ``1 - rel. L2``. The dequant-first
baseline is skipped: it computes in 16-bit fixed point, which the integer model does not model.
"""

from __future__ import annotations

from typing import Any

from . import Context, Skipped

NAME, VERSION = "accuracy", 1
PROB_MODE = "split"


def implementation() -> str:
    return "ivita.model vit_accuracy + block_accuracy"


def vit_top1(a_bits: int, w_bits: int) -> dict[str, Any]:
    """Integer and float top-1 (%) of the tiny ViT at ``a_bits``/``w_bits``."""
    import numpy as np

    from ivita.model import load_digits_split, load_tiny_vit
    from ivita.model.int_vit import ViTQuantConfig, int_vit_logits, quantize_images
    from ivita.model.ptq import quantize_vit
    from ivita.model.vit_accuracy import float_top1

    vit, data = load_tiny_vit(), load_digits_split()
    cfg = ViTQuantConfig(a_bits=a_bits, w_bits=w_bits, prob_mode=PROB_MODE)
    res = quantize_vit(vit, data.calib_x, cfg, "ptq")
    logits = int_vit_logits(quantize_images(data.test_x, res.model), res.model)
    correct = int(np.sum(np.argmax(logits, axis=-1) == data.test_y))
    total = int(len(data.test_y))
    fc = float_top1(vit, data.test_x, data.test_y)
    return {"top1": 100.0 * correct / total, "float_top1": 100.0 * fc / total,
            "correct": correct, "total": total, "method": "ptq", "prob_mode": PROB_MODE}


def run(ctx: Context) -> dict[str, Any]:
    from ivita.model import AttentionConfig, block_accuracy

    p = ctx.point
    if p.baseline:
        raise Skipped("the dequant-first baseline computes in 16-bit fixed point; the "
                      "integer model does not give its accuracy")
    kind = ctx.option("accuracy", "block")
    blk = block_accuracy(AttentionConfig(tokens=16, dim=64, heads=4, a_bits=p.a_bits,
                                         w_bits=p.w_bits), seed=0)
    out: dict[str, Any] = {"block_rel_l2": blk.output.rel_l2, "block_cosine": blk.output.cosine,
                           "block_source": "ivita.model.block_accuracy tokens=16 dim=64 "
                                           "heads=4 seed=0 (ivita accuracy --block)"}
    if kind == "vit":
        vit = vit_top1(p.a_bits, p.w_bits)
        out.update(kind="vit top-1 %", value=vit["top1"], vit=vit,
                   source="tiny ViT, digits test split (ivita accuracy)")
    else:
        out.update(kind="block 1 - rel L2", value=1.0 - blk.output.rel_l2,
                   source=out["block_source"])
    return out
