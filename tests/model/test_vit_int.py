"""The integer-only ViT (model/int_vit.py, model/mlp.py, model/ptq.py) on the shipped tiny ViT.

Fast tests use the min/max calibration (well under a second to build) and a reduced PTQ
search; the full PTQ sweep is marked slow.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np
import pytest

from ivita.model import (
    FloatViT, IntViT, MlpParams, ViTQuantConfig, attention_block, dequantize, encoder_block,
    float_mlp_trace, float_vit_logits, int_vit_logits, int_vit_trace, load_digits_split,
    load_tiny_vit, mlp_block, mlp_block_trace, quantize, quantize_images, quantize_vit,
    reparam_vit,
)
from ivita.model.ptq import activation_stats

FLOAT_TEST_CORRECT = 584    # of 600: the float accuracy docs/accuracy.md and model/data state


@pytest.fixture(scope="module")
def vit() -> FloatViT:
    return load_tiny_vit()


@pytest.fixture(scope="module")
def data() -> Any:
    return load_digits_split()


def _top1(ivit: IntViT, x: np.ndarray, y: np.ndarray) -> int:
    return int(np.sum(np.argmax(int_vit_logits(quantize_images(x, ivit), ivit), -1) == y))


def test_shipped_split_and_float_accuracy(vit: FloatViT, data: Any) -> None:
    assert (len(data.train_y), len(data.calib_y), len(data.test_y)) == (1097, 100, 600)
    assert data.test_x.shape == (600, 1, 8, 8) and float(data.test_x.max()) == 1.0
    assert set(np.unique(data.test_y)) == set(range(10))
    assert (vit.tokens, vit.dim, vit.heads, vit.depth, vit.mlp[0].hidden) == (17, 32, 2, 2, 64)
    pred = np.argmax(float_vit_logits(data.test_x, vit), -1)
    assert int(np.sum(pred == data.test_y)) == FLOAT_TEST_CORRECT


def _all_arrays(obj: Any, path: str = "ivit") -> list[tuple[str, Any]]:
    out = []
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            if f.name in ("act", "in_scale", "logit_scale", "config", "scales"):
                continue    # offline metadata, never read by the integer path
            out += _all_arrays(getattr(obj, f.name), f"{path}.{f.name}")
    elif isinstance(obj, tuple):
        for i, o in enumerate(obj):
            out += _all_arrays(o, f"{path}[{i}]")
    else:
        out.append((path, obj))
    return out


@pytest.mark.parametrize("mode", ["direct", "split", "log2"])
def test_integer_only_from_input_codes_to_logits(vit: FloatViT, data: Any, mode: str) -> None:
    """No float between the quantized input and the logits: every parameter the integer path
    reads and every intermediate of every stage is an integer, and a float input is refused."""
    res = quantize_vit(vit, data.calib_x[:20], ViTQuantConfig(a_bits=4, w_bits=4,
                                                               prob_mode=mode), "minmax")
    ivit = res.model
    for name, v in _all_arrays(ivit):
        assert isinstance(v, (int, np.ndarray)) and not isinstance(v, bool), name
        if isinstance(v, np.ndarray):
            assert v.dtype == np.int64, name
    x = quantize_images(data.test_x[:8], ivit)
    tr = int_vit_trace(x, ivit)
    assert len(tr) == 3 + vit.depth * (11 + 8) + 3
    for k, v in tr.items():
        assert isinstance(v, np.ndarray) and v.dtype == np.int64, k
    with pytest.raises(TypeError, match="must be an integer or an integer array"):
        int_vit_trace(x.astype(np.float64), ivit)
    lo, hi = -8, 7
    assert int(tr["hh"].min()) >= lo and int(tr["hh"].max()) <= hi
    for i in range(vit.depth):
        for k in ("attn.h", "attn.q", "attn.k", "attn.v", "attn.o", "mlp.h", "mlp.u"):
            v = tr[f"b{i}.{k}"]
            assert int(v.min()) >= lo and int(v.max()) <= hi, k


def test_int8_within_0_3_points_of_float(vit: FloatViT, data: Any) -> None:
    res = quantize_vit(vit, data.calib_x, ViTQuantConfig(a_bits=8, w_bits=8), "minmax")
    correct = _top1(res.model, data.test_x, data.test_y)
    assert 100.0 * (FLOAT_TEST_CORRECT - correct) / 600 <= 0.3


def test_encoder_block_is_attention_then_mlp(vit: FloatViT, data: Any) -> None:
    ivit = quantize_vit(vit, data.calib_x[:20], ViTQuantConfig(), "minmax").model
    t = int_vit_trace(quantize_images(data.test_x[:4], ivit), ivit)["embed"]
    ap, mp = ivit.attn[0], ivit.mlp[0]
    assert np.array_equal(encoder_block(t, ap, mp), mlp_block(attention_block(t, ap), mp))


def test_mlp_block_tracks_the_float_mlp_at_8_bits(vit: FloatViT, data: Any) -> None:
    """Block-level: the dequantized integer MLP branch and GELU output vs the float block on
    the same (quantized) input, including the folded asymmetric zero point of u."""
    res = quantize_vit(vit, data.calib_x[:50], ViTQuantConfig(), "minmax")
    ivit, act = res.model, res.model.act
    st = activation_stats(vit, data.test_x[:20])
    x = st["b0.attn.out"]
    s_x = act["b0.attn.out"][0]
    xi = quantize(x, s_x, 16)
    tr = mlp_block_trace(xi, ivit.mlp[0])
    ref = float_mlp_trace(dequantize(xi, s_x), vit.mlp[0])
    y = dequantize(tr["y"], act["b0.mlp.y"][0])
    assert np.linalg.norm(y - ref["y"]) / np.linalg.norm(ref["y"]) < 0.05
    # u with a zero point: rebuild with an asymmetric u and compare its real values
    s_u, z_u = act["b0.mlp.u"]
    assert z_u == 0                                      # min/max is symmetric
    u = dequantize(tr["u"], s_u)
    assert np.max(np.abs(u - ref["g"])) < 0.1 * float(np.max(np.abs(ref["g"])))


def test_asymmetric_gelu_output_zero_point_is_folded(vit: FloatViT, data: Any) -> None:
    res = quantize_vit(vit, data.calib_x[:50], ViTQuantConfig(a_bits=4, w_bits=8), "minmax")
    act = dict(res.model.act)
    g = activation_stats(vit, data.calib_x[:50])["b0.mlp.u"]
    lo, hi = float(g.min()), float(g.max())
    s_u = (hi - lo) / 15
    z_u = -8 - int(np.rint(lo / s_u))
    act["b0.mlp.u"] = (s_u, z_u)
    from ivita.model import build_int_vit
    from ivita.model.ptq import minmax_weight_scale
    ws = minmax_weight_scale(8)
    ivit = build_int_vit(vit, res.model.config, act, lambda _n: ws)
    assert ivit.mlp[0].u_zero == z_u != 0 and ivit.mlp[0].u_off != 0
    t = int_vit_trace(quantize_images(data.test_x[:10], ivit), ivit)
    u_real = (t["b0.mlp.u"] - z_u) * s_u
    ref = activation_stats(vit, data.test_x[:10])["b0.mlp.u"]
    # 4-bit asymmetric codes of a range that is ~[-0.17, hi]: error near half a step
    assert float(np.mean(np.abs(u_real - ref))) < s_u
    assert int(t["b0.mlp.u"].min()) >= -8       # the zero point used the negative codes


def test_reparam_leaves_the_float_model_unchanged(vit: FloatViT, data: Any) -> None:
    st = activation_stats(vit, data.calib_x[:30])
    alphas = {"b0.attn.ln": 1.0, "b0.attn.vo": 0.5, "b1.mlp.ln": 1.0, "head.ln": 0.5}
    v2 = reparam_vit(vit, st, alphas)
    x = data.test_x[:30]
    np.testing.assert_allclose(float_vit_logits(x, v2), float_vit_logits(x, vit), rtol=1e-9,
                               atol=1e-9)
    st2 = activation_stats(v2, data.calib_x[:30])
    spread = np.ptp(np.log(np.abs(st["b0.attn.h"]).max(axis=(0, 1))))
    spread2 = np.ptp(np.log(np.abs(st2["b0.attn.h"]).max(axis=(0, 1))))
    assert spread2 < 1e-6 < spread                       # alpha = 1 equalizes every channel


def test_ptq_search_beats_minmax_on_the_calibration_loss(vit: FloatViT, data: Any) -> None:
    cfg = ViTQuantConfig(a_bits=4, w_bits=4, prob_mode="split")
    x = data.calib_x[:12]
    mm = quantize_vit(vit, x, cfg, "minmax")
    pq = quantize_vit(vit, x, cfg, "ptq", grid=(1.0, 0.6))
    assert pq.calib_kl < 0.8 * mm.calib_kl
    assert set(pq.choices) >= {"in", "b0.attn.h", "b1.mlp.u", "norm", "head.ln"}
    # the zero point is only ever used at a Linear input
    for name, (_, z) in pq.model.act.items():
        if z:
            assert name == "in" or name == "norm" or name.endswith((".h", ".u")), name
    with pytest.raises(ValueError, match=re.escape("method='best' is not one of minmax, ptq")):
        quantize_vit(vit, x, cfg, "best")


def test_mlp_params_validation(vit: FloatViT, data: Any) -> None:
    mp = quantize_vit(vit, data.calib_x[:10], ViTQuantConfig(), "minmax").model.mlp[0]
    kw = {f.name: getattr(mp, f.name) for f in dataclasses.fields(mp)}
    with pytest.raises(ValueError, match=re.escape("w1 has shape (64, 31); expected (64, 32)")):
        MlpParams(**{**kw, "w1": np.zeros((64, 31), np.int64)})
    with pytest.raises(ValueError, match=re.escape(
            "u_zero=9 is outside the a_bits=4 code range [-8, 7]")):
        MlpParams(**{**kw, "u_zero": 9, "config": dataclasses.replace(mp.config, a_bits=4)})
    with pytest.raises(ValueError, match="f_b=-1 does not fit an unsigned mult_bits=16"):
        MlpParams(**{**kw, "f_b": np.full(64, -1, np.int64)})
    for change, exc, msg in (
            ({"u_c": 64}, ValueError,
             "u_c=64 is out of range; shifts lie in 0..63"),
            ({"w2": np.full((32, 64), 128, np.int64)}, ValueError,
             "w2 has codes outside the w_bits=8 range [-128, 127]"),
            ({"x0": 1.5}, TypeError, "x0 must be an int, not float (1.5)")):
        with pytest.raises(exc, match=re.escape(msg)):
            MlpParams(**{**kw, **change})
    assert not MlpParams(**kw).w1.flags.writeable        # frozen copies


def test_encoder_halves_must_chain(vit: FloatViT, data: Any) -> None:
    from ivita.model.mlp import check_encoder_params
    q = quantize_vit(vit, data.calib_x[:10], ViTQuantConfig(), "minmax").model
    attn, mlp = q.attn[0], q.mlp[0]
    check_encoder_params(attn, mlp)
    with pytest.raises(TypeError, match="attn must be AttentionParams, not MlpParams"):
        check_encoder_params(mlp, mlp)
    with pytest.raises(TypeError, match="mlp must be MlpParams, not AttentionParams"):
        check_encoder_params(attn, attn)
    narrow = dataclasses.replace(mlp, config=dataclasses.replace(mlp.config, resid_bits=12))
    with pytest.raises(ValueError, match=re.escape(
            "attention block (dim=32, resid_bits=16) and MLP block (dim=32, resid_bits=12) "
            "do not chain")):
        check_encoder_params(attn, narrow)


@pytest.mark.slow
def test_ptq_at_4_bits_with_split_probabilities(vit: FloatViT, data: Any) -> None:
    """The number docs/accuracy.md reports for INT4 (PTQ, split): within 2 points of float
    (>= 572 of 600, the issue's target), which needs the sequential weight rounding."""
    res = quantize_vit(vit, data.calib_x, ViTQuantConfig(a_bits=4, w_bits=4,
                                                         prob_mode="split"), "ptq")
    mm = quantize_vit(vit, data.calib_x, ViTQuantConfig(a_bits=4, w_bits=4), "minmax")
    assert res.choices["sequential_rounding"] == "yes"
    assert _top1(res.model, data.test_x, data.test_y) >= FLOAT_TEST_CORRECT - 12
    assert _top1(res.model, data.test_x, data.test_y) > _top1(mm.model, data.test_x,
                                                               data.test_y) + 60


def test_tail_from_a_block_input_equals_the_whole_model(vit: FloatViT, data: Any) -> None:
    from ivita.model.int_vit import int_vit_tail
    ivit = quantize_vit(vit, data.calib_x[:20], ViTQuantConfig(a_bits=5, w_bits=5),
                        "minmax").model
    tr = int_vit_trace(quantize_images(data.test_x[:6], ivit), ivit)
    assert np.array_equal(int_vit_tail(tr["embed"], ivit, 0), tr["logits"])
    assert np.array_equal(int_vit_tail(tr["b0.mlp.out"], ivit, 1), tr["logits"])
    assert np.array_equal(int_vit_tail(tr["b1.mlp.out"], ivit, 2), tr["logits"])


def test_config_and_builder_errors(vit: FloatViT, data: Any) -> None:
    with pytest.raises(ValueError, match=re.escape("a_bits=1 is out of range; it must be in "
                                                   "2..16")):
        ViTQuantConfig(a_bits=1)
    with pytest.raises(ValueError, match="prob_mode='float' is not one of direct, split, log2"):
        ViTQuantConfig(prob_mode="float")
    assert ViTQuantConfig(a_bits=5).prob_bits == 5
    big = dataclasses.replace(vit, pos=vit.pos * 1e7)
    with pytest.raises(ValueError, match="overflows (the )?32-bit signed range"):
        quantize_vit(big, data.calib_x[:5], ViTQuantConfig(), "minmax")
