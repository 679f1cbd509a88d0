"""``ivita power``: option errors (exit 2 naming the flag, value and limit) and a 2x2 run that
writes the table, JSON, heat map PNG and SAIF."""

from __future__ import annotations

import json

import pytest

from ivita.commands.power import main


@pytest.mark.parametrize("argv, msg", [
    (["--rows", "40"], "--rows 40: must be in 1..32"),
    (["--bits", "1"], "--bits 1: must be in 2..16"),
    (["--bits", "x"], "--bits x: must be an integer in 2..16"),
    (["--freq", "0"], "--freq 0: must be in 1..1000 MHz"),
    (["--freq", "fast"], "--freq fast: must be a number of MHz"),
    (["--unit", "softmax"], "--unit softmax: must be one of array"),
    (["--data", "images"], "--data images: must be one of attention, random"),
    (["--baseline", "float"], "--baseline float: must be dequant-first"),
    (["--compare", "--baseline", "dequant-first"], "--compare runs the baseline itself"),
    (["--model", "/nonexistent/m.json"], "--model /nonexistent/m.json: no such file"),
    (["--calibrate", "/nonexistent/r.rpt"], "--calibrate /nonexistent/r.rpt: no such file"),
    (["--part", "xc7a35t"], "--part xc7a35t"),
    (["--beats", "8"], "--beats 8: must be in 16..21845"),
])
def test_usage_errors(argv, msg, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert msg in capsys.readouterr().err


@pytest.mark.yosys
@pytest.mark.icarus
def test_run_writes_outputs(run2x2, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["--rows", "2", "--cols", "2", "--bits", "4", "--simulator", "icarus",
               "--beats", "96", "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "Power ESTIMATE (model: ivita-power-model 1" in text
    assert "outputs == model on" in text and "energy per MAC" in text
    for line in text.splitlines():
        if " mW" in line:
            assert "estimate" in line.lower(), line
    doc = json.loads((out / "power.json").read_text())
    assert doc["estimate"] is True and len(doc["per_pe_mw"]) == 2
    assert (out / "power_heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "activity.saif").read_text().startswith("(SAIFILE")
    rc = main(["--rows", "2", "--cols", "2", "--simulator", "icarus", "--beats", "96",
               "--json", "--data", "random", "--no-progress"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["data"] == "random" and "uniform random" in doc["data_label"]


@pytest.mark.yosys
@pytest.mark.icarus
def test_calibrate_cli(run2x2, tmp_path, capsys):
    """--calibrate on the (hand-written) 2025.1 sample: fits, saves, and --model uses it."""
    from pathlib import Path
    rpt = Path(__file__).resolve().parents[1] / "data" / "vivado" / "2025.1" / "power_hier.rpt"
    out = tmp_path / "cal"
    rc = main(["--rows", "2", "--cols", "2", "--simulator", "icarus", "--beats", "96",
               "--calibrate", str(rpt), "--out", str(out), "--json", "--no-progress"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["model"].startswith("calibration of")
    assert doc["calibration"]["rows"] == 5
    assert doc["static_mw"] == pytest.approx(72.0)
    rc = main(["--rows", "2", "--cols", "2", "--simulator", "icarus", "--beats", "96",
               "--model", str(out / "calibration.json"), "--json", "--no-progress"])
    again = json.loads(capsys.readouterr().out)
    assert rc == 0 and again["model"] == doc["model"]
    assert again["dynamic_mw"] == pytest.approx(doc["dynamic_mw"], rel=1e-6)
