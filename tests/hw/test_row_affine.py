# amaranth: UnusedElaboratable=no
"""RowAffine against a C-mem model (one-cycle read latency, a different constant word per
address): every element gets lane ``ch % cols`` of word ``const_base + ch // cols``, with the
next word prefetched (rows shorter than, equal to and longer than a word; random input gaps
and output stalls)."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from ivita.firmware.memory_map import pack_const
from ivita.hw.row_affine import RowAffine
from ivita.model.block_config import BlockConfig


@pytest.mark.parametrize(("cols", "lengths"), [(4, [3, 4, 9, 1, 12, 5]), (2, [2, 5, 1, 6]),
                                               (1, [3, 1, 2])])
def test_constants_follow_the_channel(cols: int, lengths: list[int]) -> None:
    cfg = BlockConfig(rows=cols, cols=cols, max_tokens=8, max_dim=16, max_heads=1)
    dut, base, rng = RowAffine(cfg), 5, random.Random(cols)
    consts = {ch: {"bias": 1000 * (ch + 1), "b": 3 + ch, "c": ch % 7} for ch in range(16)}
    words = {base + w: pack_const(cfg, [consts[w * cols + j] for j in range(cols)])
             for w in range(-(-16 // cols))}
    rows = [[rng.randint(-500, 500) for _ in range(n)] for n in lengths]
    want = [(y + consts[ch]["bias"], consts[ch]["b"], consts[ch]["c"])
            for row in rows for ch, y in enumerate(row)]
    got: list[tuple[int, int, int]] = []

    async def memory(ctx):  # type: ignore[no-untyped-def]
        async for _clk, _rst, addr in ctx.tick().sample(dut.c_addr):
            ctx.set(dut.c_data.as_value(), words.get(addr, 0))

    async def source(ctx):  # type: ignore[no-untyped-def]
        ctx.set(dut.const_base, base)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for row in rows:
            for ch, y in enumerate(row):
                while rng.random() < 0.3:
                    ctx.set(dut.i_stream.valid, 0)
                    await ctx.tick()
                ctx.set(dut.i_stream.valid, 1)
                ctx.set(dut.i_stream.payload, {"y": y, "last": int(ch == len(row) - 1)})
                await ctx.tick().until(dut.i_stream.ready)
        ctx.set(dut.i_stream.valid, 0)

    async def sink(ctx):  # type: ignore[no-untyped-def]
        while len(got) < len(want):
            ready = int(rng.random() < 0.7)
            ctx.set(dut.o_stream.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.o_stream.valid, dut.o_stream.payload)
            if valid and ready:
                got.append((p.acc[0], p.b[0], p.c[0]))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(memory)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run_until(1e-8 * 2000)
    assert got == want
