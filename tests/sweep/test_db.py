"""The results database through run_sweep: provenance, resume by config hash, failure
recording, a dead worker, one writer for several workers."""

from __future__ import annotations

import json
import sqlite3

import pytest

from ivita.sweep.db import ResultsDB
from ivita.sweep.point import SweepPoint, default_points
from ivita.sweep.runner import run_sweep

FAST = ("accuracy", "throughput")
OPTS = {"accuracy": "block", "k": 197, "seed": 1, "check_vectors": 64}


def _points(widths=(2, 3), **kw):
    return default_points(widths=widths, mixed=(), shapes=((2, 2),), baseline=False,
                          stages=kw.pop("stages", FAST), options=dict(OPTS), **kw)


def test_provenance_and_resume(tmp_path):
    db = tmp_path / "r.sqlite"
    s1 = run_sweep(_points(), db_path=db, jobs=2, config={"widths": "2,3"})
    assert (s1.computed, s1.reused, s1.failed) == (2, 0, 0)
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    run = dict(con.execute("SELECT * FROM runs").fetchone())
    assert run["status"] == "done" and run["finished_at"] >= run["started_at"]
    assert len(run["git"]) >= 12 or run["git"] == "unknown"
    tools = json.loads(run["tools"])
    assert tools["numpy"] and tools["python"]
    assert json.loads(run["config"])["widths"] == "2,3"
    rows = [dict(r) for r in con.execute("SELECT * FROM points ORDER BY a_bits")]
    con.close()
    assert [r["label"] for r in rows] == ["a2w2 2x2", "a3w3 2x2"]
    for r in rows:
        cfg = json.loads(r["config"])
        assert cfg["point"]["a_bits"] == r["a_bits"] and cfg["point"]["options"] == OPTS
        assert set(cfg["versions"]) == set(FAST)
        assert r["git"] == run["git"] and json.loads(r["tools"]) == tools
        assert r["started_at"] and r["finished_at"] and r["wall_s"] >= 0
        res = json.loads(r["result"])
        assert res["cpu_s"] > 0 and set(res["stages"]) == set(FAST)
        assert all(st["cpu_s"] >= 0 and st["wall_s"] >= 0 for st in res["stages"].values())
        assert r["gmacs_ref"] == pytest.approx(2 * 2 * 100e6 / 1e9)   # 2x2 at 100 MHz, K >= rows
        assert 0 < r["block_rel_l2"] < 1 and r["accuracy"] == pytest.approx(1 - r["block_rel_l2"])
    # the same points again: nothing recomputed; one more width: only it is computed
    s2 = run_sweep(_points(), db_path=db, jobs=2)
    assert (s2.computed, s2.reused) == (0, 2)
    s3 = run_sweep(_points(widths=(2, 3, 4)), db_path=db, jobs=2)
    assert (s3.computed, s3.reused) == (1, 2)
    with ResultsDB(db) as d:
        assert [r["n"] for r in d.runs()] == [2, 2, 3]
        assert [r["reused"] for r in d.runs()] == [0, 2, 2]
        assert len(d.points()) == 3
        assert len(d.points(run_id=s2.run_id)) == 2


def test_failed_point_recorded_and_sweep_goes_on(tmp_path, monkeypatch):
    from ivita.sweep.stages import PointFailure, throughput

    orig = throughput.run

    def flaky(ctx):
        if ctx.point.a_bits == 3:
            raise PointFailure("injected: a3 fails")
        return orig(ctx)

    monkeypatch.setattr(throughput, "run", flaky)        # the forked workers inherit it
    db = tmp_path / "r.sqlite"
    s = run_sweep(_points(widths=(2, 3, 4)), db_path=db, jobs=2)
    assert (s.computed, s.failed) == (3, 1)
    with ResultsDB(db) as d:
        bad = d.points(status="failed")
        assert [r["label"] for r in bad] == ["a3w3 2x2"]
        assert bad[0]["message"] == "throughput: injected: a3 fails"
        res = json.loads(bad[0]["result"])
        assert res["stages"]["accuracy"]["status"] == "ok"          # the other stage still ran
        assert bad[0]["gmacs_ref"] is None
        assert len(d.points(status="ok")) == 2
    # a failed point is retried on the next run (and, fixed, becomes ok); ok points are reused
    monkeypatch.setattr(throughput, "run", orig)
    s2 = run_sweep(_points(widths=(2, 3, 4)), db_path=db, jobs=2)
    assert (s2.computed, s2.reused, s2.failed) == (1, 2, 0)
    # --no-retry-failed keeps a stored failure
    monkeypatch.setattr(throughput, "run", flaky)
    s3 = run_sweep(_points(widths=(5, 3)), db_path=tmp_path / "b.sqlite", jobs=1)
    s4 = run_sweep(_points(widths=(5, 3)), db_path=tmp_path / "b.sqlite", jobs=1,
                   retry_failed=False)
    assert (s3.failed, s4.computed, s4.reused, s4.failed) == (1, 0, 2, 1)


def test_unexpected_exception_is_a_failure_with_its_message(tmp_path, monkeypatch):
    from ivita.sweep.stages import throughput

    def boom(ctx):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(throughput, "run", boom)
    s = run_sweep(_points(widths=(2,)), db_path=tmp_path / "r.sqlite", jobs=1)
    with ResultsDB(tmp_path / "r.sqlite") as d:
        (row,) = d.points()
    assert s.failed == 1 and row["status"] == "failed"
    assert row["message"].startswith("throughput: ZeroDivisionError: boom")


def test_dead_worker_is_recorded(tmp_path, monkeypatch):
    import os

    from ivita.sweep.stages import throughput

    monkeypatch.setattr(throughput, "run", lambda ctx: os._exit(3))
    s = run_sweep(_points(widths=(2,)), db_path=tmp_path / "r.sqlite", jobs=1)
    with ResultsDB(tmp_path / "r.sqlite") as d:
        (row,) = d.points()
    assert s.failed == 1 and row["message"].startswith("worker error: BrokenProcessPool")


def test_power_unavailable_is_not_a_number(tmp_path, monkeypatch):
    """Without ivita.power (simulated: the stage's lookup finds nothing; the pool forks, so the
    workers see the patch) the stage is stored as unavailable, never as a number."""
    from ivita.sweep.stages import power as power_stage
    monkeypatch.setattr(power_stage, "_estimate", lambda: None)
    s = run_sweep(_points(widths=(4,), stages=("power", "throughput")),
                  db_path=tmp_path / "r.sqlite", jobs=1)
    with ResultsDB(tmp_path / "r.sqlite") as d:
        (row,) = d.points()
    st = json.loads(row["result"])["stages"]["power"]
    assert s.failed == 0 and row["status"] == "ok"
    assert st == {"status": "unavailable", "message": "unavailable: ivita.power is not installed",
                  "values": {}, "wall_s": st["wall_s"], "cpu_s": st["cpu_s"]}
    assert row["pe_mw"] is None and row["energy_per_mac_pj"] is None


def test_many_points_from_two_workers_lose_nothing(tmp_path):
    pts = [SweepPoint(a_bits=a, w_bits=w, rows=2, cols=2, stages=("throughput",),
                      options=dict(OPTS)) for a in range(2, 9) for w in (2, 4, 8)]
    s = run_sweep(pts, db_path=tmp_path / "r.sqlite", jobs=2)
    with ResultsDB(tmp_path / "r.sqlite") as d:
        assert len(d.points()) == len(pts) == s.computed == 21


def test_ctrl_c_marks_the_run_interrupted_and_keeps_finished_points(tmp_path, monkeypatch):
    import ivita.sweep.runner as runner

    db = tmp_path / "r.sqlite"
    run_sweep(_points(widths=(2,)), db_path=db, jobs=1)
    real_wait = runner.wait

    def wait_then_interrupt(*a, **kw):
        real_wait(*a, **kw)
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "wait", wait_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(_points(widths=(2, 3)), db_path=db, jobs=1)
    with ResultsDB(db) as d:
        assert [r["status"] for r in d.runs()] == ["done", "interrupted"]
        assert [r["label"] for r in d.points()] == ["a2w2 2x2"]
    monkeypatch.setattr(runner, "wait", real_wait)
    s = run_sweep(_points(widths=(2, 3)), db_path=db, jobs=1)         # resumes
    assert (s.computed, s.reused) == (1, 1)


@pytest.mark.slow
def test_power_stage_stores_the_estimate(tmp_path):
    """With ivita.power installed the stage stores estimate_power's numbers for the point
    (2x2, 4 bits: gate-level simulation of the mapped netlist)."""
    from ivita.power import estimate_power
    s = run_sweep(_points(widths=(4,), stages=("power",)), db_path=tmp_path / "r.sqlite", jobs=1)
    with ResultsDB(tmp_path / "r.sqlite") as d:
        (row,) = d.points()
    st = json.loads(row["result"])["stages"]["power"]
    p = _points(widths=(4,), stages=("power",))[0]
    ref = estimate_power(rows=p.rows, cols=p.cols, a_bits=4, w_bits=4, freq_hz=p.freq_hz,
                         part=p.part, seed=int(p.options.get("seed", 1)))
    assert s.failed == 0 and st["status"] == "ok", st
    assert st["values"]["per_pe_mw"] == [float(x) for x in ref.per_pe_mw.ravel()]
    assert st["values"]["energy_per_mac_pj"] == ref.energy_per_mac_pj > 0
    assert st["values"]["model"] == ref.model and ref.model
