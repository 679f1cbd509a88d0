"""The whole integer-only ViT: patch embedding, encoder blocks, final I-LayerNorm, head.

Integer dataflow (every value an int64 array; no float between the quantized input and the
logits)::

    x     : (B, C, H, W) input codes, a_bits wide, zero point in_zero (pixels are >= 0)
    P     = patchify(x, p)                                       (B, N, C p p)
    E     = requantize(linear_acc(P, we, e_bias), e_b, e_c, resid_bits)
            e_bias (N, dim): the bias, the input zero point and the position embedding of
            each patch token, folded into one per-token accumulator constant
    t     = concat(cls_int, E)                                    cls_int: class token plus
                                                                  its position, resid codes
    t     = encoder_block(t, attn[i], mlp[i])                     for each block
    n     = int_layernorm(t[:, 0])                                class token only
    hh    = requantize(n + n_beta, n_b, n_c, a_bits)             final norm, zero point folded
    logit = requantize(linear_acc(hh, wh, bh), l_b, l_c, logit_bits)   one common scale

The offline side that produces :class:`IntViT` from a float model and chosen scales is
:func:`build_int_vit`; the scale choices come from :mod:`ivita.model.ptq`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checks import as_int
from .attention import AttentionParams, FloatBlock, _snap_score_scale
from .config import AttentionConfig
from .quant import CODE_BITS
from .core import signed_range
from .layernorm import int_layernorm
from .mlp import MlpConfig, MlpParams, encoder_block_trace
from .probs import check_prob_mode, prob_frac_bits
from .quant import (
    BIAS_BITS, attention_score_multiplier, fold_layernorm, fold_layernorm_into_linear,
    fold_zero_point,
    gelu_x0, quantize, quantize_asymmetric, quantize_bias, requant_multiplier,
)
from .requant import linear_acc, requantize
from .vit import FloatMlp, FloatViT, patchify

__all__ = ["ViTQuantConfig", "IntViT", "build_int_vit", "quantize_images", "int_vit_trace",
           "int_vit_logits", "int_vit_tail", "ActScale"]

ActScale = tuple[float, int]   #: a per-tensor activation scale and zero point


@dataclass(frozen=True, kw_only=True)
class ViTQuantConfig:
    """Widths of the integer ViT. ``a_bits``: every array operand (input pixels, LayerNorm
    outputs, Q, K, V, O, GELU outputs, head input); ``w_bits``: weights; ``prob_bits``: the
    ``P`` operand of ``P @ V`` (default ``a_bits``) coded by ``prob_mode``
    (:mod:`ivita.model.probs`); ``attn_bits``/``gelu_bits``: the inputs of the Shiftmax and
    ShiftGELU units (not array operands, default 8); ``resid_bits``: the residual stream;
    ``logit_bits``: the output logits."""

    a_bits: int = 8
    w_bits: int = 8
    prob_bits: int | None = None
    prob_mode: str = "direct"
    attn_bits: int = 8
    gelu_bits: int = 8
    sig_bits: int = 8
    resid_bits: int = 16
    logit_bits: int = 16
    mult_bits: int = 16
    n: int = 15

    def __post_init__(self) -> None:
        if self.prob_bits is None:
            object.__setattr__(self, "prob_bits", self.a_bits)
        for name in ("a_bits", "w_bits", "prob_bits", "attn_bits", "gelu_bits", "resid_bits",
                     "logit_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not (
                    CODE_BITS[0] <= v <= CODE_BITS[1]):
                raise ValueError(f"{name}={v!r} is out of range; it must be in "
                                 f"{CODE_BITS[0]}..{CODE_BITS[1]}")
        check_prob_mode(self.prob_mode)

    def attention(self, vit: FloatViT) -> AttentionConfig:
        return AttentionConfig(
            tokens=vit.tokens, dim=vit.dim, heads=vit.heads, a_bits=self.a_bits,
            w_bits=self.w_bits, attn_bits=self.attn_bits, prob_bits=self.prob_bits,
            resid_bits=self.resid_bits, mult_bits=self.mult_bits, n=self.n,
            prob_mode=self.prob_mode)

    def mlp(self, m: FloatMlp) -> MlpConfig:
        return MlpConfig(dim=m.dim, hidden=m.hidden, a_bits=self.a_bits, w_bits=self.w_bits,
                         gelu_bits=self.gelu_bits, sig_bits=self.sig_bits,
                         resid_bits=self.resid_bits, mult_bits=self.mult_bits, n=self.n)


@dataclass(frozen=True, eq=False)
class IntViT:
    """Integer parameters of the whole model (everything :func:`int_vit_trace` reads), plus
    offline metadata: ``in_scale``/``in_zero`` (to quantize images), ``logit_scale`` and the
    chosen activation scales ``act`` (name -> (scale, zero point))."""

    config: ViTQuantConfig
    patch: int
    we: np.ndarray
    e_bias: np.ndarray
    e_b: np.ndarray
    e_c: np.ndarray
    cls_int: np.ndarray
    attn: tuple[AttentionParams, ...]
    mlp: tuple[MlpParams, ...]
    n_b: np.ndarray
    n_c: np.ndarray
    n_beta: np.ndarray
    wh: np.ndarray
    bh: np.ndarray
    l_b: np.ndarray
    l_c: np.ndarray
    in_scale: float
    in_zero: int
    logit_scale: float
    act: dict[str, ActScale] = field(default_factory=dict)


def quantize_images(images: Any, ivit: IntViT) -> np.ndarray:
    """Offline: real images ``(B, C, H, W)`` -> ``a_bits`` input codes (with ``in_zero``)."""
    return quantize_asymmetric(images, ivit.in_scale, ivit.in_zero, ivit.config.a_bits)


def int_vit_trace(x_codes: Any, ivit: IntViT) -> dict[str, np.ndarray]:
    """The integer model on input codes ``(B, C, H, W)``, with every intermediate (int64).

    Keys: ``x``, ``patches``, ``embed`` (tokens after the patch embedding and class token),
    ``b{i}.attn.<k>`` / ``b{i}.mlp.<k>`` (the block traces), ``n``, ``hh``, ``logits``.
    """
    cfg = ivit.config
    x, scalar = as_int(x_codes, "x_codes")
    if scalar or x.ndim != 4:
        raise ValueError(f"x_codes must be (B, C, H, W) input codes, got shape {x.shape}")
    lo, hi = signed_range(cfg.a_bits)
    if x.size and (int(x.min()) < lo or int(x.max()) > hi):
        raise ValueError(f"x_codes lie in {int(x.min())}..{int(x.max())}, outside the "
                         f"a_bits={cfg.a_bits} code range [{lo}, {hi}]")
    pt = patchify(x, ivit.patch)
    e = requantize(linear_acc(pt, ivit.we, ivit.e_bias), ivit.e_b, ivit.e_c, cfg.resid_bits)
    cls = np.broadcast_to(ivit.cls_int, (x.shape[0], 1, ivit.cls_int.shape[0]))
    t = np.concatenate([cls, e], axis=1)
    tr: dict[str, np.ndarray] = {"x": x, "patches": pt, "embed": t}
    for i, (ap, mp) in enumerate(zip(ivit.attn, ivit.mlp)):
        bt = encoder_block_trace(t, ap, mp)
        tr.update({f"b{i}.{k}": v for k, v in bt.items()})
        t = bt["mlp.out"]
    n = int_layernorm(t[:, 0])
    hh = requantize(n + ivit.n_beta, ivit.n_b, ivit.n_c, cfg.a_bits)
    logits = requantize(linear_acc(hh, ivit.wh, ivit.bh), ivit.l_b, ivit.l_c, cfg.logit_bits)
    tr.update({"n": n, "hh": hh, "logits": logits})
    return tr


def int_vit_tail(t: Any, ivit: IntViT, first_block: int) -> np.ndarray:
    """Logits from the residual stream ``t`` entering block ``first_block`` (blocks
    ``first_block..depth-1``, final norm and head; ``first_block = depth`` runs only the
    head). Equal to :func:`int_vit_logits` when ``t`` is that block's input; the PTQ search
    uses it to skip the unchanged blocks before the quantizer it tunes."""
    cfg = ivit.config
    t, _ = as_int(t, "t")
    for ap, mp in zip(ivit.attn[first_block:], ivit.mlp[first_block:]):
        t = encoder_block_trace(t, ap, mp)["mlp.out"]
    n = int_layernorm(t[:, 0])
    hh = requantize(n + ivit.n_beta, ivit.n_b, ivit.n_c, cfg.a_bits)
    return requantize(linear_acc(hh, ivit.wh, ivit.bh), ivit.l_b, ivit.l_c, cfg.logit_bits)


def int_vit_logits(x_codes: Any, ivit: IntViT) -> np.ndarray:
    """Integer logits ``(B, classes)``, ``logit_bits`` codes of scale ``ivit.logit_scale``."""
    return int_vit_trace(x_codes, ivit)["logits"]


# =========================================================================== offline builder

def _weights(w: np.ndarray, bits: int, wscale: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel codes of ``w`` with scales from ``wscale(w)`` (a callable). If
    ``wscale`` has a ``codes(w, scales)`` method (GPTQ rounding), it chooses the codes."""
    s = np.asarray(wscale(w), dtype=np.float64)
    codes = getattr(wscale, "codes", None)
    if codes is not None:
        return codes(w, s), s
    return quantize(w, s, bits, axis=0), s


def _linear(w: np.ndarray, b: np.ndarray, s_in: float, z_in: int, bits: int, wscale: Any
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes, folded integer bias and scales of one Linear. If ``wscale`` has an ``x_mean``
    (the mean float input), the bias is corrected for the mean weight-quantization error:
    ``b - (S_w W_q - W) @ E[x]`` (bias correction, offline)."""
    wc, s_w = _weights(w, bits, wscale)
    x_mean = getattr(wscale, "x_mean", None)
    if x_mean is not None:
        b = b - (wc * s_w[:, None] - w) @ x_mean
    bi = fold_zero_point(quantize_bias(b, s_in, s_w), wc, z_in)
    return wc, bi, s_w


def _attention(block: FloatBlock, acfg: AttentionConfig, s_x: float, act: dict[str, ActScale],
               pre: str, wscale: Any) -> tuple[AttentionParams, float]:
    mb = acfg.mult_bits
    s_h, z_h = act[pre + "h"]
    fold = fold_layernorm(block.gamma, block.beta, s_h, zero_point=z_h, mult_bits=mb)
    out: dict[str, Any] = {}
    scales = {}
    for t in ("q", "k", "v"):
        w, b = fold_layernorm_into_linear(getattr(block, "w" + t), getattr(block, "b" + t),
                                          block.beta, fold)
        wc, bi, s_w = _linear(w, b, s_h, z_h, acfg.w_bits, wscale(pre + t))
        s_t = act[pre + t][0]
        scales[t] = s_t
        out["w" + t], out["b" + t] = wc, bi
        out[t + "_b"], out[t + "_c"] = requant_multiplier(s_h * s_w, s_t, mb)
    s_a, x0 = _snap_score_scale(act[pre + "scores"][0])
    a_b, a_c = attention_score_multiplier(scales["q"], scales["k"], s_a, acfg.head_dim, mb)
    s_o = act[pre + "o"][0]
    o_b, o_c = requant_multiplier(
        math.ldexp(scales["v"], -prob_frac_bits(acfg.prob_mode, acfg.prob_bits)), s_o, mb)
    s_y = act[pre + "y"][0]
    wo, bo, s_wo = _linear(block.wo, block.bo, s_o, 0, acfg.w_bits, wscale(pre + "o"))
    y_b, y_c = requant_multiplier(s_o * s_wo, s_y, mb)
    s_out = act[pre + "out"][0]
    rx_b, rx_c = requant_multiplier(s_x, s_out, mb)
    ry_b, ry_c = requant_multiplier(s_y, s_out, mb)
    params = AttentionParams(
        config=acfg, ln_b=fold.b, ln_c=fold.c, ln_beta=fold.beta_int, h_zero=z_h,
        wo=wo, bo=bo, a_b=a_b, a_c=a_c, x0=x0, o_b=o_b, o_c=o_c, y_b=y_b, y_c=y_c,
        rx_b=rx_b, rx_c=rx_c, ry_b=ry_b, ry_c=ry_c, **out)
    return params, s_out


def _mlp(m: FloatMlp, mcfg: MlpConfig, s_x: float, act: dict[str, ActScale], pre: str,
         wscale: Any) -> tuple[MlpParams, float]:
    mb = mcfg.mult_bits
    s_h, z_h = act[pre + "h"]
    fold = fold_layernorm(m.gamma, m.beta, s_h, zero_point=z_h, mult_bits=mb)
    w1, b1 = fold_layernorm_into_linear(m.w1, m.b1, m.beta, fold)
    w1c, b1i, s_w1 = _linear(w1, b1, s_h, z_h, mcfg.w_bits, wscale(pre + "fc1"))
    s_f = act[pre + "f"][0]
    f_b, f_c = requant_multiplier(s_h * s_w1, s_f, mb)
    x0 = gelu_x0(s_f)
    s_g = math.ldexp(s_f, -(mcfg.sig_bits - 1))
    s_u, z_u = act[pre + "u"]
    u_b, u_c = requant_multiplier(s_g, s_u, mb)
    u_off = int(round(z_u * math.ldexp(1.0, u_c) / u_b))
    w2c, b2i, s_w2 = _linear(m.w2, m.b2, s_u, z_u, mcfg.w_bits, wscale(pre + "fc2"))
    s_y = act[pre + "y"][0]
    y_b, y_c = requant_multiplier(s_u * s_w2, s_y, mb)
    s_out = act[pre + "out"][0]
    rx_b, rx_c = requant_multiplier(s_x, s_out, mb)
    ry_b, ry_c = requant_multiplier(s_y, s_out, mb)
    params = MlpParams(
        config=mcfg, ln_b=fold.b, ln_c=fold.c, ln_beta=fold.beta_int, h_zero=z_h, w1=w1c,
        b1=b1i, f_b=f_b, f_c=f_c, x0=x0, u_b=u_b, u_c=u_c, u_off=u_off, u_zero=z_u, w2=w2c,
        b2=b2i, y_b=y_b, y_c=y_c, rx_b=rx_b, rx_c=rx_c, ry_b=ry_b, ry_c=ry_c)
    return params, s_out


def build_int_vit(vit: FloatViT, config: ViTQuantConfig, act: dict[str, ActScale],
                  wscale: Any) -> IntViT:
    """Offline: integer parameters from a float model and chosen scales.

    ``act`` maps every activation name (see :func:`ivita.model.ptq.activation_names`) to
    ``(scale, zero_point)``; a non-zero zero point is used only at Linear inputs (``in``,
    LayerNorm outputs ``b{i}.attn.h``/``b{i}.mlp.h``/``norm``, GELU outputs ``b{i}.mlp.u``).
    ``wscale(layer)`` returns a callable mapping an ``(out, in)`` float weight to its
    per-output-channel scales.
    """
    if not isinstance(vit, FloatViT):
        raise TypeError(f"vit must be a FloatViT, not {type(vit).__name__}")
    if not isinstance(config, ViTQuantConfig):
        raise TypeError(f"config must be a ViTQuantConfig, not {type(config).__name__}")
    mb, rb = config.mult_bits, config.resid_bits
    s_in, z_in = act["in"]
    s_t = act["embed"][0]
    we, bias, s_we = _linear(vit.embed_w, vit.embed_b, s_in, z_in, config.w_bits,
                             wscale("embed"))
    pos = quantize_bias(vit.pos[1:] - 0.0, s_in, np.broadcast_to(s_we, vit.pos[1:].shape))
    e_bias = bias[None, :] + pos
    lo, hi = signed_range(BIAS_BITS)
    if int(e_bias.min()) < lo or int(e_bias.max()) > hi:
        bad = int(e_bias.min()) if int(e_bias.min()) < lo else int(e_bias.max())
        raise ValueError(f"patch-embedding bias plus position embedding {bad} (in codes) "
                         f"overflows the {BIAS_BITS}-bit signed range [{lo}, {hi}]")
    e_b, e_c = requant_multiplier(s_in * s_we, s_t, mb)
    cls_int = quantize(vit.cls + vit.pos[0], s_t, rb)
    acfg = config.attention(vit)
    attn, mlp = [], []
    s_x = s_t
    for i, (a, m) in enumerate(zip(vit.attn, vit.mlp)):
        ap, s_x = _attention(a, acfg, s_x, act, f"b{i}.attn.", wscale)
        mp, s_x = _mlp(m, config.mlp(m), s_x, act, f"b{i}.mlp.", wscale)
        attn.append(ap)
        mlp.append(mp)
    s_n, z_n = act["norm"]
    fold = fold_layernorm(vit.norm_gamma, vit.norm_beta, s_n, zero_point=z_n, mult_bits=mb)
    wh, bh = fold_layernorm_into_linear(vit.head_w, vit.head_b, vit.norm_beta, fold)
    whc, bhi, s_wh = _linear(wh, bh, s_n, z_n, config.w_bits, wscale("head"))
    s_l = act["logits"][0]
    l_b, l_c = requant_multiplier(s_n * s_wh, s_l, mb)
    return IntViT(config=config, patch=vit.patch, we=we, e_bias=e_bias, e_b=e_b, e_c=e_c,
                  cls_int=cls_int, attn=tuple(attn), mlp=tuple(mlp), n_b=fold.b, n_c=fold.c,
                  n_beta=fold.beta_int, wh=whc, bh=bhi, l_b=l_b, l_c=l_c, in_scale=s_in,
                  in_zero=z_in, logit_scale=s_l, act=dict(act))
