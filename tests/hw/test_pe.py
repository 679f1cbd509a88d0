# amaranth: UnusedElaboratable=no
"""ProcessingElement vs a cycle model of the running sum of products (docs/numerics.md §3)."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ivita.hw.pe import ProcessingElement
from ivita.model import required_acc_bits

WIDTHS = [(2, 2), (8, 8), (3, 7), (7, 3), (5, 2), (16, 16)]


def seed_for(*params: object) -> int:
    return zlib.crc32(repr(params).encode())


class PEModel:
    """Register-level reference: what the PE's outputs hold after each enabled cycle. Two
    stages: the product of a valid beat is registered with the operands it passes on
    (``valid_out``/``last_out`` are its valid and last) and added to ``acc`` in the next
    enabled cycle, where a ``last`` product moves the sum to ``result`` and clears ``acc``."""

    def __init__(self) -> None:
        self.state = dict(acc=0, result=0, a_out=0, b_out=0, valid_out=0, last_out=0)
        self.product = 0

    def step(self, en: int, valid: int, last: int, a: int, b: int) -> None:
        s = self.state
        if not en:
            return
        if s["valid_out"]:                       # stage 2: the product registered last time
            total = s["acc"] + self.product
            if s["last_out"]:
                s["result"], s["acc"] = total, 0
            else:
                s["acc"] = total
        s["valid_out"] = valid                   # stage 1
        if valid:
            s["a_out"], s["b_out"], s["last_out"] = a, b, last
            self.product = a * b


def stimulus(rng: np.random.Generator, a_bits: int, b_bits: int, k_max: int, n: int,
             extreme: float) -> list[tuple[int, int, int, int, int]]:
    """Cycles of (en, valid, last, a, b); tiles of 1..k_max valid beats, some exactly k_max."""
    amin, amax = -(1 << (a_bits - 1)), (1 << (a_bits - 1)) - 1
    bmin, bmax = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    out, beats, tile_len = [], 0, int(rng.integers(1, k_max + 1))
    for _ in range(n):
        en = int(rng.random() < 0.8)
        valid = int(rng.random() < 0.75)
        if rng.random() < extreme:
            a, b = [(amin, bmin), (amax, bmax), (amin, bmax), (amax, bmin)][rng.integers(4)]
        else:
            a, b = int(rng.integers(amin, amax + 1)), int(rng.integers(bmin, bmax + 1))
        last = int(beats == tile_len - 1)
        if not valid:
            last = int(rng.random() < 0.5)          # ignored without valid: random on purpose
        out.append((en, valid, last, a, b))
        if en and valid:
            beats += 1
            if last:
                beats = 0
                tile_len = k_max if rng.random() < 0.4 else int(rng.integers(1, k_max + 1))
    return out


def run_pe(dut: ProcessingElement, cycles: list, seed: int) -> None:
    model = PEModel()
    ports = ["acc", "result", "a_out", "b_out", "valid_out", "last_out"]

    async def bench(ctx):
        for i, (en, valid, last, a, b) in enumerate(cycles):
            got = {p: ctx.get(getattr(dut, p)) for p in ports}
            assert got == model.state, f"seed={seed}, cycle {i}: got {got}, model {model.state}"
            for port, v in (("en", en), ("valid_in", valid), ("last_in", last), ("a_in", a),
                            ("b_in", b)):
                ctx.set(getattr(dut, port), v)
            model.step(en, valid, last, a, b)
            await ctx.tick()
        got = {p: ctx.get(getattr(dut, p)) for p in ports}
        assert got == model.state, f"seed={seed}, end: got {got}, model {model.state}"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


# ------------------------------------------------------------------------------ construction

def test_signature() -> None:
    pe = ProcessingElement(a_bits=3, b_bits=5, acc_bits=12)
    members = pe.signature.members
    assert members["a_in"] == In(signed(3)) and members["a_out"] == Out(signed(3))
    assert members["b_in"] == In(signed(5)) and members["b_out"] == Out(signed(5))
    assert members["acc"] == Out(signed(12)) and members["result"] == Out(signed(12))
    for name in ("valid_in", "last_in"):
        assert members[name] == In(1)
    for name in ("valid_out", "last_out"):
        assert members[name] == Out(1)
    assert members["en"] == In(1, init=1)
    assert (pe.a_bits, pe.b_bits, pe.acc_bits) == (3, 5, 12)


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"a_bits": 1, "b_bits": 8, "acc_bits": 24}, ValueError,
     "a_bits=1 is out of range; it must be at least 2"),
    ({"a_bits": 8, "b_bits": 17, "acc_bits": 40}, ValueError,
     "b_bits=17 is out of range; it must be at most 16"),
    ({"a_bits": 8, "b_bits": 8, "acc_bits": 49}, ValueError,
     "acc_bits=49 is out of range; it must be at most 48"),
    ({"a_bits": 8, "b_bits": 8, "acc_bits": 15}, ValueError,
     "acc_bits=15 is too narrow for a_bits=8, b_bits=8 and k=1; at least 16 bits are needed"),
    ({"a_bits": 8.0, "b_bits": 8, "acc_bits": 16}, TypeError,
     "a_bits must be an integer, not float (8.0)"),
    ({"a_bits": True, "b_bits": 8, "acc_bits": 16}, TypeError,
     "a_bits must be an integer, not bool (True)"),
])
def test_rejects_bad_widths(kwargs: dict, exc: type, message: str) -> None:
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        ProcessingElement(**kwargs)


def test_parameters_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ProcessingElement(8, 8, 16)  # type: ignore[misc]


# -------------------------------------------------------------------------------- simulation

@pytest.mark.parametrize("a_bits, b_bits", WIDTHS, ids=[f"a{a}b{b}" for a, b in WIDTHS])
@pytest.mark.parametrize("extreme", [0.0, 0.7], ids=["random", "extreme"])
def test_running_sum_with_stalls(a_bits: int, b_bits: int, extreme: float) -> None:
    k_max = 9
    acc_bits = required_acc_bits(a_bits, b_bits, k_max)
    seed = seed_for("pe", a_bits, b_bits, extreme)
    rng = np.random.default_rng(seed)
    cycles = stimulus(rng, a_bits, b_bits, k_max, 400, extreme)
    run_pe(ProcessingElement(a_bits=a_bits, b_bits=b_bits, acc_bits=acc_bits), cycles, seed)


@pytest.mark.parametrize("a_bits, b_bits", [(2, 2), (8, 8), (3, 7), (16, 16)])
def test_most_negative_at_k_max_fills_accumulator(a_bits: int, b_bits: int) -> None:
    """k_max products of the most negative codes: the exact positive peak of acc_bits."""
    k_max = 16
    acc_bits = required_acc_bits(a_bits, b_bits, k_max)
    amin, bmin = -(1 << (a_bits - 1)), -(1 << (b_bits - 1))
    cycles = [(1, 1, int(i == k_max - 1), amin, bmin) for i in range(k_max)] + [(1, 0, 0, 0, 0)]
    peak = k_max * amin * bmin
    assert peak == (1 << (acc_bits - 2))        # the top magnitude bit of the accumulator
    dut = ProcessingElement(a_bits=a_bits, b_bits=b_bits, acc_bits=acc_bits)
    run_pe(dut, cycles, seed=0)
    # and with max x min the most negative sum
    amax = (1 << (a_bits - 1)) - 1
    cycles = [(1, 1, int(i == k_max - 1), amax, bmin) for i in range(k_max)] + [(1, 0, 0, 0, 0)]
    run_pe(ProcessingElement(a_bits=a_bits, b_bits=b_bits, acc_bits=acc_bits), cycles, seed=0)


def test_wide_accumulator() -> None:
    seed = seed_for("wide")
    cycles = stimulus(np.random.default_rng(seed), 8, 8, 30, 300, 0.5)
    run_pe(ProcessingElement(a_bits=8, b_bits=8, acc_bits=48), cycles, seed)


def test_model_detects_a_wrong_pe() -> None:
    """The cycle check can fail: a PE whose accumulator is one bit short disagrees."""
    a_bits = b_bits = 4
    k_max = 8
    acc_bits = required_acc_bits(a_bits, b_bits, k_max) - 1
    cycles = [(1, 1, int(i == k_max - 1), -8, -8) for i in range(k_max)] + [(1, 0, 0, 0, 0)]
    with pytest.raises(AssertionError, match=r"seed=0, (cycle \d+|end): got"):
        run_pe(ProcessingElement(a_bits=a_bits, b_bits=b_bits, acc_bits=acc_bits), cycles, 0)


# ----------------------------------------------------------------------- multiplier structures

@pytest.mark.parametrize("a_bits, b_bits", [(2, 2), (3, 7), (8, 8), (5, 2)])
def test_inferred_multiplier_same_behaviour(a_bits: int, b_bits: int) -> None:
    """multiplier="infer" (the `*` operator) against the same cycle model as the Booth rows."""
    k_max = 9
    acc_bits = required_acc_bits(a_bits, b_bits, k_max)
    seed = seed_for("pe-infer", a_bits, b_bits)
    cycles = stimulus(np.random.default_rng(seed), a_bits, b_bits, k_max, 300, 0.5)
    run_pe(ProcessingElement(a_bits=a_bits, b_bits=b_bits, acc_bits=acc_bits,
                             multiplier="infer"), cycles, seed)


def test_booth_every_operand_pair() -> None:
    """Every (a, b) pair at 4 x 5 bits, one-beat tiles: result == a * b exactly."""
    a_bits, b_bits = 4, 5
    pairs = [(a, b) for a in range(-8, 8) for b in range(-16, 16)]
    cycles = [(1, 1, 1, a, b) for a, b in pairs] + [(1, 0, 0, 0, 0)]
    run_pe(ProcessingElement(a_bits=a_bits, b_bits=b_bits, acc_bits=a_bits + b_bits), cycles, 0)


@pytest.mark.parametrize("value, exc, message", [
    ("wallace", ValueError, "multiplier='wallace' is not one of booth, infer"),
    (1, TypeError, "multiplier must be a str, not int (1)"),
])
def test_rejects_bad_multiplier(value: object, exc: type, message: str) -> None:
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        ProcessingElement(a_bits=4, b_bits=4, acc_bits=8, multiplier=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("multiplier", ["booth", "infer"])
def test_reset_clears_accumulator_mid_tile(multiplier: str) -> None:
    """The accumulator's clear is its synchronous reset input, shared with the domain reset:
    a reset pulse in the middle of a tile must still clear ``acc`` (and ``result``), and a
    product registered before the reset must not be added after it."""
    from amaranth import ClockDomain, Module

    dut = ProcessingElement(a_bits=4, b_bits=4, acc_bits=10, multiplier=multiplier)
    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.dut = dut

    def beat(ctx, valid: int, last: int = 0, a: int = 0, b: int = 0) -> None:
        for port, v in (("valid_in", valid), ("last_in", last), ("a_in", a), ("b_in", b)):
            ctx.set(getattr(dut, port), v)

    async def bench(ctx):
        beat(ctx, 1, 1, -3, 5)
        await ctx.tick()                       # a one-beat tile: product -15 registered
        beat(ctx, 1, 0, 3, 5)
        await ctx.tick()                       # result = -15; next tile's first product 15
        beat(ctx, 1, 0, 2, 2)
        await ctx.tick()                       # acc = 15; product 4 registered
        assert (ctx.get(dut.acc), ctx.get(dut.result)) == (15, -15)
        beat(ctx, 0)
        ctx.set(cd.rst, 1)
        await ctx.tick()
        ctx.set(cd.rst, 0)
        assert (ctx.get(dut.acc), ctx.get(dut.result)) == (0, 0)
        await ctx.tick()                       # the product 4 of before the reset is dropped
        assert (ctx.get(dut.acc), ctx.get(dut.result)) == (0, 0)
        beat(ctx, 1, 1, -2, 4)
        await ctx.tick()
        beat(ctx, 0)
        await ctx.tick()
        assert (ctx.get(dut.acc), ctx.get(dut.result)) == (0, -8)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_elaborated_as_changes_the_elaboration_only() -> None:
    """The simulation-view hook: inside the block a Booth PE elaborates word-level (no Booth
    rows, a ``*``), with its ports, ``multiplier`` and name unchanged; outside it is Booth
    again; a form outside MULTIPLIERS is an error naming it."""
    from amaranth.back import verilog

    from ivita.hw.pe import elaborated_as

    def text(pe: ProcessingElement) -> str:
        return verilog.convert(pe, name="pe")

    seen: list[str] = []

    def word_level(pe: ProcessingElement) -> str:
        seen.append(pe.multiplier)
        return "infer"

    with elaborated_as(word_level):
        pe = ProcessingElement(a_bits=4, b_bits=4, acc_bits=10)
        inside = text(pe)
    assert seen == ["booth"] and pe.multiplier == "booth"
    assert "booth_" not in inside and " * " in inside
    outside = text(ProcessingElement(a_bits=4, b_bits=4, acc_bits=10))
    assert "booth_" in outside and " * " not in outside
    header = re.compile(r"(?m)^\s*(?:module|input|output)\b.*$")
    assert header.findall(inside) == header.findall(outside)
    with elaborated_as(lambda pe: "wallace"), pytest.raises(ValueError, match="'wallace'"):
        text(ProcessingElement(a_bits=4, b_bits=4, acc_bits=10))


@pytest.mark.parametrize("a_bits, b_bits", [
    (6, 6), (5, 7), (7, 5),
    pytest.param(8, 8, marks=pytest.mark.slow),       # 131k cycles, about 150 s
])
def test_booth_every_pair_onto_a_running_sum(a_bits: int, b_bits: int) -> None:
    """Every (a, b) pair as the second beat of a two-beat tile whose first beat is random, so
    every product meets a nonzero accumulator of either sign: from 5 bits on stage 2 adds the
    two registered Booth nodes to ``acc`` through a 3:2 compressor, sign-extending each node
    from its exact width (``ProcessingElement._node_bits``)."""
    seed = seed_for("pe-pairs", a_bits, b_bits)
    rng = np.random.default_rng(seed)
    amin, bmin = -(1 << (a_bits - 1)), -(1 << (b_bits - 1))
    cycles = []
    for a in range(amin, -amin):
        for b in range(bmin, -bmin):
            first = (int(rng.integers(amin, -amin)), int(rng.integers(bmin, -bmin)))
            cycles += [(1, 1, 0, *first), (1, 1, 1, a, b)]
    cycles.append((1, 0, 0, 0, 0))
    acc_bits = required_acc_bits(a_bits, b_bits, 2)
    run_pe(ProcessingElement(a_bits=a_bits, b_bits=b_bits, acc_bits=acc_bits), cycles, seed)
