"""``ivita sim UNIT``: dispatch through the registry, summaries, JSON, exit codes, errors."""

from __future__ import annotations

import argparse
import re
import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ivita.cli import COMMANDS, build_parser, main
from ivita.commands._common import IntRange
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
    (["sim", "array", "--rows", "0"], "--rows 0: must be in 1..32"),
    (["sim", "array", "--bits", "1"], "--bits 1: must be in 2..16"),
    (["sim", "array", "--bits", "17"], "--bits 17: must be in 2..16"),
    (["sim", "array", "--a-bits", "x"], "--a-bits 'x': not an integer; must be in 2..16"),
    (["sim", "array", "--k", "300", "--k-max", "256"],
     "--k 300 exceeds --k-max 256: --k must be in 1..256"),
    (["sim", "array", "--acc-bits", "10", "--k", "64"],
     "--acc-bits 10: must be in 22..48 for 8 x 8-bit operands over --k-max 64"),
    (["sim", "array", "--m", "8"], "--m and --n must be given together"),
    (["sim", "array", "--stall", "1"], "--stall 1: must be in [0, 1)"),
    (["sim", "array", "--stall-out", "-0.5"], "--stall-out -0.5: must be in [0, 1)"),
    (["sim", "array", "--seed", "-1"], "--seed -1: must be in 0..4294967295"),
    (["sim", "array", "--seed", "4294967296"], "--seed 4294967296: must be in 0..4294967295"),
    (["sim", "array", "--max-cycles", "0"], "--max-cycles 0: must be in 1..1099511627776"),
    (["sim", "array", "--simulator", "xsim"], "invalid choice: 'xsim'"),
    (["sim", "requant", "--acc-bits", "40", "--mult-bits", "31"],
     "--acc-bits 40 plus --mult-bits 31 is 71; the product must fit 62 bits, so --mult-bits "
     "must be in 2..22"),
    (["sim", "requant", "--max-shift", "64"], "--max-shift 64: must be in 0..63"),
    (["sim", "requant", "--cols", "33"], "--cols 33: must be in 1..32"),     # the alias typed
    (["sim", "requant", "--bits", "24"], "--bits 24 over --k 64 needs a 54-bit accumulator; at most 48 (give --acc-bits)"),
    (["sim", "softmax", "--tokens", "300"], "--tokens 300: must be in 1..256 (--max-tokens)"),
    (["sim", "softmax", "--x0-bits", "31", "--n", "31"],
     "--x0-bits 31, --n 31, --max-tokens 256 and --out-bits 8 need 80 bits"),
    (["sim", "gelu", "--x0-bits", "31", "--n", "31"], "--x0-bits 31, --n 31 and --sig-bits 8"),
    (["sim", "layernorm", "--banks", "5"], "--banks 5: must be in 1..4"),
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
    assert "_bits=" not in err, "a config field name leaked into a CLI error"


def _range_actions(parser: argparse.ArgumentParser) -> list[IntRange]:
    return [a for a in parser._actions if isinstance(a, IntRange)]


@pytest.mark.parametrize("unit", list(UNITS))
def test_every_integer_option_states_and_enforces_its_whole_range(
        unit: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = unit_parser(unit, get_tb(unit))
    actions = _range_actions(parser)
    assert {a.option_strings[0] for a in actions} >= {"--seed", "--max-cycles", "--bits"}
    text = " ".join(parser.format_help().split())
    for a in actions:
        assert f"{a.lo}..{a.hi}" in a.help, a.option_strings
        for flag in a.option_strings:
            for bad in (a.lo - 1, a.hi + 1):
                with pytest.raises(SystemExit) as e:
                    parser.parse_args([flag, str(bad)])
                assert e.value.code == 2
                assert f"{flag} {bad}: must be in {a.lo}..{a.hi}" in capsys.readouterr().err
            assert getattr(parser.parse_args([flag, str(a.hi)]), a.dest) == a.hi
    assert f"; {actions[-1].lo}..{actions[-1].hi}" in text      # what --help shows


@pytest.mark.parametrize("unit, argv", [
    # the ends of each option's range are accepted by the config and the bench, not only by
    # the parser (a range in the help that the config rejects would be a lie)
    ("array", ["--bits", "2"]), ("array", ["--bits", "16"]),
    ("array", ["--rows", "32", "--cols", "32"]), ("array", ["--rows", "1", "--cols", "1"]),
    ("array", ["--k", "1048576"]), ("array", ["--k", "1", "--k-max", "1"]),
    ("array", ["--acc-bits", "48"]), ("array", ["--tiles", "65536"]),
    ("array", ["--m", "16384", "--n", "16384"]),
    ("requant", ["--bits", "2"]), ("requant", ["--bits", "32", "--acc-bits", "30"]),
    ("requant", ["--lanes", "32"]), ("requant", ["--acc-bits", "2"]),
    ("requant", ["--acc-bits", "46", "--mult-bits", "16"]), ("requant", ["--mult-bits", "2"]),
    ("requant", ["--acc-bits", "30", "--mult-bits", "32"]),
    ("requant", ["--max-shift", "0"]), ("requant", ["--max-shift", "63"]),
    ("requant", ["--rows", "4096", "--tiles", "65536"]),
    ("softmax", ["--bits", "16", "--out-bits", "16"]), ("softmax", ["--n", "0"]),
    ("softmax", ["--max-tokens", "65536"]), ("softmax", ["--x0-bits", "1"]),
    ("softmax", ["--rows", "1048576", "--banks", "4", "--tokens", "1"]),
    ("gelu", ["--bits", "16", "--sig-bits", "16"]), ("gelu", ["--n", "31", "--x0-bits", "14"]),
    ("gelu", ["--rows", "1048576", "--tokens", "65536"]),
    ("layernorm", ["--bits", "2", "--channels", "4096"]), ("layernorm", ["--rows", "1048576"]),
])
def test_the_ends_of_the_ranges_are_accepted(unit: str, argv: list[str]) -> None:
    cls = get_tb(unit)
    tb = cls.from_args(unit_parser(unit, cls).parse_args(argv))
    assert isinstance(tb, cls)


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


# -- conventions of every command (ivita/commands/_common.py, ivita/cli.py main) ---------------

def test_top_level_help_lists_only_the_commands_that_exist(
        capsys: pytest.CaptureFixture[str]) -> None:
    sub = next(a for a in build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    assert tuple(sub.choices) == COMMANDS
    for name in COMMANDS:
        importlib.import_module(f"ivita.commands.{name}")
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    # a command's row is indented by 4; its wrapped help continues at a deeper indent
    listed = [ln.split()[0] for ln in out.splitlines() if re.match(r"^    \S", ln)]
    assert tuple(listed) == COMMANDS
    assert "130 interrupted" in " ".join(out.split())


def test_an_internal_error_prints_its_traceback_and_exits_1(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import ivita.sim.bench

    def boom(*a: object, **k: object) -> None:
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(ivita.sim.bench, "run_bench", boom)
    rc = main(["sim", "array", "--simulator", "amaranth"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: a bug" in err


@pytest.mark.parametrize("argv, target", [
    (["sim", "array", "--simulator", "amaranth"], "ivita.sim.bench:run_bench"),
    (["accuracy", "--block", "--bits", "4"], "ivita.commands.accuracy:run_block"),
])
def test_ctrl_c_is_one_line_and_exit_130_for_every_command(
        argv: list[str], target: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    mod, name = target.split(":")

    def interrupted(*a: object, **k: object) -> None:
        raise KeyboardInterrupt
    monkeypatch.setattr(importlib.import_module(mod), name, interrupted)
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 130
    assert captured.err == "ivita: interrupted\n" and captured.out == ""


def _in_private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Make tempfile use an empty folder, so a test sees exactly what a run leaves."""
    import tempfile
    t = tmp_path / "tmp"
    t.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(t))
    return t


SMALL = ["sim", "array", "--simulator", "amaranth", "--rows", "2", "--cols", "2", "--k", "3",
         "--tiles", "2"]


def test_the_run_directory_is_removed_after_a_pass(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    t = _in_private_tmp(monkeypatch, tmp_path)
    assert main(SMALL) == 0
    assert "run directory" not in capsys.readouterr().out
    assert list(t.iterdir()) == []


def test_keep_keeps_the_run_directory_and_prints_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    t = _in_private_tmp(monkeypatch, tmp_path)
    assert main([*SMALL, "--keep"]) == 0
    (kept,) = t.iterdir()
    assert kept.name.startswith("ivita-sim-array-")
    assert f"run directory (kept): {kept}" in capsys.readouterr().out
    assert (kept / "heartbeat.json").exists()
    assert main([*SMALL, "--keep", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["run_dir"] and Path(obj["run_dir"]).parent == t


def test_a_failed_run_keeps_the_directory_and_prints_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    t = _in_private_tmp(monkeypatch, tmp_path)
    assert main([*SMALL, "--corrupt-expected"]) == 1
    (kept,) = t.iterdir()
    assert f"run directory: {kept}" in capsys.readouterr().out


def test_an_exception_removes_the_temporary_directory_unless_keep(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    t = _in_private_tmp(monkeypatch, tmp_path)

    def interrupted(*a: object, **k: object) -> None:
        raise KeyboardInterrupt
    monkeypatch.setattr(get_tb("array"), "stimulus", interrupted)   # inside run_bench
    assert main(SMALL) == 130
    assert capsys.readouterr().err == "ivita: interrupted\n"
    assert list(t.iterdir()) == []
    assert main([*SMALL, "--keep"]) == 130
    (kept,) = t.iterdir()
    assert capsys.readouterr().err == f"ivita: interrupted; run directory kept: {kept}\n"


def test_no_progress_when_stderr_is_not_a_terminal(
        capsys: pytest.CaptureFixture[str], sim_build: Path) -> None:
    assert main(SMALL) == 0
    assert capsys.readouterr().err == ""


def test_progress_shows_the_run_size_first(capsys: pytest.CaptureFixture[str],
                                           sim_build: Path) -> None:
    assert main(["sim", "array", "--simulator", "amaranth", "--rows", "3", "--cols", "2",
                 "--k", "700", "--tiles", "5", "--progress", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["passed"] is True     # stdout stays one JSON object
    first = captured.err.splitlines()[0]
    assert first.startswith("ivita sim array: run size: 3,500 input beats, 15 output beats "
                            "(45 elements checked); about 3,500 cycles (estimate: "
                            "ArrayTB.ideal_cycles())")
    # a vectors: a (3500 x 3) + b (3500 x 2) + last, expected: c (15 x 2) + last; int64
    nbytes = 8 * (3500 * (3 + 2 + 1) + 15 * (2 + 1))
    assert f"vectors {nbytes / 1e6:,.1f} MB" in first


def test_progress_wanted_follows_the_terminal() -> None:
    import io

    from ivita.commands._common import progress_wanted

    class TTY(io.StringIO):
        def isatty(self) -> bool:
            return True
    assert progress_wanted(None, TTY()) is True
    assert progress_wanted(None, io.StringIO()) is False
    assert progress_wanted(False, TTY()) is False
    assert progress_wanted(True, io.StringIO()) is True


def _interruptible(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    # SIGINT may be ignored by whoever started pytest (a background job): restore Python's
    # default handler, as an interactive shell would give the command
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from ivita.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def _wait_for_heartbeat(tmp: Path, proc: subprocess.Popen[str], timeout: float) -> dict:
    import time
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        for hb in tmp.glob("ivita-sim-*/heartbeat.json"):
            try:
                return json.loads(hb.read_text())
            except ValueError:
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no heartbeat within {timeout} s: {proc.communicate()}")


def _assert_interrupted(proc: subprocess.Popen[str], tmp: Path, group: bool = False) -> None:
    import os
    import signal
    if group:       # Ctrl-C in a terminal: the whole process group, simulator included
        os.killpg(proc.pid, signal.SIGINT)
    else:           # only ivita: it must stop the simulator itself
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err == "ivita: interrupted\n", err           # one line, no traceback
    assert list(tmp.iterdir()) == []                    # the run directory was removed


@pytest.mark.timeout(300)
def test_sigint_stops_a_big_amaranth_run_cleanly(tmp_path: Path, build_root: Path) -> None:
    import os
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    # 4 tiles of k = 100000: 400,000 cycles, minutes on amaranth.sim
    proc = _interruptible(["sim", "array", "--simulator", "amaranth", "--k", "100000"], env)
    hb = _wait_for_heartbeat(tmp, proc, 240)
    assert hb["pid"] == proc.pid and hb["phase"] in ("setup", "gap", "stream")
    _assert_interrupted(proc, tmp)


@pytest.mark.icarus
@pytest.mark.timeout(300)
@pytest.mark.parametrize("group", [False, True], ids=["ivita-only", "process-group"])
def test_sigint_stops_the_simulator_process(tmp_path: Path, build_root: Path, group: bool,
                                            need_simulator: Callable[[str], None]) -> None:
    import os
    import time
    need_simulator("icarus")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "IVITA_SIM_BUILD": str(build_root)}
    proc = _interruptible(["sim", "array", "--simulator", "icarus", "--rows", "2", "--cols",
                           "2", "--k", "100000"], env)
    hb = _wait_for_heartbeat(tmp, proc, 240)
    assert hb["pid"] != proc.pid                        # the loop runs inside vvp
    _assert_interrupted(proc, tmp, group)
    t_end = time.monotonic() + 5
    while Path(f"/proc/{hb['pid']}").exists() and time.monotonic() < t_end:
        time.sleep(0.1)
    status = Path(f"/proc/{hb['pid']}/status")
    alive = status.exists() and "State:\tZ" not in status.read_text()
    assert not alive, f"the simulator process {hb['pid']} still runs"


def test_a_run_that_cannot_fit_in_memory_is_refused_with_its_size(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import ivita.commands.sim as sim_cmd
    # 4 tiles of k = 100000 on a 32 x 32 array: 208 MB of vectors; pretend 100 MB are free
    monkeypatch.setattr(sim_cmd, "available_memory", lambda: 100_000_000)
    with pytest.raises(SystemExit) as e:
        main(["sim", "array", "--rows", "32", "--cols", "32", "--k", "100000"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert ("the run does not fit this machine: run size: 400,000 input beats, 128 output "
            "beats (4,224 elements checked); about 400,000 cycles") in err
    assert "vectors 208.0 MB" in err and "only 100 MB of memory is available" in err
