"""The sweep's SQLite results database (one file; schema in docs/sweep.md).

Tables:

- ``runs``: one row per ``ivita sweep`` invocation: ``started_at``/``finished_at`` (UTC ISO
  8601), ``git``, ``tools`` (JSON), ``config`` (JSON: the sweep's options), ``argv``, ``host``,
  ``status`` (``running``/``done``/``interrupted``).
- ``points``: one row per config hash (the latest result of that configuration): the point's
  columns (``label``, ``a_bits``, ``w_bits``, ``rows``, ``cols``, ``baseline``, ``part``,
  ``freq_hz``), ``status`` (``ok``/``failed``), ``message``, ``config`` (JSON, the full point
  and stage versions), ``result`` (JSON, every stage's status, message and values), the
  provenance of the run that computed it (``run_id``, ``git``, ``tools``), ``started_at``,
  ``finished_at``, ``wall_s`` and the headline metrics as columns (:data:`METRICS`).
- ``run_points``: which points each run covered and whether it reused them (``reused``).

Only the main process writes (:class:`ResultsDB` is not shared between processes); each write
is one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["ResultsDB", "METRICS", "metrics_of", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1

#: metric column -> (stage, value key) of a point's result
METRICS: dict[str, tuple[str, str]] = {
    "lut_total": ("synth", "lut_total"),
    "ff_total": ("synth", "ff_total"),
    "lut_per_pe": ("synth", "lut_per_pe"),
    "fits": ("synth", "fits"),
    "fmax_mhz": ("timing", "fmax_mhz"),
    "pe_mw": ("power", "pe_mw_mean"),
    "total_mw": ("power", "total_mw"),
    "energy_per_mac_pj": ("power", "energy_per_mac_pj"),
    "accuracy": ("accuracy", "value"),
    "block_rel_l2": ("accuracy", "block_rel_l2"),
    "gmacs_fmax": ("throughput", "gmacs_fmax"),
    "gmacs_ref": ("throughput", "gmacs_ref"),
}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT,
  status TEXT NOT NULL, git TEXT, tools TEXT, config TEXT, argv TEXT, host TEXT);
CREATE TABLE IF NOT EXISTS points (
  config_hash TEXT PRIMARY KEY, run_id INTEGER REFERENCES runs(run_id), label TEXT NOT NULL,
  a_bits INTEGER, w_bits INTEGER, rows INTEGER, cols INTEGER, baseline INTEGER, part TEXT,
  freq_hz REAL, status TEXT NOT NULL, message TEXT, config TEXT NOT NULL, result TEXT,
  git TEXT, tools TEXT, started_at TEXT, finished_at TEXT, wall_s REAL,
  {", ".join(f"{m} REAL" for m in METRICS)});
CREATE TABLE IF NOT EXISTS run_points (
  run_id INTEGER REFERENCES runs(run_id), config_hash TEXT, reused INTEGER NOT NULL,
  PRIMARY KEY (run_id, config_hash));
"""


def metrics_of(result: dict[str, Any]) -> dict[str, Any]:
    """The headline metric columns of a point result (``None`` where a stage gave none)."""
    out: dict[str, Any] = {}
    for col, (stage, key) in METRICS.items():
        st = result.get("stages", {}).get(stage, {})
        v = st.get("values", {}).get(key) if st.get("status") == "ok" else None
        out[col] = float(v) if isinstance(v, (int, float)) else None
    return out


class ResultsDB:
    """An open results database at ``path`` (created with its schema if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=60)
        self.conn.row_factory = sqlite3.Row
        with self.conn:
            self.conn.executescript(_SCHEMA)
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                              (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs --------------------------------------------------------------------------------

    def start_run(self, *, started_at: str, prov: dict[str, Any], config: dict[str, Any]) -> int:
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO runs (started_at, status, git, tools, config, argv, host) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (started_at, prov.get("git"), json.dumps(prov.get("tools", {})),
                 json.dumps(config, sort_keys=True), json.dumps(prov.get("argv", [])),
                 prov.get("host")))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, *, finished_at: str, status: str) -> None:
        with self.conn:
            self.conn.execute("UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?",
                              (finished_at, status, run_id))

    def runs(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT r.*, (SELECT COUNT(*) FROM run_points p WHERE p.run_id = r.run_id) AS n, "
            "(SELECT COUNT(*) FROM run_points p WHERE p.run_id = r.run_id AND p.reused = 1) "
            "AS reused FROM runs r ORDER BY run_id").fetchall()
        return [dict(r) for r in rows]

    # -- points ------------------------------------------------------------------------------

    def get(self, config_hash: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM points WHERE config_hash = ?",
                                (config_hash,)).fetchone()
        return dict(row) if row else None

    def link(self, run_id: int, config_hash: str, *, reused: bool) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO run_points VALUES (?, ?, ?)",
                              (run_id, config_hash, int(reused)))

    def put(self, *, run_id: int, config_hash: str, point: dict[str, Any],
            config: dict[str, Any], result: dict[str, Any], prov: dict[str, Any]) -> None:
        """Insert or replace the point ``config_hash`` and link it to ``run_id`` (one
        transaction)."""
        cols = {"config_hash": config_hash, "run_id": run_id,
                "label": point["label"], "a_bits": point["a_bits"], "w_bits": point["w_bits"],
                "rows": point["rows"], "cols": point["cols"],
                "baseline": int(point["baseline"]), "part": point["part"],
                "freq_hz": point["freq_hz"], "status": result["status"],
                "message": result.get("message", ""),
                "config": json.dumps(config, sort_keys=True, default=str),
                "result": json.dumps(result, default=str), "git": prov.get("git"),
                "tools": json.dumps(prov.get("tools", {})),
                "started_at": result.get("started_at"), "finished_at": result.get("finished_at"),
                "wall_s": result.get("wall_s"), **metrics_of(result)}
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        with self.conn:
            self.conn.execute(f"INSERT OR REPLACE INTO points ({names}) VALUES ({marks})",
                              tuple(cols.values()))
            self.conn.execute("INSERT OR REPLACE INTO run_points VALUES (?, ?, 0)",
                              (run_id, config_hash))

    def points(self, *, run_id: int | None = None, status: str | None = None,
               where: Iterable[tuple[str, str]] = ()) -> list[dict[str, Any]]:
        """Points (of ``run_id`` if given: computed or reused by it), filtered by ``status``
        and ``(column, value)`` equalities; ordered baseline first, then by widths."""
        sql = "SELECT p.* FROM points p"
        args: list[Any] = []
        conds = []
        if run_id is not None:
            sql += " JOIN run_points rp ON rp.config_hash = p.config_hash"
            conds.append("rp.run_id = ?")
            args.append(run_id)
        if status is not None:
            conds.append("p.status = ?")
            args.append(status)
        valid = self.columns()
        for col, val in where:
            if col not in valid:
                raise ValueError(f"--where {col}={val}: unknown column; columns: "
                                 f"{', '.join(sorted(valid))}")
            conds.append(f"CAST(p.{col} AS TEXT) = ? OR p.{col} = ?")
            args += [val, val]
        if conds:
            sql += " WHERE " + " AND ".join(f"({c})" for c in conds)
        sql += " ORDER BY p.rows, p.cols, p.baseline DESC, p.a_bits, p.w_bits"
        return [dict(r) for r in self.conn.execute(sql, args).fetchall()]

    def columns(self) -> list[str]:
        return [r[1] for r in self.conn.execute("PRAGMA table_info(points)").fetchall()]
