"""``ivita synth`` and ``ivita build`` on the command line: usage errors, JSON, exit codes."""

import json
from pathlib import Path

import pytest

from ivita.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "vivado"


@pytest.mark.parametrize("cmd, args, message", [
    ("synth", ["--rows", "40"], "--rows 40: must be in 1..32"),
    ("synth", ["--cols", "0"], "--cols 0: must be in 1..32"),
    ("synth", ["--bits", "1"], "--bits 1: must be in 2..16"),
    ("synth", ["--a-bits", "x"], "--a-bits x: must be an integer in 2..16"),
    ("synth", ["--k", "2000000"], "--k 2000000: must be in 1..1048576"),
    ("synth", ["--unit", "fft"], "--unit fft: must be one or more of array, requant, softmax, "
                                 "gelu, layernorm, attention (comma-separated) or "
                                 "all"),
    ("synth", ["--paths", "51"], "--paths 51: list 0 to 50 next-slowest endpoints"),
    ("synth", ["--part", "xc7a35t-1"], "--part xc7a35t-1: part 'xc7a35t-1' is not a known"),
    ("build", ["--clock", "0"], "--clock 0: must be in 1..1000 (MHz)"),
    ("build", ["--rows", "33"], "--rows 33: must be in 1..32"),
])
def test_usage_errors_name_the_flag(capsys, cmd, args, message):
    with pytest.raises(SystemExit) as e:
        main([cmd, *args])
    assert e.value.code == 2
    assert f"ivita {cmd}: error: {message}" in capsys.readouterr().err


def test_build_without_vivado_writes_the_project(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("ivita.fpga.vivado.vivado_path", lambda: None)
    out = tmp_path / "proj"
    rc = main(["build", "--unit", "array", "--rows", "2", "--cols", "2", "--bits", "4",
               "--board", "arty-s7-25", "--clock", "125", "--out", str(out)])
    assert rc == 3
    err = capsys.readouterr().err
    assert "vivado is not on PATH, so the build was not run" in err
    assert f"cd {out} && vivado -mode batch -nojournal -log vivado.log -source build.tcl" in err
    tcl = (out / "build.tcl").read_text()
    assert "set part xc7s25csga324-1" in tcl
    assert "create_clock -period 8.000" in (out / "array.xdc").read_text()


def test_build_no_run(tmp_path, capsys):
    rc = main(["build", "--unit", "gelu", "--no-run", "--out", str(tmp_path)])
    assert rc == 0 and (tmp_path / "build.tcl").is_file()
    assert "run it with: cd" in capsys.readouterr().err


@pytest.mark.parametrize("ver", ["2018.3", "2025.1"])
def test_build_reports_json(capsys, ver):
    rc = main(["build", "--reports", str(DATA / ver), "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["part"] == "xc7s50csga324-1"
    (u,) = d["units"]
    assert [i["path"] for i in u["instances"]] == ["", "pe_r0_c0", "pe_r0_c1", "pe_r1_c0",
                                                   "pe_r1_c1"]
    assert u["vivado_timing"]["clocks"] == [["clk", 4.0, 250.0]]
    assert u["power"]["hierarchy"][0][0] == "array"


def test_build_reports_missing(tmp_path, capsys):
    assert main(["build", "--reports", str(tmp_path)]) == 1
    assert "no report_utilization -hierarchical report" in capsys.readouterr().err


@pytest.mark.yosys
def test_synth_json_and_summary(capsys, synth_cache):
    argv = ["synth", "--unit", "array", "--rows", "1", "--cols", "2", "--bits", "2", "--nodsp"]
    assert main([*argv, "--json"]) == 0
    cap = capsys.readouterr()
    assert "synthesizing array" in cap.err
    d = json.loads(cap.out)
    (u,) = d["units"]
    # every PE has its flip-flop copy of the array's enable (hw/_skid.py EnableCopy)
    assert [i["path"] for i in u["instances"]] == ["", "en_r0_c0", "en_r0_c1", "pe_r0_c0",
                                                    "pe_r0_c1"]
    assert u["timing"]["kind"] == "estimate" and u["config"]["a_bits"] == 2
    assert d["fit"]["fits"] and d["part"] == "xc7s50csga324-1"
    # the second run is served from the cache and prints the human summary
    assert main([*argv, "--paths", "2"]) == 0
    out = capsys.readouterr().out
    assert "cached" in out and "2 PEs: LUT" in out and "estimated Fmax" in out
    near = u["timing"]["near"]
    assert near and out.count("    next: ") == min(2, len(near))
    assert f"next: {near[0][0]:.2f} ns" in out
    assert "fits xc7s50" in out


@pytest.mark.yosys
def test_synth_does_not_fit_exits_1(capsys, synth_cache, monkeypatch):
    from ivita.fpga import parts
    tiny = parts.Part("xc7s25", lut=10, ff=10, dsp=1, ramb36=1, package="csga324")
    monkeypatch.setitem(parts.PARTS, "xc7s25", tiny)
    rc = main(["synth", "--rows", "1", "--cols", "2", "--bits", "2", "--nodsp", "--part",
               "xc7s25-1"])
    assert rc == 1
    cap = capsys.readouterr()
    assert "does NOT fit xc7s25 (LUT" in cap.err
