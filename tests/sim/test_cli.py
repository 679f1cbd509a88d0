"""``ivita sim UNIT``: dispatch through the registry, summaries, JSON, exit codes, errors."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ivita.cli import main
from ivita.commands.sim import unit_parser
from ivita.sim.bench import TB
from ivita.sim.registry import UNITS, get_tb, units


@pytest.fixture
def sim_build(build_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IVITA_SIM_BUILD", str(build_root))
    return build_root


@pytest.mark.parametrize("unit", list(UNITS))
def test_every_registered_unit_loads_and_parses_its_defaults(unit: str) -> None:
    cls = get_tb(unit)
    assert issubclass(cls, TB) and cls.unit == unit and cls.summary
    mod = importlib.import_module(cls.__module__)
    assert hasattr(mod, f"test_{unit}"), "the unit module must define its cocotb test"
    ns = unit_parser(unit, cls).parse_args([])
    tb = cls.from_args(ns)
    assert tb.params() == {k: v for k, v in vars(tb).items() if k != "config"}
    stim = tb.stimulus(1)
    assert stim.inputs and stim.expected


def test_registry_errors() -> None:
    assert units()[:2] == ["array", "requant"]
    with pytest.raises(KeyError, match="unknown unit 'nope'; known units: array, requant"):
        get_tb("nope")


def test_pass_prints_a_summary(capsys: pytest.CaptureFixture[str], sim_build: Path) -> None:
    rc = main(["sim", "array", "--simulator", "amaranth", "--rows", "2", "--cols", "3",
               "--bits", "4", "--k", "5", "--tiles", "5", "--stall", "0.3", "--seed", "9"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.startswith("PASS: array on amaranth, seed 9, stall in 0.3 / out 0.3")
    assert "elements checked: 40, mismatches: 0" in out and "cycles:" in out


def test_json_is_one_object(capsys: pytest.CaptureFixture[str], sim_build: Path) -> None:
    rc = main(["sim", "requant", "--simulator", "amaranth", "--lanes", "3", "--bits", "5",
               "--tiles", "2", "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    obj = json.loads(out)
    assert obj["passed"] is True and obj["unit"] == "requant" and obj["simulator"] == "amaranth"
    assert obj["config"]["lanes"] == 3 and obj["config"]["out_bits"] == 5
    assert obj["elements_checked"] == 8 * 4 and obj["mismatches"] == 0
    assert obj["end_values"] == {"table_error": 0}


def test_mismatch_exits_1_with_the_first_element(capsys: pytest.CaptureFixture[str],
                                                 sim_build: Path, tmp_path: Path) -> None:
    rc = main(["sim", "array", "--simulator", "amaranth", "--rows", "2", "--cols", "2",
               "--k", "3", "--tiles", "4", "--seed", "4", "--corrupt-expected",
               "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1
    assert out.startswith("FAIL: array on amaranth, seed 4")
    line = next(ln for ln in out.splitlines() if ln.startswith("first mismatch:"))
    assert "at tile " in line and "row " in line and "(seed 4)" in line and "expected" in line


@pytest.mark.icarus
@pytest.mark.timeout(300)
def test_icarus_through_the_cli(capsys: pytest.CaptureFixture[str], sim_build: Path,
                                need_simulator: Callable[[str], None]) -> None:
    need_simulator("icarus")
    rc = main(["sim", "requant", "--lanes", "2", "--bits", "3", "--tiles", "3", "--json",
               "--stall-in", "0.5", "--stall-out", "0.1"])
    obj = json.loads(capsys.readouterr().out)
    assert rc == 0 and obj["passed"] and obj["simulator"] == "icarus"
    assert (obj["stall_in"], obj["stall_out"]) == (0.5, 0.1)


@pytest.mark.parametrize("argv, message", [
    (["sim", "array", "--rows", "0"], "rows=0 is out of range; it must be at least 1"),
    (["sim", "array", "--k", "300", "--k-max", "256"], "k=300 exceeds k_max=256"),
    (["sim", "array", "--bits", "17"], "a_bits=17 is out of range; it must be at most 16"),
    (["sim", "array", "--acc-bits", "10", "--k", "64"], "acc_bits=10 is too narrow"),
    (["sim", "array", "--m", "8"], "m and n must be given together"),
    (["sim", "array", "--stall", "1"], "a stall probability is in [0, 1)"),
    (["sim", "array", "--simulator", "xsim"], "invalid choice: 'xsim'"),
    (["sim", "requant", "--acc-bits", "40", "--mult-bits", "31"],
     "acc_bits=40 plus mult_bits=31 is 71; the product must fit 62 bits"),
    (["sim", "requant", "--max-shift", "64"], "max_shift=64 is out of range"),
    (["sim", "nope"], "invalid choice: 'nope'"),
    (["sim"], "the following arguments are required: UNIT"),
])
def test_invalid_options_are_clear_errors(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unit_help_lists_the_unit_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["sim", "array", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--simulator", "--bits", "--a-bits", "--rows", "--cols", "--k", "--tiles",
                "--seed", "--stall", "--waves", "--json"):
        assert opt in out


def test_missing_simulator_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    rc = main(["sim", "requant", "--simulator", "icarus", "--build-dir", str(tmp_path)])
    assert rc == 3
    assert "install Icarus Verilog (apt-get install iverilog)" in capsys.readouterr().err


def test_a_broken_bench_module_only_breaks_its_unit(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(UNITS, "broken", "ivita.sim.no_such_module:NoTB")
    rc = main(["sim", "broken"])
    assert rc == 2
    assert "cannot load the bench of 'broken'" in capsys.readouterr().err
    assert main(["sim", "array", "--simulator", "amaranth", "--rows", "1", "--cols", "1",
                 "--k", "2", "--tiles", "2"]) == 0


def test_console_script_end_to_end(tmp_path: Path, build_root: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ivita", "sim", "array", "--simulator",
                           "amaranth", "--rows", "2", "--cols", "2", "--k", "2", "--tiles", "3",
                           "--json", "--build-dir", str(build_root)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["passed"] is True


def test_sim_parser_is_argparse() -> None:
    assert isinstance(unit_parser("array", get_tb("array")), argparse.ArgumentParser)
