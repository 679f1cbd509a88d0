# amaranth: UnusedElaboratable=no
"""SystolicArray vs ``A @ B`` (int64) in the Amaranth simulator: bit-exact ``==``.

Every random run prints its seed on failure. Tiles run back to back in one simulation per
configuration (K in {1, 2, 7, rows, 3*rows+1}, then extreme tiles at k_max), with random valid
gaps on the input and random ready deassertion on the output.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
from amaranth.back import rtlil, verilog
from amaranth.hdl import Fragment, signed
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from ivita.hw.array import SystolicArray, array_input_layout, array_output_layout, pe_name
from ivita.sim.unit_run import run_lanes
from ivita.hw.timing import Timing
from ivita.model import ArrayConfig, linear_acc, required_acc_bits

SHAPES = [(1, 1), (4, 4), (3, 5), (5, 3), (8, 8), (1, 8), (8, 1)]
WIDTHS = [(2, 2), (8, 8), (3, 7), (6, 2), (5, 4)]


def seed_for(*params: object) -> int:
    return zlib.crc32(repr(params).encode())


def k_list(rows: int) -> list[int]:
    return [1, 2, 7, rows, 3 * rows + 1]


def rand_codes(rng: np.random.Generator, bits: int, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=shape, dtype=np.int64)


def extreme_tiles(cfg: ArrayConfig, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Most negative x most negative, all max, min x max, alternating signs: K = k."""
    amin, amax = -(1 << (cfg.pe_a_bits - 1)), (1 << (cfg.pe_a_bits - 1)) - 1
    bmin, bmax = -(1 << (cfg.pe_b_bits - 1)), (1 << (cfg.pe_b_bits - 1)) - 1
    full = lambda v, shape: np.full(shape, v, dtype=np.int64)   # noqa: E731
    ra, rb = (cfg.rows, k), (k, cfg.cols)
    alt_a = np.where(np.add.outer(np.arange(cfg.rows), np.arange(k)) % 2 == 0, amin, amax)
    return [
        (full(amin, ra), full(bmin, rb)),
        (full(amax, ra), full(bmax, rb)),
        (full(amin, ra), full(bmax, rb)),
        (full(amax, ra), full(bmin, rb)),
        (alt_a, full(bmin, rb)),
    ]


def stream_tiles(tiles: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list, list]:
    """Input beats (one per k) and expected output beats (one per row) of a tile sequence."""
    beats, expected = [], []
    for a, b in tiles:
        k = a.shape[1]
        for i in range(k):
            beats.append({"a": a[:, i].tolist(), "b": b[i, :].tolist(), "last": int(i == k - 1)})
        c = linear_acc(a, b.T, 0)               # the normative model: x @ w.T, no bias
        assert np.array_equal(c, a @ b)
        for r in range(a.shape[0]):
            expected.append({"c": c[r].tolist(), "last": int(r == a.shape[0] - 1)})
    return beats, expected


def check_outputs(got: list, expected: list, rows: int, seed: int) -> None:
    assert len(got) == len(expected), (
        f"seed={seed}: {len(got)} output beats, expected {len(expected)}")
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"seed={seed}: tile {i // rows}, row {i % rows}: got {g}, expected {e}"


def random_tiles(cfg: ArrayConfig, ks: list[int], rng: np.random.Generator) -> list:
    return [(rand_codes(rng, cfg.pe_a_bits, (cfg.rows, k)),
             rand_codes(rng, cfg.pe_b_bits, (k, cfg.cols))) for k in ks]


# ------------------------------------------------------------------ construction and interface

def test_rejects_non_config() -> None:
    with pytest.raises(TypeError, match=r"^config must be an ArrayConfig, not dict \({}\)$"):
        SystolicArray({})  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"a_bits": 8, "b_bits": 8, "k_max": 64, "acc_bits": 21}, ValueError,
     "acc_bits=21 is too narrow for a_bits=8, b_bits=8 and k=64; at least 22 bits are needed"),
    ({"a_bits": 1}, ValueError, "a_bits=1 is out of range; it must be at least 2"),
    ({"b_bits": 17}, ValueError, "b_bits=17 is out of range; it must be at most 16"),
    ({"rows": 33}, ValueError, "rows=33 is out of range; it must be at most 32"),
    ({"cols": 0}, ValueError, "cols=0 is out of range; it must be at least 1"),
    ({"k_max": 0}, ValueError, "k_max=0 is out of range; it must be at least 1"),
    ({"rows": 4.0}, TypeError, "rows must be an integer, not float (4.0)"),
    ({"dequant_first": 1}, TypeError, "dequant_first must be a bool, not int (1)"),
    ({"dequant_first": True, "k_max": 4, "acc_bits": 33}, ValueError,
     "acc_bits=33 is too narrow for a_bits=16, b_bits=16 and k=4; at least 34 bits are needed"),
])
def test_rejects_bad_config(kwargs: dict, exc: type, message: str) -> None:
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        SystolicArray(ArrayConfig(**kwargs))


def test_acc_bits_is_exact_need() -> None:
    cfg = ArrayConfig(rows=2, cols=2, a_bits=8, b_bits=8, k_max=64)
    assert cfg.acc_bits == required_acc_bits(8, 8, 64) == 22
    # 64 products of -128 * -128 = 2^20 needs 22 signed bits; 63 of them need 21.
    assert ArrayConfig(a_bits=8, b_bits=8, k_max=63).acc_bits == 21


def test_layouts_and_offsets() -> None:
    cfg = ArrayConfig(rows=3, cols=5, a_bits=4, b_bits=6, k_max=10)
    dut = SystolicArray(cfg)
    il, ol = array_input_layout(cfg), array_output_layout(cfg)
    assert dut.i_stream.payload.shape() == il
    assert dut.o_stream.payload.shape() == ol
    assert il == data.StructLayout({"a": data.ArrayLayout(signed(4), 3),
                                    "b": data.ArrayLayout(signed(6), 5), "last": 1})
    assert [(n, f.offset, f.width) for n, f in il] == [("a", 0, 12), ("b", 12, 30),
                                                        ("last", 42, 1)]
    assert cfg.acc_bits == 13          # 10 * 2^8 = 2560 needs 12 magnitude bits + sign
    assert [(n, f.offset, f.width) for n, f in ol] == [("c", 0, 65), ("last", 65, 1)]
    assert dut.timing(10) == Timing(latency=8, latency_from="last", interval=10, per="tile")  # cols + 3
    assert dut.timing(1).interval == 3 and dut.timing().interval == 10    # max(K, rows)
    members = dut.signature.members
    assert sorted(members.keys()) == ["i_stream", "k_overflow", "o_stream"]
    assert members["k_overflow"] == Out(1)
    assert members["i_stream"].flow is In and members["o_stream"].flow is Out
    with pytest.raises(ValueError, match=r"^n=0 is out of range; it must be at least 1$"):
        dut.timing(0)
    with pytest.raises(TypeError, match=r"^n must be an integer, not float \(2\.0\)$"):
        dut.timing(2.0)  # type: ignore[arg-type]


def test_dequant_first_operands_are_16_bit() -> None:
    cfg = ArrayConfig(rows=2, cols=3, a_bits=4, b_bits=4, k_max=8, dequant_first=True)
    il = SystolicArray(cfg).i_stream.payload.shape()
    assert il["a"].shape == data.ArrayLayout(signed(16), 2)
    assert il["b"].shape == data.ArrayLayout(signed(16), 3)
    assert cfg.acc_bits == required_acc_bits(16, 16, 8) == 35   # 8 * 2^30 = 2^33


def test_pe_names_map_to_grid() -> None:
    dut = SystolicArray(ArrayConfig(rows=3, cols=2, k_max=4))
    names = [name for _, name, *_ in Fragment.get(dut, None).subfragments]
    # the PEs in grid order, then one enable flip-flop copy per PE (hw/_skid.py EnableCopy)
    assert [n for n in names if n.startswith("pe_")] == [pe_name(r, c) for r in range(3)
                                                          for c in range(2)]
    assert sorted(n for n in names if not n.startswith("pe_")) == sorted(
        f"en_r{r}_c{c}" for r in range(3) for c in range(2))
    assert pe_name(2, 1) == "pe_r2_c1"
    text = rtlil.convert(dut)
    cells = re.findall(r"^\s*cell \\top\.(pe_r\d+_c\d+) \\(\S+)$", text, re.M)
    assert cells == [(pe_name(r, c), pe_name(r, c)) for r in range(3) for c in range(2)]


def test_verilog_converts() -> None:
    cfg = ArrayConfig(rows=2, cols=3, a_bits=3, b_bits=4, k_max=5)
    text = verilog.convert(SystolicArray(cfg), name="array_top")
    assert re.search(r"^module array_top\(", text, re.M)
    instances = re.findall(r"^\s*\\array_top\.pe_r\d+_c\d+\s+(pe_r\d+_c\d+) \($", text, re.M)
    assert sorted(instances) == sorted(pe_name(r, c) for r in range(2) for c in range(3))


# ------------------------------------------------------------------------------- the matrix

@pytest.mark.parametrize("a_bits, b_bits", WIDTHS, ids=[f"a{a}b{b}" for a, b in WIDTHS])
@pytest.mark.parametrize("rows, cols", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_matrix_random_and_extreme_with_stalls(rows: int, cols: int, a_bits: int,
                                               b_bits: int) -> None:
    ks = k_list(rows)
    k_max = max(ks)
    cfg = ArrayConfig(rows=rows, cols=cols, a_bits=a_bits, b_bits=b_bits, k_max=k_max)
    seed = seed_for("matrix", rows, cols, a_bits, b_bits)
    rng = np.random.default_rng(seed)
    tiles = random_tiles(cfg, ks, rng) + extreme_tiles(cfg, k_max)
    beats, expected = stream_tiles(tiles)
    res = run_lanes(SystolicArray(cfg), beats, n_out=len(expected), seed=seed,
                    p_valid=0.75, p_ready=0.7, watch={})
    check_outputs(res.outputs, expected, rows, seed)


@pytest.mark.parametrize("rows, cols", [(16, 16), (32, 4)], ids=["16x16", "32x4"])
def test_large_arrays(rows: int, cols: int) -> None:
    """The largest row count (32) and a 256-PE grid, 8-bit codes, stalls on both sides."""
    ks = k_list(rows)
    cfg = ArrayConfig(rows=rows, cols=cols, a_bits=8, b_bits=8, k_max=max(ks))
    seed = seed_for("large", rows, cols)
    rng = np.random.default_rng(seed)
    tiles = random_tiles(cfg, ks, rng) + extreme_tiles(cfg, cfg.k_max)[:2]
    beats, expected = stream_tiles(tiles)
    res = run_lanes(SystolicArray(cfg), beats, n_out=len(expected), seed=seed,
                    p_valid=0.8, p_ready=0.8)
    check_outputs(res.outputs, expected, rows, seed)


def test_extremes_exercise_the_full_accumulator() -> None:
    # The extreme tiles reach the exact accumulator bound: a width one bit narrower would wrap.
    cfg = ArrayConfig(rows=2, cols=2, a_bits=5, b_bits=3, k_max=13)
    peak = max(abs(int(x)) for a, b in extreme_tiles(cfg, 13) for x in (a @ b).ravel())
    assert peak == 13 * 16 * 4
    assert peak > (1 << (cfg.acc_bits - 2)) - 1     # does not fit acc_bits - 1 signed bits
    assert peak <= (1 << (cfg.acc_bits - 1))


@pytest.mark.parametrize("dequant_first", [False, True], ids=["codes", "dequant_first"])
def test_k197_full_width(dequant_first: bool) -> None:
    """8x8 at 8 bits with K = 197 (one ViT-Ti token count) at full width; also 16-bit operands."""
    cfg = ArrayConfig(rows=8, cols=8, a_bits=8, b_bits=8, k_max=197, dequant_first=dequant_first)
    seed = seed_for("k197", dequant_first)
    rng = np.random.default_rng(seed)
    tiles = random_tiles(cfg, [197, 197], rng) + extreme_tiles(cfg, 197)[:3]
    beats, expected = stream_tiles(tiles)
    res = run_lanes(SystolicArray(cfg), beats, n_out=len(expected), seed=seed,
                    p_valid=0.9, p_ready=0.8)
    check_outputs(res.outputs, expected, cfg.rows, seed)


@pytest.mark.parametrize("rows, cols", [(3, 5), (4, 4)], ids=["3x5", "4x4"])
def test_dequant_first_random_16_bit(rows: int, cols: int) -> None:
    ks = k_list(rows)
    cfg = ArrayConfig(rows=rows, cols=cols, a_bits=8, b_bits=8, k_max=max(ks),
                      dequant_first=True)
    seed = seed_for("dequant_first", rows, cols)
    rng = np.random.default_rng(seed)
    tiles = random_tiles(cfg, ks, rng) + extreme_tiles(cfg, cfg.k_max)
    beats, expected = stream_tiles(tiles)
    res = run_lanes(SystolicArray(cfg), beats, n_out=len(expected), seed=seed,
                    p_valid=0.7, p_ready=0.7)
    check_outputs(res.outputs, expected, rows, seed)


# ----------------------------------------------------------------- timing without any stall

def expected_accept_cycles(ks: list[int], rows: int) -> list[int]:
    """One beat per cycle, except that a tile's last beat waits until ``rows`` cycles after the
    previous tile's last beat."""
    cycles, t, prev_last = [], -1, None
    for k in ks:
        for i in range(k):
            t += 1
            if i == k - 1 and prev_last is not None and t - prev_last < rows:
                t = prev_last + rows
            cycles.append(t)
        prev_last = t
    return cycles


@pytest.mark.parametrize("rows, cols", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_latency_and_throughput(rows: int, cols: int) -> None:
    ks = k_list(rows) + [rows, rows + 1, 1, rows]
    cfg = ArrayConfig(rows=rows, cols=cols, a_bits=6, b_bits=5, k_max=max(ks))
    seed = seed_for("timing", rows, cols)
    rng = np.random.default_rng(seed)
    dut = SystolicArray(cfg)
    beats, expected = stream_tiles(random_tiles(cfg, ks, rng))
    res = run_lanes(dut, beats, n_out=len(expected), seed=seed)
    check_outputs(res.outputs, expected, rows, seed)
    assert res.in_cycles == expected_accept_cycles(ks, rows), f"seed={seed}"
    # Output beat r of a tile is valid latency + r cycles after the tile's last beat.
    last_idx = np.cumsum(ks) - 1
    want = [res.in_cycles[i] + dut.timing(k).latency + r
            for i, k in zip(last_idx, ks) for r in range(rows)]
    assert res.out_cycles == want, f"seed={seed}"
    # From the first beat of the first tile (idle array, no stall): K - 1 + latency.
    assert res.out_cycles[0] - res.in_cycles[0] == ks[0] - 1 + dut.timing(ks[0]).latency
    # The interval: the last beats of consecutive tiles are max(K, rows) cycles apart.
    lasts = [res.in_cycles[i] for i in last_idx]
    assert [b - a for a, b in zip(lasts, lasts[1:])] == [dut.timing(k).interval for k in ks[1:]]


@pytest.mark.parametrize("rows, cols, k", [(4, 4, 4), (8, 8, 8), (3, 5, 11), (5, 3, 5)])
def test_full_rate_when_k_at_least_rows(rows: int, cols: int, k: int) -> None:
    """K >= rows: one beat (one MAC per PE) per cycle, outputs back to back."""
    cfg = ArrayConfig(rows=rows, cols=cols, a_bits=4, b_bits=4, k_max=k)
    seed = seed_for("rate", rows, cols, k)
    tiles = random_tiles(cfg, [k] * 6, np.random.default_rng(seed))
    beats, expected = stream_tiles(tiles)
    res = run_lanes(SystolicArray(cfg), beats, n_out=len(expected), seed=seed)
    check_outputs(res.outputs, expected, rows, seed)
    assert res.in_cycles == list(range(len(beats)))
    if k == rows:
        first = res.out_cycles[0]
        assert res.out_cycles == list(range(first, first + len(expected)))


def test_output_stall_freezes_array_without_loss() -> None:
    """Ready held low for long stretches: nothing lost, duplicated or reordered."""
    cfg = ArrayConfig(rows=4, cols=3, a_bits=8, b_bits=8, k_max=9)
    seed = seed_for("freeze")
    tiles = random_tiles(cfg, [9, 4, 1, 2, 9], np.random.default_rng(seed))
    beats, expected = stream_tiles(tiles)
    res = run_lanes(SystolicArray(cfg), beats, n_out=len(expected), seed=seed,
                    p_valid=1.0, p_ready=0.15, tail=40)
    check_outputs(res.outputs, expected, cfg.rows, seed)


# ------------------------------------------------------------------------------ k_overflow

def test_k_overflow_clear_at_k_max() -> None:
    cfg = ArrayConfig(rows=2, cols=3, a_bits=8, b_bits=8, k_max=4)
    seed = seed_for("kmax")
    dut = SystolicArray(cfg)
    tiles = random_tiles(cfg, [4, 1, 4], np.random.default_rng(seed)) + extreme_tiles(cfg, 4)
    beats, expected = stream_tiles(tiles)
    res = run_lanes(dut, beats, n_out=len(expected), seed=seed, watch={"ovf": dut.k_overflow})
    check_outputs(res.outputs, expected, cfg.rows, seed)
    assert res.final["ovf"] == 0


def test_k_overflow_sticky_wraps_and_never_hangs() -> None:
    cfg = ArrayConfig(rows=2, cols=3, a_bits=8, b_bits=8, k_max=4)
    seed = seed_for("overflow")
    dut = SystolicArray(cfg)
    long_a = np.full((2, 13), -128, dtype=np.int64)
    long_b = np.full((13, 3), -128, dtype=np.int64)
    tiles = ([random_tiles(cfg, [3], np.random.default_rng(seed))[0], (long_a, long_b)] +
             random_tiles(cfg, [4, 2], np.random.default_rng(seed + 1)))
    beats, expected = stream_tiles(tiles)
    # The over-long tile wraps modulo 2^acc_bits (documented); the following tiles are exact.
    m = 1 << cfg.acc_bits
    for r in range(cfg.rows):
        row = expected[cfg.rows + r]["c"]
        expected[cfg.rows + r]["c"] = [((v + m // 2) % m) - m // 2 for v in row]
    assert expected[cfg.rows]["c"][0] != 13 * 128 * 128
    res = run_lanes(dut, beats, n_out=len(expected), seed=seed, p_valid=0.8, p_ready=0.8,
                    watch={"ovf": dut.k_overflow})
    check_outputs(res.outputs, expected, cfg.rows, seed)
    assert res.final["ovf"] == 1


def test_k_overflow_set_by_first_extra_beat() -> None:
    cfg = ArrayConfig(rows=1, cols=1, a_bits=2, b_bits=2, k_max=3)
    dut = SystolicArray(cfg)
    beats, expected = stream_tiles([(np.ones((1, 4), np.int64), np.ones((4, 1), np.int64))])
    res = run_lanes(dut, beats, n_out=1, watch={"ovf": dut.k_overflow})
    assert res.outputs == expected and res.final["ovf"] == 1


# ------------------------------------------------------------------- multiplier structures

@pytest.mark.parametrize("a_bits, b_bits", [(3, 6), (8, 8)])
def test_inferred_multiplier_array_is_the_same(a_bits: int, b_bits: int) -> None:
    """``multiplier="infer"`` (the ``*`` PE) streams the same products as the Booth default."""
    rows, cols = 3, 4
    ks = k_list(rows)
    cfg = ArrayConfig(rows=rows, cols=cols, a_bits=a_bits, b_bits=b_bits, k_max=max(ks))
    seed = seed_for("infer", a_bits, b_bits)
    rng = np.random.default_rng(seed)
    beats, expected = stream_tiles(random_tiles(cfg, ks, rng) + extreme_tiles(cfg, cfg.k_max))
    res = run_lanes(SystolicArray(cfg, multiplier="infer"), beats, n_out=len(expected),
                    seed=seed, p_valid=0.75, p_ready=0.7)
    check_outputs(res.outputs, expected, rows, seed)


@pytest.mark.parametrize("value, exc, message", [
    ("wallace", ValueError, "multiplier='wallace' is not one of booth, infer"),
    (None, TypeError, "multiplier must be a str, not NoneType (None)"),
])
def test_rejects_bad_multiplier(value: object, exc: type, message: str) -> None:
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        SystolicArray(ArrayConfig(rows=2, cols=2), multiplier=value)  # type: ignore[arg-type]
