"""The ``--executor dask`` path against a Dask LocalCluster started by the test (loopback):
every point's result reaches the one database (the main process writes)."""

from __future__ import annotations

import json

import pytest

from ivita.sweep.db import ResultsDB
from ivita.sweep.executor import ExecutorUnavailable, open_executor
from ivita.sweep.point import SweepPoint
from ivita.sweep.runner import run_sweep

distributed = pytest.importorskip("dask.distributed",
                                  reason="dask[distributed] is not installed (the test extra "
                                         "installs it)")


@pytest.fixture
def cluster(tmp_path):
    import dask
    with dask.config.set({"temporary-directory": str(tmp_path / "dask")}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      protocol="tcp://", host="127.0.0.1", dashboard_address=None,
                                      local_directory=str(tmp_path / "dask")) as c:
            yield c


def test_sweep_on_a_local_dask_cluster(cluster, tmp_path):
    opts = {"accuracy": "block", "k": 197}
    pts = [SweepPoint(a_bits=a, w_bits=w, rows=2, cols=2, stages=("accuracy", "throughput"),
                      options=opts) for a in (2, 3, 4, 5) for w in (2, 4)]
    db = tmp_path / "r.sqlite"
    s = run_sweep(pts, db_path=db, executor="dask", scheduler=cluster.scheduler_address)
    assert (s.computed, s.failed) == (8, 0)
    with ResultsDB(db) as d:
        rows = d.points()
        run = d.runs()[0]
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
    assert json.loads(run["config"])["versions"]["throughput"].startswith("v")
    # which worker ran what: every point carries its stage values
    assert all(r["block_rel_l2"] is not None and r["gmacs_ref"] is not None for r in rows)
    # and the rerun on the cluster reuses all of them
    s2 = run_sweep(pts, db_path=db, executor="dask", scheduler=cluster.scheduler_address)
    assert (s2.computed, s2.reused) == (0, 8)


def test_unreachable_scheduler():
    with pytest.raises(ExecutorUnavailable, match=r"--scheduler tcp://127.0.0.1:9: cannot"):
        with open_executor("dask", scheduler="tcp://127.0.0.1:9", connect_timeout=1):
            pass


def test_dask_missing_message(monkeypatch):
    import builtins
    real = builtins.__import__

    def fake(name, *a, **kw):
        if name.startswith("dask"):
            raise ImportError("no dask")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ExecutorUnavailable, match=r"pip install -e \"\.\[dask\]\""):
        with open_executor("dask", scheduler="tcp://127.0.0.1:8786"):
            pass
