# amaranth: UnusedElaboratable=no
"""The block's small helpers: ``saturation_flags`` (compares without carry chains) and
``wrap_counter`` (a wrapping counter with a registered last flag)."""

from __future__ import annotations

import random

import pytest
from amaranth import Module, Mux, Signal, signed
from amaranth.sim import Simulator

from ivita.hw._blockutil import saturation_flags, wrap_counter


def _sim(m: Module, bench, clock: bool = True) -> None:  # type: ignore[no-untyped-def]
    sim = Simulator(m)
    if clock:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("width", [3, 5])
def test_saturation_flags_equal_the_compares(width: int) -> None:
    """For every ``1 <= s <= width + 1`` and every value: the flags equal ``value > hi`` and
    ``value < lo``, and the clamp built from them is ``clamp(value, lo, hi)``."""
    m = Module()
    v, hi, lo = Signal(signed(width)), Signal(signed(width + 1)), Signal(signed(width + 1))
    gt, lt = saturation_flags(v, hi, lo, width)
    out = Signal(signed(width))
    m.d.comb += out.eq(Mux(gt, hi[:width], Mux(lt, lo[:width], v)))

    async def bench(ctx):  # type: ignore[no-untyped-def]
        for s in range(1, width + 2):
            h, low = (1 << (s - 1)) - 1, -(1 << (s - 1))
            ctx.set(hi, h)
            ctx.set(lo, low)
            for x in range(-(1 << (width - 1)), 1 << (width - 1)):
                ctx.set(v, x)
                assert (ctx.get(gt), ctx.get(lt)) == (x > h, x < low), (s, x)
                assert ctx.get(out) == min(max(x, low), h), (s, x)
    _sim(m, bench, clock=False)


@pytest.mark.parametrize("n_const", [None, 1, 3])
def test_wrap_counter_last_is_count_eq_n_minus_1(n_const: int | None) -> None:
    """After ``load``, ``cnt`` counts ``0 .. n-1`` and wraps on ``step``; ``last`` (a
    register) equals ``cnt == n - 1`` in every cycle, for ``n`` given at ``load`` (a signal
    that may change between loads) or a constant; a ``step`` in the ``load`` cycle counts."""
    m = Module()
    n, load, step = Signal(8), Signal(), Signal()
    cnt, last = wrap_counter(m, n if n_const is None else n_const, load, step, width=8,
                             name="t")

    async def bench(ctx):  # type: ignore[no-untyped-def]
        rng = random.Random(5)
        for _ in range(12):
            nv = n_const or rng.randint(1, 6)
            ctx.set(n, nv)
            ctx.set(load, 1)
            s0 = rng.random() < 0.5
            ctx.set(step, s0)
            await ctx.tick()
            ctx.set(load, 0)
            c = int(s0 and nv > 1)
            for _ in range(20):
                assert (ctx.get(cnt), ctx.get(last)) == (c, c == nv - 1)
                s = rng.random() < 0.7
                ctx.set(step, s)
                await ctx.tick()
                if s:
                    c = 0 if c == nv - 1 else c + 1
    _sim(m, bench)
