"""Shiftmax (hw/softmax.py) against ivita.model.shiftmax, bit for bit (docs/numerics.md §5).

Every run checks the whole output stream: values, ``last`` flags, nothing missing or extra.
"""

import random
import re

import numpy as np
import pytest

from ivita.sim.rows import row_beats, row_mismatch
from ivita.sim.unit_run import run_stream
from ivita.hw.softmax import Shiftmax, shiftmax_schedule
from ivita.model import SoftmaxConfig, shiftmax

SEED = 0x50F7


def _x0(rng, x0_bits):
    top = (1 << x0_bits) - 1
    return -rng.choice([1, top, rng.randint(1, top), 1 << rng.randrange(x0_bits),
                        rng.randint(1, min(top, 64))])


def _rand_row(rng, bits, n):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    mode = rng.random()
    if mode < 0.1:
        return [rng.choice([lo, hi])] * n
    if mode < 0.2:                 # narrow spread: many equal maxima
        base = rng.randint(lo, hi)
        return [min(hi, max(lo, base + rng.randint(-2, 2))) for _ in range(n)]
    return [rng.randint(lo, hi) for _ in range(n)]


def _run(cfg, rows, x0s, *, seed, good=None, banks=3, **kw):
    """Stream ``rows``; ``good`` marks the rows expected at the output (default all)."""
    dut = Shiftmax(cfg, banks=banks)
    good = good or [True] * len(rows)
    want = [shiftmax(np.array(r), x0, cfg.n, cfg.out_bits)
            for r, x0, ok in zip(rows, x0s, good) if ok]
    res = run_stream(dut, row_beats(rows, x0=x0s), n_out=sum(len(w) for w in want),
                     ports=("x0",), seed=seed,
                     watch={"error": dut.error, "flags": dut.error_flags.as_value()}, **kw)
    msg = row_mismatch(res.outputs, want)
    assert msg is None, f"seed={seed} {cfg} banks={banks}: {msg}"
    return dut, res


@pytest.mark.parametrize("in_bits,n,out_bits", [
    (2, 15, 8), (3, 6, 4), (4, 15, 8), (5, 10, 6), (6, 15, 8), (7, 3, 2), (8, 15, 8), (8, 15, 16),
])
def test_random_rows_with_stalls(in_bits, n, out_bits):
    seed = SEED + 100 * in_bits + n + out_bits
    rng = random.Random(seed)
    cfg = SoftmaxConfig(in_bits=in_bits, n=n, out_bits=out_bits)
    rows = [_rand_row(rng, in_bits, rng.choice([1, 2, rng.randint(1, 40)])) for _ in range(10)]
    x0s = [_x0(rng, cfg.x0_bits) for _ in rows]
    _, res = _run(cfg, rows, x0s, seed=seed, p_valid=rng.uniform(0.4, 1), p_ready=rng.uniform(0.4, 1))
    assert res.final["error"] == 0


def test_corner_rows():
    cfg = SoftmaxConfig()
    top = (1 << cfg.x0_bits) - 1
    rows = [[5], [-128], [127] * 7, [-128] * 9, [-128, 127] * 4, [127] + [-128] * 12,
            [0, 0, 1], [-128], [3, 3]]
    x0s = [-1, -top, -1, -top, -7, -top, -1, -1, -top]
    _, res = _run(cfg, rows, x0s, seed=SEED, p_ready=0.5)
    assert res.final == {"error": 0, "flags": 0}


@pytest.mark.parametrize("banks", [1, 3])
def test_max_length_rows_saturate_the_sum(banks):
    """Rows of max_tokens equal values give s = 256 * U with |x0| = 2^16 - 1: the full 39-bit
    sum; plus a random full-length row."""
    cfg = SoftmaxConfig()
    rng = random.Random(SEED + banks)
    top = (1 << cfg.x0_bits) - 1
    rows = [[-128] * 256, [127] * 256, _rand_row(rng, 8, 256)]
    _, res = _run(cfg, rows, [-top, -top, -top // 3], seed=SEED + banks, banks=banks)
    assert res.final["error"] == 0


@pytest.mark.parametrize("banks", [1, 2, 3])
def test_cycle_model_matches_simulation(banks):
    cfg = SoftmaxConfig(in_bits=4, n=7, out_bits=6, max_tokens=20)
    rng = random.Random(SEED + banks)
    lens = [rng.randint(1, 20) for _ in range(6)] + [20, 1, 1]
    rows = [_rand_row(rng, 4, n) for n in lens]
    dut, res = _run(cfg, rows, [-9] * len(rows), seed=0, banks=banks)
    starts = np.cumsum([0] + lens[:-1])
    got = [(res.in_cycles[s], res.in_cycles[s + n - 1], res.out_cycles[s], res.out_cycles[s + n - 1])
           for s, n in zip(starts, lens)]
    assert got == dut.schedule(lens)
    assert got[0][2] - got[0][1] == dut.timing(lens[0]).latency


def test_errors_discard_the_bad_row_only():
    cfg = SoftmaxConfig(in_bits=5, n=9, out_bits=7, max_tokens=8, x0_bits=6)
    rng = random.Random(SEED)
    good_rows = [_rand_row(rng, 5, rng.randint(1, 8)) for _ in range(6)]
    rows, x0s, good = [], [], []

    def add(row, x0, ok):
        rows.append(row), x0s.append(x0), good.append(ok)

    add(good_rows[0], -5, True)
    add(_rand_row(rng, 5, 9), -5, False)            # max_tokens + 1
    add(good_rows[1], -63, True)
    add(_rand_row(rng, 5, 30), -5, False)           # far too long
    add([3], 0, False)                              # x0 = 0, row of one
    add(good_rows[2], -1, True)
    add(_rand_row(rng, 5, 5), 7, False)             # x0 > 0
    add(_rand_row(rng, 5, 4), -64, False)           # |x0| = 2^x0_bits
    add(good_rows[3], -63, True)
    add(_rand_row(rng, 5, 8), -2, True)             # exactly max_tokens
    dut, res = _run(cfg, rows, x0s, seed=SEED, good=good, p_valid=0.7, p_ready=0.5)
    assert res.final == {"error": 1, "flags": 0b11}


@pytest.mark.parametrize("kind", ["row_too_long", "bad_x0"])
def test_each_error_sets_only_its_flag_and_clear_works(kind):
    from amaranth.sim import Simulator
    cfg = SoftmaxConfig(in_bits=3, n=4, out_bits=4, max_tokens=2, x0_bits=3)
    dut = Shiftmax(cfg)
    bad = ([1, 2, 3], -2) if kind == "row_too_long" else ([1, 2], 0)
    seen = {}

    async def bench(ctx):
        for x, last, x0 in [(v, int(i == len(bad[0]) - 1), bad[1]) for i, v in enumerate(bad[0])]:
            ctx.set(dut.i_stream.payload, {"x": x, "last": last})
            ctx.set(dut.x0, x0)
            ctx.set(dut.i_stream.valid, 1)
            await ctx.tick().until(dut.i_stream.ready)
        ctx.set(dut.i_stream.valid, 0)
        await ctx.tick()
        seen["error"] = ctx.get(dut.error)
        seen["flags"] = {f: ctx.get(getattr(dut.error_flags, f)) for f in ("row_too_long", "bad_x0")}
        ctx.set(dut.error_clear, 1)
        await ctx.tick()
        ctx.set(dut.error_clear, 0)
        await ctx.tick()
        seen["after_clear"] = ctx.get(dut.error)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == {"error": 1, "flags": {"row_too_long": int(kind == "row_too_long"),
                                          "bad_x0": int(kind == "bad_x0")}, "after_clear": 0}


def test_heavy_backpressure_small_rows():
    cfg = SoftmaxConfig(in_bits=3, n=5, out_bits=4, max_tokens=6, x0_bits=4)
    rng = random.Random(SEED + 7)
    rows = [_rand_row(rng, 3, rng.randint(1, 6)) for _ in range(16)]
    _run(cfg, rows, [_x0(rng, 4) for _ in rows], seed=SEED + 7, banks=2, p_valid=0.3, p_ready=0.2)


@pytest.mark.parametrize("args,kwargs,exc,msg", [
    ((), {}, TypeError, None),
    ((SoftmaxConfig(),), {"banks": 0}, ValueError, "banks=0 is out of range; it must be at least 1"),
    ((SoftmaxConfig(),), {"banks": 5}, ValueError, "banks=5 is out of range; it must be at most 4"),
    (("softmax",), {}, TypeError, "config must be a SoftmaxConfig, not str ('softmax')"),
])
def test_bad_parameters(args, kwargs, exc, msg):
    with pytest.raises(exc, match=None if msg is None else f"^{re.escape(msg)}$"):
        Shiftmax(*args, **kwargs)


@pytest.mark.parametrize("kwargs,msg", [
    ({"max_tokens": 0}, "max_tokens=0 is out of range; it must be at least 1"),
    ({"in_bits": 1}, "in_bits=1 is out of range; it must be at least 2"),
    ({"out_bits": 17}, "out_bits=17 is out of range; it must be at most 16"),
])
def test_config_errors_are_pinned(kwargs, msg):
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        SoftmaxConfig(**kwargs)


def test_config_width_error_names_the_numbers():
    """The exact wording belongs to ivita.model.config (tests/model pin it); here: the message
    names every parameter involved, the width needed and the limit."""
    with pytest.raises(ValueError) as info:
        SoftmaxConfig(x0_bits=31, n=31)
    for part in ("x0_bits=31", "n=31", "max_tokens=256", "out_bits=8", "80", "63"):
        assert part in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("in_bits", range(2, 9))
def test_random_matrix_slow(in_bits):
    seed = SEED + 7 * in_bits
    rng = random.Random(seed)
    cfg = SoftmaxConfig(in_bits=in_bits, n=rng.choice([4, 8, 15]), out_bits=rng.choice([4, 8]))
    rows = [_rand_row(rng, in_bits, rng.randint(1, 256)) for _ in range(60)]
    _run(cfg, rows, [_x0(rng, cfg.x0_bits) for _ in rows], seed=seed, p_valid=0.8, p_ready=0.8)


def test_input_ready_is_a_flip_flop():
    """``i_stream.ready`` depends on no input of the same cycle (valid, payload, ``x0``,
    ``o_stream.ready``): read twice per cycle with different inputs, it is the same; and it
    does fall (the input runs at most two beats ahead of a blocked stage A)."""
    from amaranth.sim import Simulator
    cfg = SoftmaxConfig(in_bits=3, n=4, out_bits=4, max_tokens=4, x0_bits=3)
    dut = Shiftmax(cfg, banks=1)
    rng = random.Random(SEED + 11)
    seen = {"changed": 0, "low": 0}

    async def bench(ctx):
        for _ in range(300):
            values = []
            for _ in range(2):
                ctx.set(dut.i_stream.valid, rng.random() < 0.9)
                ctx.set(dut.i_stream.payload, {"x": rng.randint(-4, 3), "last": rng.random() < 0.3})
                ctx.set(dut.x0, rng.randint(-8, 1))
                ctx.set(dut.o_stream.ready, rng.random() < 0.5)
                values.append(ctx.get(dut.i_stream.ready))
            seen["changed"] += values[0] != values[1]
            seen["low"] += not values[1]
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen["changed"] == 0 and seen["low"] > 0


def test_reset_at_any_cycle_of_a_row_leaves_the_unit_clean():
    """A synchronous reset (the block's datapath reset) in any cycle of a row's run, stage B's
    division included, leaves no state behind: the rows fed afterwards are exact."""
    from amaranth import Signal
    from amaranth.hdl import ResetInserter
    from amaranth.sim import Simulator
    cfg = SoftmaxConfig(in_bits=4, n=7, out_bits=6, max_tokens=8, x0_bits=5)
    rows = [[3, -2, 5, 1, 0, -8, 7, 2], [1, 2, 3], [-8] * 8]
    want = [(int(y), int(i == len(r) - 1)) for r in rows[1:]
            for i, y in enumerate(shiftmax(np.array(r), -9, cfg.n, cfg.out_bits))]
    beats = [(x, int(i == len(r) - 1)) for r in rows for i, x in enumerate(r)]
    for k in range(1, shiftmax_schedule(cfg, [8])[0][3] + 3, 2):     # up to row 0's end
        dut = Shiftmax(cfg)
        rst = Signal()
        got = []

        async def bench(ctx, dut=dut, rst=rst, got=got, k=k):
            queue, cycle = list(beats), 0
            ctx.set(dut.x0, -9)
            ctx.set(dut.o_stream.ready, 1)
            while cycle < 400:
                ctx.set(rst, cycle == k)
                if cycle == k:
                    queue, got[:] = list(beats[8:]), []     # the rows after the reset
                ctx.set(dut.i_stream.valid, bool(queue) and cycle != k)
                if queue:
                    ctx.set(dut.i_stream.payload, {"x": queue[0][0], "last": queue[0][1]})
                took = queue and cycle != k and ctx.get(dut.i_stream.ready)
                if ctx.get(dut.o_stream.valid) and cycle > k:
                    got.append((ctx.get(dut.o_stream.payload.y),
                                ctx.get(dut.o_stream.payload.last)))
                await ctx.tick()
                if took:
                    queue.pop(0)
                cycle += 1

        sim = Simulator(ResetInserter(rst)(dut))
        sim.add_clock(1e-8)
        sim.add_testbench(bench)
        sim.run()
        assert got == want, k
