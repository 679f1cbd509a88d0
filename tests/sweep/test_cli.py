"""``ivita sweep`` and ``ivita results`` on the command line: option validation, a tiny
sweep end to end (check, synth, timing, accuracy, throughput on 2x2), the rerun, CSV export,
filters and the comparison of runs."""

from __future__ import annotations

import csv
import io
import json

import pytest

from ivita.cli import main


@pytest.mark.parametrize("argv, message", [
    (["--widths", "1-4"], "--widths 1: widths must be in 2..16"),
    (["--widths", "4,x"], "--widths 'x': not an integer"),
    (["--mixed", "84"], "--mixed '84': must be ABITSxWBITS"),
    (["--shapes", "0x4"], "--shapes 0x4: rows and columns must be in 1..32"),
    (["--stages", "synth,foo"], "--stages synth,foo: must be all or a comma-separated list"),
    (["--freq", "0"], "--freq 0: must be in 1..1000 (MHz)"),
    (["--part", "xc7a35t"], "--part xc7a35t: part 'xc7a35t' is not a known Spartan-7 part"),
    (["--jobs", "0"], "--jobs 0: must be in 1..256"),
    (["--executor", "dask"], "--executor dask needs --scheduler ADDRESS"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler is only used with --executor dask"),
    (["--executor", "ray"], "invalid choice: 'ray'"),
])
def test_sweep_usage_errors(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--out", str(tmp_path / "o"), *argv])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()           # nothing was started


def test_results_usage_errors(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["results", "--db", str(tmp_path / "none.sqlite")])
    assert e.value.code == 2 and "no such database" in capsys.readouterr().err


@pytest.mark.yosys
def test_tiny_sweep_end_to_end(tmp_path, capsys, shared_synth_cache):
    out = tmp_path / "out"
    argv = ["sweep", "--widths", "2,3", "--mixed", "none", "--no-baseline", "--shapes", "2x2",
            "--stages", "check,synth,timing,accuracy,throughput", "--accuracy", "block",
            "--vectors", "64", "--out", str(out), "--jobs", "2", "--json", "--no-progress"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["computed"], first["reused"], first["failed"]) == (2, 0, 0)
    assert {p["label"] for p in first["points"]} == {"a2w2 2x2", "a3w3 2x2"}
    for name in ("report.html", "report.md", "lut_per_pe.png", "pareto.png", "results.sqlite"):
        assert (out / name).is_file(), name
    html = (out / "report.html").read_text()
    assert "a3w3 2x2" in html and "src='data:image/png;base64," in html
    assert "src='lut_per_pe.png'" not in html                      # self-contained
    assert "](lut_per_pe.png)" in (out / "report.md").read_text()

    # the rerun computes nothing
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["computed"], second["reused"]) == (0, 2)

    db = str(out / "results.sqlite")
    assert main(["results", "--db", db, "--csv", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["label"] for r in rows] == ["a2w2 2x2", "a3w3 2x2"]
    for r in rows:
        assert r["status"] == "ok" and int(float(r["lut_total"])) > 0
        assert float(r["lut_per_pe"]) > 0 and float(r["fmax_mhz"]) > 0
        assert float(r["gmacs_fmax"]) == pytest.approx(4 * float(r["fmax_mhz"]) / 1e3)
        assert r["pe_mw"] == "" or float(r["pe_mw"]) > 0          # empty: power unavailable
    # wider operands need more LUTs per PE
    assert float(rows[1]["lut_per_pe"]) > float(rows[0]["lut_per_pe"])

    assert main(["results", "--db", db, "--where", "a_bits=3", "--json"]) == 0
    assert [r["label"] for r in json.loads(capsys.readouterr().out)] == ["a3w3 2x2"]
    assert main(["results", "--db", db, "--compare", "1", "2", "--json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    assert all(r["same_config"] and r["in"] == "both" for r in cmp) and len(cmp) == 2
    assert main(["results", "--db", db, "--runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["n"], r["reused"], r["status"]) for r in runs] == [(2, 0, "done"), (2, 2, "done")]
    assert main(["results", "--db", db, "--profile", "--run", "1", "--json"]) == 0
    prof = json.loads(capsys.readouterr().out)
    assert prof["points"] == 2 and set(prof["stages"]) == {"check", "synth", "timing",
                                                           "accuracy", "throughput"}
    assert prof["stages"]["synth"] > 0 and prof["point_s"] >= sum(prof["stages"].values()) - 1
    assert prof["stages_cpu"]["synth"] > 0 and set(prof["stages_cpu"]) == set(prof["stages"])
    with pytest.raises(SystemExit) as e:
        main(["results", "--db", db, "--run", "9"])
    assert e.value.code == 2 and "run 9 is not in" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["results", "--db", db, "--where", "nope=1"])
    assert e.value.code == 2 and "--where nope=1: unknown column" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ["bench", pytest.param("icarus", marks=pytest.mark.icarus)])
def test_check_stage_catches_a_mismatch(tmp_path, engine):
    """Mutation check: with one expected value corrupted on purpose the point must fail, with
    the amaranth.sim benches and with the bulk mode (compiled bench, no Python in the loop)."""
    from ivita.sweep.db import ResultsDB
    from ivita.sweep.point import SweepPoint
    from ivita.sweep.runner import run_sweep

    opts = {"check_vectors": 32, "seed": 1, "k": 197, "check_engine": engine}
    good = SweepPoint(a_bits=3, w_bits=3, rows=2, cols=2, stages=("check",), options=opts)
    bad = SweepPoint(a_bits=3, w_bits=3, rows=2, cols=2, stages=("check",),
                     options={**opts, "corrupt_expected": True})
    s = run_sweep([good, bad], db_path=tmp_path / "r.sqlite", jobs=2)
    with ResultsDB(tmp_path / "r.sqlite") as d:
        rows = {json.loads(r["config"])["point"]["options"].get("corrupt_expected", False): r
                for r in d.points()}
    assert s.failed == 1
    assert rows[False]["status"] == "ok"
    assert rows[True]["status"] == "failed"
    assert rows[True]["message"].startswith("check: array bit-exact check failed (seed=1")
    units = json.loads(rows[False]["result"])["stages"]["check"]["values"]["units"]
    assert set(units) == {"array", "requant", "softmax", "gelu"}
    assert all(u["mismatches"] == 0 for u in units.values())
    assert all(u["engine"] == ("bench amaranth" if engine == "bench" else "bulk")
               for u in units.values())


@pytest.mark.slow
def test_vit_accuracy_stage_equals_ivita_accuracy():
    """The sweep's ViT top-1 at equal widths is the number ``ivita accuracy`` reports."""
    from ivita.model import load_digits_split, load_tiny_vit, vit_accuracy
    from ivita.sweep.stages.accuracy import vit_top1

    got = vit_top1(4, 4)
    ref = vit_accuracy(load_tiny_vit(), load_digits_split(), 4, "ptq", "split")
    assert got["top1"] == ref.top1 and got["float_top1"] == ref.float_top1


def test_sweep_ctrl_c_exits_130(tmp_path, capsys, monkeypatch):
    import ivita.sweep.runner

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(ivita.sweep.runner, "run_sweep", interrupted)
    assert main(["sweep", "--out", str(tmp_path / "o"), "--no-progress"]) == 130
    assert capsys.readouterr().err == "ivita: interrupted\n"


FAST_ARGV = ["sweep", "--widths", "2,3", "--mixed", "none", "--no-baseline", "--shapes", "2x2",
             "--stages", "throughput", "--jobs", "1"]


def test_a_failed_point_exits_1_and_is_printed(tmp_path, capsys, monkeypatch):
    from ivita.sweep.stages import PointFailure, throughput

    orig = throughput.run

    def flaky(ctx):
        if ctx.point.a_bits == 3:
            raise PointFailure("injected")
        return orig(ctx)
    monkeypatch.setattr(throughput, "run", flaky)
    assert main([*FAST_ARGV, "--out", str(tmp_path / "o"), "--progress"]) == 1
    cap = capsys.readouterr()
    assert "FAILED a3w3 2x2: throughput: injected" in cap.out
    assert "2 points, 2 computed, 0 reused, 1 failed" in cap.out
    assert "no numbers: throughput: injected (1 point)" in cap.out
    # the progress bar: the run's size, then one line per point (stderr is not a terminal)
    lines = cap.err.splitlines()
    assert lines[0].startswith("ivita sweep: 2 points, stages throughput, local executor")
    assert "] 2/2 points, 1 failed, " in lines[-1]


def test_dask_unavailable_exits_3(tmp_path, capsys, monkeypatch):
    import contextlib

    import ivita.sweep.runner as runner
    from ivita.sweep.executor import ExecutorUnavailable

    @contextlib.contextmanager
    def unavailable(*a, **k):
        raise ExecutorUnavailable("--executor dask needs dask.distributed, which is not "
                                  "installed")
        yield
    monkeypatch.setattr(runner, "open_executor", unavailable)
    argv = [*FAST_ARGV, "--out", str(tmp_path / "o"), "--executor", "dask", "--scheduler",
            "tcp://127.0.0.1:8786", "--no-progress"]
    assert main(argv) == 3
    assert "dask.distributed, which is not installed" in capsys.readouterr().err
