"""The array and requantizer benches on Icarus, Verilator and amaranth.sim, bit-exact ``==``.

CI (unmarked ``slow``) runs a representative subset: every shape once, widths 2..8 spread
over it, mixed operand widths, ``k < rows``, an ``m x k x n`` product, random stalls on both
sides, corner tiles (most negative x most negative, all max, ...), the full-width 8x8 array at
8 bits on K = 197 (Verilator), and proofs that each bench fails on a corrupted expected value.
``python -m pytest -m slow tests/sim`` runs the full matrix: widths 2..8 x shapes
1x1, 4x4, 3x5, 8x8 x {icarus, verilator} for both units.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ivita.model import ArrayConfig, RequantConfig, required_acc_bits
from ivita.sim.bench import BenchResult, run_bench
from ivita.sim.tb_array import ArrayTB
from ivita.sim.tb_requant import RequantTB

MARKS = {"icarus": [pytest.mark.icarus], "verilator": [pytest.mark.verilator], "amaranth": []}
SHAPES = [(1, 1), (4, 4), (3, 5), (8, 8)]
WIDTHS = range(2, 9)


def case(sim: str, *values: object, slow: bool = False) -> object:
    marks = [*MARKS[sim], *([pytest.mark.slow] if slow else [])]
    return pytest.param(sim, *values, marks=marks, id="-".join(map(str, (sim, *values))))


def check(res: BenchResult) -> None:
    assert res.passed, res.failure_message()
    r = res.result
    assert r["beats_out"] == r["beats_expected"] and r["mismatches"] == 0
    assert r["elements_checked"] > 0 and not r["timeout"]


def array_tb(rows: int, cols: int, a_bits: int, b_bits: int, k: int, tiles: int,
             **kw: object) -> ArrayTB:
    return ArrayTB(config=ArrayConfig(rows=rows, cols=cols, a_bits=a_bits, b_bits=b_bits,
                                      k_max=k), k=k, tiles=tiles, **kw)  # type: ignore[arg-type]


def requant_tb(lanes: int, out_bits: int, acc_bits: int, mult_bits: int = 16,
               **kw: object) -> RequantTB:
    return RequantTB(config=RequantConfig(lanes=lanes, acc_bits=acc_bits, out_bits=out_bits,
                                          mult_bits=mult_bits), **kw)  # type: ignore[arg-type]


# -- the array ---------------------------------------------------------------------------------

# (sim, rows, cols, a_bits, b_bits, k, tiles, stall_in, stall_out)
ARRAY_CI = [
    case("icarus", 1, 1, 2, 2, 5, 8, 0.3, 0.3),
    case("icarus", 4, 4, 8, 8, 16, 6, 0.3, 0.3),
    case("icarus", 3, 5, 5, 3, 7, 6, 0.5, 0.2),      # mixed widths, odd shape
    case("icarus", 8, 8, 4, 4, 12, 5, 0.2, 0.5),
    case("icarus", 4, 4, 6, 7, 2, 7, 0.2, 0.2),      # k < rows: the array paces `last`
    case("icarus", 2, 3, 3, 8, 1, 6, 0.0, 0.6),      # k = 1
    case("verilator", 4, 4, 8, 8, 16, 8, 0.3, 0.3),
    case("verilator", 3, 5, 2, 2, 9, 8, 0.4, 0.4),
    case("verilator", 1, 1, 6, 5, 4, 8, 0.5, 0.5),
    case("amaranth", 3, 5, 8, 8, 6, 5, 0.3, 0.3),
]


def _array_matrix() -> list[object]:
    out = []
    for sim in ("icarus", "verilator"):
        for rows, cols in SHAPES:
            for bits in WIDTHS:
                k = (1, 3, 16, 33)[(bits + rows) % 4]
                out.append(case(sim, rows, cols, bits, bits, k, 6, 0.3, 0.3, slow=True))
    return out


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sim, rows, cols, a_bits, b_bits, k, tiles, stall_in, stall_out",
                         ARRAY_CI + _array_matrix())
def test_array(sim: str, rows: int, cols: int, a_bits: int, b_bits: int, k: int, tiles: int,
               stall_in: float, stall_out: float, build_root: Path,
               need_simulator: Callable[[str], None]) -> None:
    need_simulator(sim)
    tb = array_tb(rows, cols, a_bits, b_bits, k, tiles)
    res = run_bench(tb, simulator=sim, seed=1000 * rows + 10 * a_bits + k, stall_in=stall_in,
                    stall_out=stall_out, build_root=build_root)
    check(res)
    assert res.result["end_values"] == {"k_overflow": 0}
    assert res.work["macs"] == tiles * rows * cols * k


@pytest.mark.verilator
@pytest.mark.timeout(900)
def test_array_full_width_8x8_k197(build_root: Path,
                                   need_simulator: Callable[[str], None]) -> None:
    """8x8 PEs, 8-bit operands, K = 197 (ViT-S tokens): exact 23-bit accumulators at the
    bound (min x min corner tile), random stalls on both sides."""
    need_simulator("verilator")
    tb = array_tb(8, 8, 8, 8, 197, 6)
    assert tb.config.acc_bits == required_acc_bits(8, 8, 197) == 23
    res = run_bench(tb, simulator="verilator", seed=197, stall_in=0.2, stall_out=0.2,
                    build_root=build_root)
    check(res)
    assert res.result["elements_checked"] == 6 * 8 * (8 + 1)


@pytest.mark.icarus
@pytest.mark.timeout(600)
def test_array_mxkxn_product_with_padded_edge_tiles(
        tmp_path: Path, build_root: Path, need_simulator: Callable[[str], None]) -> None:
    need_simulator("icarus")
    tb = array_tb(4, 4, 6, 6, 10, 1, m=10, n=7)
    assert tb.tile_grid == (3, 2) and tb.n_tiles == 6
    res = run_bench(tb, simulator="icarus", seed=3, stall_in=0.3, stall_out=0.3,
                    build_root=build_root)
    check(res)
    bad = run_bench(tb, simulator="icarus", seed=3, build_root=build_root,
                    corrupt_expected=True, work_dir=tmp_path)
    assert not bad.passed
    fm, c = bad.first_mismatch, bad.corrupted
    assert fm is not None and c is not None and fm["beat"] == c["beat"]
    tile, row = divmod(c["beat"], 4)
    if fm["field"] == "c":
        ti, tj = divmod(tile, 2)
        assert fm["coords"] == {"tile": tile, "row": row, "col": c["index"][0],
                                "i": 4 * ti + row, "j": 4 * tj + c["index"][0]}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sim", [case("icarus"), case("verilator"), case("amaranth")])
def test_array_bench_fails_on_a_corrupted_expected_value(
        sim: str, tmp_path: Path, build_root: Path,
        need_simulator: Callable[[str], None]) -> None:
    need_simulator(sim)
    shape = (3, 5, 2, 2, 9, 8) if sim == "verilator" else (3, 5, 8, 8, 6, 5)
    res = run_bench(array_tb(*shape), simulator=sim, seed=21, stall_in=0.2, stall_out=0.2,
                    build_root=build_root, corrupt_expected=True, work_dir=tmp_path)
    assert not res.passed and res.result["mismatches"] == 1
    fm, c = res.first_mismatch, res.corrupted
    assert fm is not None and c is not None
    assert (fm["beat"], fm["field"], fm["index"]) == (c["beat"], c["field"], c["index"])
    assert (fm["coords"]["tile"], fm["coords"]["row"]) == divmod(c["beat"], shape[0])
    assert "seed 21" in fm["message"]


# -- the requantizer ------------------------------------------------------------------------

# (sim, lanes, out_bits, acc_bits, mult_bits, stall_in, stall_out)
REQUANT_CI = [
    case("icarus", 1, 8, 22, 16, 0.4, 0.1),
    case("icarus", 4, 2, 12, 8, 0.5, 0.5),
    case("icarus", 5, 4, 17, 16, 0.2, 0.4),
    case("icarus", 8, 8, 30, 31, 0.3, 0.1),          # I-ViT's 31-bit multipliers
    case("verilator", 4, 8, 22, 16, 0.4, 0.2),
    case("verilator", 8, 3, 15, 10, 0.3, 0.5),
    case("amaranth", 3, 6, 20, 12, 0.3, 0.3),
]


def _requant_matrix() -> list[object]:
    out = []
    for sim in ("icarus", "verilator"):
        for lanes in (1, 4, 5, 8):
            for bits in WIDTHS:
                acc = required_acc_bits(bits, bits, 64)
                out.append(case(sim, lanes, bits, acc, 16, 0.3, 0.3, slow=True))
    return out


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sim, lanes, out_bits, acc_bits, mult_bits, stall_in, stall_out",
                         REQUANT_CI + _requant_matrix())
def test_requant(sim: str, lanes: int, out_bits: int, acc_bits: int, mult_bits: int,
                 stall_in: float, stall_out: float, build_root: Path,
                 need_simulator: Callable[[str], None]) -> None:
    need_simulator(sim)
    tb = requant_tb(lanes, out_bits, acc_bits, mult_bits, rows=4, tiles=8)
    res = run_bench(tb, simulator=sim, seed=100 * lanes + out_bits, stall_in=stall_in,
                    stall_out=stall_out, build_root=build_root)
    check(res)
    assert res.result["end_values"] == {"table_error": 0}
    assert res.result["elements_checked"] == 32 * (lanes + 1)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sim", [case("icarus"), case("verilator")])
def test_requant_bench_fails_on_a_corrupted_expected_value(
        sim: str, tmp_path: Path, build_root: Path,
        need_simulator: Callable[[str], None]) -> None:
    need_simulator(sim)
    tb = requant_tb(4, 8, 22, 16) if sim == "verilator" else requant_tb(5, 4, 17, 16)
    res = run_bench(tb, simulator=sim, seed=5, stall_out=0.3, build_root=build_root,
                    corrupt_expected=True, work_dir=tmp_path)
    assert not res.passed and res.result["mismatches"] == 1
    fm, c = res.first_mismatch, res.corrupted
    assert fm is not None and c is not None and fm["beat"] == c["beat"]
    assert fm["coords"]["tile"] == c["beat"] // 4 and fm["coords"]["row"] == c["beat"] % 4


# -- declared latency vs simulation (docs/verification.md level 4) --------------------------------------

@pytest.mark.parametrize("sim", [case("icarus"), case("amaranth")])
@pytest.mark.parametrize("unit", ["array", "requant"])
def test_declared_latency_equals_simulation(sim: str, unit: str, build_root: Path,
                                            need_simulator: Callable[[str], None]) -> None:
    """With no stalls, the first output comes exactly ``latency`` cycles after the input beat
    the component counts from (the array: a tile's ``last`` beat; the requantizer: the first)."""
    need_simulator(sim)
    tb = array_tb(4, 3, 5, 6, 9, 2) if unit == "array" else requant_tb(3, 6, 20)
    res = run_bench(tb, simulator=sim, seed=5, build_root=build_root)
    check(res)
    r = res.result
    assert r["latency_from"] == ("last" if unit == "array" else "first")
    assert r["latency"] == (3 + 3 if unit == "array" else 6)        # array: cols + 3
    assert r["latency_measured"] == r["latency"]
