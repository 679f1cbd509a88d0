# amaranth: UnusedElaboratable=no
"""Requantizer(per_beat=True): constants travel with each vector; == ivita.model.requantize."""

from __future__ import annotations

import numpy as np
import pytest

from ivita.hw.requant import Requantizer, requant_input_layout
from ivita.model import RequantConfig, requantize
from ivita.sim.unit_run import run_lanes


@pytest.mark.parametrize(("lanes", "acc_bits", "out_bits", "mult_bits", "seed"),
                         [(4, 24, 8, 16, 1), (1, 41, 8, 16, 2), (3, 20, 16, 8, 3)])
def test_per_beat_matches_model(lanes, acc_bits, out_bits, mult_bits, seed) -> None:  # type: ignore[no-untyped-def]
    cfg = RequantConfig(lanes=lanes, acc_bits=acc_bits, out_bits=out_bits, mult_bits=mult_bits,
                        max_shift=63)
    rng = np.random.default_rng(seed)
    n = 40
    acc = rng.integers(-(1 << (acc_bits - 1)), 1 << (acc_bits - 1), size=(n, lanes))
    acc >>= rng.integers(0, acc_bits // 2, size=acc.shape)
    b = rng.integers(0, 1 << mult_bits, size=(n, lanes))
    c = rng.integers(0, 64, size=(n, lanes))
    c[: n // 2] = rng.integers(acc_bits + mult_bits - out_bits - 4,
                               acc_bits + mult_bits - out_bits + 2, size=(n // 2, lanes))
    beats = [{"acc": list(map(int, acc[i])), "b": list(map(int, b[i])),
              "c": list(map(int, c[i])), "last": int(i % 5 == 4)} for i in range(n)]
    run = run_lanes(Requantizer(cfg, per_beat=True), beats, n_out=n, seed=seed, p_valid=0.7,
                    p_ready=0.6)
    got = np.array([o["q"] for o in run.outputs])
    assert (got == requantize(acc, b, c, out_bits)).all()
    assert [o["last"] for o in run.outputs] == [bt["last"] for bt in beats]


def test_per_beat_layout_and_ports() -> None:
    cfg = RequantConfig(lanes=2, acc_bits=10, out_bits=4, mult_bits=5, max_shift=63)
    lay = requant_input_layout(cfg, per_beat=True)
    assert lay.size == 2 * 10 + 1 + 2 * 5 + 2 * 6
    dut = Requantizer(cfg, per_beat=True)
    assert not hasattr(dut, "table_we")
    with pytest.raises(TypeError, match="per_beat must be a bool, not int"):
        Requantizer(cfg, per_beat=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("acc_bits", [20, 41], ids=["one_dsp", "split"])
def test_reset_mid_stream_leaves_it_clean(acc_bits: int) -> None:
    """The data registers have no reset: a synchronous reset while vectors are in flight (and
    one waits in the skid's spare) drops them; the vectors after it come out alone, == model."""
    from amaranth import Module, ResetInserter, Signal
    from amaranth.sim import Simulator

    cfg = RequantConfig(lanes=2, acc_bits=acc_bits, out_bits=6, mult_bits=16, max_shift=63)
    rng = np.random.default_rng(acc_bits)
    n = 12
    acc = rng.integers(-(1 << (acc_bits - 1)), 1 << (acc_bits - 1), size=(n, 2))
    acc >>= rng.integers(0, acc_bits // 2, size=acc.shape)
    b = rng.integers(0, 1 << 16, size=(n, 2))
    c = rng.integers(acc_bits + 16 - 10, acc_bits + 16 - 4, size=(n, 2))
    expected = requantize(acc, b, c, 6)
    dut = Requantizer(cfg, per_beat=True)
    clear = Signal()
    top = Module()
    top.submodules.dut = ResetInserter(clear)(dut)
    got: list[list[int]] = []

    async def bench(ctx) -> None:  # type: ignore[no-untyped-def]
        def offer(i: int) -> None:
            ctx.set(dut.i_stream.payload, {"acc": [int(v) for v in acc[i]],
                                           "b": [int(v) for v in b[i]],
                                           "c": [int(v) for v in c[i]], "last": 0})
            ctx.set(dut.i_stream.valid, 1)

        ctx.set(dut.o_stream.ready, 0)
        i = 0
        while i < n // 2:                     # fill the pipeline and the spare, nothing taken
            offer(i)
            ready = ctx.get(dut.i_stream.ready)
            await ctx.tick()
            i += ready
        ctx.set(dut.i_stream.valid, 0)
        ctx.set(clear, 1)
        await ctx.tick()
        ctx.set(clear, 0)
        ctx.set(dut.o_stream.ready, 1)
        for _ in range(10):                   # nothing from before the reset comes out
            assert not ctx.get(dut.o_stream.valid)
            await ctx.tick()
        i = n // 2
        for _ in range(60):
            if i < n:
                offer(i)
            else:
                ctx.set(dut.i_stream.valid, 0)
            accepted = i < n and ctx.get(dut.i_stream.ready)
            if ctx.get(dut.o_stream.valid):
                got.append(list(ctx.get(dut.o_stream.payload.q)))
            await ctx.tick()
            i += accepted

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == expected[n // 2:].tolist()
