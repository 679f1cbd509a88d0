#!/usr/bin/env python3
"""Measure the systolic array: cycles of an M x K x N product, PE utilisation, sim speed.

A script that prints measured numbers (not a test). For each simulator it streams one
``M x K x N`` product through a ``rows x cols`` array (``ivita sim array --m M --n N``: the
product is tiled over the array, tiles back to back, no stalls), checks every element against
the model (a wrong result makes the script exit 1), and reports:

- ``cycles``: from the first input beat accepted to the last output beat, against the ideal
  ``M*K*N / (rows*cols)`` (one MAC per PE per cycle, no fill or drain);
- ``utilisation``: steady-state PE utilisation = input beats accepted per cycle while the
  input streams (every beat keeps all ``rows*cols`` PEs busy), target >= 95 %;
- ``cycles_per_s``: simulated clock cycles per wall-clock second of the bench loop (excluding
  start-up and build), target >= 20k on Verilator for an 8x8 array.

Usage::

    python benchmarks/array_bench.py                       # 8x8, 8 bits, 64 x 197 x 64
    python benchmarks/array_bench.py --simulators verilator --m 128 --n 128 --json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any

from ivita.model import ArrayConfig
from ivita.sim.bench import SIMULATORS, run_bench
from ivita.sim.runner import SimulatorMissing
from ivita.sim.tb_array import ArrayTB


def measure(sim: str, tb: ArrayTB, *, seed: int, build_root: str | None) -> dict[str, Any]:
    """One product on ``sim``: cycles, ideal, utilisation, speed (or the reason it failed)."""
    cfg = tb.config
    assert tb.m is not None and tb.n is not None
    try:
        res = run_bench(tb, simulator=sim, seed=seed, build_root=build_root)
    except SimulatorMissing as e:
        return {"simulator": sim, "skipped": str(e)}
    r = res.result
    ideal = tb.m * tb.k * tb.n / (cfg.rows * cfg.cols)
    beats = res.work["tiles"] * tb.k
    in_span = r["last_in_cycle"] - r["first_in_cycle"] + 1
    return {
        "simulator": sim,
        "passed": res.passed,
        "first_mismatch": r.get("first_mismatch"),
        "errors": r.get("errors", []) + res.errors,
        "tiles": res.work["tiles"],
        "cycles": r["stream_cycles"],
        "ideal_cycles": ideal,
        "efficiency": ideal / r["stream_cycles"],
        "utilisation": beats / in_span,
        "input_cycles": in_span,
        "fill_drain_cycles": r["stream_cycles"] - in_span,
        "sim_cycles": r["cycles"],
        "cycles_per_s": r["cycles_per_s"],
        "sim_wall_s": r["wall_s"],
        "build_cached": res.build_cached,
        "timings": res.timings,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--bits", type=int, default=8, help="operand width (default 8)")
    p.add_argument("--m", type=int, default=64, help="rows of A (default 64)")
    p.add_argument("--k", type=int, default=197, help="reduction length (default 197)")
    p.add_argument("--n", type=int, default=64, help="columns of B (default 64)")
    p.add_argument("--simulators", default="verilator,icarus,amaranth",
                   help="comma-separated, from icarus, verilator, amaranth")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--build-dir", help="simulator build cache (default: the runner's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    sims = [s.strip() for s in args.simulators.split(",") if s.strip()]
    bad = [s for s in sims if s not in SIMULATORS]
    if bad:
        p.error(f"unknown simulators {bad}; choose from {', '.join(SIMULATORS)}")
    try:
        cfg = ArrayConfig(rows=args.rows, cols=args.cols, a_bits=args.bits, b_bits=args.bits,
                          k_max=args.k)
        tb = ArrayTB(config=cfg, k=args.k, m=args.m, n=args.n)
    except (TypeError, ValueError) as e:
        p.error(str(e))
    t0 = time.perf_counter()
    rows = [measure(s, tb, seed=args.seed, build_root=args.build_dir) for s in sims]
    out = {"benchmark": "array", "config": cfg.as_dict(), "m": args.m, "k": args.k,
           "n": args.n, "seed": args.seed, "machine": platform.machine(),
           "python": platform.python_version(), "results": rows,
           "wall_s": time.perf_counter() - t0}
    failed = [r for r in rows if r.get("passed") is False]
    if args.json:
        print(json.dumps(out))
    else:
        print(f"array {cfg.rows}x{cfg.cols}, {args.bits}-bit operands, acc_bits "
              f"{cfg.acc_bits}; product {args.m} x {args.k} x {args.n} "
              f"= {rows[0].get('tiles', '?')} tiles of k={args.k}")
        print(f"{'simulator':<10} {'cycles':>8} {'ideal':>8} {'effic.':>7} {'util.':>7} "
              f"{'fill+drain':>10} {'cycles/s':>10}  check")
        for r in rows:
            if "skipped" in r:
                print(f"{r['simulator']:<10} skipped: {r['skipped']}")
                continue
            print(f"{r['simulator']:<10} {r['cycles']:>8} {r['ideal_cycles']:>8.0f} "
                  f"{100 * r['efficiency']:>6.2f}% {100 * r['utilisation']:>6.2f}% "
                  f"{r['fill_drain_cycles']:>10} {r['cycles_per_s']:>10,.0f}  "
                  f"{'exact' if r['passed'] else 'MISMATCH'}")
        for r in failed:
            fm = r["first_mismatch"]
            print(f"{r['simulator']}: {fm['message'] if fm else '; '.join(r['errors'])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
