"""The attention-block test matrix and a command that runs it and prints the cycle table.

:data:`MATRIX`: on Verilator every combination of tokens 16 and 64, dim 32 and 64, heads 1 and
2 and code widths a4 w4, a8 w8, a4 w8, a8 w4 (4x4 array; each block built with capacities 64
tokens and 2 heads, so one build per dim and width pair serves all token and head counts);
one small layer on Icarus and one on amaranth.sim. :data:`CI` is the representative subset the
``not slow`` tests run. ``tests/sim/test_attention_bench.py`` runs both.

``python -m ivita.sim.attention_matrix [--simulator S] [--ci] [--json]`` runs the matrix (or
its CI subset) serially, compares every run with the model (``==``) and prints one Markdown
row per run: the layer, the measured cycles, the compute bound ``MACs/(rows*cols)``, the ratio
and the check; exit 1 if any run failed. The table in docs/attention.md was made by it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["MATRIX", "CI", "case_id", "run_one", "main"]

WIDTHS = ((4, 4), (8, 8), (4, 8), (8, 4))


def _entry(sim: str, tokens: int, dim: int, heads: int, a_bits: int, w_bits: int,
           rows: int = 4, max_tokens: int = 64, max_heads: int = 2) -> dict[str, Any]:
    return {"simulator": sim, "tokens": tokens, "dim": dim, "heads": heads, "a_bits": a_bits,
            "w_bits": w_bits, "rows": rows, "max_tokens": max_tokens, "max_heads": max_heads}


#: every configuration of the full matrix (``pytest -m slow``)
MATRIX: list[dict[str, Any]] = [
    *(_entry("verilator", t, d, h, a, w)
      for d, (a, w), t, h in itertools.product((32, 64), WIDTHS, (16, 64), (1, 2))),
    _entry("icarus", 16, 32, 2, 8, 8),
    _entry("amaranth", 8, 16, 2, 4, 8, max_tokens=8),
]

#: the representative subset of the CI tests (``-m "not slow"``): a mixed-width layer on
#: Verilator (its build is one of the matrix's) and a small layer on Icarus; the amaranth.sim
#: path runs in the CLI tests (``tests/sim/test_cli_attention.py``, a 4-token layer on 2x2)
CI: list[dict[str, Any]] = [
    _entry("verilator", 16, 32, 2, 4, 8),
    _entry("icarus", 8, 8, 2, 8, 8, max_tokens=8),
]


def case_id(e: dict[str, Any]) -> str:
    return (f"{e['simulator']}-T{e['tokens']}-D{e['dim']}-H{e['heads']}-a{e['a_bits']}"
            f"w{e['w_bits']}-{e['rows']}x{e['rows']}")


def run_one(e: dict[str, Any], *, seed: int = 1, **kw: Any) -> Any:
    """Build the case of entry ``e`` and run it (:func:`ivita.sim.attention_run.run_attention`)."""
    from .attention_run import make_case, run_attention

    case = make_case(tokens=e["tokens"], dim=e["dim"], heads=e["heads"], a_bits=e["a_bits"],
                     w_bits=e["w_bits"], rows=e["rows"], max_tokens=e["max_tokens"],
                     max_heads=e["max_heads"], seed=seed)
    return run_attention(case, simulator=e["simulator"], **kw)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ivita.sim.attention_matrix",
                                description="Run the attention-block matrix; print cycles.")
    p.add_argument("--simulator", choices=("icarus", "verilator", "amaranth"),
                   help="only the entries of this simulator")
    p.add_argument("--ci", action="store_true", help="the CI subset instead of the matrix")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    ns = p.parse_args(argv)
    entries = [e for e in (CI if ns.ci else MATRIX)
               if ns.simulator in (None, e["simulator"])]
    t_all = time.perf_counter()
    failed = 0
    if not ns.json:
        print("| simulator | tokens | dim | heads | a/w bits | array | cycles | bound "
              "MACs/(rows·cols) | cycles/bound | check | run time |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
    for e in entries:
        t0 = time.perf_counter()
        r = run_one(e, seed=ns.seed)
        failed += not r.passed
        if ns.json:
            print(json.dumps(r.as_dict(), default=str), flush=True)
            continue
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "n/a"
        print(f"| {e['simulator']} | {e['tokens']} | {e['dim']} | {e['heads']} | "
              f"a{e['a_bits']} w{e['w_bits']} | {e['rows']}×{e['rows']} | {r.cycles} | "
              f"{r.bound:g} | {ratio} | {'PASS' if r.passed else 'FAIL'} | "
              f"{time.perf_counter() - t0:.0f} s |", flush=True)
        if not r.passed:
            print(r.summary_text(), file=sys.stderr)
    print(f"{len(entries)} runs, {failed} failed, {time.perf_counter() - t_all:.0f} s",
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
