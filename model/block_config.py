"""Configuration of the programmable attention block (``ivita.hw.attention.AttentionBlock``).

A frozen, validated :class:`BlockConfig`: the array size, the code widths of the block, the
capacities (``max_tokens``, ``max_dim``, ``max_heads``, program depth) and every width and
buffer depth derived from them. numpy/stdlib only: the firmware compiler imports it without
amaranth.
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import check_int
from .config import ArrayConfig, AttentionConfig, _Config
from .quant import CODE_BITS
from .quant import BIAS_BITS, LN_BETA_BITS
from .requant import required_acc_bits

__all__ = ["BlockConfig", "CONST_BIAS_BITS", "SHIFT_FIELD_BITS"]

#: Signed width of the ``bias`` field of a C-mem lane: it holds Linear biases (32 bits) and the
#: LayerNorm offsets ``ln_beta`` (40 bits).
CONST_BIAS_BITS = max(BIAS_BITS, LN_BETA_BITS)
#: Width of a dyadic shift ``c`` (0..63) in C-mem.
SHIFT_FIELD_BITS = 6


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, kw_only=True)
class BlockConfig(_Config):
    """One :class:`~ivita.hw.attention.AttentionBlock` instance.

    ``rows == cols`` (square array: the tile transposer of the write-back turns a ``rows x
    cols`` tile into ``cols`` words of ``rows`` lanes). Code widths as in
    :class:`~ivita.model.AttentionConfig`. ``max_tokens``/``max_dim``/``max_heads`` bound the
    layers the buffers hold; ``prog_depth`` is the number of instructions.

    Derived: ``pe_a_bits = max(a_bits, prob_bits)``, ``pe_b_bits = max(w_bits, a_bits)``
    (X.W^T is a x w, Q.K^T a x a, P.V prob x a), ``acc_bits`` = the widest exact accumulator of
    every use (X.W^T and O.Wo^T with a 32-bit bias over ``max_dim``, Q.K^T over ``max_dim``,
    P.V over ``max_tokens``) and at least what the array needs for its operand widths over
    ``k_max = max(max_dim, max_tokens, max_hidden)``.

    MLP half (``max_hidden > 0``, else no GELU unit and no MLP buffers): ``max_hidden`` is the
    widest hidden layer, ``gelu_bits`` the ShiftGELU input codes (staged in R-mem, so at most
    ``resid_bits``), ``sig_bits`` its sigmoid width; fc2 (a x w over ``max_hidden`` plus a
    32-bit bias) joins the ``acc_bits`` maximum.
    """

    rows: int = 4
    cols: int = 4
    a_bits: int = 8
    w_bits: int = 8
    attn_bits: int = 8
    prob_bits: int = 8
    resid_bits: int = 16
    mult_bits: int = 16
    n: int = 15
    max_tokens: int = 16
    max_dim: int = 16
    max_heads: int = 4
    prog_depth: int = 64
    max_hidden: int = 0
    gelu_bits: int = 8
    sig_bits: int = 8

    def __post_init__(self) -> None:
        check_int(self.rows, "rows", 1, 32)
        check_int(self.cols, "cols", 1, 32)
        if self.rows != self.cols:
            raise ValueError(f"rows={self.rows} and cols={self.cols} differ; the attention "
                             f"block needs a square array (rows == cols) for its tile "
                             f"transposer")
        for name in ("a_bits", "w_bits", "attn_bits", "prob_bits", "resid_bits"):
            check_int(getattr(self, name), name, *CODE_BITS)
        check_int(self.mult_bits, "mult_bits", 2, 32)
        check_int(self.n, "n", 0, 31)
        check_int(self.max_tokens, "max_tokens", 1, 4096)
        check_int(self.max_dim, "max_dim", 1, 4096)
        check_int(self.max_heads, "max_heads", 1, 64)
        check_int(self.prog_depth, "prog_depth", 2, 1 << 16)
        check_int(self.max_hidden, "max_hidden", 0, 16384)
        check_int(self.gelu_bits, "gelu_bits", *CODE_BITS)
        check_int(self.sig_bits, "sig_bits", 2, 16)
        if self.max_hidden and self.gelu_bits > self.resid_bits:
            raise ValueError(f"gelu_bits={self.gelu_bits} exceeds resid_bits="
                             f"{self.resid_bits}; the GELU input is staged in R-mem")
        _ = self.array_config          # validates acc_bits against the array
        for name, width in (("matmul", self.acc_bits), ("layernorm", LN_BETA_BITS + 1),
                            ("gelu", self.gelu_acc_bits)):
            if width + self.mult_bits > 62:
                raise ValueError(f"mult_bits={self.mult_bits} is too wide for the {name} "
                                 f"requantizer: its input needs {width} bits and "
                                 f"acc_bits + mult_bits must be at most 62")

    # ---------------------------------------------------------------- derived widths
    @property
    def pe_a_bits(self) -> int:
        return max(self.a_bits, self.prob_bits)

    @property
    def pe_b_bits(self) -> int:
        return max(self.w_bits, self.a_bits)

    @property
    def k_max(self) -> int:
        return max(self.max_dim, self.max_tokens, self.max_hidden)

    @property
    def gelu_out_bits(self) -> int:
        """ShiftGELU output width ``gelu_bits + sig_bits - 1``."""
        return self.gelu_bits + self.sig_bits - 1

    @property
    def gelu_acc_bits(self) -> int:
        """Requantizer input after GELU (output plus the zero-point offset):
        ``gelu_bits + sig_bits + 1``."""
        return self.gelu_bits + self.sig_bits + 1

    @property
    def hidden_blocks(self) -> int:
        return _ceil_div(self.max_hidden, self.cols)

    @property
    def acc_bits(self) -> int:
        uses = (
            required_acc_bits(self.a_bits, self.w_bits, self.max_dim, BIAS_BITS),
            required_acc_bits(self.a_bits, self.a_bits, self.max_dim),
            required_acc_bits(self.prob_bits, self.a_bits, self.max_tokens),
            required_acc_bits(self.pe_a_bits, self.pe_b_bits, self.k_max),
        )
        if self.max_hidden:
            uses += (required_acc_bits(self.a_bits, self.w_bits, self.max_hidden, BIAS_BITS),)
        return max(uses)

    @property
    def out_bits(self) -> int:
        """Width of the matmul requantizer output: the widest destination code."""
        return max(self.a_bits, self.attn_bits, self.resid_bits)

    @property
    def array_config(self) -> ArrayConfig:
        return ArrayConfig(rows=self.rows, cols=self.cols, a_bits=self.pe_a_bits,
                           b_bits=self.pe_b_bits, k_max=self.k_max, acc_bits=self.acc_bits)

    # ---------------------------------------------------------------- buffer depths (words)
    @property
    def token_blocks(self) -> int:
        return _ceil_div(self.max_tokens, self.rows)

    @property
    def dim_blocks(self) -> int:
        return _ceil_div(self.max_dim, self.cols)

    @property
    def padded_tokens(self) -> int:
        """``max_tokens`` rounded up to a multiple of ``rows`` (tiles write whole blocks)."""
        return self.token_blocks * self.rows

    @property
    def p_buffers(self) -> int:
        """Attention-probability (P) buffers in A-mem: two when ``max_heads > 1`` (the Shiftmax
        of head ``h`` writes one while the P.V of head ``h - 1`` reads the other), else one."""
        return min(self.max_heads, 2)

    @property
    def a_split(self) -> int:
        """First word of A-mem bank 1. A-mem is built as two memories, each with its own write
        port: bank 0 (words ``0 .. a_split - 1``) holds the LayerNorm output and Q/O
        (``token_blocks x max_dim`` each), bank 1 the P buffers and the MLP's GELU output, so
        the Shiftmax's lane writer (bank 1) and the tile write-back of a P.V (bank 0) write in
        the same cycle."""
        return 2 * self.token_blocks * self.max_dim

    @property
    def a_depth(self) -> int:
        """A-mem: bank 0 (:attr:`a_split` words: LayerNorm output, Q/O) plus bank 1:
        :attr:`p_buffers` P buffers (``token_blocks x padded_tokens`` each), which the MLP's
        GELU output ``u`` (``token_blocks x max_hidden``) reuses."""
        return self.a_split + self.token_blocks * max(self.p_buffers * self.padded_tokens,
                                                      self.max_hidden)

    @property
    def b_depth(self) -> int:
        """B-mem: Wq, Wk, Wv, Wo (``dim_blocks x max_dim`` each), K^T (``token_blocks x
        max_dim``), V (``dim_blocks x padded_tokens``) and, for the MLP, W1^T
        (``hidden_blocks x max_dim``) and W2^T (``dim_blocks x max_hidden``)."""
        return (4 * self.dim_blocks * self.max_dim + self.token_blocks * self.max_dim
                + self.dim_blocks * self.padded_tokens
                + self.hidden_blocks * self.max_dim + self.dim_blocks * self.max_hidden)

    @property
    def s_depth(self) -> int:
        """S-mem: two heads' scores (double buffer: the scores of head ``h+1`` are computed
        while Shiftmax reads those of head ``h``), ``2 x padded_tokens x token_blocks``."""
        return 2 * self.padded_tokens * self.token_blocks

    @property
    def r_depth(self) -> int:
        """R-mem: the residual stream, ``padded_tokens x dim_blocks``, and the MLP's GELU
        input ``padded_tokens x hidden_blocks``."""
        return self.padded_tokens * (self.dim_blocks + self.hidden_blocks)

    @property
    def c_depth(self) -> int:
        """C-mem: per-channel constants of LN and of Q, K, V, Wo (``dim_blocks`` each), the
        per-tensor score and P.V constants replicated over their column blocks
        (``token_blocks``, at most ``dim_blocks``) and the residual word; for the MLP the fc1
        and GELU-output constants (``hidden_blocks`` each), its LayerNorm and fc2 constants
        (``dim_blocks`` each) and residual word."""
        mlp = 2 * self.dim_blocks + 2 * self.hidden_blocks + 1 if self.max_hidden else 0
        return 6 * self.dim_blocks + self.token_blocks + 1 + mlp

    @property
    def macs(self) -> int:
        return self.rows * self.cols

    # ---------------------------------------------------------------- construction helper
    @classmethod
    def for_attention(cls, config: AttentionConfig, *, rows: int = 4, cols: int | None = None,
                      prog_depth: int = 64) -> BlockConfig:
        """The smallest block that runs ``config`` on a ``rows x cols`` array."""
        if not isinstance(config, AttentionConfig):
            raise TypeError(f"config must be an AttentionConfig, not {type(config).__name__}")
        return cls(rows=rows, cols=rows if cols is None else cols, a_bits=config.a_bits,
                   w_bits=config.w_bits, attn_bits=config.attn_bits,
                   prob_bits=config.prob_bits, resid_bits=config.resid_bits,
                   mult_bits=config.mult_bits, n=config.n, max_tokens=config.tokens,
                   max_dim=config.dim, max_heads=config.heads, prog_depth=prog_depth)

    def check_fits(self, config: AttentionConfig) -> None:
        """Raise ``ValueError`` naming the numbers when ``config`` does not run on this block."""
        if not isinstance(config, AttentionConfig):
            raise TypeError(f"config must be an AttentionConfig, not {type(config).__name__}")
        for name in ("a_bits", "w_bits", "attn_bits", "prob_bits", "resid_bits", "mult_bits",
                     "n"):
            if getattr(config, name) != getattr(self, name):
                raise ValueError(f"layer {name}={getattr(config, name)} differs from the "
                                 f"block's {name}={getattr(self, name)}")
        if config.prob_mode != "direct":
            raise ValueError(f"layer prob_mode={config.prob_mode!r} is not implemented; the "
                             f"block computes prob_mode='direct' only")
        for name, lim in (("tokens", "max_tokens"), ("dim", "max_dim"), ("heads", "max_heads")):
            if getattr(config, name) > getattr(self, lim):
                raise ValueError(f"{name}={getattr(config, name)} exceeds "
                                 f"{lim}={getattr(self, lim)}")
        if config.dim != self.max_dim:
            raise ValueError(f"dim={config.dim} differs from max_dim={self.max_dim}; the "
                             f"LayerNorm unit is built for rows of exactly max_dim channels")
        if config.head_dim % self.cols:
            raise ValueError(f"head_dim={config.head_dim} is not a multiple of "
                             f"cols={self.cols}")

    def check_fits_mlp(self, config: object) -> None:
        """Like :meth:`check_fits` for an MLP config (``dim``, ``hidden``, ``a_bits``,
        ``w_bits``, ``gelu_bits``, ``sig_bits``, ``resid_bits``, ``mult_bits``, ``n``)."""
        if not self.max_hidden:
            raise ValueError("this block has no MLP half (max_hidden=0)")
        for name in ("a_bits", "w_bits", "gelu_bits", "sig_bits", "resid_bits", "mult_bits",
                     "n"):
            if getattr(config, name) != getattr(self, name):
                raise ValueError(f"layer {name}={getattr(config, name)} differs from the "
                                 f"block's {name}={getattr(self, name)}")
        if config.hidden > self.max_hidden:  # type: ignore[attr-defined]
            raise ValueError(f"hidden={config.hidden} exceeds "  # type: ignore[attr-defined]
                             f"max_hidden={self.max_hidden}")
        if config.dim != self.max_dim:  # type: ignore[attr-defined]
            raise ValueError(f"dim={config.dim} differs from "  # type: ignore[attr-defined]
                             f"max_dim={self.max_dim}; the LayerNorm unit is built for rows "
                             f"of exactly max_dim channels")
