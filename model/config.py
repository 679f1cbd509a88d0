"""Validated, frozen configuration objects shared by the model, the hardware generators, the
benches and the flows. Each validates itself on construction and derives its widths, so a
hardware component built from one can never be built with a width that overflows.

Errors name the bad value and the limit, e.g. ``acc_bits=16 is too narrow for a_bits=8,
b_bits=8 and k=64; at least 22 bits are needed``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .checks import check_bool, check_int
from .core import ceil_log2
from .layernorm import layernorm_out_bits
from .nonlinear import check_x0
from .probs import check_prob_mode, prob_frac_bits, prob_softmax_bits
from .quant import BIAS_BITS, CODE_BITS, LN_BETA_BITS
from .requant import required_acc_bits

__all__ = [
    "ArrayConfig", "RequantConfig", "SoftmaxConfig", "GeluConfig", "LayerNormConfig",
    "AttentionConfig", "DEQUANT_FIRST_BITS", "ACT_CALIBRATIONS", "W_CALIBRATIONS",
]

DEQUANT_FIRST_BITS = 16     # fixed-point width of the dequant-first baseline operands
MAX_ACC_BITS = 48           # widest accumulator the generators support


class _Config:
    """Mixin: ``as_dict()`` / ``from_dict()`` for JSON sidecars and the results database."""

    def as_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **dataclasses.asdict(self)}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        d = dict(d)
        t = d.pop("type", cls.__name__)
        if t != cls.__name__:
            raise ValueError(f"config type {t!r} does not match {cls.__name__}")
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class ArrayConfig(_Config):
    """An output-stationary ``rows x cols`` systolic array of signed multiply-accumulate PEs.

    ``a_bits``/``b_bits`` are the operand code widths (2..16). ``k_max`` is the longest reduction
    the accumulators must hold exactly; ``acc_bits`` defaults to the exact need
    (:func:`ivita.model.required_acc_bits`) and a narrower one is rejected. With
    ``dequant_first`` the PEs multiply 16-bit fixed-point operands (the baseline of docs/numerics.md
    §3) and the accumulator is sized for 16 x 16 bits.
    """

    rows: int = 4
    cols: int = 4
    a_bits: int = 8
    b_bits: int = 8
    k_max: int = 256
    acc_bits: int | None = None
    dequant_first: bool = False

    def __post_init__(self) -> None:
        check_int(self.rows, "rows", 1, 32)
        check_int(self.cols, "cols", 1, 32)
        check_int(self.a_bits, "a_bits", *CODE_BITS)
        check_int(self.b_bits, "b_bits", *CODE_BITS)
        check_int(self.k_max, "k_max", 1, 1 << 20)
        check_bool(self.dequant_first, "dequant_first")
        need = required_acc_bits(self.pe_a_bits, self.pe_b_bits, self.k_max)
        if self.acc_bits is None:
            object.__setattr__(self, "acc_bits", need)
        check_int(self.acc_bits, "acc_bits", 2, MAX_ACC_BITS)
        if self.acc_bits < need:
            raise ValueError(
                f"acc_bits={self.acc_bits} is too narrow for a_bits={self.pe_a_bits}, "
                f"b_bits={self.pe_b_bits} and k={self.k_max}; at least {need} bits are needed")

    @property
    def pe_a_bits(self) -> int:
        """Width of the A operand inside a PE (16 for the dequant-first baseline)."""
        return DEQUANT_FIRST_BITS if self.dequant_first else self.a_bits

    @property
    def pe_b_bits(self) -> int:
        """Width of the B operand inside a PE (16 for the dequant-first baseline)."""
        return DEQUANT_FIRST_BITS if self.dequant_first else self.b_bits

    @property
    def macs(self) -> int:
        return self.rows * self.cols


@dataclass(frozen=True, kw_only=True)
class RequantConfig(_Config):
    """``lanes`` parallel dyadic requantizers (docs/numerics.md §2), one per array column.

    ``b`` is unsigned, ``mult_bits`` wide; ``c`` is 0..``max_shift`` (default
    ``min(63, acc_bits + mult_bits)``: a larger shift always yields 0). Requires
    ``acc_bits + mult_bits <= 62``.
    """

    lanes: int = 4
    acc_bits: int = 24
    out_bits: int = 8
    mult_bits: int = 16
    max_shift: int | None = None

    def __post_init__(self) -> None:
        check_int(self.lanes, "lanes", 1, 32)
        check_int(self.acc_bits, "acc_bits", 2, MAX_ACC_BITS)
        check_int(self.out_bits, "out_bits", 2, 32)
        check_int(self.mult_bits, "mult_bits", 2, 32)
        if self.acc_bits + self.mult_bits > 62:
            raise ValueError(
                f"acc_bits={self.acc_bits} plus mult_bits={self.mult_bits} is "
                f"{self.acc_bits + self.mult_bits}; the product must fit 62 bits")
        if self.max_shift is None:
            object.__setattr__(self, "max_shift", min(63, self.acc_bits + self.mult_bits))
        check_int(self.max_shift, "max_shift", 0, 63)

    @property
    def shift_bits(self) -> int:
        """Width of a table entry's shift field."""
        return max(self.max_shift, 1).bit_length()

    def check_entry(self, b: int, c: int) -> None:
        """Reject a ``(b, c)`` table entry the hardware cannot hold."""
        check_int(b, "b", 0, (1 << self.mult_bits) - 1)
        check_int(c, "c", 0, self.max_shift)


@dataclass(frozen=True, kw_only=True)
class SoftmaxConfig(_Config):
    """Shiftmax over rows of up to ``max_tokens`` signed ``in_bits`` codes (docs/numerics.md §5).

    ``x0`` is a runtime value with ``1 <= |x0| < 2^x0_bits``.
    """

    in_bits: int = 8
    n: int = 15
    out_bits: int = 8
    max_tokens: int = 256
    x0_bits: int = 16

    def __post_init__(self) -> None:
        check_int(self.in_bits, "in_bits", *CODE_BITS)
        check_int(self.n, "n", 0, 31)
        check_int(self.out_bits, "out_bits", 2, 16)
        check_int(self.max_tokens, "max_tokens", 1, 1 << 16)
        check_int(self.x0_bits, "x0_bits", 1, 31)
        need = self.sum_bits + self.out_bits + 2
        if need > 63:
            raise ValueError(
                f"x0_bits={self.x0_bits}, n={self.n}, max_tokens={self.max_tokens} and "
                f"out_bits={self.out_bits} need {need} bits for the reciprocal product; at most 63 fit")

    @property
    def exp_bits(self) -> int:
        """Width of one ``shift_exp`` value: ``x0_bits + n``."""
        return self.x0_bits + self.n

    @property
    def sum_bits(self) -> int:
        """Width of the row sum: ``x0_bits + n + ceil(log2 max_tokens)``."""
        return self.exp_bits + ceil_log2(self.max_tokens)

    def check_x0(self, x0: int) -> int:
        """:func:`ivita.model.nonlinear.check_x0` (``x0 <= -1``) and ``|x0| < 2^x0_bits``."""
        x0 = check_x0(x0)
        if -x0 >= 1 << self.x0_bits:
            raise ValueError(f"x0={x0} is out of range; |x0| must be below 2^{self.x0_bits}")
        return x0


@dataclass(frozen=True, kw_only=True)
class GeluConfig(_Config):
    """ShiftGELU on signed ``in_bits`` codes (docs/numerics.md §6); runtime ``x0``."""

    in_bits: int = 8
    n: int = 15
    sig_bits: int = 8
    x0_bits: int = 16

    def __post_init__(self) -> None:
        check_int(self.in_bits, "in_bits", *CODE_BITS)
        check_int(self.n, "n", 0, 31)
        check_int(self.sig_bits, "sig_bits", 2, 16)
        check_int(self.x0_bits, "x0_bits", 1, 31)
        need = self.exp_bits + 1 + self.sig_bits + 2
        if need > 63:
            raise ValueError(f"x0_bits={self.x0_bits}, n={self.n} and sig_bits={self.sig_bits} "
                             f"need {need} bits for the reciprocal product; at most 63 fit")

    @property
    def exp_bits(self) -> int:
        return self.x0_bits + self.n

    @property
    def out_bits(self) -> int:
        """Signed width of ``x * sig``: ``in_bits + sig_bits - 1``."""
        return self.in_bits + self.sig_bits - 1

    check_x0 = SoftmaxConfig.check_x0


@dataclass(frozen=True, kw_only=True)
class LayerNormConfig(_Config):
    """I-LayerNorm over rows of ``channels`` signed ``in_bits`` values (docs/numerics.md §7)."""

    in_bits: int = 16
    channels: int = 64

    def __post_init__(self) -> None:
        check_int(self.in_bits, "in_bits", *CODE_BITS)
        check_int(self.channels, "channels", 1, 4096)
        if self.var_bits > 62:
            raise ValueError(f"in_bits={self.in_bits} over channels={self.channels} needs a "
                             f"{self.var_bits}-bit variance; at most 62")

    @property
    def sum_bits(self) -> int:
        return self.in_bits + ceil_log2(self.channels) + 1

    @property
    def var_bits(self) -> int:
        """Unsigned width of ``sum((x - mu)^2)``: deviations take ``in_bits + 1`` bits."""
        return 2 * self.in_bits + ceil_log2(self.channels) + 1

    @property
    def out_bits(self) -> int:
        return layernorm_out_bits()


ACT_CALIBRATIONS = ("minmax", "percentile", "mse")
W_CALIBRATIONS = ("minmax", "mse")


@dataclass(frozen=True, kw_only=True)
class AttentionConfig(_Config):
    """One pre-norm multi-head self-attention block (docs/numerics.md §8).

    ``a_bits``: Q/K/V/O and LayerNorm-output activation codes; ``w_bits``: weight codes;
    ``attn_bits``: attention scores fed to Shiftmax; ``prob_bits``: Shiftmax output (the
    ``P`` operand of ``P @ V``); ``resid_bits``: the residual stream (block input and output);
    ``mult_bits``: width of the dyadic multipliers ``b``; ``n``: Shiftmax exponent range.

    Offline calibration (used by :func:`ivita.model.quantize_block`, not by the integer path):
    ``act_calibration`` (``"minmax"``, ``"percentile"`` with ``percentile`` in (50, 100], or
    ``"mse"``) chooses the scales of the low-bit activations (LayerNorm output, Q, K, V,
    scores, O); the 16-bit residual stream always uses min/max. ``w_calibration``
    (``"minmax"`` or ``"mse"``) chooses the per-channel weight scales; both default to
    ``"mse"`` (the least-squares clipping search, which matters at 2-4 bits). ``asymmetric``
    lets the LayerNorm output (the input of Wq/Wk/Wv, the only Linear input whose zero point
    folds exactly) use a zero point. ``prob_mode`` (``"direct"``, ``"split"``, ``"log2"``) codes
    the attention probabilities for ``P @ V`` at low ``prob_bits`` (see
    :mod:`ivita.model.probs`); ``"direct"`` is docs/numerics.md §8 as written.
    """

    tokens: int = 16
    dim: int = 64
    heads: int = 4
    a_bits: int = 8
    w_bits: int = 8
    attn_bits: int = 8
    prob_bits: int = 8
    resid_bits: int = 16
    mult_bits: int = 16
    n: int = 15
    act_calibration: str = "mse"
    percentile: float = 99.99
    w_calibration: str = "mse"
    asymmetric: bool = True
    prob_mode: str = "direct"

    def __post_init__(self) -> None:
        check_int(self.tokens, "tokens", 1, 4096)
        check_int(self.dim, "dim", 1, 4096)
        check_int(self.heads, "heads", 1, 64)
        for name in ("a_bits", "w_bits", "attn_bits", "prob_bits", "resid_bits"):
            check_int(getattr(self, name), name, *CODE_BITS)
        check_int(self.mult_bits, "mult_bits", 2, 32)
        check_int(self.n, "n", 0, 31)
        if self.dim % self.heads:
            raise ValueError(f"dim={self.dim} is not a multiple of heads={self.heads}")
        for name, choices in (("act_calibration", ACT_CALIBRATIONS),
                              ("w_calibration", W_CALIBRATIONS)):
            v = getattr(self, name)
            if not isinstance(v, str):
                raise TypeError(f"{name} must be a str, not {type(v).__name__} ({v!r})")
            if v not in choices:
                raise ValueError(f"{name}={v!r} is not one of {', '.join(choices)}")
        if isinstance(self.percentile, bool) or not isinstance(self.percentile, (int, float)):
            raise TypeError(f"percentile must be a real number, not "
                            f"{type(self.percentile).__name__} ({self.percentile!r})")
        if not (50.0 < float(self.percentile) <= 100.0):
            raise ValueError(f"percentile={self.percentile!r} is out of range; it must be in "
                             f"(50, 100]")
        check_bool(self.asymmetric, "asymmetric")
        check_prob_mode(self.prob_mode)
        _ = self.softmax  # constructing it validates the Shiftmax widths
        for unit, width in self.acc_widths().items():
            if width + self.mult_bits > 62:
                raise ValueError(
                    f"mult_bits={self.mult_bits} is too wide for the {unit} requantizer: its "
                    f"accumulator needs {width} bits and acc_bits + mult_bits must be at most 62")

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    def acc_widths(self) -> dict[str, int]:
        """Signed width of every requantizer input of the block (docs/numerics.md §8).

        ``layernorm``: ``int_layernorm`` output (31 bits) plus ``beta_int`` (40 bits);
        ``qkv``/``out``: ``a_bits x w_bits`` over ``dim`` terms plus a 32-bit bias;
        ``scores``: ``a_bits x a_bits`` over ``head_dim``; ``pv``: ``prob_bits x a_bits`` over
        ``tokens``; ``residual``: the ``resid_bits`` branches.
        """
        return {
            "layernorm": LN_BETA_BITS + 1,
            "qkv": required_acc_bits(self.a_bits, self.w_bits, self.dim, BIAS_BITS),
            "scores": required_acc_bits(self.a_bits, self.a_bits, self.head_dim),
            "pv": required_acc_bits(self.pv_operand_bits, self.a_bits, self.tokens),
            "out": required_acc_bits(self.a_bits, self.w_bits, self.dim, BIAS_BITS),
            "residual": self.resid_bits,
        }

    @property
    def pv_operand_bits(self) -> int:
        """Signed width that holds every ``P`` value of ``prob_mode`` as one ``P @ V`` operand
        (``prob_bits`` direct; ``2 prob_bits - 1`` split, run as two ``prob_bits`` passes;
        ``smax + 2`` for the ``2^smax`` of log2)."""
        f = prob_frac_bits(self.prob_mode, self.prob_bits)
        return f + 2 if self.prob_mode == "log2" else f + 1

    @property
    def softmax(self) -> SoftmaxConfig:
        """The Shiftmax unit this block needs: rows of ``tokens`` scores of ``attn_bits``."""
        return SoftmaxConfig(in_bits=self.attn_bits, n=self.n,
                             out_bits=prob_softmax_bits(self.prob_mode, self.prob_bits),
                             max_tokens=self.tokens)
