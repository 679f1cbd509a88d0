# amaranth: UnusedElaboratable=no
"""``ivita sim attention``: option validation, the summary, the JSON object, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ivita.cli import main
from ivita.commands._common import IntRange
from ivita.commands.sim_attention import attention_parser
from ivita.sim.attention_run import layer_macs

SMALL = ["--simulator", "amaranth", "--tokens", "4", "--dim", "8", "--heads", "1",
         "--rows", "2", "--a-bits", "8", "--w-bits", "4", "--seed", "5"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--cols", "8"], "--cols 8 differs from --rows 4; the attention block needs a square array"),
    (["--dim", "30", "--heads", "4"], "--dim 30 is not a multiple of --heads 4"),
    (["--dim", "24", "--heads", "2", "--rows", "8"],
     "head_dim = --dim 24 / --heads 2 = 12 is not a multiple of --cols 8"),
    (["--tokens", "20", "--max-tokens", "16"],
     "--tokens 20 exceeds --max-tokens 16: --tokens must be in 1..16"),
    (["--heads", "4", "--max-heads", "2"],
     "--heads 4 exceeds --max-heads 2: --heads must be in 1..2"),
    (["--a-bits", "1"], "--a-bits 1: must be in 2..16"),
    (["--w-bits", "17"], "--w-bits 17: must be in 2..16"),
    (["--tokens", "0"], "--tokens 0: must be in 1..4096"),
    (["--heads", "65"], "--heads 65: must be in 1..64"),
    (["--rows", "33"], "--rows 33: must be in 1..32"),
    (["--dim", "x"], "--dim 'x': not an integer; must be in 1..4096"),
    (["--seed", "-1"], "--seed -1: must be in 0..4294967295"),
    (["--max-cycles", "0"], "--max-cycles 0: must be in 1..1099511627776"),
    (["--simulator", "xsim"], "invalid choice: 'xsim'"),
    (["--stall", "0.2"], "unrecognized arguments: --stall 0.2"),
])
def test_invalid_options_are_clear_errors(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["sim", "attention", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_every_integer_option_states_its_range_in_help() -> None:
    parser = attention_parser()
    acts = [a for a in parser._actions if isinstance(a, IntRange)]
    assert {a.option_strings[0] for a in acts} >= {
        "--tokens", "--dim", "--heads", "--a-bits", "--w-bits", "--rows", "--cols",
        "--max-tokens", "--max-heads", "--seed", "--max-cycles"}
    for a in acts:
        assert f"{a.lo}..{a.hi}" in a.help


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["sim", "attention", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--simulator", "--tokens", "--dim", "--heads", "--a-bits", "--w-bits",
                "--rows", "--cols", "--seed", "--json", "--max-cycles", "--waves", "--keep"):
        assert opt in out
    with pytest.raises(SystemExit):
        main(["sim", "--help"])
    assert "attention" in capsys.readouterr().out


def test_small_run_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["sim", "attention", *SMALL, "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    d = json.loads(out)
    assert d["unit"] == "attention" and d["simulator"] == "amaranth" and d["seed"] == 5
    assert d["passed"] is True and d["check"] == "PASS" and d["errors"] == []
    assert d["layer"]["tokens"] == 4 and d["layer"]["w_bits"] == 4 and d["block"]["rows"] == 2
    assert d["macs"] == layer_macs(4, 8, 1) == 4 * 4 * 64 + 2 * 16 * 8 == 1280
    assert d["bound"] == d["macs"] / 4
    assert isinstance(d["cycles"], int) and d["cycles"] == d["wall"] > d["bound"]
    assert d["ratio"] == pytest.approx(d["cycles"] / d["bound"])
    assert d["elements_checked"] > 0 and sum(d["mismatches"].values()) == 0
    assert d["run_dir"] is None            # removed after a pass


def test_a_corrupted_value_fails_with_the_summary(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    rc = main(["sim", "attention", *SMALL, "--corrupt-expected", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1
    assert out.startswith("FAIL: attention on amaranth, seed 5: 4 tokens x dim 8, 1 heads, "
                          "a8 w4, 2x2 array")
    assert re.search(r"cycles: \d+ measured; compute bound MACs/\(rows\*cols\) = 1280/4 = "
                     r"320; ratio cycles/bound \d+\.\d{3}", out), out
    assert "elements checked: 192, mismatches: 1" in out
    assert "first mismatch: out[" in out and "(seed 5)" in out
    assert f"run directory: {tmp_path}" in out


def test_a_cycle_limit_too_low_exits_1_and_waves_are_written(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    rc = main(["sim", "attention", *SMALL, "--max-cycles", "30", "--json", "--waves",
               "--out", str(tmp_path)])
    d = json.loads(capsys.readouterr().out)
    assert rc == 1 and d["check"] == "FAIL" and d["cycles"] is None
    assert d["waves"] == str(tmp_path / "ivita_attention.vcd") and Path(d["waves"]).stat().st_size
    assert "timeout: busy still high 30 cycles after start" in d["errors"][0]


def test_missing_simulator_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    rc = main(["sim", "attention", "--simulator", "icarus", "--tokens", "4", "--dim", "8",
               "--heads", "1", "--rows", "2", "--build-dir", str(tmp_path)])
    assert rc == 3
    assert "install Icarus Verilog" in capsys.readouterr().err
