"""One pre-norm MLP block of integer codes, and the encoder block (attention then MLP).

Integer dataflow (composed like the attention block of docs/numerics.md §8), per input of
``tokens x dim`` residual codes (``resid_bits``, scale ``S_x``)::

    n   = int_layernorm(x)                                    31-bit, scale sqrt(C)/2^30
    h   = requantize(n + ln_beta, ln_b, ln_c, a_bits)         per channel; gamma, beta, z_h folded
    f   = requantize(linear_acc(h, w1, b1), f_b, f_c, gelu_bits)     ShiftGELU input, scale S_f
    g   = shift_gelu(f, x0, n, sig_bits)                      scale S_f 2^-(sig_bits-1)
    u   = requantize(g + u_off, u_b, u_c, a_bits)             fc2 input; zero point u_zero folded
    y   = requantize(linear_acc(u, w2, b2), y_b, y_c, resid_bits)      the MLP branch
    out = residual_add(x, rx_b, rx_c, y, ry_b, ry_c, resid_bits)

``b1``/``b2`` are 32-bit integer biases with the zero-point term of their input folded in
(docs/numerics.md §3); ``u_off = rint(u_zero 2^u_c / u_b)`` puts the zero point of ``u`` (GELU
outputs are >= -0.17, so an asymmetric ``u`` gains almost one bit) into the requantizer input,
as ``fold_layernorm`` does for ``h``. The normative functions are :func:`mlp_block` and
:func:`encoder_block`; every value is an int64 array, no float is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import (as_int, check_code_fields, check_dyadic_fields, check_int,
                     freeze_int_fields)
from .attention import AttentionParams, attention_block_trace
from .config import _Config
from .quant import CODE_BITS
from .core import signed_range
from .layernorm import int_layernorm
from .nonlinear import check_x0, shift_gelu
from .quant import BIAS_BITS, LN_BETA_BITS
from .requant import linear_acc, required_acc_bits, requantize, residual_add

__all__ = ["MlpConfig", "MlpParams", "mlp_block", "mlp_block_trace", "encoder_block",
           "encoder_block_trace"]


@dataclass(frozen=True, kw_only=True)
class MlpConfig(_Config):
    """One pre-norm MLP block: ``dim -> hidden -> dim`` with ShiftGELU.

    ``a_bits``: array operands (LayerNorm output ``h``, GELU output ``u``); ``w_bits``: weight
    codes; ``gelu_bits``: the ShiftGELU input ``f`` (a unit input, not an array operand);
    ``sig_bits``: the sigmoid code of ShiftGELU; ``resid_bits``: the residual stream;
    ``mult_bits``: dyadic multipliers; ``n``: the ShiftGELU exponent range.
    """

    dim: int = 64
    hidden: int = 256
    a_bits: int = 8
    w_bits: int = 8
    gelu_bits: int = 8
    sig_bits: int = 8
    resid_bits: int = 16
    mult_bits: int = 16
    n: int = 15

    def __post_init__(self) -> None:
        check_int(self.dim, "dim", 1, 4096)
        check_int(self.hidden, "hidden", 1, 16384)
        for name in ("a_bits", "w_bits", "gelu_bits", "resid_bits"):
            check_int(getattr(self, name), name, *CODE_BITS)
        check_int(self.sig_bits, "sig_bits", 2, 16)
        check_int(self.mult_bits, "mult_bits", 2, 32)
        check_int(self.n, "n", 0, 31)
        for unit, width in self.acc_widths().items():
            if width + self.mult_bits > 62:
                raise ValueError(
                    f"mult_bits={self.mult_bits} is too wide for the {unit} requantizer: its "
                    f"accumulator needs {width} bits and acc_bits + mult_bits must be at most 62")

    def acc_widths(self) -> dict[str, int]:
        """Signed width of every requantizer input: ``layernorm`` (31-bit output plus the
        40-bit ``ln_beta``), ``fc1``/``fc2`` (``a_bits x w_bits`` plus a 32-bit bias), ``gelu``
        (``gelu_bits + sig_bits - 1`` plus the zero-point offset), ``residual``."""
        return {
            "layernorm": LN_BETA_BITS + 1,
            "fc1": required_acc_bits(self.a_bits, self.w_bits, self.dim, BIAS_BITS),
            "gelu": self.gelu_bits + self.sig_bits + 1,
            "fc2": required_acc_bits(self.a_bits, self.w_bits, self.hidden, BIAS_BITS),
            "residual": self.resid_bits,
        }


_VEC_D = ("ln_b", "ln_c", "ln_beta", "b2", "y_b", "y_c")
_VEC_H = ("b1", "f_b", "f_c")
_INT = ("h_zero", "x0", "u_b", "u_c", "u_off", "u_zero", "rx_b", "rx_c", "ry_b", "ry_c")


@dataclass(frozen=True, eq=False)
class MlpParams:
    """Integer parameters of one MLP block: everything :func:`mlp_block` reads (int64).

    ``(dim,)``: ``ln_b, ln_c, ln_beta`` (LayerNorm requantizer), ``b2, y_b, y_c``;
    ``(hidden,)``: ``b1, f_b, f_c``; ``w1`` ``(hidden, dim)`` and ``w2`` ``(dim, hidden)``
    ``w_bits`` codes; scalars ``h_zero`` (zero point of ``h``, folded into ``ln_beta`` and
    ``b1``), ``x0`` (ShiftGELU), ``u_b, u_c, u_off, u_zero`` (GELU output requantizer and the
    zero point of ``u``, folded into ``u_off`` and ``b2``) and the residual add
    ``rx_*``/``ry_*``.
    """

    config: MlpConfig
    ln_b: np.ndarray
    ln_c: np.ndarray
    ln_beta: np.ndarray
    h_zero: int
    w1: np.ndarray
    b1: np.ndarray
    f_b: np.ndarray
    f_c: np.ndarray
    x0: int
    u_b: int
    u_c: int
    u_off: int
    u_zero: int
    w2: np.ndarray
    b2: np.ndarray
    y_b: np.ndarray
    y_c: np.ndarray
    rx_b: int
    rx_c: int
    ry_b: int
    ry_c: int

    def __post_init__(self) -> None:
        cfg = self.config
        if not isinstance(cfg, MlpConfig):
            raise TypeError(f"config must be an MlpConfig, not {type(cfg).__name__}")
        freeze_int_fields(self, {**{k: (cfg.dim,) for k in _VEC_D},
                                 **{k: (cfg.hidden,) for k in _VEC_H},
                                 "w1": (cfg.hidden, cfg.dim), "w2": (cfg.dim, cfg.hidden)}, _INT)
        check_dyadic_fields(self, ("ln_b", "f_b", "u_b", "y_b", "rx_b", "ry_b"),
                            ("ln_c", "f_c", "u_c", "y_c", "rx_c", "ry_c"), cfg.mult_bits)
        check_code_fields(self, ("w1", "w2"), cfg.w_bits, "w_bits")
        check_code_fields(self, ("h_zero", "u_zero"), cfg.a_bits, "a_bits")
        check_x0(self.x0)
        lim = 1 << (cfg.gelu_bits + cfg.sig_bits - 1)
        if abs(self.u_off) > lim:
            raise ValueError(f"u_off={self.u_off} exceeds the GELU output range +-{lim}")

    def arrays(self) -> dict[str, np.ndarray]:
        """Every integer field as an int64 array (for ``np.savez``)."""
        names = _VEC_D + _VEC_H + ("w1", "w2") + _INT
        return {k: np.asarray(getattr(self, k), dtype=np.int64) for k in names}


def mlp_block_trace(x_int: Any, params: MlpParams) -> dict[str, np.ndarray]:
    """The integer MLP block with every intermediate (keys ``x n h f g u y out``, int64)."""
    if not isinstance(params, MlpParams):
        raise TypeError(f"params must be MlpParams, not {type(params).__name__}")
    cfg, p = params.config, params
    x, scalar = as_int(x_int, "x_int")
    if scalar or x.ndim < 2 or x.shape[-1] != cfg.dim:
        raise ValueError(f"x_int must be (..., tokens, {cfg.dim}), got shape {x.shape}")
    lo, hi = signed_range(cfg.resid_bits)
    if x.size and (int(x.min()) < lo or int(x.max()) > hi):
        bad = int(x.min()) if int(x.min()) < lo else int(x.max())
        raise ValueError(f"x_int={bad} is outside the resid_bits={cfg.resid_bits} code range "
                         f"[{lo}, {hi}]")
    n = int_layernorm(x)
    h = requantize(n + p.ln_beta, p.ln_b, p.ln_c, cfg.a_bits)
    f = requantize(linear_acc(h, p.w1, p.b1), p.f_b, p.f_c, cfg.gelu_bits)
    g = shift_gelu(f, p.x0, cfg.n, cfg.sig_bits)
    u = requantize(g + p.u_off, p.u_b, p.u_c, cfg.a_bits)
    y = requantize(linear_acc(u, p.w2, p.b2), p.y_b, p.y_c, cfg.resid_bits)
    out = residual_add(x, p.rx_b, p.rx_c, y, p.ry_b, p.ry_c, cfg.resid_bits)
    return {"x": x, "n": n, "h": h, "f": f, "g": g, "u": u, "y": y, "out": out}


def mlp_block(x_int: Any, params: MlpParams) -> np.ndarray:
    """One integer pre-norm MLP block: ``resid_bits`` codes in, ``resid_bits`` codes out."""
    return mlp_block_trace(x_int, params)["out"]


def check_encoder_params(attn: AttentionParams, mlp: MlpParams) -> None:
    """The two halves of one encoder block: ``AttentionParams`` then ``MlpParams`` whose
    ``dim`` and ``resid_bits`` chain (``TypeError``/``ValueError`` naming both otherwise)."""
    if not isinstance(attn, AttentionParams):
        raise TypeError(f"attn must be AttentionParams, not {type(attn).__name__}")
    if not isinstance(mlp, MlpParams):
        raise TypeError(f"mlp must be MlpParams, not {type(mlp).__name__}")
    if (attn.config.dim, attn.config.resid_bits) != (mlp.config.dim, mlp.config.resid_bits):
        raise ValueError(f"attention block (dim={attn.config.dim}, resid_bits="
                         f"{attn.config.resid_bits}) and MLP block (dim={mlp.config.dim}, "
                         f"resid_bits={mlp.config.resid_bits}) do not chain")


def encoder_block_trace(x_int: Any, attn: AttentionParams, mlp: MlpParams
                        ) -> dict[str, np.ndarray]:
    """:func:`ivita.model.attention_block` then :func:`mlp_block`; keys ``attn.<k>`` and
    ``mlp.<k>`` of both traces. The attention output scale must be the MLP input scale (the
    quantizer that built both guarantees it; only the widths are checked here)."""
    check_encoder_params(attn, mlp)
    a = attention_block_trace(x_int, attn)
    m = mlp_block_trace(a["out"], mlp)
    return {**{f"attn.{k}": v for k, v in a.items()}, **{f"mlp.{k}": v for k, v in m.items()}}


def encoder_block(x_int: Any, attn: AttentionParams, mlp: MlpParams) -> np.ndarray:
    """One integer encoder block ``x -> x + attn(LN1 x) -> . + MLP(LN2 .)``, int64 codes."""
    return encoder_block_trace(x_int, attn, mlp)["mlp.out"]
