"""The runner wrapper and the cocotb/amaranth backends, on the toy design (tests/sim/toy_bench).

The toy exercises everything a unit bench uses without depending on ``ivita.hw``: emission,
sidecar, build cache, parameter and result files, stalls, waves, and that a bench fails on a
wrong design and on a corrupted expected value.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TOY_PATH
from toy_bench import ToyConfig, ToyTB

from ivita.sim.bench import BenchResult, run_bench
from ivita.sim.runner import SimulatorMissing, check_simulator, run_cocotb

SIMS = [pytest.param("icarus", marks=pytest.mark.icarus),
        pytest.param("verilator", marks=pytest.mark.verilator),
        pytest.param("amaranth")]


def toy_run(sim: str, build_root: Path, **kw: object) -> BenchResult:
    cfg = kw.pop("config", ToyConfig(width=4, lanes=3))
    return run_bench(ToyTB(config=cfg), simulator=sim, build_root=build_root,
                     python_path=TOY_PATH, **kw)  # type: ignore[arg-type]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sim", SIMS)
def test_toy_passes_with_stalls(sim: str, build_root: Path,
                                need_simulator: Callable[[str], None]) -> None:
    need_simulator(sim)
    res = toy_run(sim, build_root, seed=5, stall_in=0.4, stall_out=0.4)
    assert res.passed, res.failure_message()
    r = res.result
    assert r["beats_in"] == r["beats_out"] == 40 and r["elements_checked"] == 40 * 4
    assert r["simulator"] == sim and r["end_values"] == {}
    assert res.run_dir is None  # a passing temporary run cleans up


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sim", SIMS)
def test_a_corrupted_expected_value_fails_at_its_coordinates(
        sim: str, tmp_path: Path, build_root: Path,
        need_simulator: Callable[[str], None]) -> None:
    need_simulator(sim)
    res = toy_run(sim, build_root, seed=8, stall_out=0.3, corrupt_expected=True,
                  work_dir=tmp_path)
    assert not res.passed
    c, fm = res.corrupted, res.first_mismatch
    assert c is not None and fm is not None
    assert (fm["beat"], fm["field"], fm["index"]) == (c["beat"], c["field"], c["index"])
    assert (fm["expected"], fm["got"]) == (c["now"], c["was"])
    assert fm["coords"]["tile"] == c["beat"] // 4 and fm["seed"] == 8
    assert res.result["mismatches"] == 1
    assert "seed 8" in res.failure_message() and res.run_dir == tmp_path


@pytest.mark.icarus
@pytest.mark.timeout(300)
def test_a_wrong_design_fails(tmp_path: Path, build_root: Path,
                              need_simulator: Callable[[str], None]) -> None:
    need_simulator("icarus")
    res = toy_run("icarus", build_root, config=ToyConfig(width=4, lanes=3, bug=True), seed=2,
                  work_dir=tmp_path)
    assert not res.passed
    fm = res.first_mismatch
    assert fm is not None
    # beat 0 is a corner (a = -8): lane 0 of the buggy adder is off by one there
    assert fm["coords"] == {"tile": 0, "row": 0, "lane": 0}
    assert (fm["expected"], fm["got"]) == (-16, -15)


@pytest.mark.icarus
@pytest.mark.timeout(300)
def test_builds_are_cached_and_keyed_by_the_verilog(
        tmp_path: Path, need_simulator: Callable[[str], None]) -> None:
    need_simulator("icarus")
    first = toy_run("icarus", tmp_path / "b", seed=1)
    again = toy_run("icarus", tmp_path / "b", seed=2, stall_in=0.5)
    other = toy_run("icarus", tmp_path / "b", config=ToyConfig(width=6, lanes=2))
    assert first.passed and again.passed and other.passed
    assert (first.build_cached, again.build_cached, other.build_cached) == (False, True, False)
    assert len(list((tmp_path / "b" / "icarus").glob("ivita_toy-*/sim.vvp"))) == 2


@pytest.mark.timeout(300)
@pytest.mark.parametrize("sim, suffix", [pytest.param("icarus", ".fst", marks=pytest.mark.icarus),
                                         ("amaranth", ".vcd")])
def test_waves_only_when_asked(sim: str, suffix: str, tmp_path: Path, build_root: Path,
                               need_simulator: Callable[[str], None]) -> None:
    need_simulator(sim)
    quiet = toy_run(sim, build_root, work_dir=tmp_path / "quiet")
    assert quiet.waves is None and not list((tmp_path / "quiet").glob("*" + suffix))
    loud = toy_run(sim, build_root, work_dir=tmp_path / "loud", waves=True)
    assert loud.passed and loud.waves is not None and loud.waves.suffix == suffix
    assert loud.waves.stat().st_size > 0


@pytest.mark.verilator
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_verilator_waves(tmp_path: Path, build_root: Path,
                         need_simulator: Callable[[str], None]) -> None:
    need_simulator("verilator")
    res = toy_run("verilator", build_root, work_dir=tmp_path, waves=True)
    assert res.passed and res.waves is not None and res.waves.name == "dump.vcd"


@pytest.mark.timeout(300)
def test_waves_from_the_environment(tmp_path: Path, build_root: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVITA_WAVES", "1")
    res = toy_run("amaranth", build_root, work_dir=tmp_path)
    assert res.waves is not None and res.waves.exists()


def test_missing_simulator_is_a_clear_error(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SimulatorMissing, match=r"'iverilog' is not on PATH nor next to the "
                                               r"Python interpreter; install Icarus Verilog "
                                               r"\(apt-get install iverilog\)"):
        check_simulator("icarus")
    with pytest.raises(SimulatorMissing, match="verilator: 'make' is not on PATH"):
        check_simulator("verilator")
    with pytest.raises(ValueError, match="simulator='xsim' is not one of icarus, verilator"):
        check_simulator("xsim")
    temp = tmp_path / "temp"          # run_bench's temporary directories go here
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    with pytest.raises(SimulatorMissing):
        toy_run("icarus", tmp_path)
    assert list(temp.iterdir()) == []  # the aborted run left nothing behind


def test_unknown_simulator_and_bad_stall_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="simulator='ghdl' is not one of icarus, verilator, "
                                         "amaranth"):
        toy_run("ghdl", tmp_path)
    with pytest.raises(ValueError, match=r"stall_out=1.0 is out of range; it must be in \[0, 1\)"):
        toy_run("amaranth", tmp_path, stall_out=1.0)


@pytest.mark.icarus
@pytest.mark.timeout(300)
def test_a_build_failure_names_the_log(tmp_path: Path,
                                       need_simulator: Callable[[str], None]) -> None:
    need_simulator("icarus")
    bad = tmp_path / "broken.v"
    bad.write_text("module broken(input clk); this is not verilog endmodule\n")
    with pytest.raises(RuntimeError,
                       match=r"(?s)icarus build of broken failed .*build\.log.*syntax"):
        run_cocotb(verilog=bad, toplevel="broken", test_module="toy_bench", simulator="icarus",
                   params={}, run_dir=tmp_path / "run", build_root=tmp_path / "b")


def test_build_root_default_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    from ivita.sim.runner import default_build_root
    monkeypatch.setenv("IVITA_SIM_BUILD", str(tmp_path / "x"))
    assert default_build_root() == tmp_path / "x"
    monkeypatch.delenv("IVITA_SIM_BUILD")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_build_root() == tmp_path / "cache" / "ivita" / "sim"
    assert os.environ.get("IVITA_SIM_BUILD") is None
