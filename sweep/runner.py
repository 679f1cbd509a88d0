"""Run a sweep: hash every point, reuse what the database has, compute the rest on an
executor, and write each result as its future completes (the main process is the only writer).
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .db import ResultsDB
from .executor import open_executor
from .point import SweepPoint, config_hash
from .progress import SweepProgress
from .provenance import provenance
from .stages import evaluate_point, now_iso, stage_versions

__all__ = ["SweepSummary", "run_sweep"]


@dataclass
class SweepSummary:
    """What :func:`run_sweep` did: the run id, the hashes it covered, computed/reused/failed
    counts and its wall time."""

    run_id: int
    hashes: list[str] = field(default_factory=list)
    computed: int = 0
    reused: int = 0
    failed: int = 0
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "points": len(self.hashes), "computed": self.computed,
                "reused": self.reused, "failed": self.failed, "wall_s": self.wall_s}


def run_sweep(points: list[SweepPoint], *, db_path: str | Path, executor: str = "local",
              jobs: int = 2, scheduler: str | None = None, config: dict[str, Any] | None = None,
              progress: SweepProgress | None = None, retry_failed: bool = True) -> SweepSummary:
    """Evaluate ``points`` into the database at ``db_path``.

    A point whose config hash is already stored with status ``ok`` is reused, not recomputed
    (also a ``failed`` one when ``retry_failed`` is false). Failed points are recorded with
    their message and the sweep goes on; a worker that dies is recorded as a failure of its
    point. Ctrl-C cancels the pending points, marks the run ``interrupted`` and re-raises.
    """
    t0 = time.monotonic()
    stages = tuple(dict.fromkeys(s for p in points for s in p.stages))
    versions = stage_versions(stages)
    prov = provenance(yosys="synth" in stages or "timing" in stages)
    with ResultsDB(db_path) as db:
        run_id = db.start_run(started_at=now_iso(), prov=prov,
                              config={**(config or {}), "versions": versions})
        summary = SweepSummary(run_id)
        todo: list[tuple[str, SweepPoint, dict[str, Any]]] = []
        for p in points:
            pv = {s: versions[s] for s in p.stages}
            h = config_hash(p, pv)
            if h in summary.hashes:
                continue
            summary.hashes.append(h)
            old = db.get(h)
            if old is not None and (old["status"] == "ok" or not retry_failed):
                db.link(run_id, h, reused=True)
                summary.reused += 1
                summary.failed += old["status"] == "failed"
                if progress:
                    progress.done(p.label, f"reused ({old['status']})")
                continue
            todo.append((h, p, {"point": p.as_dict(), "versions": pv}))
        status = "interrupted"
        try:
            if todo:
                with open_executor(executor, jobs=jobs, scheduler=scheduler) as ex:
                    futs: dict[Future[Any], tuple[str, SweepPoint, dict[str, Any]]] = {
                        ex.submit(evaluate_point, p.as_dict()): (h, p, cfg)
                        for h, p, cfg in todo}
                    pending = set(futs)
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            h, p, cfg = futs[fut]
                            result = _result_of(fut)
                            pd = {**p.as_dict(), "label": p.label}
                            db.put(run_id=run_id, config_hash=h, point=pd, config=cfg,
                                   result=result, prov=prov)
                            summary.computed += 1
                            summary.failed += result["status"] == "failed"
                            if progress:
                                progress.done(p.label, result["status"], result.get("wall_s"))
            status = "done"
        finally:
            db.finish_run(run_id, finished_at=now_iso(), status=status)
    summary.wall_s = round(time.monotonic() - t0, 1)
    return summary


def _result_of(fut: Future[Any]) -> dict[str, Any]:
    try:
        return fut.result()
    except Exception as e:  # the worker died or could not run the point
        t = now_iso()
        return {"status": "failed", "message": f"worker error: {type(e).__name__}: {e}",
                "stages": {}, "started_at": t, "finished_at": t, "wall_s": None}
