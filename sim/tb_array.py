"""Bench of the systolic array (:class:`ivita.hw.array.SystolicArray`) against ``A @ B``.

Also the cocotb test module for it (``test_array`` at the bottom). Normative model: ``A @ B``
in int64, computed with :func:`ivita.model.linear_acc` (zero bias, so the model's overflow
checks apply).

Stimulus: ``tiles`` independent products ``A_t[rows x k] @ B_t[k x cols]`` streamed back to
back (one beat per k step: ``a = A_t[:, k]``, ``b = B_t[k, :]``, ``last`` on ``k - 1``), or
with ``m``/``n`` one ``m x k x n`` product tiled over the array (zero-padded edge tiles).
Corner tiles come first unless ``corners=False``: most negative x most negative (the exact
accumulator bound), all max, most negative x max, and a mix of {min, max, -1, 0, 1}.
Expected: ``rows`` beats per tile, beat ``r`` = ``C_t[r, :]``, ``last`` on ``r = rows - 1``;
mismatches are reported at (tile, row, col) and, for ``m``/``n`` runs, global (i, j).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ivita.model import ArrayConfig, linear_acc, signed_range

from .bench import Stimulus, TB
from .cocotb_bench import cocotb_test

__all__ = ["ArrayTB", "test_array"]

CORNER_KINDS = ("min_x_min", "max_x_max", "min_x_max", "mixed_extremes")


def _check_pos(v: Any, name: str, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {type(v).__name__} ({v!r})")
    if v < 1:
        raise ValueError(f"{name}={v} is out of range; it must be at least 1")
    if hi is not None and v > hi:
        raise ValueError(f"{name}={v} is out of range; it must be at most {hi}")
    return int(v)


@dataclass(frozen=True, kw_only=True)
class ArrayTB(TB):
    """Bench of ``SystolicArray(config)``: ``tiles`` tiles of reduction length ``k``."""

    unit = "array"
    summary = "systolic array: tiles of A[rows x k] @ B[k x cols] vs int64 A @ B"
    config_type = ArrayConfig
    end_values = {"k_overflow": 0}

    config: ArrayConfig
    k: int = 16
    tiles: int = 4
    m: int | None = None
    n: int | None = None
    corners: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, not {type(self.config).__name__}")
        _check_pos(self.k, "k")
        if self.k > self.config.k_max:
            raise ValueError(f"k={self.k} exceeds k_max={self.config.k_max} of the array; the "
                             f"accumulators are sized for at most k_max terms")
        _check_pos(self.tiles, "tiles", 1 << 16)
        if (self.m is None) != (self.n is None):
            raise ValueError("m and n must be given together (an m x k x n product)")
        if self.m is not None:
            _check_pos(self.m, "m", 1 << 14)
            _check_pos(self.n, "n", 1 << 14)
        if not isinstance(self.corners, bool):
            raise TypeError(f"corners must be a bool, not {type(self.corners).__name__}")

    # -- shape bookkeeping -------------------------------------------------------------------

    @property
    def tile_grid(self) -> tuple[int, int] | None:
        """``(tiles down, tiles across)`` of an ``m x n`` product, else ``None``."""
        if self.m is None or self.n is None:
            return None
        return math.ceil(self.m / self.config.rows), math.ceil(self.n / self.config.cols)

    @property
    def n_tiles(self) -> int:
        grid = self.tile_grid
        return grid[0] * grid[1] if grid else self.tiles

    def ideal_cycles(self) -> int:
        """Cycles an ideal rows x cols array needs: one k step per cycle, ``max(k, rows)``
        per tile (a tile cannot drain faster than one output row per cycle)."""
        return self.n_tiles * max(self.k, self.config.rows)

    # -- TB interface --------------------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from ivita.commands._common import add_int
        from ivita.model.config import MAX_ACC_BITS
        from ivita.model.quant import CODE_BITS

        g = parser.add_argument_group("array")
        lo, hi = CODE_BITS
        add_int(g, "--bits", lo=lo, hi=hi, default=8, help="operand width for A and B")
        add_int(g, "--a-bits", lo=lo, hi=hi, help="width of A", default_text="--bits")
        add_int(g, "--b-bits", lo=lo, hi=hi, help="width of B", default_text="--bits")
        add_int(g, "--rows", lo=1, hi=32, default=4, help="array rows")
        add_int(g, "--cols", lo=1, hi=32, default=4, help="array columns")
        add_int(g, "--k", lo=1, hi=1 << 20, default=16,
                help="reduction length of every tile, at most --k-max")
        add_int(g, "--k-max", lo=1, hi=1 << 20,
                help="k_max of the array config", default_text="--k: the exact accumulator")
        add_int(g, "--acc-bits", lo=2, hi=MAX_ACC_BITS,
                help="accumulator width, at least the exact need of --bits over --k-max",
                default_text="the exact need")
        add_int(g, "--tiles", lo=1, hi=1 << 16, default=4, help="number of tiles")
        add_int(g, "--m", lo=1, hi=1 << 14, help="rows of A: run one m x k x n product instead",
                default_text="off")
        add_int(g, "--n", lo=1, hi=1 << 14, help="columns of B (with --m)", default_text="off")
        g.add_argument("--corners", action=argparse.BooleanOptionalAction, default=True,
                       help="start with the corner tiles (min x min, max x max, ...)")
        g.add_argument("--dequant-first", action="store_true",
                       help="the 16-bit dequant-first baseline PEs")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "ArrayTB":
        from ivita.commands._common import UsageError, name_flags
        from ivita.model import required_acc_bits
        from ivita.model.config import DEQUANT_FIRST_BITS, MAX_ACC_BITS

        a_bits = args.a_bits if args.a_bits is not None else args.bits
        b_bits = args.b_bits if args.b_bits is not None else args.bits
        k_max = args.k_max if args.k_max is not None else args.k
        if args.k > k_max:
            raise UsageError(f"--k {args.k} exceeds --k-max {k_max}: --k must be in 1..{k_max} "
                             f"(the accumulators hold at most k_max terms)")
        if (args.m is None) != (args.n is None):
            raise UsageError("--m and --n must be given together (one m x k x n product)")
        pa, pb = (DEQUANT_FIRST_BITS,) * 2 if args.dequant_first else (a_bits, b_bits)
        need = required_acc_bits(pa, pb, k_max)
        if need > MAX_ACC_BITS:
            raise UsageError(f"{pa} x {pb}-bit operands over --k-max {k_max} need a {need}-bit "
                             f"accumulator; at most {MAX_ACC_BITS} bits are supported")
        if args.acc_bits is not None and args.acc_bits < need:
            raise UsageError(f"--acc-bits {args.acc_bits}: must be in {need}..{MAX_ACC_BITS} "
                             f"for {pa} x {pb}-bit operands over --k-max {k_max} (the exact "
                             f"accumulator)")
        try:
            config = ArrayConfig(rows=args.rows, cols=args.cols, a_bits=a_bits, b_bits=b_bits,
                                 k_max=k_max, acc_bits=args.acc_bits,
                                 dequant_first=args.dequant_first)
            return cls(config=config, k=args.k, tiles=args.tiles, m=args.m, n=args.n,
                       corners=args.corners)
        except ValueError as e:
            raise UsageError(name_flags(str(e), {
                "rows": "--rows", "cols": "--cols", "a_bits": "--a-bits", "b_bits": "--b-bits",
                "k_max": "--k-max", "acc_bits": "--acc-bits", "k": "--k", "tiles": "--tiles",
                "m": "--m", "n": "--n"})) from None

    def planned_size(self, *, stall_in: float = 0.0, stall_out: float = 0.0) -> Any:
        """Beats and vector memory before the vectors exist (equal to the stimulus's)."""
        from .bench import size_of
        n, r, c = self.n_tiles, self.config.rows, self.config.cols
        return size_of(self, beats_in=n * self.k, in_elements=n * self.k * (r + c + 1),
                       beats_out=n * r, out_elements=n * r * (c + 1), stall_in=stall_in,
                       stall_out=stall_out)

    def build_component(self) -> Any:
        from ivita.hw.array import SystolicArray
        return SystolicArray(self.config)

    def stimulus(self, seed: int) -> Stimulus:
        cfg = self.config
        rows, cols, k = cfg.rows, cfg.cols, self.k
        alo, ahi = signed_range(cfg.pe_a_bits)
        blo, bhi = signed_range(cfg.pe_b_bits)
        rng = np.random.default_rng(seed)
        a_tiles: list[np.ndarray] = []
        b_tiles: list[np.ndarray] = []
        c_tiles: list[np.ndarray] = []
        grid = self.tile_grid
        if grid is not None:
            assert self.m is not None and self.n is not None
            a_full = rng.integers(alo, ahi + 1, size=(self.m, k))
            b_full = rng.integers(blo, bhi + 1, size=(k, self.n))
            c_full = linear_acc(a_full, b_full.T, np.zeros(self.n, dtype=np.int64))
            for ti in range(grid[0]):
                for tj in range(grid[1]):
                    a_t = np.zeros((rows, k), dtype=np.int64)
                    b_t = np.zeros((k, cols), dtype=np.int64)
                    c_t = np.zeros((rows, cols), dtype=np.int64)
                    ra = a_full[ti * rows:(ti + 1) * rows]
                    cb = b_full[:, tj * cols:(tj + 1) * cols]
                    a_t[:ra.shape[0]] = ra
                    b_t[:, :cb.shape[1]] = cb
                    cc = c_full[ti * rows:(ti + 1) * rows, tj * cols:(tj + 1) * cols]
                    c_t[:cc.shape[0], :cc.shape[1]] = cc
                    a_tiles.append(a_t)
                    b_tiles.append(b_t)
                    c_tiles.append(c_t)
        else:
            for t in range(self.tiles):
                kind = CORNER_KINDS[t] if self.corners and t < len(CORNER_KINDS) else "random"
                if kind == "min_x_min":
                    a_t, b_t = np.full((rows, k), alo), np.full((k, cols), blo)
                elif kind == "max_x_max":
                    a_t, b_t = np.full((rows, k), ahi), np.full((k, cols), bhi)
                elif kind == "min_x_max":
                    a_t, b_t = np.full((rows, k), alo), np.full((k, cols), bhi)
                elif kind == "mixed_extremes":
                    a_t = rng.choice(np.array(sorted({alo, ahi, -1, 0, min(1, ahi)})), (rows, k))
                    b_t = rng.choice(np.array(sorted({blo, bhi, -1, 0, min(1, bhi)})), (k, cols))
                else:
                    a_t = rng.integers(alo, ahi + 1, size=(rows, k))
                    b_t = rng.integers(blo, bhi + 1, size=(k, cols))
                a_t, b_t = a_t.astype(np.int64), b_t.astype(np.int64)
                a_tiles.append(a_t)
                b_tiles.append(b_t)
                c_tiles.append(linear_acc(a_t, b_t.T, np.zeros(cols, dtype=np.int64)))
        n_t = len(a_tiles)
        a_beats = np.concatenate([a_t.T for a_t in a_tiles])          # (n_t * k, rows)
        b_beats = np.concatenate(b_tiles)                             # (n_t * k, cols)
        last_in = np.tile((np.arange(k) == k - 1).astype(np.int64), n_t)
        c_beats = np.concatenate(c_tiles)                             # (n_t * rows, cols)
        last_out = np.tile((np.arange(rows) == rows - 1).astype(np.int64), n_t)
        return Stimulus(
            inputs={"i_stream": {"a": a_beats, "b": b_beats, "last": last_in}},
            expected={"o_stream": {"c": c_beats, "last": last_out}},
            work={"tiles": n_t, "macs": n_t * rows * cols * k,
                  "ideal_cycles": self.ideal_cycles()})

    def timing_n(self) -> int:
        """Every tile has ``k`` beats."""
        return self.k

    def describe(self, beat: int, group: str, index: tuple[int, ...]) -> dict[str, int]:
        rows, cols = self.config.rows, self.config.cols
        tile, row = divmod(beat, rows)
        d = {"tile": tile, "row": row}
        if index:
            d["col"] = index[0]
        grid = self.tile_grid
        if grid is not None:
            ti, tj = divmod(tile, grid[1])
            d["i"] = ti * rows + row
            if index:
                d["j"] = tj * cols + index[0]
        return d


test_array = cocotb_test(ArrayTB)
