# amaranth: UnusedElaboratable=no
"""The attention block's small units alone, with random back-pressure: TileSequencer and
RowSerializer (memory reads, held beats), LaneWriter (lane writes), TileEpilogue (constants)."""

from __future__ import annotations

import random

import pytest
from amaranth import Module
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from ivita.firmware.memory_map import pack_const, pack_lanes, unpack_lanes
from ivita.hw.lane_writer import LaneWriter
from ivita.hw.row_serializer import RowSerializer
from ivita.hw.tile_epilogue import TileEpilogue
from ivita.hw.tile_sequencer import TileSequencer
from ivita.model.block_config import BlockConfig


def _sim(m: Module, bench) -> None:  # type: ignore[no-untyped-def]
    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _collect(dut, o, params: dict, n: int, seed: int, fields):  # type: ignore[no-untyped-def]
    out: list = []

    async def bench(ctx):
        rng = random.Random(seed)
        for k, v in params.items():
            ctx.set(getattr(dut, k), v)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(20 * n + 50):
            ready = rng.random() < 0.6
            ctx.set(o.ready, ready)
            _, _, valid, *vals = await ctx.tick().sample(o.valid, *fields)
            if valid and ready:
                out.append(tuple(vals))
        assert not ctx.get(dut.busy)
    return out, bench


@pytest.mark.parametrize("seed", [1, 2])
def test_row_serializer_under_backpressure(seed: int) -> None:
    lanes, bits, base, stride, n_rows, n_elems = 3, 5, 2, 4, 3, 7
    rng = random.Random(seed)
    vals = [[rng.randint(-16, 15) for _ in range(lanes)] for _ in range(20)]
    m = Module()
    m.submodules.mem = mem = Memory(shape=lanes * bits, depth=20,
                                    init=[pack_lanes(v, bits) for v in vals])
    m.submodules.dut = dut = RowSerializer(lanes=lanes, lane_bits=bits)
    rp = mem.read_port()
    m.d.comb += [rp.addr.eq(dut.rd_addr), rp.en.eq(dut.rd_en), dut.rd_data.eq(rp.data)]
    o = dut.o_stream
    out, bench = _collect(dut, o, dict(base=base, stride=stride, n_rows=n_rows,
                                       n_elems=n_elems), n_rows * n_elems, seed,
                          (o.payload.x, o.payload.last))
    _sim(m, bench)
    want = [(vals[base + t * stride + e // lanes][e % lanes], int(e == n_elems - 1))
            for t in range(n_rows) for e in range(n_elems)]
    assert out == want


@pytest.mark.parametrize("seed", [3, 4])
def test_tile_sequencer_under_backpressure(seed: int) -> None:
    cfg = BlockConfig(rows=2, cols=2, a_bits=4, w_bits=4, prob_bits=4, max_tokens=8,
                      max_dim=8)
    rng = random.Random(seed)
    a_vals = [[rng.randint(-8, 7) for _ in range(2)] for _ in range(32)]
    b_vals = [[rng.randint(-8, 7) for _ in range(2)] for _ in range(32)]
    m = Module()
    m.submodules.dut = dut = TileSequencer(cfg)
    for name, vals, addr, data in (("a", a_vals, dut.a_addr, dut.a_data),
                                   ("b", b_vals, dut.b_addr, dut.b_data)):
        mem = Memory(shape=8, depth=32, init=[pack_lanes(v, 4) for v in vals])
        m.submodules[f"mem_{name}"] = mem
        rp = mem.read_port()
        m.d.comb += [rp.addr.eq(addr), rp.en.eq(dut.rd_en), data.eq(rp.data)]
    o = dut.o_stream
    p = dict(a_base=1, a_stride=5, b_base=3, b_stride=7, row_blocks=2, col_blocks=3, k=4)
    out, bench = _collect(dut, o, p, 24, seed, (o.payload.as_value(),))
    _sim(m, bench)
    want = []
    for cb in range(3):
        for rb in range(2):
            for k in range(4):
                a = pack_lanes(a_vals[1 + rb * 5 + k], 4)
                b = pack_lanes(b_vals[3 + cb * 7 + k], 4)
                want.append((a | b << 8 | int(k == 3) << 16,))
    assert out == want


def test_lane_writer_addresses_and_lanes() -> None:
    dut = LaneWriter(lanes=3, lane_bits=6, in_shape=4)
    writes = []

    async def bench(ctx):
        for k, v in dict(dst=5, dst_stride=10, n_rows=4, n_cols=2).items():
            ctx.set(getattr(dut, k), v)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        assert not ctx.get(dut.finished)
        elems = [(t, c) for t in range(4) for c in range(2)]
        for t, c in elems:
            ctx.set(dut.i_stream.valid, 1)
            ctx.set(dut.i_stream.payload.y, (t * 2 + c) % 16)
            assert ctx.get(dut.i_stream.ready)
            await ctx.tick()
            ctx.set(dut.i_stream.valid, 0)
            if ctx.get(dut.w_en):
                writes.append((ctx.get(dut.w_addr), ctx.get(dut.w_lanes),
                               ctx.get(dut.w_data.as_value())))
            await ctx.tick()
            assert not ctx.get(dut.w_en)
        assert ctx.get(dut.finished)

    _sim(dut, bench)
    want = []
    for t in range(4):
        for c in range(2):
            y = (t * 2 + c) % 16
            want.append((5 + (t // 3) * 10 + c, 1 << (t % 3), pack_lanes([y] * 3, 6)))
    assert writes == want


def test_epilogue_adds_bias_and_picks_column_constants() -> None:
    cfg = BlockConfig(rows=2, cols=2, a_bits=4, w_bits=4, prob_bits=4, max_tokens=4,
                      max_dim=4, mult_bits=8)
    consts = [pack_const(cfg, [{"bias": 100 * w + j - 1000, "b": 10 * w + j, "c": w + j}
                               for j in range(2)]) for w in range(6)]
    m = Module()
    m.submodules.dut = dut = TileEpilogue(cfg)
    m.submodules.mem = mem = Memory(shape=len(dut.c_data.as_value()), depth=6, init=consts)
    rp = mem.read_port()
    m.d.comb += [rp.addr.eq(dut.c_addr), dut.c_data.eq(rp.data)]
    got = []

    async def bench(ctx):
        ctx.set(dut.row_blocks, 2)
        ctx.set(dut.const_base, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.o_stream.ready, 1)
        beats = [(cb, rb, r) for cb in range(2) for rb in range(2) for r in range(2)]
        i = 0
        for _ in range(60):
            if i < len(beats):
                ctx.set(dut.i_stream.valid, 1)
                ctx.set(dut.i_stream.payload.c[0], i)
                ctx.set(dut.i_stream.payload.c[1], -i)
                ctx.set(dut.i_stream.payload.last, beats[i][2])
            else:
                ctx.set(dut.i_stream.valid, 0)
            _, _, rdy, ov, acc, b, c = await ctx.tick().sample(
                dut.i_stream.ready, dut.o_stream.valid, dut.o_stream.payload.acc.as_value(),
                dut.o_stream.payload.b.as_value(), dut.o_stream.payload.c.as_value())
            if ov:
                got.append((unpack_lanes(acc, 2, cfg.acc_bits), unpack_lanes(b, 2, 8, False),
                            unpack_lanes(c, 2, 6, False)))
            if rdy and i < len(beats):
                i += 1

    _sim(m, bench)
    want = []
    for i, (cb, _, _) in enumerate((cb, rb, r) for cb in range(2) for rb in range(2)
                                   for r in range(2)):
        w = 1 + cb
        want.append(([i + 100 * w - 1000, -i + 100 * w + 1 - 1000], [10 * w, 10 * w + 1],
                     [w, w + 1]))
    assert got == want
