# amaranth: UnusedElaboratable=no
"""Requantizer vs ``ivita.model.requantize`` in the Amaranth simulator: bit-exact ``==``."""

from __future__ import annotations

import random
import re
import zlib

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ivita.hw.requant import Requantizer, requant_input_layout, requant_output_layout
from ivita.hw.timing import Timing
from ivita.model import RequantConfig, requantize
from ivita.sim.emit import layout_node
from ivita.sim.payload import PayloadCodec
from ivita.sim.unit_run import run_lanes

# (lanes, acc_bits, out_bits, mult_bits)
CONFIGS = [(1, 8, 3, 4), (4, 24, 8, 16), (3, 20, 2, 8), (5, 30, 16, 32), (8, 46, 8, 16),
           (2, 16, 32, 16), (3, 24, 32, 16), (4, 14, 4, 2)]


def seed_for(*params: object) -> int:
    return zlib.crc32(repr(params).encode())


def table_for(cfg: RequantConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-lane (b, c): mostly shifts that land near the output range, plus the corners."""
    top_b = (1 << cfg.mult_bits) - 1
    b = rng.integers(1 << (cfg.mult_bits - 1), top_b + 1, size=cfg.lanes)
    span = cfg.acc_bits + cfg.mult_bits - cfg.out_bits      # full scale lands on full scale
    c = np.clip(span - rng.integers(-1, cfg.acc_bits // 3 + 1, size=cfg.lanes), 0, cfg.max_shift)
    corners = [(0, 0), (top_b, 0), (top_b, cfg.max_shift), (1, 1), (0, cfg.max_shift)]
    for lane in range(1, cfg.lanes):
        if rng.random() < 0.25:
            b[lane], c[lane] = corners[rng.integers(len(corners))]
    return b.astype(np.int64), c.astype(np.int64)


def acc_vectors(cfg: RequantConfig, b: np.ndarray, c: np.ndarray, n: int,
                rng: np.random.Generator) -> np.ndarray:
    lo, hi = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1
    acc = rng.integers(lo, hi + 1, size=(n, cfg.lanes), dtype=np.int64)
    acc >>= rng.integers(0, cfg.acc_bits // 2 + 1, size=acc.shape)     # spread the magnitudes
    # near the saturation thresholds and the rounding ties of each lane
    for lane in range(cfg.lanes):
        if b[lane] and c[lane] and rng.random() < 0.5:
            half = 1 << int(c[lane] - 1)
            near = rng.integers(-3, 4, size=n) * (2 * half) + half // max(int(b[lane]), 1)
            acc[: n // 3, lane] = np.clip(near[: n // 3], lo, hi)
    corner = np.array([lo, hi, 0, 1, -1, lo + 1, hi - 1], dtype=np.int64)
    acc[-len(corner):] = corner[:, None]
    return acc


def write_table(b: np.ndarray, c: np.ndarray) -> list[dict[str, int]]:
    return [{"table_we": 1, "table_lane": lane, "table_b": int(b[lane]), "table_c": int(c[lane])}
            for lane in range(len(b))]


def check(got: list, expected: list, seed: int) -> None:
    assert len(got) == len(expected), f"seed={seed}: {len(got)} outputs, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"seed={seed}: vector {i}: got {g}, expected {e}"


# ------------------------------------------------------------------ construction and interface

def test_rejects_non_config() -> None:
    with pytest.raises(TypeError, match=r"^config must be a RequantConfig, not int \(3\)$"):
        Requantizer(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"acc_bits": 48, "mult_bits": 16}, ValueError,
     "acc_bits=48 plus mult_bits=16 is 64; the product must fit 62 bits"),
    ({"acc_bits": 49}, ValueError, "acc_bits=49 is out of range; it must be at most 48"),
    ({"out_bits": 1}, ValueError, "out_bits=1 is out of range; it must be at least 2"),
    ({"out_bits": 33}, ValueError, "out_bits=33 is out of range; it must be at most 32"),
    ({"mult_bits": 33, "acc_bits": 8}, ValueError,
     "mult_bits=33 is out of range; it must be at most 32"),
    ({"lanes": 33}, ValueError, "lanes=33 is out of range; it must be at most 32"),
    ({"lanes": 0}, ValueError, "lanes=0 is out of range; it must be at least 1"),
    ({"max_shift": 64}, ValueError, "max_shift=64 is out of range; it must be at most 63"),
    ({"lanes": "4"}, TypeError, "lanes must be an integer, not str ('4')"),
])
def test_rejects_bad_config(kwargs: dict, exc: type, message: str) -> None:
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        Requantizer(RequantConfig(**kwargs))


def test_signature_and_layouts() -> None:
    cfg = RequantConfig(lanes=3, acc_bits=20, out_bits=6, mult_bits=10)
    dut = Requantizer(cfg)
    assert cfg.max_shift == 30 and cfg.shift_bits == 5
    members = dut.signature.members
    assert members["table_we"] == In(1)
    assert members["table_lane"] == In(range(3))
    assert members["table_b"] == In(unsigned(10))
    assert members["table_c"] == In(unsigned(5))
    assert members["table_error"] == Out(1)
    assert members["i_stream"].flow is In and members["o_stream"].flow is Out
    il, ol = requant_input_layout(cfg), requant_output_layout(cfg)
    assert dut.i_stream.payload.shape() == il and dut.o_stream.payload.shape() == ol
    assert il == data.StructLayout({"acc": data.ArrayLayout(signed(20), 3), "last": 1})
    assert [(n, f.offset, f.width) for n, f in il] == [("acc", 0, 60), ("last", 60, 1)]
    assert [(n, f.offset, f.width) for n, f in ol] == [("q", 0, 18), ("last", 18, 1)]
    assert dut.timing() == Timing(latency=6, latency_from="first", interval=1, per="vector")
    # lanes == 1: table_lane is one bit wide rather than zero (no [-1:0] Verilog port)
    one = Requantizer(RequantConfig(lanes=1, acc_bits=8, mult_bits=4, out_bits=3))
    assert one.signature.members["table_lane"] == In(range(2))


def test_verilog_ports() -> None:
    cfg = RequantConfig(lanes=1, acc_bits=8, mult_bits=4, out_bits=3)
    text = verilog.convert(Requantizer(cfg), name="requant_top")
    assert re.search(r"^\s*input table_lane;$", text, re.M)
    assert re.search(r"^\s*input \[8:0\] i_stream__payload;$", text, re.M)
    assert re.search(r"^\s*output \[3:0\] o_stream__payload;$", text, re.M)


# -------------------------------------------------------------------------------- the matrix

@pytest.mark.parametrize("lanes, acc_bits, out_bits, mult_bits", CONFIGS,
                         ids=[f"l{l}_acc{a}_out{o}_m{m}" for l, a, o, m in CONFIGS])
@pytest.mark.parametrize("stalls", [False, True], ids=["nostall", "stalls"])
def test_matrix(lanes: int, acc_bits: int, out_bits: int, mult_bits: int, stalls: bool) -> None:
    cfg = RequantConfig(lanes=lanes, acc_bits=acc_bits, out_bits=out_bits, mult_bits=mult_bits)
    seed = seed_for("matrix", lanes, acc_bits, out_bits, mult_bits, stalls)
    rng = np.random.default_rng(seed)
    b, c = table_for(cfg, rng)
    acc = acc_vectors(cfg, b, c, 150, rng)
    last = (rng.random(len(acc)) < 0.2).astype(int)
    beats = [{"acc": acc[i].tolist(), "last": int(last[i])} for i in range(len(acc))]
    q = requantize(acc, b, c, out_bits)
    expected = [{"q": q[i].tolist(), "last": int(last[i])} for i in range(len(acc))]
    dut = Requantizer(cfg)
    res = run_lanes(dut, beats, n_out=len(expected), seed=seed, writes={0: write_table(b, c)},
                    p_valid=0.7 if stalls else 1.0, p_ready=0.6 if stalls else 1.0,
                    watch={"error": dut.table_error})
    check(res.outputs, expected, seed)
    assert res.final["error"] == 0
    if not stalls:
        assert res.in_cycles == list(range(res.in_cycles[0], res.in_cycles[0] + len(beats)))
        lat = dut.timing().latency
        assert [o - i for i, o in zip(res.in_cycles, res.out_cycles)] == [lat] * len(beats)


def test_round_half_up_ties_and_negative_floor() -> None:
    """Exact ties round up (toward +inf), for negative values too; c = 0 is the identity."""
    cfg = RequantConfig(lanes=4, acc_bits=12, out_bits=8, mult_bits=4)
    b, c = np.array([1, 1, 3, 1]), np.array([1, 2, 3, 0])
    acc = np.array([[v, 2 * v, 4 * v + 1, v] for v in range(-9, 10)], dtype=np.int64)
    q = requantize(acc, b, c, 8)
    # lane 0 is v / 2: every odd v is a tie and goes up (-4.5 -> -4, 4.5 -> 5)
    assert q[:, 0].tolist() == [(v + 1) // 2 for v in range(-9, 10)]
    assert q[0, 0] == -4 and q[-1, 0] == 5
    beats = [{"acc": row.tolist(), "last": 0} for row in acc]
    res = run_lanes(Requantizer(cfg), beats, n_out=len(beats), writes={0: write_table(b, c)})
    assert [o["q"] for o in res.outputs] == q.tolist()


def test_saturation_at_every_width() -> None:
    for out_bits in (2, 3, 5, 7, 9, 11):
        cfg = RequantConfig(lanes=2, acc_bits=10, out_bits=out_bits, mult_bits=3)
        b, c = np.array([7, 1]), np.array([0, 0])
        acc = np.array([[v, v] for v in (-512, 511, -300, 300, -5, 5, 0, -1)], dtype=np.int64)
        q = requantize(acc, b, c, out_bits)
        assert int(q.max()) == (1 << (out_bits - 1)) - 1 and int(q.min()) == -(1 << (out_bits - 1))
        beats = [{"acc": row.tolist(), "last": 1} for row in acc]
        res = run_lanes(Requantizer(cfg), beats, n_out=len(beats), writes={0: write_table(b, c)})
        assert [o["q"] for o in res.outputs] == q.tolist(), f"out_bits={out_bits}"


# ---------------------------------------------------------------------------------- the table

def test_table_writes_concurrent_with_stream() -> None:
    """Random writes in any cycle (also the cycle a vector is accepted, and during output
    stalls), some rejected: each vector uses the table as it stood before its accept cycle."""
    cfg = RequantConfig(lanes=3, acc_bits=12, out_bits=5, mult_bits=5, max_shift=12)
    assert cfg.shift_bits == 4
    seed = seed_for("concurrent")
    rng = random.Random(seed)
    dut = Requantizer(cfg)
    il = PayloadCodec(layout_node(requant_input_layout(cfg)))
    ol = PayloadCodec(layout_node(requant_output_layout(cfg)))
    n_vec = 300
    vecs = [[rng.randrange(-2048, 2048) for _ in range(3)] for _ in range(n_vec)]
    got: list[list[int]] = []
    expected: list[list[int]] = []

    async def bench(ctx):
        table_b, table_c, error = [0, 0, 0], [0, 0, 0], 0
        nxt, presenting = 0, False
        for cycle in range(4000):
            if not presenting and nxt < n_vec and rng.random() < 0.8:
                ctx.set(dut.i_stream.payload.as_value(),
                        il.pack({"acc": vecs[nxt], "last": nxt % 2}))
                ctx.set(dut.i_stream.valid, 1)
                presenting = True
            we = rng.random() < 0.3
            lane, wb, wc = rng.randrange(3), rng.randrange(32), rng.randrange(16)
            ctx.set(dut.table_we, we)
            ctx.set(dut.table_lane, lane)
            ctx.set(dut.table_b, wb)
            ctx.set(dut.table_c, wc)
            ready = rng.random() < 0.7
            ctx.set(dut.o_stream.ready, ready)
            _, _, i_ready, o_valid, o_bits, err = await ctx.tick().sample(
                dut.i_stream.ready, dut.o_stream.valid, dut.o_stream.payload.as_value(),
                dut.table_error)
            if presenting and i_ready:       # accepted with the table before this cycle's write
                expected.append([requantize(vecs[nxt][i], table_b[i], table_c[i], 5)
                                 for i in range(3)])
                nxt += 1
                presenting = False
                ctx.set(dut.i_stream.valid, 0)
            if ready and o_valid:
                got.append(ol.unpack(o_bits)["q"])
            assert err == error, f"seed={seed}, cycle {cycle}: table_error={err}"
            if we:
                if wc > cfg.max_shift:
                    error = 1
                else:
                    table_b[lane], table_c[lane] = wb, wc
            if nxt == n_vec and len(got) == n_vec:
                break
        assert ctx.get(dut.table_error) == error == 1, f"seed={seed}"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(got) == n_vec, f"seed={seed}: {len(got)} outputs"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"seed={seed}: vector {i}: got {g}, expected {e}"


def test_table_error_rejects_shift_and_lane() -> None:
    cfg = RequantConfig(lanes=3, acc_bits=10, out_bits=8, mult_bits=4, max_shift=5)
    assert cfg.shift_bits == 3
    dut = Requantizer(cfg)
    beats = [{"acc": [100, -100, 37], "last": 1}] * 3
    good = [{"table_we": 1, "table_lane": 0, "table_b": 3, "table_c": 2},
            {"table_we": 1, "table_lane": 1, "table_b": 5, "table_c": 5},
            {"table_we": 1, "table_lane": 2, "table_b": 15, "table_c": 0}]
    res = run_lanes(dut, beats[:1], n_out=1, writes={0: good}, watch={"error": dut.table_error})
    assert res.outputs == [{"q": [75, -16, 127], "last": 1}] and res.final["error"] == 0

    dut = Requantizer(cfg)
    bad_c = {"table_we": 1, "table_lane": 0, "table_b": 1, "table_c": 6}      # c > max_shift
    bad_lane = {"table_we": 1, "table_lane": 3, "table_b": 1, "table_c": 0}   # lane >= lanes
    res = run_lanes(dut, beats, n_out=3, writes={0: good, 1: [bad_c], 2: [bad_lane]},
                    watch={"error": dut.table_error})
    # rejected writes leave the table unchanged
    assert res.outputs == [{"q": [75, -16, 127], "last": 1}] * 3
    assert res.final["error"] == 1

    for bad in (bad_c, bad_lane):
        dut = Requantizer(cfg)
        res = run_lanes(dut, [], n_out=0, writes={0: [bad]}, watch={"error": dut.table_error})
        assert res.final["error"] == 1, bad
