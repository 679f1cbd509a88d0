"""Operand streams for a power run: the X·W, Q·Kᵀ and P·V tiles of one attention layer.

:func:`attention_tiles` runs :func:`ivita.model.attention_block_trace` on a deterministic
block (:func:`~ivita.model.make_float_block`, ``tokens=16, dim=64, heads=4``, seed ``seed``)
quantized at ``a_bits``/``w_bits`` and cuts its three matmuls into array tiles the way the
compiler schedules them: output tile ``(i, j)`` of ``A[m x K] @ B[K x n]`` streams the ``K``
beats ``a = A[i*rows:(i+1)*rows, k]``, ``b = B[k, j*cols:(j+1)*cols]`` (edge tiles
zero-padded):

- ``xw``: ``h @ Wqᵀ`` (LayerNorm output codes x query weight codes, ``K = dim``);
- ``qk``: ``Q_h @ K_hᵀ`` per head (``K = head_dim``);
- ``pv``: ``P_h @ V_h`` per head (``K = tokens``). ``P`` is unsigned ``prob_bits`` codes; the
  run uses ``prob_bits = a_bits - 1`` so that ``P`` fits the PE's signed ``a_bits`` operand
  (``a_bits = 2``: ``prob_bits = 2`` and ``P`` is clipped to 1, stated in the label).

Each kind is capped at ``max_beats`` input beats (its first tiles), so one run exercises all
three. Q·Kᵀ and P·V put activations (``a_bits``) on the array's B port, so an array whose
weights are narrower than its activations (``w_bits < a_bits``) cannot run them: its stream
is X·W only, and the label says so. ``data="random"``: uniform random codes over the full signed ranges (a labelled extra).

``baseline=True`` (the dequant-first datapath of docs/numerics.md §3): every code is first
converted to 16-bit fixed point with :func:`ivita.model.dequant_first_operand`, per tensor
(activations: the block's scale for that tensor; weights: per output channel, the
least-squares scale between the float weights and their codes), with the most fractional
bits that fit (:func:`ivita.model.dequant_first_frac_bits`). The PE then multiplies these
16-bit operands; the reference is still ``A @ B`` on the operands the PE sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ivita.model import (AttentionConfig, attention_block_trace, dequant_first_constants,
                         dequant_first_frac_bits, dequant_first_operand, make_block_input,
                         make_float_block, quantize, quantize_block, signed_range)

__all__ = ["Tile", "Stream", "attention_tiles", "random_tiles", "operand_stream", "DATA_KINDS"]

DATA_KINDS = ("attention", "random")


@dataclass(frozen=True)
class Tile:
    """``a`` is ``rows x K``, ``b`` is ``K x cols`` (the operands the PEs see)."""

    kind: str
    a: np.ndarray
    b: np.ndarray


@dataclass(frozen=True)
class Stream:
    tiles: tuple[Tile, ...]
    label: str

    @property
    def beats(self) -> int:
        return sum(t.a.shape[1] for t in self.tiles)


def _tiles(kind: str, a: np.ndarray, b: np.ndarray, rows: int, cols: int,
           max_beats: int) -> list[Tile]:
    m, k = a.shape
    n = b.shape[1]
    out: list[Tile] = []
    beats = 0
    for i in range(0, m, rows):
        for j in range(0, n, cols):
            if beats + k > max_beats and out:
                return out
            ta = np.zeros((rows, k), dtype=np.int64)
            tb = np.zeros((k, cols), dtype=np.int64)
            blk_a = a[i:i + rows]
            blk_b = b[:, j:j + cols]
            ta[:blk_a.shape[0]] = blk_a
            tb[:, :blk_b.shape[1]] = blk_b
            out.append(Tile(kind, ta, tb))
            beats += k
    return out


def _dequant(codes: np.ndarray, scale: np.ndarray | float, code_bits: int) -> np.ndarray:
    """16-bit fixed point of ``codes * scale`` (per tensor or per last-axis channel)."""
    f = dequant_first_frac_bits(scale, code_bits)
    bx, cx = dequant_first_constants(scale, f)
    return np.asarray(dequant_first_operand(codes, bx, cx, 16), dtype=np.int64)


def attention_tiles(rows: int, cols: int, a_bits: int, w_bits: int, *, seed: int = 0,
                    baseline: bool = False, max_beats: int = 512) -> Stream:
    """The X·W, Q·Kᵀ and P·V tiles of one attention layer (see the module docstring)."""
    prob_bits = max(2, a_bits - 1)
    cfg = AttentionConfig(tokens=16, dim=64, heads=4, a_bits=a_bits, w_bits=w_bits,
                          attn_bits=a_bits, prob_bits=prob_bits)
    block = make_float_block(cfg, seed)
    calib = make_block_input(cfg, seed + 1, 4, profile_seed=seed)
    params = quantize_block(block, cfg, calib)
    sc = params.scales
    assert sc is not None
    x = make_block_input(cfg, seed + 2, 1, profile_seed=seed)[0]
    tr = attention_block_trace(quantize(x, sc.x, cfg.resid_bits), params)
    hd = cfg.head_dim
    h, q, k, v = tr["h"], tr["q"], tr["k"], tr["v"]
    p_hi = signed_range(a_bits)[1]
    p = np.minimum(tr["p"], p_hi)
    wq = np.asarray(params.wq, dtype=np.int64)
    if baseline:
        wf = block.wq
        w_scale = (wf * wq).sum(axis=1) / np.maximum((wq * wq).sum(axis=1), 1)
        w_scale = np.where(w_scale > 0, w_scale, 1.0)
        wq = _dequant(wq, w_scale[:, None], w_bits)
        h, q, k, v = (_dequant(t, s, a_bits) for t, s in ((h, sc.h), (q, sc.q), (k, sc.k),
                                                          (v, sc.v)))
        p = _dequant(p, 1.0 / (1 << prob_bits), a_bits)
    tiles = _tiles("xw", h, wq.T, rows, cols, max_beats)
    qk: list[Tile] = []
    pv: list[Tile] = []
    act_on_b = baseline or w_bits >= a_bits      # the baseline PE is 16 x 16 bits
    for head in range(cfg.heads if act_on_b else 0):
        sl = slice(head * hd, (head + 1) * hd)
        left = max_beats - sum(t.a.shape[1] for t in qk)
        if left > 0:
            qk += _tiles("qk", q[:, sl], k[:, sl].T, rows, cols, left)
        left = max_beats - sum(t.a.shape[1] for t in pv)
        if left > 0:
            pv += _tiles("pv", p[head], v[:, sl], rows, cols, left)
    clip = ", P clipped to 1" if a_bits == 2 else ""
    kinds = ("X·Wq, Q·Kᵀ, P·V tiles" if act_on_b else
             f"X·Wq tiles only (Q·Kᵀ and P·V put {a_bits}-bit activations on the "
             f"{w_bits}-bit B port: they do not run on this array)")
    label = (f"attention layer (tokens 16, dim 64, 4 heads, seed {seed}): {kinds}, "
             f"{a_bits}-bit activations, {w_bits}-bit weights, P {prob_bits}-bit{clip}"
             + (", dequantized to 16-bit fixed point (dequant-first)" if baseline else ""))
    return Stream(tuple(tiles + qk + pv), label)


def random_tiles(rows: int, cols: int, a_bits: int, w_bits: int, *, seed: int = 0,
                 baseline: bool = False, max_beats: int = 512, k: int = 16) -> Stream:
    """Uniform random codes over the full signed ranges, tiles of ``k`` beats (labelled extra).
    ``baseline``: each code times a fixed scale, converted as in :func:`attention_tiles`."""
    rng = np.random.default_rng(seed)
    alo, ahi = signed_range(a_bits)
    wlo, whi = signed_range(w_bits)
    tiles = []
    for _ in range(max(1, 3 * max_beats // k)):
        a = rng.integers(alo, ahi + 1, size=(rows, k), dtype=np.int64)
        b = rng.integers(wlo, whi + 1, size=(k, cols), dtype=np.int64)
        if baseline:
            a, b = _dequant(a, 0.05, a_bits), _dequant(b, 0.02, w_bits)
        tiles.append(Tile("random", a, b))
    label = (f"uniform random codes (seed {seed}), {a_bits}-bit x {w_bits}-bit"
             + (", dequantized to 16-bit fixed point (dequant-first)" if baseline else ""))
    return Stream(tuple(tiles), label)


def operand_stream(data: str, rows: int, cols: int, a_bits: int, w_bits: int, *,
                   seed: int = 0, baseline: bool = False, max_beats: int = 512) -> Stream:
    """``data`` is ``"attention"`` or ``"random"``; see the two functions above."""
    if data == "attention":
        return attention_tiles(rows, cols, a_bits, w_bits, seed=seed, baseline=baseline,
                               max_beats=max_beats)
    if data == "random":
        return random_tiles(rows, cols, a_bits, w_bits, seed=seed, baseline=baseline,
                            max_beats=max_beats)
    raise ValueError(f"data={data!r} is not one of {', '.join(DATA_KINDS)}")
