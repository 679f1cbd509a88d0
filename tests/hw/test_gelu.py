"""ShiftGELU (hw/gelu.py) against ivita.model.shift_gelu, bit for bit (docs/numerics.md §6)."""

import random
import re

import pytest

from ivita.hw.gelu import ShiftGELU
from ivita.sim.unit_run import run_stream
from ivita.model import GeluConfig, shift_gelu

SEED = 0x6E1


def _x0(rng, x0_bits):
    top = (1 << x0_bits) - 1
    return -rng.choice([1, top, rng.randint(1, top), 1 << rng.randrange(x0_bits)])


def _run(dut, beats, *, seed, **kw):
    cfg = dut.config
    res = run_stream(dut, beats, n_out=len(beats), ports=("x0",), seed=seed,
                     watch={"error": dut.error}, **kw)
    assert len(res.outputs) == len(beats), f"seed={seed}: {len(res.outputs)} outputs for {len(beats)}"
    for i, (o, b) in enumerate(zip(res.outputs, beats)):
        ok = -(1 << cfg.x0_bits) < b["x0"] < 0
        want = shift_gelu(b["x"], b["x0"], cfg.n, cfg.sig_bits) if ok else 0
        assert (o["y"], o["last"]) == (want, b["last"]), \
            f"seed={seed} {cfg}: element {i} {b}: got {o}, expected y={want} last={b['last']}"
    return res


@pytest.mark.parametrize("in_bits,n,sig_bits", [
    (2, 15, 8), (3, 4, 3), (4, 15, 8), (5, 9, 6), (6, 15, 8), (7, 2, 2), (8, 15, 8), (8, 15, 16),
    (8, 0, 8),
])
def test_every_input_value(in_bits, n, sig_bits):
    """All 2^in_bits inputs, each with a random x0, random valid gaps and ready stalls."""
    seed = SEED + 100 * in_bits + 10 * n + sig_bits
    rng = random.Random(seed)
    cfg = GeluConfig(in_bits=in_bits, n=n, sig_bits=sig_bits)
    xs = list(range(-(1 << (in_bits - 1)), 1 << (in_bits - 1)))
    rng.shuffle(xs)
    beats = [{"x": x, "last": rng.randint(0, 1), "x0": _x0(rng, cfg.x0_bits)} for x in xs]
    res = _run(ShiftGELU(cfg), beats, seed=seed, p_valid=0.75, p_ready=0.7)
    assert res.final["error"] == 0


def test_x0_extremes_and_16_bit_inputs():
    cfg = GeluConfig(in_bits=16, n=15, sig_bits=8, x0_bits=16)
    rng = random.Random(SEED)
    beats = []
    for x0 in (-1, -(1 << 16) + 1, -2, -(1 << 15)):
        for x in (0, 1, -1, 32767, -32768, rng.randint(-32768, 32767), rng.randint(-50, 50)):
            beats.append({"x": x, "last": 0, "x0": x0})
    _run(ShiftGELU(cfg), beats, seed=SEED, p_ready=0.6)


def test_sequential_divider_variant():
    cfg = GeluConfig(in_bits=5, n=6, sig_bits=5, x0_bits=8)
    rng = random.Random(SEED + 1)
    dut = ShiftGELU(cfg, pipelined=False)
    beats = [{"x": x, "last": x & 1, "x0": _x0(rng, 8)} for x in range(-16, 16)]
    _run(dut, beats, seed=SEED + 1, p_valid=0.7, p_ready=0.7)
    res = _run(dut, beats, seed=SEED + 1)
    assert dut.timing().interval == 6
    assert {b - a for a, b in zip(res.out_cycles, res.out_cycles[1:])} == {6}


def test_bad_x0_gives_zero_and_sets_sticky_flag():
    from amaranth.sim import Simulator
    cfg = GeluConfig(in_bits=4, n=4, sig_bits=4, x0_bits=3)
    dut = ShiftGELU(cfg)
    beats = [{"x": 5, "last": 0, "x0": -3}, {"x": 5, "last": 1, "x0": 0},
             {"x": -7, "last": 0, "x0": 3}, {"x": 7, "last": 1, "x0": -8}, {"x": 6, "last": 1, "x0": -7}]
    res = _run(dut, beats, seed=1)                 # bad ones checked as y = 0
    assert res.final["error"] == 1
    seen = []

    async def bench(ctx):                          # the flag stays set until error_clear
        ctx.set(dut.x0, 0)
        ctx.set(dut.i_stream.payload, {"x": 1, "last": 1})
        ctx.set(dut.i_stream.valid, 1)
        ctx.set(dut.o_stream.ready, 1)
        await ctx.tick()
        ctx.set(dut.i_stream.valid, 0)
        for _ in range(3):
            await ctx.tick()
            seen.append(ctx.get(dut.error))
        ctx.set(dut.error_clear, 1)
        await ctx.tick()
        ctx.set(dut.error_clear, 0)
        seen.append(ctx.get(dut.error))
        seen.append(ctx.get(dut.error_flags.bad_x0))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [1, 1, 1, 0, 0]


def test_latency_and_throughput():
    cfg = GeluConfig()
    dut = ShiftGELU(cfg)
    # -|x| and the x0 check, ShiftExp, U + e, RecipDiv (pipelined: sig_bits + 9), the product
    # and the zeroing
    assert dut.timing().latency == 1 + 9 + 1 + 17 + 2
    beats = [{"x": x, "last": 0, "x0": -100} for x in range(-10, 10)]
    res = _run(dut, beats, seed=0)
    assert res.in_cycles == list(range(20))
    assert [o - i for i, o in zip(res.in_cycles, res.out_cycles)] == [dut.timing().latency] * 20


@pytest.mark.parametrize("args,kwargs,exc,msg", [
    ((GeluConfig(),), {"pipelined": "yes"}, TypeError, "pipelined must be a bool, not str ('yes')"),
    ((3,), {}, TypeError, "config must be a GeluConfig, not int (3)"),
])
def test_bad_parameters(args, kwargs, exc, msg):
    with pytest.raises(exc, match=f"^{re.escape(msg)}$"):
        ShiftGELU(*args, **kwargs)


@pytest.mark.parametrize("kwargs,msg", [
    ({"in_bits": 17}, "in_bits=17 is out of range; it must be at most 16"),
    ({"sig_bits": 1}, "sig_bits=1 is out of range; it must be at least 2"),
])
def test_config_errors_are_pinned(kwargs, msg):
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        GeluConfig(**kwargs)


def test_config_width_error_names_the_numbers():
    """The exact wording belongs to ivita.model.config (tests/model pin it); here: the message
    names every parameter involved, the width needed and the limit."""
    with pytest.raises(ValueError) as info:
        GeluConfig(x0_bits=31, n=31)
    for part in ("x0_bits=31", "n=31", "sig_bits=8", "73", "63"):
        assert part in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("in_bits", range(2, 9))
def test_random_matrix_slow(in_bits):
    seed = SEED + in_bits
    rng = random.Random(seed)
    cfg = GeluConfig(in_bits=in_bits, n=rng.choice([4, 8, 15]), sig_bits=rng.choice([4, 8]))
    beats = [{"x": rng.randint(-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1),
              "last": rng.randint(0, 1), "x0": _x0(rng, cfg.x0_bits)} for _ in range(4000)]
    _run(ShiftGELU(cfg), beats, seed=seed, p_valid=0.9, p_ready=0.9)
