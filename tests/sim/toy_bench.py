"""A tiny design of our own to test the bench infrastructure independently of ``ivita.hw``.

``ToyAdder`` adds two vectors of signed ``width``-bit lanes into ``width + 1``-bit sums through
one register stage with proper back-pressure (``i_stream.ready = ~o_stream.valid |
o_stream.ready``). ``ToyConfig(bug=True)`` builds a deliberately wrong adder (lane 0 is off by
one when ``a[0]`` is the most negative code) so a test can prove that a bench fails on a wrong
design. ``ToyTB`` is a complete unit bench (see docs/verification.md); its module is importable
by the cocotb process because the tests pass this folder as ``python_path``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from amaranth import Module, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.sim.bench import Stimulus, TB
from ivita.sim.cocotb_bench import cocotb_test


@dataclass(frozen=True, kw_only=True)
class ToyConfig:
    width: int = 4
    lanes: int = 3
    bug: bool = False

    def __post_init__(self) -> None:
        if not 2 <= self.width <= 40:
            raise ValueError(f"width={self.width} is out of range; it must be in 2..40")
        if not 1 <= self.lanes <= 16:
            raise ValueError(f"lanes={self.lanes} is out of range; it must be in 1..16")

    def as_dict(self) -> dict[str, Any]:
        return {"type": "ToyConfig", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ToyConfig":
        d = dict(d)
        d.pop("type", None)
        return cls(**d)


class ToyAdder(wiring.Component):
    """``s[i] = a[i] + b[i]``, one beat per cycle, latency 1."""

    def __init__(self, config: ToyConfig):
        self.config = config
        w, n = config.width, config.lanes
        super().__init__({
            "i_stream": In(stream.Signature(data.StructLayout({
                "a": data.ArrayLayout(signed(w), n), "b": data.ArrayLayout(signed(w), n),
                "last": 1}))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "s": data.ArrayLayout(signed(w + 1), n), "last": 1}))),
        })

    @property
    def latency(self) -> int:
        return 1

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        cfg = self.config
        m.d.comb += self.i_stream.ready.eq(~self.o_stream.valid | self.o_stream.ready)
        with m.If(self.i_stream.valid & self.i_stream.ready):
            for i in range(cfg.lanes):
                a, b = self.i_stream.payload.a[i], self.i_stream.payload.b[i]
                s = a + b
                if cfg.bug and i == 0:
                    s = s + (a == -(1 << (cfg.width - 1)))
                m.d.sync += self.o_stream.payload.s[i].eq(s)
            m.d.sync += [self.o_stream.payload.last.eq(self.i_stream.payload.last),
                         self.o_stream.valid.eq(1)]
        with m.Elif(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        return m


@dataclass(frozen=True, kw_only=True)
class ToyTB(TB):
    unit = "toy"
    summary = "test-only registered stream adder"
    config_type = ToyConfig

    config: ToyConfig
    beats: int = 40
    group: int = 4           # beats per "tile" (last on the final beat of a group)

    def build_component(self) -> ToyAdder:
        return ToyAdder(self.config)

    def stimulus(self, seed: int) -> Stimulus:
        w, n = self.config.width, self.config.lanes
        lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
        rng = np.random.default_rng(seed)
        a = rng.integers(lo, hi + 1, size=(self.beats, n))
        b = rng.integers(lo, hi + 1, size=(self.beats, n))
        a[:2], b[0], b[1] = lo, lo, hi            # corners: min + min, min + max
        last = (np.arange(self.beats) % self.group == self.group - 1).astype(np.int64)
        return Stimulus(inputs={"i_stream": {"a": a, "b": b, "last": last}},
                        expected={"o_stream": {"s": a + b, "last": last}},
                        work={"adds": self.beats * n})

    def describe(self, beat: int, group: str, index: tuple[int, ...]) -> dict[str, int]:
        d = {"tile": beat // self.group, "row": beat % self.group}
        if index:
            d["lane"] = index[0]
        return d


test_toy = cocotb_test(ToyTB)
