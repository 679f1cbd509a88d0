# amaranth: UnusedElaboratable=no
"""The units with an output skid buffer (``hw/_skid.py``; the nonlinear units' pipelines through
``hw/_nlutil.py``'s ``StallPipe``) have no combinational path from ``o_stream.ready`` to
``i_stream.ready`` (nor to the enable that stalls their pipeline).

Checked in the Amaranth simulator: in every cycle of a random run (random input valid and
payload, random ready), ``i_stream.ready`` is read with ``o_stream.ready`` low and again with
it high, after the combinational logic settled, before the clock edge; the two must be equal.
A unit whose ``i_stream.ready`` were ``~o_stream.valid | o_stream.ready`` fails this as soon
as an output waits (the control case below shows the check can fail).
"""

from __future__ import annotations

import random

import pytest
from amaranth import Module
from amaranth.hdl import Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ivita.hw.array import SystolicArray
from ivita.hw.dequant import DequantFirstConverter
from ivita.hw.divider import Divider, RecipDiv, RecipMul
from ivita.hw.gelu import ShiftGELU
from ivita.hw.layernorm import IntLayerNorm
from ivita.hw.requant import Requantizer
from ivita.hw.row_affine import RowAffine
from ivita.hw.shift_exp import ShiftExp
from ivita.model import ArrayConfig, GeluConfig, LayerNormConfig, RequantConfig
from ivita.model.block_config import BlockConfig

CYCLES = 300


class _CombReady(wiring.Component):
    """Control: a one-register pipeline whose ready is ``~o.valid | o.ready``."""

    def __init__(self) -> None:
        super().__init__({"i_stream": In(stream.Signature(8)),
                          "o_stream": Out(stream.Signature(8))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        en = ~self.o_stream.valid | self.o_stream.ready
        m.d.comb += self.i_stream.ready.eq(en)
        with m.If(en):
            m.d.sync += [self.o_stream.valid.eq(self.i_stream.valid),
                         self.o_stream.payload.eq(self.i_stream.payload)]
        return m


def _simulate(dut: wiring.Component, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def ready_depends_on_o_ready(dut: wiring.Component, seed: int) -> int:
    """Cycles in which ``i_stream.ready`` changed with ``o_stream.ready`` (0 = never)."""
    rng = random.Random(seed)
    payload = Value.cast(dut.i_stream.payload)
    width = len(payload)
    hits = [0]

    async def bench(ctx):
        for _ in range(CYCLES):
            ctx.set(dut.i_stream.valid, rng.random() < 0.8)
            ctx.set(payload, rng.getrandbits(width))
            ctx.set(dut.o_stream.ready, 0)
            low = ctx.get(dut.i_stream.ready)
            ctx.set(dut.o_stream.ready, 1)
            high = ctx.get(dut.i_stream.ready)
            hits[0] += low != high
            ctx.set(dut.o_stream.ready, rng.random() < 0.4)
            await ctx.tick()

    _simulate(dut, bench)
    return hits[0]


@pytest.mark.parametrize("make", [
    lambda: SystolicArray(ArrayConfig(rows=2, cols=3, a_bits=4, b_bits=4, k_max=8)),
    lambda: Requantizer(RequantConfig(lanes=2, acc_bits=12, out_bits=4, mult_bits=8)),
    lambda: Requantizer(RequantConfig(lanes=2, acc_bits=12, out_bits=4, mult_bits=8),
                        per_beat=True),
    lambda: DequantFirstConverter(ArrayConfig(rows=2, cols=2, a_bits=4, b_bits=4, k_max=8,
                                              dequant_first=True)),
    lambda: ShiftExp(z_bits=5, x0_bits=6, n=7),
    lambda: Divider(dividend_bits=8, divisor_bits=4, pipelined=True),
    lambda: RecipMul(num_bits=8, s_bits=9, out_bits=4),
    lambda: RecipDiv(num_bits=8, s_bits=9, out_bits=4, pipelined=True),
    lambda: ShiftGELU(GeluConfig(in_bits=4, n=7, sig_bits=4, x0_bits=6)),
], ids=["array", "requant", "requant_per_beat", "dequant", "shift_exp", "divider",
        "recip_mul", "recip_div", "gelu"])
def test_i_ready_does_not_depend_on_o_ready(make) -> None:
    assert ready_depends_on_o_ready(make(), seed=7) == 0


def test_check_detects_a_combinational_ready() -> None:
    assert ready_depends_on_o_ready(_CombReady(), seed=7) > 0


def ready_depends_on_inputs(dut: wiring.Component, seed: int) -> int:
    """Cycles in which ``i_stream.ready`` changed when every input port of the unit was set
    to other random values within the cycle (0 = never: a function of registers only)."""
    rng = random.Random(seed)
    ins = [Value.cast(v) for _, member, v in dut.signature.flatten(dut)
           if member.flow == In]
    handshake = [Value.cast(dut.i_stream.valid), Value.cast(dut.o_stream.ready)]
    # other one-bit inputs (start, clears) rarely, everything else at random
    rare = [len(v) == 1 and not any(v is h for h in handshake) for v in ins]
    hits = [0]

    async def bench(ctx):
        for _ in range(CYCLES):
            seen = set()
            for _ in range(3):
                for v, r in zip(ins, rare):
                    ctx.set(v, rng.random() < 0.05 if r else rng.getrandbits(len(v)))
                seen.add(ctx.get(dut.i_stream.ready))
            hits[0] += len(seen) > 1
            await ctx.tick()

    _simulate(dut, bench)
    return hits[0]


@pytest.mark.parametrize("make", [
    lambda: RowAffine(BlockConfig(rows=2, cols=2, max_tokens=8, max_dim=8, max_heads=1)),
    lambda: IntLayerNorm(LayerNormConfig(in_bits=8, channels=4)),
], ids=["row_affine", "layernorm"])
def test_i_ready_is_a_register(make) -> None:
    """RowAffine's and I-LayerNorm's ``i_stream.ready`` are flip-flops (their docstrings):
    no input of the cycle changes them (the control case shows the check can fail)."""
    assert ready_depends_on_inputs(make(), seed=3) == 0
    assert ready_depends_on_inputs(_CombReady(), seed=3) > 0
