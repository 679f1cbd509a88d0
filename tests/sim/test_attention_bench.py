# amaranth: UnusedElaboratable=no
"""The attention-block bench: the shared bus plan, the MAC count, and the block compared with
``ivita.model.attention_block_trace`` (``==``) on Verilator, Icarus and amaranth.sim.

CI (``-m "not slow"``) runs :data:`ivita.sim.attention_matrix.CI` (one mixed-width layer on
Verilator, a small layer on Icarus) plus the failure proofs (a corrupted expected value, a
cycle limit too low) on Icarus; the amaranth.sim path runs in ``test_cli_attention.py``; ``python -m pytest -m slow
tests/sim/test_attention_bench.py`` runs :data:`ivita.sim.attention_matrix.MATRIX`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ivita.firmware.compiler import compile_attention
from ivita.firmware.memory_map import memory_map
from ivita.model.block_config import BlockConfig
from ivita.sim.attention_matrix import CI, MATRIX, case_id, run_one
from ivita.sim.attention_run import (AttentionResult, layer_macs, compare, make_case,
                                     program_macs, run_attention)
from ivita.sim.bus_plan import assemble, bus_reads, bus_writes

MARKS = {"icarus": [pytest.mark.icarus], "verilator": [pytest.mark.verilator], "amaranth": []}


def params(entries: list[dict], slow: bool) -> list[object]:
    return [pytest.param(e, id=case_id(e),
                         marks=[*MARKS[e["simulator"]], *([pytest.mark.slow] if slow else [])])
            for e in entries]


def check(r: AttentionResult) -> None:
    assert r.passed, r.summary_text()
    assert r.first_mismatch is None and sum(r.mismatches.values()) == 0 and not r.errors
    assert r.elements_checked > 0 and r.cycles is not None and r.cycles == r.wall
    assert r.cycles > r.bound     # the block cannot beat the array's MAC rate


# -- pure parts ----------------------------------------------------------------------------------

def test_bus_plan_round_trip_through_a_bus_model() -> None:
    """Words written through the bus plan into a model of the bus come back unchanged, the
    last sub-word of a word written last (it commits the word)."""
    cfg = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8, max_heads=2)
    mm = memory_map(cfg)
    rng = random.Random(5)
    images = {name: {w: rng.getrandbits(mm[name].word_bits)
                     for w in rng.sample(range(mm[name].depth), 5)}
              for name in ("prog", "A", "B", "C")}
    writes = bus_writes(mm, images)
    assert len(writes) == sum(mm[n].sub_words * len(v) for n, v in images.items())
    assert all(0 <= d < (1 << 32) for _, d in writes)
    bus = dict(writes)
    reg = mm["C"]
    assert reg.sub_words > 1
    w0 = next(iter(images["C"]))
    order = [a for a, _ in writes]
    assert order.index(reg.bus_address(w0, reg.sub_words - 1)) == order.index(
        reg.bus_address(w0, 0)) + reg.sub_words - 1
    reads = {n: list(v) for n, v in images.items()}
    plan = bus_reads(mm, reads)
    got = assemble(mm, plan, [bus[a] for _, _, a in plan])
    assert got == images
    with pytest.raises(ValueError, match="3 values read for"):
        assemble(mm, plan, [0, 0, 0])


@pytest.mark.parametrize(("tokens", "dim", "heads", "rows"),
                         [(8, 8, 2, 4), (16, 32, 1, 4), (16, 32, 2, 8), (6, 8, 1, 2)])
def test_macs_formula_equals_the_program_matmuls(tokens: int, dim: int, heads: int,
                                                 rows: int) -> None:
    """4 T D^2 + 2 T^2 D is what the compiled MATMULs issue when rows divides T."""
    case = make_case(tokens=tokens, dim=dim, heads=heads, rows=rows, seed=2)
    cb = compile_attention(case.params, case.block, case.x)
    assert layer_macs(tokens, dim, heads) == 4 * tokens * dim ** 2 + 2 * tokens ** 2 * dim
    assert program_macs(cb) == layer_macs(tokens, dim, heads)


def test_macs_of_padded_tokens_exceed_the_formula() -> None:
    case = make_case(tokens=5, dim=8, heads=2, rows=4, seed=2)
    cb = compile_attention(case.params, case.block, case.x)
    assert program_macs(cb) > layer_macs(5, 8, 2)


def test_make_case_is_deterministic_and_fits_the_capacities() -> None:
    a = make_case(tokens=8, dim=16, heads=2, a_bits=4, w_bits=8, max_tokens=64, seed=7)
    b = make_case(tokens=8, dim=16, heads=2, a_bits=4, w_bits=8, max_tokens=64, seed=7)
    c = make_case(tokens=8, dim=16, heads=2, a_bits=4, w_bits=8, max_tokens=64, seed=8)
    assert (a.x == b.x).all() and all((a.expected[k] == b.expected[k]).all() for k in a.expected)
    assert not (a.x == c.x).all()
    assert (a.block.max_tokens, a.block.max_heads, a.block.a_bits, a.block.w_bits) == (64, 2, 4, 8)
    with pytest.raises(ValueError, match="tokens=8 exceeds max_tokens=4"):
        make_case(tokens=8, dim=16, heads=2, max_tokens=4)


def test_compare_names_the_first_mismatch() -> None:
    case = make_case(tokens=4, dim=8, heads=2, rows=4, seed=3)
    got = {k: np.array(v, copy=True) for k, v in case.expected.items()}
    assert compare(got, case.expected, 3)[1:] == ({k: 0 for k in got}, None)
    got["o"][2, 5] += 1
    got["out"][1, 1] -= 1
    n, counts, first = compare(got, case.expected, 3)
    assert counts["o"] == 1 and counts["out"] == 1 and n == sum(v.size for v in got.values())
    assert first["tensor"] == "o" and first["index"] == [2, 5]
    assert first["got"] == first["expected"] + 1 and "seed 3" in first["message"]


# -- the block on the simulators -----------------------------------------------------------------

@pytest.mark.timeout(1800)
@pytest.mark.parametrize("entry", params(CI, slow=False))
def test_block_ci(entry: dict, need_simulator: Callable[[str], None],
                  build_root: Path) -> None:
    need_simulator(entry["simulator"])
    check(run_one(entry, build_root=build_root))


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("entry", params(MATRIX, slow=True))
def test_block_matrix(entry: dict, need_simulator: Callable[[str], None],
                      build_root: Path) -> None:
    need_simulator(entry["simulator"])
    r = run_one(entry, build_root=build_root)
    check(r)
    print(f"\n{case_id(entry)}: {r.cycles} cycles, bound {r.bound:g}, ratio {r.ratio:.3f}")


@pytest.mark.icarus
@pytest.mark.timeout(900)
def test_a_corrupted_expected_value_fails_at_its_element(
        need_simulator: Callable[[str], None], build_root: Path, tmp_path: Path) -> None:
    need_simulator("icarus")
    r = run_one(CI[1], build_root=build_root, corrupt_expected=True, work_dir=tmp_path)
    assert not r.passed and r.corrupted is not None and r.errors == []
    fm = r.first_mismatch
    assert fm is not None and fm["tensor"] == "out" and fm["index"] == r.corrupted["index"]
    assert (fm["expected"], fm["got"]) == (r.corrupted["now"], r.corrupted["was"])
    assert r.mismatches["out"] == 1 and "FAIL" in r.summary_text()


@pytest.mark.icarus
@pytest.mark.timeout(900)
def test_a_hang_is_a_clear_failure(need_simulator: Callable[[str], None], build_root: Path,
                                   tmp_path: Path) -> None:
    """A cycle limit below the program's run time stops the wait: timeout, not a stuck run."""
    need_simulator("icarus")
    r = run_one(CI[1], build_root=build_root, max_cycles=200, work_dir=tmp_path)
    assert not r.passed and r.status["timeout"] is True and r.cycles is None
    assert any("timeout: busy still high 200 cycles after start" in e for e in r.errors)
    assert r.elements_checked == 0


def test_an_unknown_simulator_is_refused() -> None:
    case = make_case(tokens=4, dim=8, heads=1, rows=2, seed=1)
    with pytest.raises(ValueError, match="simulator='ghdl' is not one of icarus, verilator"):
        run_attention(case, simulator="ghdl")
