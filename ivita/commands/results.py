"""``ivita results``: list, filter and compare the runs and points of a sweep database, and
export them as CSV.

Exit status: 0; 1 on an internal error; 2 for invalid options (a missing database, an unknown
run or column).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from ._common import EXIT_OK

__all__ = ["register", "run", "profile", "CSV_COLUMNS"]

#: CSV columns: the point's identity, status, the metric columns, provenance
CSV_COLUMNS = ("config_hash", "run_id", "label", "a_bits", "w_bits", "rows", "cols", "baseline",
               "part", "freq_hz", "status", "message")
_TAIL = ("git", "started_at", "finished_at", "wall_s")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("results", help="list, filter, compare and export sweep results",
                              description="Read an ivita sweep results database.")
    p.add_argument("--db", metavar="PATH", default="ivita-sweep/results.sqlite",
                   help="results database (default ivita-sweep/results.sqlite)")
    p.add_argument("--runs", action="store_true", help="list the runs (not the points)")
    p.add_argument("--run", type=int, metavar="ID", help="only the points of run ID")
    p.add_argument("--status", choices=("ok", "failed"), help="only points with this status")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                   help="only points whose COLUMN equals VALUE, e.g. a_bits=4 (repeatable)")
    p.add_argument("--compare", nargs=2, type=int, metavar=("RUN_A", "RUN_B"),
                   help="compare the metrics of two runs point by point (by label)")
    p.add_argument("--profile", action="store_true",
                   help="where the time went: seconds per stage summed over the points, and "
                        "the slowest points")
    p.add_argument("--csv", metavar="FILE", help="write the points as CSV to FILE (- = stdout)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run, _parser=p)


def _where(parser: argparse.ArgumentParser, items: list[str]) -> list[tuple[str, str]]:
    out = []
    for it in items:
        col, sep, val = it.partition("=")
        if not sep or not col:
            parser.error(f"--where {it}: must be COLUMN=VALUE, e.g. a_bits=4")
        out.append((col.strip(), val.strip()))
    return out


def _columns() -> list[str]:
    from ivita.sweep.db import METRICS
    return [*CSV_COLUMNS, *METRICS, *_TAIL]


def _compare(db: Any, a: int, b: int) -> list[dict[str, Any]]:
    from ivita.sweep.db import METRICS
    ra = {r["label"]: r for r in db.points(run_id=a)}
    rb = {r["label"]: r for r in db.points(run_id=b)}
    out = []
    for label in sorted(set(ra) | set(rb)):
        x, y = ra.get(label), rb.get(label)
        row: dict[str, Any] = {"label": label, "in": ("both" if x and y else
                                                       f"run {a} only" if x else f"run {b} only")}
        for m in METRICS:
            va, vb = (x or {}).get(m), (y or {}).get(m)
            if va is not None or vb is not None:
                row[m] = [va, vb]
        row["same_config"] = bool(x and y and x["config_hash"] == y["config_hash"])
        out.append(row)
    return out


def profile(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Wall and CPU seconds per stage summed over ``points`` (from each point's stored
    result), the points' summed wall time and the five slowest points."""
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for r in points:
        for name, st in json.loads(r["result"] or "{}").get("stages", {}).items():
            stages[name] = stages.get(name, 0.0) + float(st.get("wall_s") or 0.0)
            cpu[name] = cpu.get(name, 0.0) + float(st.get("cpu_s") or 0.0)
    slow = sorted(((r["label"], float(r["wall_s"] or 0.0)) for r in points),
                  key=lambda x: -x[1])[:5]
    return {"points": len(points), "point_s": sum(float(r["wall_s"] or 0.0) for r in points),
            "stages": stages, "stages_cpu": cpu, "slowest": slow}


def run(args: argparse.Namespace) -> int:
    from ivita.sweep.db import ResultsDB

    parser = args._parser
    if not Path(args.db).is_file():
        parser.error(f"--db {args.db}: no such database (run ivita sweep first)")
    where = _where(parser, args.where)
    with ResultsDB(args.db) as db:
        run_ids = {r["run_id"] for r in db.runs()}
        for rid in ([args.run] if args.run is not None else []) + list(args.compare or []):
            if rid not in run_ids:
                parser.error(f"run {rid} is not in {args.db}; runs: "
                             f"{', '.join(map(str, sorted(run_ids))) or 'none'}")
        if args.runs:
            runs = db.runs()
            if args.json:
                print(json.dumps(runs))
            else:
                for r in runs:
                    print(f"run {r['run_id']}: {r['started_at']} .. {r['finished_at'] or '-'} "
                          f"{r['status']}, {r['n']} points ({r['reused']} reused), git "
                          f"{r['git']}")
            return EXIT_OK
        if args.compare:
            rows = _compare(db, *args.compare)
            if args.json:
                print(json.dumps(rows))
            else:
                a, b = args.compare
                for r in rows:
                    ms = ", ".join(f"{m} {v[0] if v[0] is not None else '-'} -> "
                                   f"{v[1] if v[1] is not None else '-'}"
                                   for m, v in r.items() if isinstance(v, list) and v[0] != v[1])
                    print(f"{r['label']}: {r['in']}"
                          f"{', same config' if r['same_config'] else ''}"
                          f"{'; ' + ms if ms else '; no metric changed'}")
            return EXIT_OK
        try:
            points = db.points(run_id=args.run, status=args.status, where=where)
        except ValueError as e:
            parser.error(str(e))
    if args.profile:
        prof = profile(points)
        if args.json:
            print(json.dumps(prof))
        else:
            total = sum(prof["stages"].values()) or 1.0
            print(f"{prof['points']} points, {prof['point_s']:.1f} s in the points "
                  f"(worker time, summed)")
            print(f"  {'stage':<11}{'wall':>9}  {'share':>7}{'CPU':>9}")
            for name, sec in sorted(prof["stages"].items(), key=lambda kv: -kv[1]):
                print(f"  {name:<11}{sec:9.1f} s{100 * sec / total:6.1f} %"
                      f"{prof['stages_cpu'].get(name, 0.0):9.1f} s")
            for label, sec in prof["slowest"]:
                print(f"  slowest: {label} {sec:.1f} s")
        return EXIT_OK
    cols = _columns()
    if args.csv:
        f = sys.stdout if args.csv == "-" else open(args.csv, "w", newline="")
        try:
            w = csv.writer(f)
            w.writerow(cols)
            for r in points:
                w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
        finally:
            if f is not sys.stdout:
                f.close()
        if args.csv != "-":
            print(f"{len(points)} points written to {args.csv}", file=sys.stderr)
        return EXIT_OK
    if args.json:
        print(json.dumps([{c: r.get(c) for c in cols} for r in points]))
        return EXIT_OK
    for r in points:
        ms = ", ".join(f"{m} {r[m]:.4g}" for m in cols[len(CSV_COLUMNS):-len(_TAIL)]
                       if r.get(m) is not None)
        print(f"{r['label']} [{r['config_hash'][:10]}, run {r['run_id']}]: {r['status']}"
              f"{' (' + r['message'] + ')' if r['message'] else ''}; {ms}")
    print(f"{len(points)} points", file=sys.stderr)
    return EXIT_OK
