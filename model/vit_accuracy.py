"""Top-1 accuracy of the integer-only ViT against its float model (verification level 1).

:func:`vit_accuracy` calibrates a float ViT on the calibration split only
(:func:`ivita.model.quantize_vit`), runs the integer model (:func:`ivita.model.int_vit_logits`)
on the quantized test images and counts correct top-1 predictions; the float model runs on the
same test images. Floats are used only offline and to measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .digits import DigitsSplit
from .int_vit import ViTQuantConfig, int_vit_logits, quantize_images
from .ptq import quantize_vit
from .vit import FloatViT, float_vit_logits

__all__ = ["ViTAccuracy", "float_top1", "vit_accuracy"]


def float_top1(vit: FloatViT, images: Any, labels: Any) -> int:
    """Number of correct top-1 predictions of the float model."""
    return int(np.sum(np.argmax(float_vit_logits(images, vit), axis=-1) == np.asarray(labels)))


@dataclass(frozen=True)
class ViTAccuracy:
    """One integer configuration: ``correct`` of ``total`` test images (top-1), the float
    model's ``float_correct`` on the same images, and the calibration KL the PTQ reached."""

    bits: int
    method: str
    prob_mode: str
    correct: int
    float_correct: int
    total: int
    calib_kl: float

    @property
    def top1(self) -> float:
        return 100.0 * self.correct / self.total

    @property
    def float_top1(self) -> float:
        return 100.0 * self.float_correct / self.total

    def as_dict(self) -> dict[str, Any]:
        return {"bits": self.bits, "method": self.method, "prob_mode": self.prob_mode,
                "correct": self.correct, "float_correct": self.float_correct,
                "total": self.total, "top1": self.top1, "float_top1": self.float_top1,
                "calib_kl": self.calib_kl}


def vit_accuracy(vit: FloatViT, data: DigitsSplit, bits: int, method: str = "ptq",
                 prob_mode: str = "split", float_correct: int | None = None) -> ViTAccuracy:
    """Integer top-1 at ``a_bits = w_bits = prob_bits = bits`` (calibrated on
    ``data.calib_x``, measured on ``data.test_x``). Deterministic."""
    cfg = ViTQuantConfig(a_bits=bits, w_bits=bits, prob_mode=prob_mode)
    res = quantize_vit(vit, data.calib_x, cfg, method)
    logits = int_vit_logits(quantize_images(data.test_x, res.model), res.model)
    correct = int(np.sum(np.argmax(logits, axis=-1) == data.test_y))
    if float_correct is None:
        float_correct = float_top1(vit, data.test_x, data.test_y)
    return ViTAccuracy(bits=bits, method=method, prob_mode=prob_mode, correct=correct,
                       float_correct=float_correct, total=int(len(data.test_y)),
                       calib_kl=res.calib_kl)
