"""Bench of Shiftmax (:class:`ivita.hw.softmax.Shiftmax`) against :func:`ivita.model.shiftmax`.

Also the cocotb test module for it (``test_softmax`` at the bottom).

The design under test is ``Shiftmax`` inside a wiring-only top (:func:`build_top`) that carries
the runtime ``x0`` in the input payload (``{"x", "last", "x0"}``) and drives the unit's ``x0``
port from it, so ``x0`` changes from row to row exactly as a controller would present it with a
row's first element. Rows: with ``tokens`` every row has that length; otherwise the lengths
(a deterministic function of the options, not of the seed) start with the corners ``1``,
``max_tokens``, ``2``, ``max_tokens - 1`` and continue uniformly in ``1..max_tokens``. Row
contents (from the seed): uniform, all equal, all the most negative code, alternating extremes,
narrow spread around a random centre; ``x0`` per row: ``-1``, ``-(2^x0_bits - 1)``, a
log-uniform magnitude. With ``bad_rows`` every 5th row is malformed (too long, ``x0 = 0``,
``x0 > 0``, ``|x0| = 2^x0_bits``): it must produce no output, the good rows must be exact and
``error`` must be 1 at the end. Mismatches are reported at (row, col) with ``row`` counting all
input rows.
"""

from __future__ import annotations

import argparse
import bisect
import random
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ivita.model import SoftmaxConfig, shiftmax
from ivita.model.checks import check_int

from .bench import Stimulus, TB
from .cocotb_bench import cocotb_test

__all__ = ["SoftmaxTB", "test_softmax", "build_top"]

ROW_KINDS = ("uniform", "equal", "most_negative", "alternating", "narrow")
BAD_KINDS = ("too_long", "x0_zero", "x0_positive", "x0_too_large")


def build_top(unit: Any) -> Any:
    """``unit`` (a Shiftmax or ShiftGELU) with ``x0`` moved into the input payload."""
    from amaranth import Module
    from amaranth.lib import data, stream, wiring
    from amaranth.lib.wiring import In, Out

    ip = unit.i_stream.payload
    xshape, x0shape = ip.x.shape(), unit.x0.shape()

    class X0InPayload(wiring.Component):
        """Wiring only: ``i_stream.payload.x0`` drives ``unit.x0``."""

        def __init__(self):
            super().__init__({
                "i_stream": In(stream.Signature(data.StructLayout(
                    {"x": xshape, "last": 1, "x0": x0shape}))),
                "o_stream": Out(unit.signature.members["o_stream"].signature),
                "error": Out(1),
                "error_flags": Out(unit.signature.members["error_flags"].shape),
            })

        def timing(self, n: int | None = None) -> Any:
            """The unit's timing (the wiring adds no register)."""
            return unit.timing(n)

        def elaborate(self, platform):
            m = Module()
            m.submodules.unit = unit
            p = self.i_stream.payload
            m.d.comb += [
                unit.i_stream.valid.eq(self.i_stream.valid),
                self.i_stream.ready.eq(unit.i_stream.ready),
                unit.i_stream.payload.x.eq(p.x),
                unit.i_stream.payload.last.eq(p.last),
                unit.x0.eq(p.x0),
                self.error.eq(unit.error),
                self.error_flags.eq(unit.error_flags),
            ]
            wiring.connect(m, unit.o_stream, wiring.flipped(self.o_stream))
            return m

    return X0InPayload()


def x0_choices(rng: np.random.Generator, x0_bits: int, count: int) -> np.ndarray:
    """``count`` valid ``x0``: ``-1``, ``-(2^x0_bits - 1)`` and log-uniform magnitudes."""
    top = (1 << x0_bits) - 1
    mags = np.floor(2.0 ** rng.uniform(0, x0_bits, size=count)).astype(np.int64)
    mags = np.clip(mags, 1, top)
    kind = rng.integers(0, 4, size=count)
    mags = np.where(kind == 0, 1, np.where(kind == 1, top, mags))
    return -mags


def row_values(rng: np.random.Generator, kind: str, bits: int, n: int) -> np.ndarray:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if kind == "equal":
        return np.full(n, int(rng.integers(lo, hi + 1)), dtype=np.int64)
    if kind == "most_negative":
        return np.full(n, lo, dtype=np.int64)
    if kind == "alternating":
        return np.where(np.arange(n) % 2 == 0, hi, lo).astype(np.int64)
    if kind == "narrow":
        c = int(rng.integers(lo, hi + 1))
        return np.clip(c + rng.integers(-2, 3, size=n), lo, hi).astype(np.int64)
    return rng.integers(lo, hi + 1, size=n, dtype=np.int64)


@dataclass(frozen=True, kw_only=True)
class SoftmaxTB(TB):
    """Bench of ``Shiftmax(config, banks=banks)`` on ``rows`` rows."""

    unit = "softmax"
    summary = "Shiftmax: rows of up to max_tokens codes, runtime x0 per row, vs shiftmax()"
    config_type = SoftmaxConfig

    config: SoftmaxConfig
    rows: int = 32
    tokens: int | None = None
    banks: int = 3
    bad_rows: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.config, SoftmaxConfig):
            raise TypeError(f"config must be a SoftmaxConfig, not {type(self.config).__name__}")
        check_int(self.rows, "rows", 1, 1 << 20)
        if self.tokens is not None:
            check_int(self.tokens, "tokens", 1, self.config.max_tokens)
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

        g = parser.add_argument_group("softmax")
        add_int(g, "--bits", lo=CODE_BITS[0], hi=CODE_BITS[1], default=8,
                help="input width in_bits")
        add_int(g, "--n", lo=0, hi=31, default=15, help="exponent range n")
        add_int(g, "--out-bits", lo=2, hi=16, default=8, help="output width")
        add_int(g, "--max-tokens", lo=1, hi=1 << 16, default=256, help="longest row")
        add_int(g, "--x0-bits", lo=1, hi=31, default=16, help="|x0| < 2^x0_bits")
        add_int(g, "--tokens", lo=1, hi=1 << 16, help="every row this long, at most --max-tokens",
                default_text="corner and random lengths")
        add_int(g, "--rows", lo=1, hi=1 << 20, default=32, help="number of rows")
        add_int(g, "--banks", lo=1, hi=4, default=3, help="row buffers")
        g.add_argument("--bad-rows", action="store_true",
                       help="every 5th row malformed: no output for it, error must be set")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "SoftmaxTB":
        from ivita.commands._common import UsageError, name_flags

        if args.tokens is not None and args.tokens > args.max_tokens:
            raise UsageError(f"--tokens {args.tokens}: must be in 1..{args.max_tokens} "
                             f"(--max-tokens)")
        try:
            config = SoftmaxConfig(in_bits=args.bits, n=args.n, out_bits=args.out_bits,
                                   max_tokens=args.max_tokens, x0_bits=args.x0_bits)
            return cls(config=config, rows=args.rows, tokens=args.tokens, banks=args.banks,
                       bad_rows=args.bad_rows)
        except ValueError as e:
            raise UsageError(name_flags(str(e), {
                "in_bits": "--bits", "n": "--n", "out_bits": "--out-bits",
                "max_tokens": "--max-tokens", "x0_bits": "--x0-bits", "tokens": "--tokens",
                "rows": "--rows", "banks": "--banks"})) from None

    def planned_size(self, *, stall_in: float = 0.0, stall_out: float = 0.0) -> Any:
        """Beats and vector memory before the vectors exist (equal to the stimulus's)."""
        from .bench import size_of
        n_in = sum(n for n, _ in self.plan)
        n_out = sum(n for n, bad in self.plan if bad is None)
        return size_of(self, beats_in=n_in, in_elements=3 * n_in, beats_out=n_out,
                       out_elements=2 * n_out, stall_in=stall_in, stall_out=stall_out)

    def build_component(self) -> Any:
        from ivita.hw.softmax import Shiftmax
        return build_top(Shiftmax(self.config, banks=self.banks))

    # -- rows -----------------------------------------------------------------------------------

    @cached_property
    def plan(self) -> list[tuple[int, str | None]]:
        """``(length, bad_kind or None)`` per input row; independent of the seed."""
        T = self.config.max_tokens
        rng = random.Random(self.rows * 7919 + T)
        corners = [1, T, 2, T - 1]
        out: list[tuple[int, str | None]] = []
        for r in range(self.rows):
            if self.tokens is not None:
                n = self.tokens
            else:
                n = corners[r] if r < len(corners) else rng.randint(1, T)
            bad = None
            if self.bad_rows and r % 5 == 4:
                bad = BAD_KINDS[(r // 5) % len(BAD_KINDS)]
                if bad == "too_long":
                    n = T + 1 + rng.randint(0, 3)
            out.append((max(1, n), bad))
        return out

    @cached_property
    def _out_index(self) -> tuple[list[int], list[int]]:
        """Cumulative output beats before each good row, and the good rows' input indices."""
        starts, rows, k = [], [], 0
        for r, (n, bad) in enumerate(self.plan):
            if bad is None:
                starts.append(k)
                rows.append(r)
                k += n
        return starts, rows

    def stimulus(self, seed: int) -> Stimulus:
        cfg = self.config
        rng = np.random.default_rng(seed)
        x0s = x0_choices(rng, cfg.x0_bits, len(self.plan))
        xs, lasts, x0col, ys, ylasts = [], [], [], [], []
        for r, (n, bad) in enumerate(self.plan):
            kind = ROW_KINDS[r % len(ROW_KINDS)] if r < 2 * len(ROW_KINDS) else \
                ROW_KINDS[int(rng.integers(len(ROW_KINDS)))]
            x = row_values(rng, kind, cfg.in_bits, n)
            x0 = int(x0s[r])
            if bad == "x0_zero":
                x0 = 0
            elif bad == "x0_positive":
                x0 = int(rng.integers(1, 1 << cfg.x0_bits))
            elif bad == "x0_too_large":
                x0 = -(1 << cfg.x0_bits)
            last = np.zeros(n, dtype=np.int64)
            last[-1] = 1
            xs.append(x), lasts.append(last), x0col.append(np.full(n, x0, dtype=np.int64))
            if bad is None:
                ys.append(np.asarray(shiftmax(x, x0, cfg.n, cfg.out_bits), dtype=np.int64))
                ylasts.append(last)
        cat = (lambda a: np.concatenate(a) if a else np.zeros(0, dtype=np.int64))
        return Stimulus(
            inputs={"i_stream": {"x": cat(xs), "last": cat(lasts), "x0": cat(x0col)}},
            expected={"o_stream": {"y": cat(ys), "last": cat(ylasts)}},
            work={"rows": len(self.plan), "elements": int(sum(n for n, _ in self.plan))})

    def timing_n(self) -> int:
        """The first row's length (the bench measures the latency on it; it is never bad)."""
        return self.plan[0][0]

    def describe(self, beat: int, group: str, index: tuple[int, ...]) -> dict[str, int]:
        starts, rows = self._out_index
        i = max(bisect.bisect_right(starts, beat) - 1, 0)
        return {"row": rows[i], "col": beat - starts[i]}

    def make_loop(self, sidecar, stim, *, seed, stall_in=0.0, stall_out=0.0, max_cycles=None):
        if max_cycles is None:       # rows cost far more cycles than beats when they are short
            from ivita.hw.softmax import shiftmax_schedule
            lengths = [min(n, self.config.max_tokens) for n, _ in self.plan]
            ideal = shiftmax_schedule(self.config, lengths, banks=self.banks)[-1][3]
            slack = 1.0 / max(1e-3, (1.0 - stall_in) * (1.0 - stall_out))
            max_cycles = int(1000 + 3 * ideal * slack)
        return super().make_loop(sidecar, stim, seed=seed, stall_in=stall_in,
                                 stall_out=stall_out, max_cycles=max_cycles)


test_softmax = cocotb_test(SoftmaxTB)
