"""Measure a component's timing in the Amaranth simulator by driving its ports cycle by cycle.

The stream components' declared ``timing(n)`` (``ivita.hw.timing``) is checked with the unit
harness (:func:`ivita.sim.unit_run.run_lanes` records the cycle of every transfer); components
with non-stream ports (a UART pin, a ``start`` strobe, a bus) are driven by a per-cycle
``step`` function instead. Both use :func:`period` for the steady-state interval, so "interval"
means the same everywhere: the cycles between the first outputs of consecutive items, averaged
over the second half of a run (after the pipeline has filled).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from amaranth.lib import wiring
from amaranth.sim import Simulator

__all__ = ["Measured", "PortCase", "simulate_cycles", "period"]


@dataclass
class Measured:
    """What a port-level measurement found: latency (from the beat the declaration names) and
    the steady-state interval."""

    latency: int
    interval: float


@dataclass
class PortCase:
    """A component class, how to build it, the ``n`` of ``timing(n)`` and its measurement."""

    cls: type
    build: Callable[[], Any]
    measure: Callable[[Any, int | None], Measured]
    n: int | None = None


def simulate_cycles(dut: wiring.Component, cycles: int, step: Callable[[Any, int], None]) -> None:
    """Call ``step(ctx, k)`` in every cycle ``k`` (set the inputs of cycle ``k``, then read its
    settled outputs), then let the clock tick."""
    async def bench(ctx: Any) -> None:
        for k in range(cycles):
            step(ctx, k)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def period(firsts: Sequence[int]) -> float:
    """Steady-state cycles per item from the cycles of the items' first outputs: the mean
    spacing over the second half of the run. Needs at least two items."""
    if len(firsts) < 2:
        raise ValueError(f"period needs the first outputs of at least 2 items, got {len(firsts)}")
    half = len(firsts) // 2
    return (firsts[-1] - firsts[half - 1]) / (len(firsts) - half)
