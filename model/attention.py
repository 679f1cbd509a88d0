"""One pre-norm multi-head self-attention block: float reference, quantization, integer block.

- :class:`FloatBlock`, :func:`make_float_block`, :func:`float_attention_block`: the float
  reference ``y = x + Wo(MHSA(LayerNorm(x)))`` on numpy (used only to *measure* accuracy and to
  calibrate).
- :func:`quantize_block`: offline (floats allowed) calibration on float inputs, producing an
  :class:`AttentionParams` of integer codes, dyadic ``(b, c)`` tables and ``x0``.
- :func:`attention_block`: the integer block of docs/numerics.md §8, built only from the model
  functions (``int_layernorm``, ``requantize``, ``linear_acc``, ``shiftmax``, ``residual_add``);
  it never touches a float.

Integer dataflow per input of ``tokens x dim`` residual codes (``resid_bits``, scale ``S_x``)::

    n  = int_layernorm(x)                                   31-bit, scale sqrt(C)/2^30
    h  = requantize(n + ln_beta, ln_b, ln_c, a_bits)        per channel; gamma, beta, z_h folded
    Q  = requantize(linear_acc(h, wq, bq), q_b, q_c, a_bits)            (likewise K, V)
    A  = requantize(Q_h @ K_h.T, a_b, a_c, attn_bits)       per head; 1/sqrt(d) folded
    P  = attention_probs(A, x0, n, prob_bits, prob_mode)    shiftmax; scale 2^-(prob_bits-1)
                                                            when prob_mode is "direct"
    O  = requantize(prob_value_matmul(P, V_h), o_b, o_c, a_bits)              heads concatenated
    Y  = requantize(linear_acc(O, wo, bo), y_b, y_c, resid_bits)
    out = residual_add(x, rx_b, rx_c, Y, ry_b, ry_c, resid_bits)

The sign of a negative LayerNorm ``gamma`` is moved into the input columns of Wq/Wk/Wv (a
dyadic ``b`` is non-negative); see :func:`ivita.model.quant.fold_layernorm`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import as_int, check_code_fields, check_dyadic_fields, freeze_int_fields
from .config import AttentionConfig
from .core import signed_range
from .layernorm import int_layernorm
from .probs import attention_probs, prob_frac_bits, prob_value_matmul
from .quant import (
    attention_score_multiplier, calibrate_asymmetric, calibrate_minmax, calibrate_mse,
    calibrate_percentile,
    fold_layernorm, fold_layernorm_into_linear, fold_zero_point, quantize, quantize_bias,
    requant_multiplier, softmax_x0,
)
from .requant import linear_acc, requantize, residual_add

__all__ = [
    "FloatBlock", "make_float_block", "make_block_input", "float_layernorm",
    "float_attention_block", "float_block_trace", "BlockScales", "AttentionParams",
    "quantize_block", "attention_block", "attention_block_trace",
]


# =========================================================================== float reference

@dataclass(frozen=True, eq=False)
class FloatBlock:
    """Float parameters of one pre-norm MHSA block. Weights are ``(out, in)``, biases ``(out,)``.

    ``eps`` is the LayerNorm epsilon of the float reference (the integer LayerNorm has none).
    """

    gamma: np.ndarray
    beta: np.ndarray
    wq: np.ndarray
    bq: np.ndarray
    wk: np.ndarray
    bk: np.ndarray
    wv: np.ndarray
    bv: np.ndarray
    wo: np.ndarray
    bo: np.ndarray
    heads: int
    eps: float = 1e-6

    def __post_init__(self) -> None:
        dim = np.asarray(self.gamma).shape[0] if np.asarray(self.gamma).ndim == 1 else -1
        if dim < 1:
            raise ValueError(f"gamma must be 1-D with at least one channel, got shape "
                             f"{np.asarray(self.gamma).shape}")
        for name in ("gamma", "beta", "bq", "bk", "bv", "bo"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (dim,):
                raise ValueError(f"{name} has shape {arr.shape}; expected ({dim},)")
            object.__setattr__(self, name, arr)
        for name in ("wq", "wk", "wv", "wo"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (dim, dim):
                raise ValueError(f"{name} has shape {arr.shape}; expected ({dim}, {dim})")
            object.__setattr__(self, name, arr)
        if isinstance(self.heads, bool) or not isinstance(self.heads, int) or self.heads < 1:
            raise ValueError(f"heads={self.heads!r} must be a positive int")
        if dim % self.heads:
            raise ValueError(f"dim={dim} is not a multiple of heads={self.heads}")

    @property
    def dim(self) -> int:
        return int(self.gamma.shape[0])


def make_float_block(config: AttentionConfig, seed: int) -> FloatBlock:
    """A deterministic random float block of ``config.dim`` channels and ``config.heads`` heads.

    ``numpy.random.default_rng(seed)``: ``gamma ~ 1 + 0.2 N``, ``beta ~ 0.1 N``; Wq/Wk with
    std ``sqrt(2/dim)`` (attention scores of std ~2, as in trained ViTs), Wv/Wo with std
    ``sqrt(1/dim)``; biases ``~ 0.05 N``.
    """
    if not isinstance(config, AttentionConfig):
        raise TypeError(f"config must be an AttentionConfig, not {type(config).__name__}")
    rng = np.random.default_rng(seed)
    d = config.dim

    def w(std: float) -> np.ndarray:
        return rng.normal(0.0, std, size=(d, d))

    gamma = 1.0 + 0.2 * rng.normal(size=d)
    beta = 0.1 * rng.normal(size=d)
    wq, wk = w(math.sqrt(2.0 / d)), w(math.sqrt(2.0 / d))
    wv, wo = w(math.sqrt(1.0 / d)), w(math.sqrt(1.0 / d))
    bq, bk, bv, bo = (0.05 * rng.normal(size=d) for _ in range(4))
    return FloatBlock(gamma=gamma, beta=beta, wq=wq, bq=bq, wk=wk, bk=bk, wv=wv, bv=bv,
                      wo=wo, bo=bo, heads=config.heads)


def make_block_input(config: AttentionConfig, seed: int, samples: int = 1, *,
                     profile_seed: int = 0) -> np.ndarray:
    """Deterministic float residual-stream inputs of shape ``(samples, tokens, dim)``.

    A fixed per-channel profile drawn from ``default_rng(profile_seed)`` (offset ``0.5 N``,
    spread ``exp(0.5 N)``: the uneven channels of a ViT residual stream) times standard normal
    token values from ``default_rng(seed)``. Batches with different ``seed`` and the same
    ``profile_seed`` come from the same distribution (calibration vs evaluation).
    """
    if not isinstance(config, AttentionConfig):
        raise TypeError(f"config must be an AttentionConfig, not {type(config).__name__}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples={samples!r} must be a positive int")
    prof = np.random.default_rng(profile_seed)
    offset = 0.5 * prof.normal(size=config.dim)
    spread = np.exp(0.5 * prof.normal(size=config.dim))
    rng = np.random.default_rng(seed)
    return offset + spread * rng.normal(size=(samples, config.tokens, config.dim))


def float_layernorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                    eps: float = 1e-6) -> np.ndarray:
    """``(x - mean) / sqrt(var + eps) * gamma + beta`` over the last axis (biased variance)."""
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _split_heads(t: np.ndarray, heads: int) -> np.ndarray:
    """``(..., T, dim)`` -> ``(..., heads, T, d)``."""
    *lead, T, dim = t.shape
    return np.moveaxis(t.reshape(*lead, T, heads, dim // heads), -2, -3)


def _merge_heads(t: np.ndarray) -> np.ndarray:
    """``(..., heads, T, d)`` -> ``(..., T, heads * d)``."""
    t = np.moveaxis(t, -3, -2)
    return t.reshape(*t.shape[:-2], t.shape[-2] * t.shape[-1])


def float_block_trace(x: Any, block: FloatBlock) -> dict[str, np.ndarray]:
    """Float forward pass returning every intermediate (for calibration and diagnostics).

    Keys: ``x``, ``h`` (LayerNorm output), ``q``, ``k``, ``v`` ``(..., T, dim)``, ``scores``
    (``QK^T/sqrt(d)``, ``(..., heads, T, T)``), ``p`` (softmax), ``o`` (heads concatenated),
    ``y`` (Wo output, the attention branch) and ``out = x + y``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or x.shape[-1] != block.dim:
        raise ValueError(f"x must be (..., tokens, {block.dim}), got shape {x.shape}")
    h = float_layernorm(x, block.gamma, block.beta, block.eps)
    q = h @ block.wq.T + block.bq
    k = h @ block.wk.T + block.bk
    v = h @ block.wv.T + block.bv
    qh, kh, vh = (_split_heads(t, block.heads) for t in (q, k, v))
    d = block.dim // block.heads
    scores = qh @ np.swapaxes(kh, -1, -2) / math.sqrt(d)
    p = _softmax(scores)
    o = _merge_heads(p @ vh)
    y = o @ block.wo.T + block.bo
    return {"x": x, "h": h, "q": q, "k": k, "v": v, "scores": scores, "p": p, "o": o, "y": y,
            "out": x + y}


def float_attention_block(x: Any, block: FloatBlock) -> np.ndarray:
    """``x + Wo(concat_h softmax(Q_h K_h^T / sqrt(d)) V_h) + bo`` with ``Q, K, V`` from
    ``LayerNorm(x)``: the float reference of one pre-norm MHSA block, ``(..., T, dim)``."""
    return float_block_trace(x, block)["out"]


# =========================================================================== integer block

@dataclass(frozen=True)
class BlockScales:
    """Real scales chosen offline. **Not** used by :func:`attention_block`; they only convert
    float inputs to codes (``x``) and codes back to reals (``out``) and document the others."""

    x: float          # block input, resid_bits codes
    h: float          # LayerNorm output (sign-folded), a_bits codes with zero point h_zero
    q: float
    k: float
    v: float
    attn: float       # scores QK^T/sqrt(d), attn_bits codes
    o: float          # P @ V, heads concatenated
    y: float          # Wo output (attention branch), resid_bits codes
    out: float        # block output, resid_bits codes


_VEC = ("ln_b", "ln_c", "ln_beta", "bq", "bk", "bv", "bo",
        "q_b", "q_c", "k_b", "k_c", "v_b", "v_c", "y_b", "y_c")
_MAT = ("wq", "wk", "wv", "wo")
_INT = ("h_zero", "a_b", "a_c", "x0", "o_b", "o_c", "rx_b", "rx_c", "ry_b", "ry_c")


@dataclass(frozen=True, eq=False)
class AttentionParams:
    """Integer parameters of one block: everything :func:`attention_block` reads.

    All arrays are int64; per-channel vectors are ``(dim,)``, weights ``(dim, dim)`` as
    ``(out, in)`` ``w_bits`` codes. ``ln_*``: LayerNorm requantizer (``b`` unsigned
    ``mult_bits``, ``c`` 0..63, ``ln_beta`` signed 40-bit, ``h_zero`` the zero point of ``h``
    already folded into ``ln_beta`` and ``bq/bk/bv``). ``bq, bk, bv, bo``: 32-bit integer
    biases with the zero-point term folded in (docs/numerics.md §3). ``a_b, a_c``: scores
    requantizer with ``1/sqrt(d)`` folded; ``x0``: Shiftmax constant of the score scale.
    ``rx_*``/``ry_*``: the two branches of the residual add. ``scales`` is offline metadata.
    """

    config: AttentionConfig
    ln_b: np.ndarray
    ln_c: np.ndarray
    ln_beta: np.ndarray
    h_zero: int
    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    bq: np.ndarray
    bk: np.ndarray
    bv: np.ndarray
    bo: np.ndarray
    q_b: np.ndarray
    q_c: np.ndarray
    k_b: np.ndarray
    k_c: np.ndarray
    v_b: np.ndarray
    v_c: np.ndarray
    a_b: int
    a_c: int
    x0: int
    o_b: int
    o_c: int
    y_b: np.ndarray
    y_c: np.ndarray
    rx_b: int
    rx_c: int
    ry_b: int
    ry_c: int
    scales: BlockScales | None = None

    def __post_init__(self) -> None:
        cfg = self.config
        if not isinstance(cfg, AttentionConfig):
            raise TypeError(f"config must be an AttentionConfig, not {type(cfg).__name__}")
        d = cfg.dim
        freeze_int_fields(self, {**{k: (d,) for k in _VEC}, **{k: (d, d) for k in _MAT}}, _INT)
        check_dyadic_fields(self, ("ln_b", "q_b", "k_b", "v_b", "y_b", "a_b", "o_b", "rx_b",
                                   "ry_b"),
                            ("ln_c", "q_c", "k_c", "v_c", "y_c", "a_c", "o_c", "rx_c", "ry_c"),
                            cfg.mult_bits)
        check_code_fields(self, _MAT, cfg.w_bits, "w_bits")
        check_code_fields(self, ("h_zero",), cfg.a_bits, "a_bits")
        cfg.softmax.check_x0(self.x0)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every integer field as an int64 array (for ``np.savez``; see :meth:`from_arrays`)."""
        out = {name: np.asarray(getattr(self, name), dtype=np.int64) for name in _VEC + _MAT}
        out.update({name: np.asarray(getattr(self, name), dtype=np.int64) for name in _INT})
        return out

    @classmethod
    def from_arrays(cls, config: AttentionConfig, arrays: Any) -> AttentionParams:
        """Rebuild from :meth:`arrays` output (e.g. a loaded ``.npz``); ``scales`` is None."""
        kw: dict[str, Any] = {name: np.asarray(arrays[name]) for name in _VEC + _MAT}
        kw.update({name: int(np.asarray(arrays[name])) for name in _INT})
        return cls(config=config, **kw)


def _calibrate(x: np.ndarray, bits: int, config: AttentionConfig) -> float:
    """Per-tensor symmetric scale of a low-bit activation, by ``config.act_calibration``."""
    if config.act_calibration == "percentile":
        return calibrate_percentile(x, bits, config.percentile)
    if config.act_calibration == "mse":
        return float(calibrate_mse(x, bits))
    return float(calibrate_minmax(x, bits))


def _snap_score_scale(s_a: float) -> tuple[float, int]:
    """Round the score scale up to ``1/k`` (``k = floor(1/S)``) so that ``x0 = -k`` is exact.

    With a free scale, ``x0 = floor(-1/S)`` makes Shiftmax's exponent slope ``1.4375/|x0|``
    differ from ``S * log2(e)`` by up to a factor ``1/(1 + S)`` (5 % at S = 0.05). Snapping
    widens the range by less than a factor ``1 + S`` and leaves only the 0.36 % error of
    ``1.4375 ~ log2(e)``. Scales ``> 1/2`` are kept and use :func:`softmax_x0`.
    """
    k = math.floor(1.0 / s_a)
    if k < 2:
        return s_a, softmax_x0(s_a)
    return 1.0 / k, -k


def quantize_block(block: FloatBlock, config: AttentionConfig, calib_x: Any) -> AttentionParams:
    """Calibrate ``block`` on float inputs ``calib_x`` ``(..., tokens, dim)`` (offline).

    Activation scales are per tensor (``config.act_calibration``) from the float intermediates
    of :func:`float_block_trace`; weights are symmetric per output channel (min/max); the
    LayerNorm output may be asymmetric (``config.asymmetric``; its zero point is folded into
    ``ln_beta`` and the Q/K/V biases). Returns an :class:`AttentionParams`.
    """
    if not isinstance(block, FloatBlock):
        raise TypeError(f"block must be a FloatBlock, not {type(block).__name__}")
    if not isinstance(config, AttentionConfig):
        raise TypeError(f"config must be an AttentionConfig, not {type(config).__name__}")
    if block.dim != config.dim or block.heads != config.heads:
        raise ValueError(f"block has dim={block.dim}, heads={block.heads} but config has "
                         f"dim={config.dim}, heads={config.heads}")
    cx = np.asarray(calib_x, dtype=np.float64)
    if cx.ndim < 2 or cx.shape[-1] != config.dim:
        raise ValueError(f"calib_x must be (..., tokens, {config.dim}), got shape {cx.shape}")
    cfg, mb = config, config.mult_bits
    tr = float_block_trace(cx, block)

    s_x = float(calibrate_minmax(tr["x"], cfg.resid_bits))
    # LayerNorm output h' = sign(gamma) * h: what the requantizer actually produces.
    sign = np.where(block.gamma < 0, -1.0, 1.0)
    hp = (tr["h"] * sign)[..., block.gamma != 0]
    if hp.size == 0:  # every gamma is zero: h is constant and feeds only the biases
        hp = np.ones(1)
    if cfg.asymmetric:
        pct = cfg.percentile if cfg.act_calibration == "percentile" else None
        s_h, z_h = calibrate_asymmetric(hp, cfg.a_bits, pct, mse=cfg.act_calibration == "mse")
    else:
        s_h, z_h = _calibrate(hp, cfg.a_bits, cfg), 0
    fold = fold_layernorm(block.gamma, block.beta, s_h, zero_point=z_h, mult_bits=mb)

    def linear(w: np.ndarray, b: np.ndarray, s_in: float, z_in: int, s_out: float,
               ln: bool) -> tuple[np.ndarray, np.ndarray, Any, Any, np.ndarray]:
        if ln:
            w, b = fold_layernorm_into_linear(w, b, block.beta, fold)
        if cfg.w_calibration == "mse":
            s_w = calibrate_mse(w, cfg.w_bits, axis=0)
        else:
            s_w = calibrate_minmax(w, cfg.w_bits, axis=0)
        wc = quantize(w, s_w, cfg.w_bits, axis=0)
        bi = fold_zero_point(quantize_bias(b, s_in, s_w), wc, z_in)
        rb, rc = requant_multiplier(s_in * s_w, s_out, mb)
        return wc, bi, rb, rc, s_w

    s_q = _calibrate(tr["q"], cfg.a_bits, cfg)
    s_k = _calibrate(tr["k"], cfg.a_bits, cfg)
    s_v = _calibrate(tr["v"], cfg.a_bits, cfg)
    wq, bq, q_b, q_c, _ = linear(block.wq, block.bq, s_h, z_h, s_q, True)
    wk, bk, k_b, k_c, _ = linear(block.wk, block.bk, s_h, z_h, s_k, True)
    wv, bv, v_b, v_c, _ = linear(block.wv, block.bv, s_h, z_h, s_v, True)

    s_a, x0 = _snap_score_scale(_calibrate(tr["scores"], cfg.attn_bits, cfg))
    a_b, a_c = attention_score_multiplier(s_q, s_k, s_a, cfg.head_dim, mb)

    s_o = _calibrate(tr["o"], cfg.a_bits, cfg)
    o_b, o_c = requant_multiplier(
        math.ldexp(s_v, -prob_frac_bits(cfg.prob_mode, cfg.prob_bits)), s_o, mb)

    s_y = float(calibrate_minmax(tr["y"], cfg.resid_bits))
    wo, bo, y_b, y_c, _ = linear(block.wo, block.bo, s_o, 0, s_y, False)

    s_out = float(calibrate_minmax(tr["out"], cfg.resid_bits))
    rx_b, rx_c = requant_multiplier(s_x, s_out, mb)
    ry_b, ry_c = requant_multiplier(s_y, s_out, mb)

    scales = BlockScales(x=s_x, h=s_h, q=s_q, k=s_k, v=s_v, attn=s_a, o=s_o, y=s_y, out=s_out)
    return AttentionParams(
        config=cfg, ln_b=fold.b, ln_c=fold.c, ln_beta=fold.beta_int, h_zero=z_h,
        wq=wq, wk=wk, wv=wv, wo=wo, bq=bq, bk=bk, bv=bv, bo=bo,
        q_b=q_b, q_c=q_c, k_b=k_b, k_c=k_c, v_b=v_b, v_c=v_c,
        a_b=a_b, a_c=a_c, x0=x0, o_b=o_b, o_c=o_c, y_b=y_b, y_c=y_c,
        rx_b=rx_b, rx_c=rx_c, ry_b=ry_b, ry_c=ry_c, scales=scales)


def attention_block_trace(x_int: Any, params: AttentionParams) -> dict[str, np.ndarray]:
    """The integer block of docs/numerics.md §8 with every intermediate (int64 arrays).

    ``x_int``: ``(..., tokens, dim)`` signed ``resid_bits`` codes (any ``tokens`` up to
    ``config.tokens``). Keys: ``x``, ``n`` (LayerNorm, 31-bit), ``h``, ``q``, ``k``, ``v``
    (``a_bits``), ``a`` (``attn_bits`` scores, ``(..., heads, T, T)``), ``p`` (``prob_bits``
    unsigned codes), ``o`` (``a_bits``, heads concatenated), ``y`` (``resid_bits``, attention
    branch) and ``out`` (``resid_bits``).
    """
    if not isinstance(params, AttentionParams):
        raise TypeError(f"params must be AttentionParams, not {type(params).__name__}")
    cfg = params.config
    x, scalar = as_int(x_int, "x_int")
    if scalar or x.ndim < 2 or x.shape[-1] != cfg.dim:
        raise ValueError(f"x_int must be (..., tokens, {cfg.dim}), got shape {x.shape}")
    if not 1 <= x.shape[-2] <= cfg.tokens:
        raise ValueError(f"x_int has {x.shape[-2]} tokens; config allows 1..{cfg.tokens}")
    lo, hi = signed_range(cfg.resid_bits)
    if x.size and (int(x.min()) < lo or int(x.max()) > hi):
        bad = int(x.min()) if int(x.min()) < lo else int(x.max())
        raise ValueError(f"x_int={bad} is outside the resid_bits={cfg.resid_bits} code range "
                         f"[{lo}, {hi}]")
    p = params
    n = int_layernorm(x)
    h = requantize(n + p.ln_beta, p.ln_b, p.ln_c, cfg.a_bits)
    q = requantize(linear_acc(h, p.wq, p.bq), p.q_b, p.q_c, cfg.a_bits)
    k = requantize(linear_acc(h, p.wk, p.bk), p.k_b, p.k_c, cfg.a_bits)
    v = requantize(linear_acc(h, p.wv, p.bv), p.v_b, p.v_c, cfg.a_bits)
    qh, kh, vh = (_split_heads(t, cfg.heads) for t in (q, k, v))
    a = requantize(np.matmul(qh, np.swapaxes(kh, -1, -2)), p.a_b, p.a_c, cfg.attn_bits)
    pr = attention_probs(a, p.x0, cfg.n, cfg.prob_bits, cfg.prob_mode)
    pv = prob_value_matmul(pr, vh, cfg.prob_bits, cfg.prob_mode)
    o = _merge_heads(requantize(pv, p.o_b, p.o_c, cfg.a_bits))
    y = requantize(linear_acc(o, p.wo, p.bo), p.y_b, p.y_c, cfg.resid_bits)
    out = residual_add(x, p.rx_b, p.rx_c, y, p.ry_b, p.ry_c, cfg.resid_bits)
    return {"x": x, "n": n, "h": h, "q": q, "k": k, "v": v, "a": a, "p": pr, "o": o, "y": y,
            "out": out}


def attention_block(x_int: Any, params: AttentionParams) -> np.ndarray:
    """One integer pre-norm MHSA block (docs/numerics.md §8 with the residual add of §2).

    ``x_int``: ``(..., tokens, dim)`` signed ``resid_bits`` codes with scale
    ``params.scales.x``; returns int64 codes of the same shape, ``resid_bits`` wide, scale
    ``params.scales.out``. Integer arithmetic only.
    """
    return attention_block_trace(x_int, params)["out"]

