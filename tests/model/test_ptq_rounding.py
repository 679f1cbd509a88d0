"""Sequential up/down weight rounding (model/rounding.py) on the shipped tiny ViT."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from ivita.model import (ViTQuantConfig, int_vit_logits, int_vit_trace, load_digits_split,
                         load_tiny_vit, quantize, quantize_images, quantize_vit)
from ivita.model.int_vit import build_int_vit
from ivita.model.ptq import _weight_inputs, activation_stats, hessian_weight_scale, \
    mse_scales, linear_inputs
from ivita.model.rounding import OutputError, linear_order, output_error, refine_codes, \
    sequential_rounding


@pytest.fixture(scope="module")
def setup() -> Any:
    vit, data = load_tiny_vit(), load_digits_split()
    x = data.calib_x[:30]
    cfg = ViTQuantConfig(a_bits=4, w_bits=4, prob_mode="split")
    stats = activation_stats(vit, x)
    fi = _weight_inputs(vit, stats)
    ws = {k: hessian_weight_scale(4, np.mean(v ** 2, axis=0)) for k, v in fi.items()}
    act = mse_scales(stats, cfg, linear_inputs(vit.depth))
    return vit, data, x, cfg, act, ws.__getitem__, fi


def test_refine_lowers_the_output_error_and_rounds_only_down_or_up() -> None:
    rng = np.random.default_rng(3)
    xf = rng.normal(size=(400, 24)) * rng.uniform(0.2, 3, 24)
    xq = np.rint(xf * 2) / 2                       # a quantized input, as the model sees it
    w = rng.normal(size=(10, 24))
    s = np.max(np.abs(w), axis=1) / 7
    q0 = quantize(w, s, 4, axis=0)
    q = refine_codes(OutputError(xq, xf), w, s, q0, 4)
    e0, e1 = (OutputError(xq, xf).error(w, s, c) for c in (q0, q))
    assert np.all(e1 <= e0 + 1e-12) and float(e1.sum()) < 0.97 * float(e0.sum())
    assert output_error(xq, xf, w, s, q) == pytest.approx(float(e1.sum()))
    v = w / s[:, None]
    assert np.all((q == np.floor(v)) | (q == np.ceil(v)) | (q == q0))
    assert q.min() >= -8 and q.max() <= 7 and q.dtype == np.int64
    # the error is E||S q x_q - W x_f||^2, measured directly
    direct = np.mean(np.sum(((q * s[:, None]) @ xq.T - w @ xf.T) ** 2, axis=0))
    assert float(e1.sum()) == pytest.approx(direct, rel=1e-9)


def test_refine_rejects_bad_codes() -> None:
    f = OutputError(np.ones((4, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=re.escape("codes lie in 0..9, outside the bits=4 "
                                                   "range [-8, 7]")):
        refine_codes(f, np.ones((2, 3)), np.ones(2), np.array([[0, 9, 0], [0, 0, 0]]), 4)
    with pytest.raises(ValueError, match=re.escape("x_q (4, 3) and x_f (4, 2) must be")):
        OutputError(np.ones((4, 3)), np.ones((4, 2)))


def test_sequential_rounding_lowers_every_layers_error_on_its_integer_input(setup: Any
                                                                             ) -> None:
    vit, data, x, cfg, act, ws, fi = setup
    g = sequential_rounding(vit, cfg, act, ws, x, fi)
    names = [n for grp in linear_order(vit.depth) for n in grp]
    assert len(names) == 14
    lower = 0
    for n in names:
        lr = g(n)
        assert lr.seen is not None and lr.refined is not None
        w, s, q0 = lr.seen
        assert lr.refined.min() >= -8 and lr.refined.max() <= 7
        assert not np.array_equal(lr.refined, q0) or n == "embed"
        lower += int(not np.array_equal(lr.refined, q0))
    assert lower >= 13
    iv = build_int_vit(vit, cfg, act, g)
    assert np.array_equal(iv.mlp[1].w2, g("b1.mlp.fc2").refined)
    # fc2 of block 0: the refined codes have a lower error than nearest rounding on the
    # integer input the refined model computes
    tr = int_vit_trace(quantize_images(x, iv), iv)
    s_u, z_u = act["b0.mlp.u"]
    xq = ((tr["b0.mlp.u"] - z_u) * s_u).reshape(-1, 64)
    w, s, q0 = g("b0.mlp.fc2").seen
    assert output_error(xq, fi["b0.mlp.fc2"], w, s, g("b0.mlp.fc2").refined) < \
        0.95 * output_error(xq, fi["b0.mlp.fc2"], w, s, q0)
    # zero points stay in range and the result is still a valid integer model
    for name, (_, z) in iv.act.items():
        assert -8 <= z <= 7, name
    logits = int_vit_logits(quantize_images(data.test_x[:5], iv), iv)
    assert logits.dtype == np.int64


def test_quantize_vit_rounding_option(setup: Any) -> None:
    vit, data, *_ = setup
    cfg = ViTQuantConfig(a_bits=4, w_bits=4, prob_mode="split")
    x = data.calib_x[:12]
    seq = quantize_vit(vit, x, cfg, "ptq", grid=(1.0, 0.6), rounding="sequential")
    base = quantize_vit(vit, x, cfg, "ptq", grid=(1.0, 0.6), rounding="base")
    assert seq.choices["sequential_rounding"] == "yes"
    auto = quantize_vit(vit, x, cfg, "ptq", grid=(1.0, 0.6))      # 4 bits: refined
    assert auto.choices["sequential_rounding"] == "yes"
    assert np.array_equal(auto.model.mlp[0].w2, seq.model.mlp[0].w2)
    assert "sequential_rounding" not in quantize_vit(
        vit, x, ViTQuantConfig(a_bits=5, w_bits=5), "ptq", grid=(1.0,)).choices
    assert "sequential_rounding" not in base.choices
    assert not np.array_equal(seq.model.mlp[0].w2, base.model.mlp[0].w2)
    with pytest.raises(ValueError, match=re.escape(
            "rounding='up' is not one of auto, sequential, base")):
        quantize_vit(vit, x, cfg, "ptq", rounding="up")
