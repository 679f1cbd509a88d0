"""The shipped 8x8 digits split and tiny ViT (package data in ``model/data``).

``digits_split.npz``: scikit-learn's bundled copy of the UCI "Optical Recognition of Handwritten
Digits" test set (Alpaydin & Kaynak, 1998; UCI Machine Learning Repository, CC BY 4.0), 1797
images of 8x8 pixels with values 0..16, split once by ``scripts/train_tiny_vit.py`` with
``numpy.random.default_rng(0).permutation``: 1097 train, 100 calibration, 600 test images.
``tiny_vit_digits.npz``: the float weights trained by that script on the train split (timm key
naming, see :mod:`ivita.model.checkpoint`). Evaluation needs neither scikit-learn nor jax.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from .checkpoint import load_timm_vit
from .vit import FloatViT

__all__ = ["DATA_DIR", "DIGITS_SPLIT", "TINY_VIT", "DigitsSplit", "load_digits_split",
           "load_tiny_vit", "PIXEL_MAX"]

DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"
DIGITS_SPLIT = DATA_DIR / "digits_split.npz"
TINY_VIT = DATA_DIR / "tiny_vit_digits.npz"
PIXEL_MAX = 16   #: digits pixels are integers 0..16; the model sees pixel / 16


@dataclass(frozen=True, eq=False)
class DigitsSplit:
    """Images ``(N, 1, 8, 8)`` as float64 in [0, 1] (pixel / 16) and int64 labels 0..9."""

    train_x: np.ndarray
    train_y: np.ndarray
    calib_x: np.ndarray
    calib_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def load_digits_split(path: str | pathlib.Path | None = None) -> DigitsSplit:
    """The fixed train/calibration/test split (see the module docstring); ``path`` defaults to
    the shipped :data:`DIGITS_SPLIT`."""
    with np.load(DIGITS_SPLIT if path is None else path, allow_pickle=False) as z:
        kw = {}
        for part in ("train", "calib", "test"):
            kw[f"{part}_x"] = z[f"{part}_x"].astype(np.float64)[:, None] / PIXEL_MAX
            kw[f"{part}_y"] = z[f"{part}_y"].astype(np.int64)
    return DigitsSplit(**kw)


def load_tiny_vit() -> FloatViT:
    """The shipped float tiny ViT (17 tokens, dim 32, 2 heads, 2 blocks, MLP 64)."""
    return load_timm_vit(TINY_VIT)
