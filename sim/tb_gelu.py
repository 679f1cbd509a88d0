"""Bench of ShiftGELU (:class:`ivita.hw.gelu.ShiftGELU`) against
:func:`ivita.model.shift_gelu`.

Also the cocotb test module for it (``test_gelu`` at the bottom).

The design under test is ``ShiftGELU`` inside the same wiring-only top as the Shiftmax bench
(:func:`ivita.sim.tb_softmax.build_top`): ``x0`` travels in the input payload and reaches the
unit's ``x0`` port with its element (the unit samples ``x0`` per element). Elements are grouped
in ``rows`` rows of ``tokens`` (``last`` on each row's final element, passed through); ``x0``
changes per row (``-1``, ``-(2^x0_bits - 1)``, log-uniform). The first rows sweep every input
code (all ``2^in_bits`` values, several times at small widths) and the extremes; the rest are
uniform. With ``bad_x0`` every 7th row has an invalid ``x0`` (``0``, positive,
``-2^x0_bits``): its outputs must be 0 and ``error`` must be 1 at the end. Mismatches are
reported at (row, col).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np

from ivita.model import GeluConfig, shift_gelu

from .bench import Stimulus, TB
from .cocotb_bench import cocotb_test
from ivita.model.checks import check_int

from .tb_softmax import build_top, x0_choices

__all__ = ["GeluTB", "test_gelu"]


@dataclass(frozen=True, kw_only=True)
class GeluTB(TB):
    """Bench of ``ShiftGELU(config, pipelined=not sequential)`` on ``rows x tokens`` elements."""

    unit = "gelu"
    summary = "ShiftGELU: element-wise, runtime x0 per row, vs shift_gelu()"
    config_type = GeluConfig

    config: GeluConfig
    rows: int = 32
    tokens: int = 64
    sequential: bool = False
    bad_x0: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.config, GeluConfig):
            raise TypeError(f"config must be a GeluConfig, not {type(self.config).__name__}")
        check_int(self.rows, "rows", 1, 1 << 20)
        check_int(self.tokens, "tokens", 1, 1 << 16)
        for name in ("sequential", "bad_x0"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, not {type(getattr(self, name)).__name__}")

    @property
    def end_values(self) -> dict[str, int]:    # type: ignore[override]
        return {"error": 1} if self.bad_x0 else {"error": 0, "error_flags": 0}

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from ivita.commands._common import add_int
        from ivita.model.quant import CODE_BITS

        g = parser.add_argument_group("gelu")
        add_int(g, "--bits", lo=CODE_BITS[0], hi=CODE_BITS[1], default=8,
                help="input width in_bits")
        add_int(g, "--n", lo=0, hi=31, default=15, help="exponent range n")
        add_int(g, "--sig-bits", lo=2, hi=16, default=8, help="sigmoid width")
        add_int(g, "--x0-bits", lo=1, hi=31, default=16, help="|x0| < 2^x0_bits")
        add_int(g, "--rows", lo=1, hi=1 << 20, default=32, help="number of rows")
        add_int(g, "--tokens", lo=1, hi=1 << 16, default=64, help="elements per row")
        g.add_argument("--sequential", action="store_true",
                       help="sequential divider (one element per sig_bits + 1 cycles)")
        g.add_argument("--bad-x0", action="store_true",
                       help="every 7th row with an invalid x0: outputs 0, error must be set")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "GeluTB":
        from ivita.commands._common import UsageError, name_flags

        try:
            config = GeluConfig(in_bits=args.bits, n=args.n, sig_bits=args.sig_bits,
                                x0_bits=args.x0_bits)
            return cls(config=config, rows=args.rows, tokens=args.tokens,
                       sequential=args.sequential, bad_x0=args.bad_x0)
        except ValueError as e:
            raise UsageError(name_flags(str(e), {
                "in_bits": "--bits", "n": "--n", "sig_bits": "--sig-bits",
                "x0_bits": "--x0-bits", "rows": "--rows", "tokens": "--tokens"})) from None

    def planned_size(self, *, stall_in: float = 0.0, stall_out: float = 0.0) -> Any:
        """Beats and vector memory before the vectors exist (equal to the stimulus's)."""
        from .bench import size_of
        n = self.rows * self.tokens
        return size_of(self, beats_in=n, in_elements=3 * n, beats_out=n, out_elements=2 * n,
                       stall_in=stall_in, stall_out=stall_out)

    def build_component(self) -> Any:
        from ivita.hw.gelu import ShiftGELU
        return build_top(ShiftGELU(self.config, pipelined=not self.sequential))

    def stimulus(self, seed: int) -> Stimulus:
        cfg = self.config
        rng = np.random.default_rng(seed)
        lo, hi = -(1 << (cfg.in_bits - 1)), (1 << (cfg.in_bits - 1)) - 1
        total = self.rows * self.tokens
        x = rng.integers(lo, hi + 1, size=total, dtype=np.int64)
        sweep = np.concatenate([np.arange(lo, hi + 1), [lo, hi, 0, -1, 1, lo, hi]])
        sweep = np.tile(sweep, max(1, 2048 // len(sweep)))
        k = min(total // 2, len(sweep))
        x[:k] = rng.permutation(sweep)[:k]
        x0_row = x0_choices(rng, cfg.x0_bits, self.rows)
        bad = np.zeros(self.rows, dtype=bool)
        if self.bad_x0:
            for r in range(6, self.rows, 7):
                bad[r] = True
                x0_row[r] = (0, int(rng.integers(1, 1 << cfg.x0_bits)), -(1 << cfg.x0_bits))[
                    (r // 7) % 3]
        x0 = np.repeat(x0_row, self.tokens)
        last = (np.arange(total) % self.tokens == self.tokens - 1).astype(np.int64)
        y = np.zeros(total, dtype=np.int64)
        for r in range(self.rows):
            if not bad[r]:
                s = slice(r * self.tokens, (r + 1) * self.tokens)
                y[s] = shift_gelu(x[s], int(x0_row[r]), cfg.n, cfg.sig_bits)
        return Stimulus(inputs={"i_stream": {"x": x, "last": last, "x0": x0}},
                        expected={"o_stream": {"y": y, "last": last}},
                        work={"elements": total, "rows": self.rows})

    def describe(self, beat: int, group: str, index: tuple[int, ...]) -> dict[str, int]:
        row, col = divmod(beat, self.tokens)
        return {"row": row, "col": col}

    def make_loop(self, sidecar, stim, *, seed, stall_in=0.0, stall_out=0.0, max_cycles=None):
        if max_cycles is None and self.sequential:    # one element per sig_bits + 1 cycles
            slack = 1.0 / max(1e-3, (1.0 - stall_in) * (1.0 - stall_out))
            max_cycles = int(1000 + 3 * (self.config.sig_bits + 1) * self.rows * self.tokens
                             * slack)
        return super().make_loop(sidecar, stim, seed=seed, stall_in=stall_in,
                                 stall_out=stall_out, max_cycles=max_cycles)


test_gelu = cocotb_test(GeluTB)
