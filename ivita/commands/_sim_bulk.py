"""``ivita sim UNIT --bulk N``: the bulk bit-exact check of a unit (:mod:`ivita.sim.bulk`).

The unit's options configure the bench as for a cocotb run; ``N`` vectors replace its count
option. Runs on Verilator by default (``--simulator icarus`` for small counts; ``amaranth``
is refused), with the run options ``--seed``, ``--stall*``, ``--max-cycles`` (per chunk),
``--build-dir``, ``--out`` (keep the last chunk's memory files there),
``--corrupt-expected``, ``--exact-pe`` (Verilator simulates the Booth PEs as they are, not
their proven word-level form; :mod:`ivita.sim.bulk_view`), ``--json``. Same exit codes as ``ivita sim``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._common import EXIT_FAIL, EXIT_NO_TOOL, progress_wanted

__all__ = ["run_bulk"]


def run_bulk(unit: str, tb: Any, ns: argparse.Namespace, parser: argparse.ArgumentParser, *,
             stall_in: float, stall_out: float) -> int:
    """Run the bulk check ``ns`` asks for; print the verdict; return the exit status."""
    from ivita.sim.bench import json_default
    from ivita.sim.bulk import BULK_SIMULATORS, bulk_check_tb
    from ivita.sim.runner import SimulatorMissing

    simulator = ns.simulator or "verilator"
    if simulator not in BULK_SIMULATORS:
        parser.error(f"--simulator {simulator}: --bulk runs on {' or '.join(BULK_SIMULATORS)}")
    if ns.waves:
        parser.error("--waves is not available with --bulk (rerun the failing chunk's seed "
                     "without --bulk to get waves)")
    say = (lambda text: print(f"ivita sim {unit} --bulk: {text}", file=sys.stderr,
                              flush=True)) if progress_wanted(ns.progress) else None
    try:
        res = bulk_check_tb(tb, n_vectors=ns.bulk, seed=ns.seed, simulator=simulator,
                            stall_in=stall_in, stall_out=stall_out, max_cycles=ns.max_cycles,
                            build_root=ns.build_dir, work_dir=ns.out,
                            corrupt_expected=ns.corrupt_expected, on_progress=say,
                            exact_pe=ns.exact_pe)
    except SimulatorMissing as e:
        print(f"ivita sim: {e}", file=sys.stderr)
        return EXIT_NO_TOOL
    except (KeyError, ValueError) as e:
        parser.error(str(e).strip("'\""))
    except RuntimeError as e:       # a failed build or a simulator that did not finish
        if ns.json:
            print(json.dumps({"unit": unit, "simulator": simulator, "seed": ns.seed,
                              "passed": False, "errors": [str(e)]}))
        else:
            print(f"ivita sim: {e}", file=sys.stderr)
        return EXIT_FAIL
    if ns.json:
        print(json.dumps(res.as_dict(), default=json_default))
    else:
        print(res.summary_text())
    return 0 if res.passed else EXIT_FAIL
