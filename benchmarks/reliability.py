#!/usr/bin/env python3
"""The reliability matrix: every unit x every operand width, bulk-checked bit-exact.

For each unit and width it runs :func:`ivita.sim.bulk.bulk_check` (vectors and a seeded
stall pattern in memory files, Verilator without Python in the loop, outputs compared with
``ivita.model`` afterwards with ``==``) and prints one table row as soon as it finishes:
vectors, elements compared, mismatches, cycles, the simulator's cycles per second (wall and
CPU), and the whole row's wall time. Exits 1 if any row has a mismatch or an error.

The configuration of each unit is :data:`MATRIX` (the width sets ``bits``); what a vector is
per unit is documented in ``ivita.sim.bulk_units``. Stalls: 25 % idle input cycles and 25 %
output back-pressure unless ``--stall-in``/``--stall-out`` say otherwise.

Usage::

    nice python benchmarks/reliability.py                    # 5 units x widths 2..8, 1e5 each
    python benchmarks/reliability.py --units array requant --widths 4 8 --vectors 1000
    python benchmarks/reliability.py --json results.json     # also the rows as JSON
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any

from ivita.sim.bulk import BULK_SIMULATORS, bulk_check

#: per unit: the options of its bench besides ``bits`` (see ``ivita sim UNIT --help``)
MATRIX: dict[str, dict[str, Any]] = {
    "array": {"rows": 8, "cols": 8, "k": 16},
    "requant": {"lanes": 8, "k": 16},
    "softmax": {"max_tokens": 16},
    "gelu": {"tokens": 8},
    "layernorm": {"channels": 8},
}

HEADER = (f"{'unit':<10} {'bits':>4} {'vectors':>9} {'elements':>11} {'mism.':>5} "
          f"{'cycles':>11} {'cycles/s':>10} {'cyc/CPU-s':>10} {'wall s':>7}  verdict")


def row_text(unit: str, bits: int, r: Any) -> str:
    cpu = r.cycles_per_cpu_s or 0.0
    verdict = "PASS" if r.passed else "FAIL: " + (
        r.first_mismatch["message"] if r.first_mismatch else "; ".join(r.errors)[:200])
    return (f"{unit:<10} {bits:>4} {r.vectors:>9,} {r.elements_checked:>11,} {r.mismatches:>5} "
            f"{r.cycles:>11,} {r.cycles_per_s:>10,.0f} {cpu:>10,.0f} {r.wall_s:>7.1f}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--units", nargs="+", choices=list(MATRIX), default=list(MATRIX))
    p.add_argument("--widths", nargs="+", type=int, default=list(range(2, 9)),
                   help="operand widths (default 2..8)")
    p.add_argument("--vectors", type=int, default=100_000, help="vectors per unit per width")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--simulator", choices=BULK_SIMULATORS, default="verilator")
    p.add_argument("--stall-in", type=float, default=0.25)
    p.add_argument("--stall-out", type=float, default=0.25)
    p.add_argument("--build-dir", help="build cache (default $IVITA_SIM_BUILD or ~/.cache)")
    p.add_argument("--json", metavar="FILE", help="also write the rows to FILE as JSON")
    args = p.parse_args(argv)
    bad = [w for w in args.widths if not 2 <= w <= 8]
    if bad or args.vectors < 1:
        p.error(f"--widths must be in 2..8 (got {bad}) and --vectors at least 1")
    print(f"# reliability matrix: {args.vectors:,} vectors per unit per width, seed {args.seed}, "
          f"{args.simulator}, stall in {args.stall_in} / out {args.stall_out}; "
          f"{platform.node()}, {platform.processor() or platform.machine()}", flush=True)
    print(HEADER, flush=True)
    rows: list[dict[str, Any]] = []
    failed = 0
    t0 = time.perf_counter()
    for unit in args.units:
        for bits in args.widths:
            try:
                r = bulk_check(unit, n_vectors=args.vectors, seed=args.seed,
                               simulator=args.simulator, stall_in=args.stall_in,
                               stall_out=args.stall_out, build_root=args.build_dir,
                               bits=bits, **MATRIX[unit])
            except (RuntimeError, ValueError) as e:
                failed += 1
                print(f"{unit:<10} {bits:>4}  ERROR: {e}", flush=True)
                rows.append({"unit": unit, "bits": bits, "passed": False, "errors": [str(e)]})
                continue
            failed += not r.passed
            print(row_text(unit, bits, r), flush=True)
            rows.append({"unit": unit, "bits": bits, **r.as_dict()})
    total = time.perf_counter() - t0
    print(f"# {len(rows)} rows, {failed} failed, {sum(r.get('mismatches') or 0 for r in rows)} "
          f"mismatches; total wall time {total:,.0f} s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "total_s": total, "argv": sys.argv[1:]}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
