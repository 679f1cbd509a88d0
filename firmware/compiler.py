"""Compiler: one quantized attention layer (``AttentionParams``) -> block program + memory
images (pure Python + numpy; the hardware is :class:`ivita.hw.attention.AttentionBlock`).

Memory plan (``T`` tokens, ``Tp`` = ``T`` rounded up to ``rows``, ``TB = Tp / rows``, ``DB =
dim / cols``, ``d`` = head_dim):

- A-mem bank 0: ``H`` (LayerNorm output, kept to the end) and ``Q`` (later ``O``: the P.V of
  head ``h`` writes its columns over the Q columns of head ``h``, dead once its scores are
  done) in A-layout (stride ``dim``); bank 1 (from ``cfg.a_split``): ``P`` of heads alternating
  between two buffers (stride ``Tp``; one for a one-head layer).
- B-mem: ``Wq^T, Wk^T, Wv^T, Wo^T`` in B-layout (stride ``dim``), ``K^T`` (word ``(token
  block, channel)``, stride ``dim``), ``V`` (word ``(channel block, token)``, stride ``Tp``).
- S-mem: two scores buffers (heads alternate; word ``(query, key block)``, stride ``TB``).
- R-mem: ``X`` and, in place, the output (word ``(token, channel block)``, stride ``DB``).
- C-mem: LN, Q, K, V, Y constants (``DB`` words each), the score, P.V and residual words.

Program: LAYERNORM; Q of head 0 (TRANSPOSE -> A bank 0), K of head 0 (TRANSPOSE -> B), scores
0 (ROW -> S buffer 0); per head ``h``: SYNC, SOFTMAX ``h`` (S buffer ``h % 2`` -> P buffer
``h % 2``, A-mem bank 1), then under it (MATMULs writing B-mem, S-mem or A-mem bank 0 run
beside a SOFTMAX into bank 1): V of head ``h - 1`` (ROW -> B) and its P.V (TRANSPOSE -> the O
columns of that head, over its dead Q columns), Q, K and scores of head ``h + 1``; then V of
the last head, SYNC, its P.V; MATMUL Wo (RESIDUAL -> R); HALT. The SYNC before a Shiftmax
keeps it behind the scores it reads and the P.V behind it behind the Shiftmax that wrote its P.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ivita.model.attention import AttentionParams
from ivita.model.block_config import BlockConfig
from ivita.model.core import signed_range

from .isa import MEMS, MODES, Op, encode
from .layout import pack_a, pack_b, pack_rows, unpack_a, unpack_b, unpack_rows
from .memory_map import memory_map, pack_const
from .program_check import check_program

__all__ = ["CompiledBlock", "Tensor", "compile_attention"]


@dataclass(frozen=True)
class Tensor:
    """Where a tensor lives: memory, layout (``a``/``b``/``rows``), base, stride, shape."""

    mem: str
    layout: str
    base: int
    stride: int
    shape: tuple[int, int]
    signed: bool = True


@dataclass
class CompiledBlock:
    config: BlockConfig
    program: list[tuple[int, dict[str, int]]]
    images: dict[str, dict[int, int]]
    tensors: dict[str, Tensor] = field(default_factory=dict)

    def program_words(self) -> dict[int, int]:
        return {pc: encode(op, **f) for pc, (op, f) in enumerate(self.program)}

    def words_of(self, name: str) -> list[int]:
        """The memory words holding tensor ``name`` (to read back)."""
        t = self.tensors[name]
        lanes = self.config.rows
        rows, cols = t.shape
        if t.layout == "a":
            return sorted({t.base + (r // lanes) * t.stride + k for r in range(rows)
                           for k in range(cols)})
        if t.layout == "b":
            return sorted({t.base + (n // lanes) * t.stride + k for k in range(rows)
                           for n in range(cols)})
        return sorted({t.base + r * t.stride + n // lanes for r in range(rows)
                       for n in range(cols)})

    def unpack(self, name: str, words: dict[int, int]) -> np.ndarray:
        t, cfg = self.tensors[name], self.config
        bits = {"A": cfg.pe_a_bits, "B": cfg.pe_b_bits, "S": cfg.attn_bits,
                "R": cfg.resid_bits}[t.mem]
        if t.layout == "a":
            return unpack_a(words, t.shape, cfg.rows, bits, t.base, t.stride, t.signed)
        if t.layout == "b":
            return unpack_b(words, t.shape, cfg.cols, bits, t.base, t.stride)
        return unpack_rows(words, t.shape, cfg.cols, bits, t.base, t.stride)


def _const_words(cfg: BlockConfig, base: int, n: int, **vecs: np.ndarray) -> dict[int, int]:
    out = {}
    for w in range(-(-n // cfg.cols)):
        lanes = []
        for j in range(cfg.cols):
            ch = w * cfg.cols + j
            lanes.append({k: int(v[ch]) if ch < n else 0 for k, v in vecs.items()})
        out[base + w] = pack_const(cfg, lanes)
    return out


def _fit(name: str, used: int, depth: int) -> None:
    if used > depth:
        raise ValueError(f"{name}-mem needs {used} words for this layer; its depth is {depth}")


def compile_attention(params: AttentionParams, cfg: BlockConfig, x_int: np.ndarray, *,
                      overlap: bool = True) -> CompiledBlock:
    """Program + memory images computing ``attention_block_trace(x_int, params)["out"]`` into
    the ``out`` tensor (R-mem, in place of ``x``). Rejects, with the numbers, a layer that does
    not fit ``cfg`` and a program that overruns a buffer.

    Order (module docstring): Q, K and the scores of head ``h + 1`` and the V and P.V of head
    ``h - 1`` are computed under the Shiftmax of head ``h``; a ``SYNC`` before every Shiftmax
    keeps it behind the scores it reads and the P.V after it behind the Shiftmax that wrote
    its P. ``overlap=False``
    puts a ``SYNC`` after every instruction (strictly sequential execution; same results, more
    cycles)."""
    lc = params.config
    cfg.check_fits(lc)
    x = np.asarray(x_int, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != lc.dim:
        raise ValueError(f"x_int must be (tokens, {lc.dim}), got shape {x.shape}")
    T, dim, d, H = x.shape[0], lc.dim, lc.head_dim, lc.heads
    if not 1 <= T <= cfg.max_tokens:
        raise ValueError(f"tokens={T} exceeds max_tokens={cfg.max_tokens}")
    lo, hi = signed_range(cfg.resid_bits)
    if x.size and (x.min() < lo or x.max() > hi):
        raise ValueError(f"x_int has codes outside the resid_bits={cfg.resid_bits} range")
    rows, cols = cfg.rows, cfg.cols
    TB, DB = -(-T // rows), dim // cols
    Tp = TB * rows
    mm = memory_map(cfg)
    # ---- regions
    A_H, A_Q = 0, TB * dim
    A_O = A_Q                                         # O replaces Q head by head
    A_P = cfg.a_split                                 # P buffers: A-mem bank 1
    NP = min(H, 2)              # heads alternate between two P buffers (<= cfg.p_buffers)
    B_W = [i * DB * dim for i in range(4)]
    B_K = 4 * DB * dim
    B_V = B_K + TB * dim
    C_LN, C_Q, C_K, C_V, C_Y = (i * DB for i in range(5))
    C_S = 5 * DB
    C_PV = C_S + TB
    C_RES = C_PV + d // cols
    _fit("A", A_P + NP * TB * Tp, mm["A"].depth)
    _fit("B", B_V + DB * Tp, mm["B"].depth)
    _fit("S", 2 * Tp * TB, mm["S"].depth)
    _fit("R", Tp * DB, mm["R"].depth)
    _fit("C", C_RES + 1, mm["C"].depth)
    p = params
    images: dict[str, dict[int, int]] = {n: {} for n in ("A", "B", "S", "R", "C")}
    for i, w in enumerate((p.wq, p.wk, p.wv, p.wo)):
        images["B"].update(pack_b(w.T, cols, cfg.pe_b_bits, B_W[i], dim))
    xp = np.zeros((Tp, dim), dtype=np.int64)
    xp[:T] = x
    images["R"].update(pack_rows(xp, cols, cfg.resid_bits, 0, DB))
    C = images["C"]
    C.update(_const_words(cfg, C_LN, dim, bias=p.ln_beta, b=p.ln_b, c=p.ln_c))
    for base, bias, b, c in ((C_Q, p.bq, p.q_b, p.q_c), (C_K, p.bk, p.k_b, p.k_c),
                             (C_V, p.bv, p.v_b, p.v_c), (C_Y, p.bo, p.y_b, p.y_c)):
        C.update(_const_words(cfg, base, dim, bias=bias, b=b, c=c))
    full = np.ones(cols * max(TB, d // cols), dtype=np.int64)   # per tensor: replicated
    C.update(_const_words(cfg, C_S, TB * cols, b=full * p.a_b, c=full * p.a_c))
    C.update(_const_words(cfg, C_PV, d, b=full * p.o_b, c=full * p.o_c))
    C.update(_const_words(cfg, C_RES, cols, b=full * p.rx_b, c=full * p.rx_c,
                          b2=full * p.ry_b, c2=full * p.ry_c))
    # ---- program
    prog: list[tuple[int, dict[str, int]]] = []
    prog.append((Op.LAYERNORM, dict(src=0, src_stride=DB, dst=A_H, dst_stride=dim, tokens=T,
                                    channels=dim, const_base=C_LN)))
    proj = dict(a_base=A_H, a_stride=dim, b_stride=dim, row_blocks=TB, col_blocks=DB, k=dim,
                sat_bits=lc.a_bits)
    S_BUF = Tp * TB                                   # the second scores buffer
    P_BUF = TB * Tp                                   # the second P buffer

    def scores(h: int) -> tuple[int, dict[str, int]]:
        return (Op.MATMUL, dict(a_base=A_Q + h * d, a_stride=dim, b_base=B_K + h * d,
                                b_stride=dim, row_blocks=TB, col_blocks=TB, k=d,
                                const_base=C_S, mode=MODES["ROW"], dst_mem=MEMS["S"],
                                dst_base=(h % 2) * S_BUF, s_row=TB, s_col=1,
                                sat_bits=lc.attn_bits))

    def softmax(h: int) -> tuple[int, dict[str, int]]:
        return (Op.SOFTMAX, dict(src=(h % 2) * S_BUF, src_stride=TB, dst=A_P + (h % 2) * P_BUF,
                                 dst_stride=Tp, rows=T, length=T, x0=p.x0))

    def pv(h: int) -> tuple[int, dict[str, int]]:
        return (Op.MATMUL, dict(a_base=A_P + (h % 2) * P_BUF, a_stride=Tp,
                                b_base=B_V + (h * d // cols) * Tp, b_stride=Tp,
                                row_blocks=TB, col_blocks=d // cols, k=T,
                                const_base=C_PV, mode=MODES["TRANSPOSE"], dst_mem=MEMS["A"],
                                dst_base=A_O + h * d, s_row=1, s_col=dim, sat_bits=lc.a_bits))

    hb = d // cols                                    # column blocks of one head

    def query(h: int) -> tuple[int, dict[str, int]]:  # Q columns of head h (A-mem bank 0)
        return (Op.MATMUL, dict(proj, b_base=B_W[0] + h * hb * dim, const_base=C_Q + h * hb,
                                col_blocks=hb, mode=MODES["TRANSPOSE"], dst_mem=MEMS["A"],
                                dst_base=A_Q + h * d, s_row=1, s_col=dim))

    def key(h: int) -> tuple[int, dict[str, int]]:    # K^T columns of head h
        return (Op.MATMUL, dict(proj, b_base=B_W[1] + h * hb * dim, const_base=C_K + h * hb,
                                col_blocks=hb, mode=MODES["TRANSPOSE"], dst_mem=MEMS["B"],
                                dst_base=B_K + h * d, s_row=1, s_col=dim))

    def value(h: int) -> tuple[int, dict[str, int]]:  # V columns of head h
        return (Op.MATMUL, dict(proj, b_base=B_W[2] + h * hb * dim, const_base=C_V + h * hb,
                                col_blocks=hb, mode=MODES["ROW"], dst_mem=MEMS["B"],
                                dst_base=B_V + h * hb * Tp, s_row=1, s_col=Tp))

    # Window h, under the Shiftmax of head h (P: A-mem bank 1): V and P.V of head h - 1 (O
    # over the dead Q columns of that head: bank 0, so H stays intact), then Q, K and the
    # scores of head h + 1 (A bank 0, B-mem, the other S buffer). The SYNC before each
    # Shiftmax keeps it behind the scores it reads and every P.V behind the Shiftmax that
    # wrote its P (the previous one); a last SYNC before the P.V of the last head.
    prog += [query(0), key(0), scores(0)]
    for h in range(H):
        prog += [(Op.SYNC, {}), softmax(h)]
        if h:
            prog += [value(h - 1), pv(h - 1)]
        if h + 1 < H:
            prog += [query(h + 1), key(h + 1), scores(h + 1)]
    prog += [value(H - 1), (Op.SYNC, {}), pv(H - 1)]
    prog.append((Op.MATMUL, dict(a_base=A_O, a_stride=dim, b_base=B_W[3], b_stride=dim,
                                 row_blocks=TB, col_blocks=DB, k=dim, const_base=C_Y,
                                 mode=MODES["RESIDUAL"], dst_mem=MEMS["R"], dst_base=0,
                                 s_row=DB, s_col=1, sat_bits=lc.resid_bits, aux=C_RES)))
    prog.append((Op.HALT, {}))
    if not overlap:
        prog = [ins for op, f in prog
                for ins in ([(op, f)] if op in (Op.SYNC, Op.HALT) else [(op, f), (Op.SYNC, {})])]
        prog = [ins for i, ins in enumerate(prog)
                if not (ins[0] == Op.SYNC and i and prog[i - 1][0] == Op.SYNC)]
    check_program(cfg, prog)
    tensors = {
        "x": Tensor("R", "rows", 0, DB, (T, dim)), "out": Tensor("R", "rows", 0, DB, (T, dim)),
        "h": Tensor("A", "a", A_H, dim, (T, dim)), "o": Tensor("A", "a", A_O, dim, (T, dim)),
        "q": Tensor("A", "a", A_Q, dim, (T, dim)), "k": Tensor("B", "a", B_K, dim, (T, dim)),
        "v": Tensor("B", "b", B_V, Tp, (T, dim)),
        "a": Tensor("S", "rows", ((H - 1) % 2) * S_BUF, TB, (T, T)),
        "p": Tensor("A", "a", A_P + ((H - 1) % 2) * P_BUF, Tp, (T, T)),
    }
    cb = CompiledBlock(cfg, prog, images, tensors)
    images["prog"] = cb.program_words()
    return cb
