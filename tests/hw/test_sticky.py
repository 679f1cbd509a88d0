"""Sticky error flags (hw/sticky.py) of every unit that has ``error_clear``: Shiftmax,
ShiftGELU and IntLayerNorm, each flag on its own.

The promise (docs/interfaces.md): a flag is set by its error, stays set, is cleared by
``error_clear``, and an error detected in the same cycle as ``error_clear`` still sets its bit
(the error wins). ``error_clear`` is presented in the cycle the unit checks the bad beat: the
cycle it is accepted, or for Shiftmax the next one (its input skid buffer, docs/nonlinear.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from amaranth.sim import Simulator

from ivita.hw.gelu import ShiftGELU
from ivita.hw.layernorm import IntLayerNorm
from ivita.hw.softmax import Shiftmax
from ivita.model import GeluConfig, LayerNormConfig, SoftmaxConfig

SMX = SoftmaxConfig(in_bits=3, n=4, out_bits=4, max_tokens=2, x0_bits=3)
GELU = GeluConfig(in_bits=4, n=4, sig_bits=4, x0_bits=3)
LN = LayerNormConfig(in_bits=8, channels=4)

# (unit, flag, beats: (x, last, x0 or None), cycles from accepting a beat to checking it);
# the final beat is the bad one
CASES = {
    "Shiftmax-bad_x0": (lambda: Shiftmax(SMX), "bad_x0", [(1, 1, 0)], 1),
    "Shiftmax-row_too_long": (lambda: Shiftmax(SMX), "row_too_long",
                              [(1, 0, -2), (2, 0, -2), (3, 1, -2)], 1),
    "ShiftGELU-bad_x0": (lambda: ShiftGELU(GELU), "bad_x0", [(5, 0, 0)], 0),
    "IntLayerNorm-row_too_long": (lambda: IntLayerNorm(LN), "row_too_long", [(1, 0, None)] * 4,
                                  0),
    "IntLayerNorm-row_too_short": (lambda: IntLayerNorm(LN), "row_too_short", [(7, 1, None)],
                                   0),
}


def _flags(ctx: Any, dut: Any) -> dict[str, int]:
    return {name: ctx.get(getattr(dut.error_flags, name)) for name, _ in dut.error_flags.shape()}


@pytest.mark.parametrize("name", list(CASES))
def test_error_in_the_cycle_of_a_clear_stays_set(name: str) -> None:
    build, flag, beats, check_delay = CASES[name]
    dut = build()
    seen: dict[str, Any] = {}

    async def bench(ctx: Any) -> None:
        ctx.set(dut.o_stream.ready, 1)
        for i, (x, last, x0) in enumerate(beats):
            ctx.set(dut.i_stream.payload, {"x": x, "last": last})
            if x0 is not None:
                ctx.set(dut.x0, x0)
            ctx.set(dut.i_stream.valid, 1)
            bad = i == len(beats) - 1
            ctx.set(dut.error_clear, int(bad and not check_delay))  # the clear comes with the error
            assert ctx.get(dut.i_stream.ready), f"{name}: beat {i} not accepted at once"
            await ctx.tick()
        ctx.set(dut.i_stream.valid, 0)
        for _ in range(check_delay):                    # ... in the cycle it is checked
            ctx.set(dut.error_clear, 1)
            await ctx.tick()
        ctx.set(dut.error_clear, 0)
        seen["with_clear"] = (ctx.get(dut.error), _flags(ctx, dut))
        await ctx.tick()
        seen["held"] = (ctx.get(dut.error), _flags(ctx, dut))
        ctx.set(dut.error_clear, 1)                     # a clear on its own clears
        await ctx.tick()
        ctx.set(dut.error_clear, 0)
        seen["cleared"] = (ctx.get(dut.error), _flags(ctx, dut))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    only = {f: int(f == flag) for f, _ in dut.error_flags.shape()}
    zero = {f: 0 for f in only}
    assert seen == {"with_clear": (1, only), "held": (1, only), "cleared": (0, zero)}, name
