"""Bench of the requantizer (:class:`ivita.hw.requant.Requantizer`) against the model.

Also the cocotb test module for it (``test_requant`` at the bottom). Normative model:
``q[l] = ivita.model.requantize(acc[l], b[l], c[l], out_bits)``.

Set-up: the per-lane ``(b, c)`` table is written through ``table_we``/``table_lane``/
``table_b``/``table_c`` (one entry per cycle) before the stream starts; ``table_error`` must
still be 0 at the end. Lanes cycle through kinds (with ``corners``): a realistic scale (shift
near ``acc_bits + mult_bits - out_bits``), ``b`` = max with the largest shift, ``b = 0``,
``b = 1, c = 0`` (saturating identity), random ``(b, c)`` over the full ranges, and
``b = 2^(mult_bits-1)``. Accumulators: ``tiles`` groups of ``rows`` vectors; corner rows hold
the most negative / most positive accumulators, 0 and +-1, exact rounding ties
(``acc * b = (2q + 1) * 2^(c-1)``) and their neighbours; other rows are uniform or
log-uniform in magnitude so every output range is exercised. Mismatches are reported at
(tile, row, lane).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np

from ivita.model import RequantConfig, requantize, required_acc_bits, signed_range

from .bench import Stimulus, TB
from .cocotb_bench import cocotb_test

__all__ = ["RequantTB", "test_requant", "tie_accumulator"]

LANE_KINDS = ("realistic", "max_b_max_c", "zero_b", "identity", "random", "half_b")


def tie_accumulator(b: int, c: int, acc_bits: int, rng: np.random.Generator) -> int | None:
    """An ``acc`` in range with ``acc * b = (2q + 1) * 2^(c - 1)`` (a round-half-up tie).

    ``None`` when no such ``acc`` exists (``c == 0``, ``b == 0`` or ``b`` has too many
    trailing zeros).
    """
    if c == 0 or b == 0:
        return None
    v = (b & -b).bit_length() - 1          # 2^v divides b
    if v > c - 1:
        return None
    mod = 1 << (c - v)                      # acc is unique modulo 2^(c-v)
    base = ((1 << (c - 1 - v)) * pow(b >> v, -1, mod)) % mod
    lo, hi = signed_range(acc_bits)
    qmin, qmax = -((base - lo) // mod), (hi - base) // mod
    if qmin > qmax:
        return None
    return base + mod * int(rng.integers(qmin, qmax + 1))


def _check_pos(v: Any, name: str, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {type(v).__name__} ({v!r})")
    if not 1 <= v <= hi:
        raise ValueError(f"{name}={v} is out of range; it must be in 1..{hi}")
    return int(v)


@dataclass(frozen=True, kw_only=True)
class RequantTB(TB):
    """Bench of ``Requantizer(config)``: ``tiles`` groups of ``rows`` vectors of ``lanes``."""

    unit = "requant"
    summary = "requantizer: per-lane (b, c) table, round half up, saturation vs requantize()"
    config_type = RequantConfig
    end_values = {"table_error": 0}

    config: RequantConfig
    rows: int = 4
    tiles: int = 8
    corners: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.config, RequantConfig):
            raise TypeError(f"config must be a RequantConfig, not "
                            f"{type(self.config).__name__}")
        _check_pos(self.rows, "rows", 1 << 12)
        _check_pos(self.tiles, "tiles", 1 << 16)
        if not isinstance(self.corners, bool):
            raise TypeError(f"corners must be a bool, not {type(self.corners).__name__}")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from ivita.commands._common import add_int
        from ivita.model.config import MAX_ACC_BITS

        g = parser.add_argument_group("requant")
        add_int(g, "--bits", lo=2, hi=32, default=8, help="output width out_bits")
        add_int(g, "--lanes", "--cols", dest="lanes", lo=1, hi=32, default=4,
                help="lanes (= array columns)")
        add_int(g, "--k", lo=1, hi=1 << 20, default=64,
                help="reduction length the default accumulator is sized for")
        add_int(g, "--acc-bits", lo=2, hi=MAX_ACC_BITS,
                help="accumulator width; --acc-bits + --mult-bits at most 62",
                default_text="exact for a --bits x --bits array over --k")
        add_int(g, "--mult-bits", lo=2, hi=32, default=16, help="width of b")
        add_int(g, "--max-shift", lo=0, hi=63, help="largest shift c",
                default_text="min(63, acc_bits + mult_bits)")
        add_int(g, "--rows", lo=1, hi=1 << 12, default=4, help="vectors per tile")
        add_int(g, "--tiles", lo=1, hi=1 << 16, default=8, help="number of tiles")
        g.add_argument("--corners", action=argparse.BooleanOptionalAction, default=True,
                       help="corner lanes and corner accumulators (ties, extremes)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "RequantTB":
        from ivita.commands._common import UsageError, name_flags
        from ivita.model.config import MAX_ACC_BITS

        acc_bits = args.acc_bits
        if acc_bits is None:
            acc_bits = required_acc_bits(args.bits, args.bits, args.k)
            if acc_bits > MAX_ACC_BITS:
                raise UsageError(f"--bits {args.bits} over --k {args.k} needs a {acc_bits}-bit "
                                 f"accumulator; at most {MAX_ACC_BITS} (give --acc-bits)")
        if acc_bits + args.mult_bits > 62:
            raise UsageError(f"--acc-bits {acc_bits} plus --mult-bits {args.mult_bits} is "
                             f"{acc_bits + args.mult_bits}; the product must fit 62 bits, so "
                             f"--mult-bits must be in 2..{max(2, 62 - acc_bits)}")
        try:
            config = RequantConfig(lanes=args.lanes, acc_bits=acc_bits, out_bits=args.bits,
                                   mult_bits=args.mult_bits, max_shift=args.max_shift)
            return cls(config=config, rows=args.rows, tiles=args.tiles, corners=args.corners)
        except ValueError as e:
            raise UsageError(name_flags(str(e), {
                "lanes": "--lanes", "acc_bits": "--acc-bits", "out_bits": "--bits",
                "mult_bits": "--mult-bits", "max_shift": "--max-shift", "rows": "--rows",
                "tiles": "--tiles"})) from None

    def planned_size(self, *, stall_in: float = 0.0, stall_out: float = 0.0) -> Any:
        """Beats and vector memory before the vectors exist (equal to the stimulus's)."""
        from .bench import size_of
        n, lanes = self.rows * self.tiles, self.config.lanes
        return size_of(self, beats_in=n, in_elements=n * (lanes + 1), beats_out=n,
                       out_elements=n * (lanes + 1), setup=lanes, stall_in=stall_in,
                       stall_out=stall_out)

    def build_component(self) -> Any:
        from ivita.hw.requant import Requantizer
        return Requantizer(self.config)

    # -- stimulus ----------------------------------------------------------------------------

    def _table(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        bmax, smax = (1 << cfg.mult_bits) - 1, cfg.max_shift
        assert smax is not None
        real_c = cfg.acc_bits + cfg.mult_bits - cfg.out_bits
        b = np.zeros(cfg.lanes, dtype=np.int64)
        c = np.zeros(cfg.lanes, dtype=np.int64)
        for lane in range(cfg.lanes):
            kind = LANE_KINDS[lane % len(LANE_KINDS)] if self.corners else (
                "realistic" if lane % 2 == 0 else "random")
            if kind == "realistic":
                bl = int(rng.integers(1 << (cfg.mult_bits - 1), bmax + 1))
                cl = int(np.clip(real_c + int(rng.integers(-3, 3)), 0, smax))
            elif kind == "max_b_max_c":
                bl, cl = bmax, smax
            elif kind == "zero_b":
                bl, cl = 0, int(rng.integers(0, smax + 1))
            elif kind == "identity":
                bl, cl = 1, 0
            elif kind == "half_b":
                bl, cl = 1 << (cfg.mult_bits - 1), int(np.clip(real_c, 0, smax))
            else:
                bl, cl = int(rng.integers(0, bmax + 1)), int(rng.integers(0, smax + 1))
            cfg.check_entry(bl, cl)
            b[lane], c[lane] = bl, cl
        return b, c

    def stimulus(self, seed: int) -> Stimulus:
        cfg = self.config
        rng = np.random.default_rng(seed)
        b, c = self._table(rng)
        lo, hi = signed_range(cfg.acc_bits)
        n = self.rows * self.tiles
        acc = rng.integers(lo, hi + 1, size=(n, cfg.lanes), dtype=np.int64)
        # log-uniform magnitudes on every other vector: all output ranges, not just saturation
        mag = np.floor(2.0 ** rng.uniform(0, cfg.acc_bits - 1, size=(n, cfg.lanes)))
        sign = rng.choice(np.array([-1, 1]), size=(n, cfg.lanes))
        logu = np.clip(sign * mag.astype(np.int64), lo, hi)
        acc[1::2] = logu[1::2]
        if self.corners:
            fixed = [lo, hi, 0, -1, min(1, hi), lo + 1, hi - 1]
            corner_rows = min(n, len(fixed) + 6)
            for r in range(corner_rows):
                for lane in range(cfg.lanes):
                    if r < len(fixed):
                        acc[r, lane] = fixed[r]
                        continue
                    t = tie_accumulator(int(b[lane]), int(c[lane]), cfg.acc_bits, rng)
                    if t is None:
                        continue
                    t += (-1, 0, 0, 1, 0, 0)[r - len(fixed)]  # a tie, or its neighbours
                    acc[r, lane] = int(np.clip(t, lo, hi))
        q = requantize(acc, b, c, cfg.out_bits)
        last = (np.arange(n) % self.rows == self.rows - 1).astype(np.int64)
        setup = [{"table_we": 1, "table_lane": lane, "table_b": int(b[lane]),
                  "table_c": int(c[lane])} for lane in range(cfg.lanes)]
        return Stimulus(inputs={"i_stream": {"acc": acc, "last": last}},
                        expected={"o_stream": {"q": np.asarray(q, dtype=np.int64),
                                               "last": last}},
                        setup=setup, work={"vectors": n, "lanes": cfg.lanes})

    def describe(self, beat: int, group: str, index: tuple[int, ...]) -> dict[str, int]:
        tile, row = divmod(beat, self.rows)
        d = {"tile": tile, "row": row}
        if index:
            d["lane"] = index[0]
        return d


test_requant = cocotb_test(RequantTB)
