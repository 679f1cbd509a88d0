# amaranth: UnusedElaboratable=no
"""The amaranth backend of the unit benches (``run_bench(..., simulator="amaranth")``): the
stall counts of the loop and the ready/valid check reach the bench result."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import pytest
from amaranth import Module
from toy_bench import ToyAdder, ToyConfig, ToyTB

from ivita.sim.bench import run_bench


class ReadyBugAdder(ToyAdder):
    """The toy adder with ``i_stream.ready = i_stream.valid & (...)``: values stay right."""

    def elaborate(self, platform: Any) -> Module:
        m = super().elaborate(platform)
        m.d.comb += self.i_stream.ready.eq(self.i_stream.valid &
                                           (~self.o_stream.valid | self.o_stream.ready))
        return m


@dataclass(frozen=True, kw_only=True)
class ReadyBugTB(ToyTB):
    def build_component(self) -> ReadyBugAdder:
        return ReadyBugAdder(self.config)


@pytest.mark.parametrize("stall_out", [0.0, 0.5])
def test_output_stall_is_measured(stall_out: float) -> None:
    res = run_bench(ToyTB(config=ToyConfig()), simulator="amaranth", seed=2,
                    stall_out=stall_out)
    assert res.passed, res.failure_message()
    stalls = res.result["stall_cycles"]["o_stream"]
    assert (stalls > 0) if stall_out else (stalls == 0)
    assert res.result["ready_checked_cycles"] == res.result["cycles"]   # every cycle


def test_ready_that_depends_on_valid_fails_the_bench() -> None:
    res = run_bench(ReadyBugTB(config=ToyConfig()), simulator="amaranth", seed=2,
                    stall_in=0.3, stall_out=0.3)
    assert not res.passed
    assert res.result["mismatches"] == 0                    # the values are right
    assert any("i_stream.ready depends on i_stream.valid in cycle" in e
               for e in res.result["errors"]), res.result["errors"]
    assert res.run_dir is not None                          # kept for a failing run
    shutil.rmtree(res.run_dir)
