"""``ivita sweep``: the bit-width sweep -- the main job (docs/sweep.md).

For every point (operand widths, array shape, and the dequant-first baseline) it runs the
stages ``check`` (bit-exact), ``synth`` (Yosys per PE and total, fit), ``timing`` (Fmax
estimate), ``power`` (per-PE power, energy per MAC; when ``ivita.power`` is installed),
``accuracy`` and ``throughput``; writes every point to an SQLite database with provenance
(a point whose config hash is stored with status ok is reused, so a rerun takes seconds),
then the plots and an HTML and a Markdown report into ``--out``.

Exit status: 0 when every point is ok; 1 when a point failed (recorded, the sweep went on) or
on an internal error; 2 for invalid options; 3 when ``--executor dask`` cannot be used (dask
not installed or the scheduler unreachable); 130 on Ctrl-C (finished points stay stored).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._common import EXIT_FAIL, EXIT_NO_TOOL, EXIT_OK, add_int, add_progress_options, \
    add_seed, progress_wanted

__all__ = ["register", "run", "points_from_args"]

DEFAULT_OUT = "ivita-sweep"


def register(subparsers: Any) -> None:
    """Add ``sweep`` to the ``ivita`` subcommands."""
    from ivita.fpga.parts import BOARDS, DEFAULT_PART
    from ivita.sweep.executor import EXECUTORS
    from ivita.sweep.stages import STAGES

    p = subparsers.add_parser(
        "sweep", help="the main job: bit-width sweep (check, synthesis, timing, power, "
                      "accuracy, throughput) into a results database and a report",
        description="Sweep operand widths (and the dequant-first baseline) over array shapes: "
                    "bit-exact check, Yosys utilization per PE and total with the fit, "
                    "timing estimate, per-PE power, accuracy and throughput per point; results "
                    "in SQLite (resumable), plots, HTML and Markdown report.")
    p.add_argument("--widths", default="2-8",
                   help="equal activation/weight widths: 2-8, 4,8 or 2-4,8; each in 2..16 "
                        "(default 2-8)")
    p.add_argument("--mixed", default="8x4,4x8,6x4",
                   help="mixed ABITSxWBITS pairs, comma-separated, or none (default "
                        "8x4,4x8,6x4)")
    p.add_argument("--no-baseline", action="store_true",
                   help="leave out the dequant-first baseline (8-bit codes, 16-bit PEs)")
    p.add_argument("--shapes", default="4x4",
                   help="array shapes ROWSxCOLS, comma-separated, each 1..32 (default 4x4: an "
                        "8x8 array takes 70-300 s of synthesis per point; docs/sweep.md)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--part", help=f"Spartan-7 part for the fit and power (default "
                                  f"{DEFAULT_PART})")
    g.add_argument("--board", choices=sorted(BOARDS), help="take the part of a board")
    p.add_argument("--freq", type=float, default=100.0, metavar="MHZ",
                   help="reference clock in MHz for power and throughput, 1..1000 (default 100)")
    p.add_argument("--stages", default="all",
                   help=f"all or a comma-separated subset of {', '.join(STAGES)} (default all)")
    p.add_argument("--accuracy", choices=("vit", "block"), default="block",
                   help="accuracy measure: block (the attention block's integer-vs-float "
                        "error, under a second per point; default) or vit (the tiny ViT's "
                        "top-1 on the digits test split, about 30 s per point on an idle core)")
    add_int(p, "--vectors", lo=16, hi=1 << 20, default=256,
            help="sampled input vectors per unit for the bit-exact check")
    p.add_argument("--check-engine", choices=("bench", "icarus", "verilator"), default="bench",
                   help="bit-exact check engine: bench (the unit benches in amaranth.sim, "
                        "Python per cycle: fine for the default few hundred vectors; default) "
                        "or the bulk mode on icarus or verilator (ivita.sim.bulk: vectors in "
                        "memory files, no Python in the loop: for 10^4+ vectors)")
    add_seed(p, default=1, help="seed of the check's vectors and stalls and of the power data")
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                   help=f"report folder: report.html, report.md, PNGs (default {DEFAULT_OUT})")
    p.add_argument("--db", metavar="PATH",
                   help="results database (default OUT/results.sqlite)")
    add_int(p, "--jobs", lo=1, hi=256, default=2, help="local worker processes")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local processes (default) or a Dask cluster (needs --scheduler)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--retry-failed", action=argparse.BooleanOptionalAction, default=True,
                   help="recompute points stored as failed (default yes)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_progress_options(p)
    p.set_defaults(func=run, _parser=p)


def points_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Any]:
    """The sweep's points from the options (usage error, exit 2, naming the flag)."""
    from ivita.fpga.parts import BOARDS, DEFAULT_PART, parse_part
    from ivita.sweep.point import default_points, parse_pairs, parse_shapes, parse_widths
    from ivita.sweep.stages import parse_stages

    if args.executor == "dask" and not args.scheduler:
        parser.error("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
    if args.scheduler and args.executor != "dask":
        parser.error("--scheduler is only used with --executor dask")
    if not 1.0 <= args.freq <= 1000.0:
        parser.error(f"--freq {args.freq:g}: must be in 1..1000 (MHz)")
    part = BOARDS[args.board] if args.board else (args.part or DEFAULT_PART)
    try:
        parse_part(part)
        widths = parse_widths(args.widths)
        mixed = parse_pairs(args.mixed)
        shapes = parse_shapes(args.shapes)
        stages = parse_stages(args.stages)
    except ValueError as e:
        msg = str(e)
        parser.error(msg if msg.startswith("--") else f"--part {part}: {msg}")
    opts = {"accuracy": args.accuracy, "check_vectors": args.vectors, "seed": args.seed,
            "k": 197, "check_engine": args.check_engine}
    return default_points(widths=widths, mixed=mixed, shapes=shapes,
                          baseline=not args.no_baseline, part=part, freq_hz=args.freq * 1e6,
                          stages=stages, options=opts)


def run(args: argparse.Namespace) -> int:
    """Entry of ``ivita sweep``."""
    from ivita.sweep.db import ResultsDB
    from ivita.sweep.executor import ExecutorUnavailable
    from ivita.sweep.progress import SweepProgress
    from ivita.sweep.report import write_reports
    from ivita.sweep.runner import run_sweep

    parser = args._parser
    points = points_from_args(parser, args)
    out = Path(args.out)
    db_path = Path(args.db) if args.db else out / "results.sqlite"
    show = progress_wanted(args.progress)
    prog = SweepProgress(len(points)) if show else None
    if prog:
        prog.start(f"{len(points)} points, stages {','.join(points[0].stages)}, "
                   f"{args.executor} executor ({args.jobs} jobs), database {db_path}")
    config = {k: v for k, v in vars(args).items() if not k.startswith("_") and k != "func"}
    try:
        summary = run_sweep(points, db_path=db_path, executor=args.executor, jobs=args.jobs,
                            scheduler=args.scheduler, config=config, progress=prog,
                            retry_failed=args.retry_failed)
    except ExecutorUnavailable as e:
        print(f"ivita sweep: {e}", file=sys.stderr)
        return EXIT_NO_TOOL
    with ResultsDB(db_path) as db:
        rows = db.points(run_id=summary.run_id)
        run_row = next(r for r in db.runs() if r["run_id"] == summary.run_id)
    paths = write_reports(rows, out, run=run_row)
    if args.json:
        print(json.dumps({**summary.as_dict(), "db": str(db_path),
                          "reports": {k: str(v) for k, v in paths.items()},
                          "points": [{"label": r["label"], "status": r["status"],
                                      "message": r["message"], "config_hash": r["config_hash"]}
                                     for r in rows]}))
    else:
        from ivita.sweep.report import COLUMNS, enrich, stage_notes, table_rows
        heads = [h for _, h, _ in COLUMNS]
        rich = enrich(rows)
        body = table_rows(rich)
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]
        print("  ".join(h.ljust(w) for h, w in zip(heads, widths)))
        for b in body:
            print("  ".join(c.ljust(w) for c, w in zip(b, widths)))
        for r in rows:
            if r["status"] == "failed":
                print(f"FAILED {r['label']}: {r['message']}")
        for note in stage_notes(rich):
            print(f"no numbers: {note}")
        print(f"run {summary.run_id}: {len(summary.hashes)} points, {summary.computed} "
              f"computed, {summary.reused} reused, {summary.failed} failed in "
              f"{summary.wall_s:.1f} s; database {db_path}; report {paths['html']}")
    return EXIT_FAIL if summary.failed else EXIT_OK
