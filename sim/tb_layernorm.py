"""Bench of I-LayerNorm (:class:`ivita.hw.layernorm.IntLayerNorm`) against
:func:`ivita.model.int_layernorm`.

Also the cocotb test module for it (``test_layernorm`` at the bottom).

Rows of ``C = channels`` codes; the first rows are corners (zero variance, the most negative
code everywhere, alternating extremes (largest variance), one outlier, a negative sum that
rounds (``mu`` fix-up), ``var < 4`` (``std = 1``)), the rest uniform, narrow or log-scaled.
With ``bad_rows`` every 5th row is malformed (too long by 1..3, too short, a lone ``last``): it
must produce no output, the good rows must be exact and ``error`` must be 1 at the end.
Mismatches are reported at (row, channel) with ``row`` counting all input rows.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ivita.model import LayerNormConfig, int_layernorm
from ivita.model.checks import check_int

from .bench import Stimulus, TB
from .cocotb_bench import cocotb_test

__all__ = ["LayerNormTB", "test_layernorm"]

CORNERS = ("equal", "most_negative", "alternating", "outlier", "negative_round", "tiny_var")
BAD_KINDS = ("too_long", "too_short", "lone_last")


@dataclass(frozen=True, kw_only=True)
class LayerNormTB(TB):
    """Bench of ``IntLayerNorm(config, banks=banks)`` on ``rows`` rows."""

    unit = "layernorm"
    summary = "I-LayerNorm: rows of C channels vs int_layernorm()"
    config_type = LayerNormConfig

    config: LayerNormConfig
    rows: int = 32
    banks: int = 3
    bad_rows: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.config, LayerNormConfig):
            raise TypeError(f"config must be a LayerNormConfig, not "
                            f"{type(self.config).__name__}")
        check_int(self.rows, "rows", 1, 1 << 20)
        check_int(self.banks, "banks", 1, 4)
        if not isinstance(self.bad_rows, bool):
            raise TypeError(f"bad_rows must be a bool, not {type(self.bad_rows).__name__}")

    @property
    def end_values(self) -> dict[str, int]:    # type: ignore[override]
        return {"error": 1} if self.bad_rows else {"error": 0, "error_flags": 0}

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from ivita.commands._common import add_int
        from ivita.model.quant import CODE_BITS

        g = parser.add_argument_group("layernorm")
        add_int(g, "--bits", lo=CODE_BITS[0], hi=CODE_BITS[1], default=16,
                help="input width in_bits")
        add_int(g, "--channels", lo=1, hi=4096, default=64, help="channels C")
        add_int(g, "--rows", lo=1, hi=1 << 20, default=32, help="number of rows")
        add_int(g, "--banks", lo=1, hi=4, default=3, help="row buffers")
        g.add_argument("--bad-rows", action="store_true",
                       help="every 5th row malformed: no output for it, error must be set")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "LayerNormTB":
        from ivita.commands._common import UsageError, name_flags

        try:
            config = LayerNormConfig(in_bits=args.bits, channels=args.channels)
            return cls(config=config, rows=args.rows, banks=args.banks, bad_rows=args.bad_rows)
        except ValueError as e:
            raise UsageError(name_flags(str(e), {
                "in_bits": "--bits", "channels": "--channels", "rows": "--rows",
                "banks": "--banks"})) from None

    def planned_size(self, *, stall_in: float = 0.0, stall_out: float = 0.0) -> Any:
        """Beats and vector memory before the vectors exist (equal to the stimulus's)."""
        from .bench import size_of
        n_in = sum(n for n, _ in self.plan)
        n_out = sum(n for n, bad in self.plan if bad is None)
        return size_of(self, beats_in=n_in, in_elements=2 * n_in, beats_out=n_out,
                       out_elements=2 * n_out, stall_in=stall_in, stall_out=stall_out)

    def build_component(self) -> Any:
        from ivita.hw.layernorm import IntLayerNorm
        return IntLayerNorm(self.config, banks=self.banks)

    @cached_property
    def plan(self) -> list[tuple[int, str | None]]:
        """``(length, bad_kind or None)`` per input row; independent of the seed."""
        C = self.config.channels
        out: list[tuple[int, str | None]] = []
        for r in range(self.rows):
            bad = BAD_KINDS[(r // 5) % len(BAD_KINDS)] if self.bad_rows and r % 5 == 4 else None
            if bad == "too_long":
                n = C + 1 + r % 3
            elif bad == "too_short":
                n = max(1, C - 1 - r % 3) if C > 1 else 2     # C = 1: a row of 2 is too long
            elif bad == "lone_last":
                n = 1 if C > 1 else 3
            else:
                n = C
            out.append((n, bad))
        return out

    def _row(self, rng: np.random.Generator, r: int, n: int) -> np.ndarray:
        bits = self.config.in_bits
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        kind = CORNERS[r] if r < len(CORNERS) else ("uniform", "narrow", "log")[r % 3]
        if kind == "equal":
            return np.full(n, int(rng.integers(lo, hi + 1)), dtype=np.int64)
        if kind == "most_negative":
            return np.full(n, lo, dtype=np.int64)
        if kind == "alternating":
            return np.where(np.arange(n) % 2 == 0, lo, hi).astype(np.int64)
        if kind == "outlier":
            x = np.full(n, lo, dtype=np.int64)
            x[int(rng.integers(n))] = hi
            return x
        if kind == "negative_round":       # sum = -k*C - C//2 - 1 style: rounds across zero
            x = np.full(n, -1, dtype=np.int64)
            x[: n // 2] = -2
            return x
        if kind == "tiny_var":
            x = np.zeros(n, dtype=np.int64)
            x[0] = 1
            return x
        if kind == "narrow":
            c = int(rng.integers(lo, hi + 1))
            return np.clip(c + rng.integers(-3, 4, size=n), lo, hi).astype(np.int64)
        if kind == "log":
            mag = np.floor(2.0 ** rng.uniform(0, bits - 1, size=n)).astype(np.int64)
            return np.clip(mag * rng.choice([-1, 1], size=n), lo, hi).astype(np.int64)
        return rng.integers(lo, hi + 1, size=n, dtype=np.int64)

    def stimulus(self, seed: int) -> Stimulus:
        rng = np.random.default_rng(seed)
        xs, lasts, ys, ylasts = [], [], [], []
        for r, (n, bad) in enumerate(self.plan):
            x = self._row(rng, r, n)
            last = np.zeros(n, dtype=np.int64)
            last[-1] = 1
            xs.append(x), lasts.append(last)
            if bad is None:
                ys.append(np.asarray(int_layernorm(x), dtype=np.int64))
                ylasts.append(last)
        cat = (lambda a: np.concatenate(a) if a else np.zeros(0, dtype=np.int64))
        return Stimulus(inputs={"i_stream": {"x": cat(xs), "last": cat(lasts)}},
                        expected={"o_stream": {"y": cat(ys), "last": cat(ylasts)}},
                        work={"rows": len(self.plan),
                              "elements": int(sum(n for n, _ in self.plan))})

    @cached_property
    def _good_rows(self) -> list[int]:
        return [r for r, (_, bad) in enumerate(self.plan) if bad is None]

    def describe(self, beat: int, group: str, index: tuple[int, ...]) -> dict[str, int]:
        k, ch = divmod(beat, self.config.channels)
        rows = self._good_rows
        return {"row": rows[k] if k < len(rows) else k, "channel": ch}

    def make_loop(self, sidecar, stim, *, seed, stall_in=0.0, stall_out=0.0, max_cycles=None):
        if max_cycles is None:       # short rows cost far more cycles than beats
            from ivita.hw.layernorm import layernorm_schedule
            ideal = layernorm_schedule(self.config, len(self.plan), banks=self.banks)[-1][3]
            slack = 1.0 / max(1e-3, (1.0 - stall_in) * (1.0 - stall_out))
            max_cycles = int(1000 + 3 * ideal * slack)
        return super().make_loop(sidecar, stim, seed=seed, stall_in=stall_in,
                                 stall_out=stall_out, max_cycles=max_cycles)


test_layernorm = cocotb_test(LayerNormTB)
