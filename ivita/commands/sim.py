"""``ivita sim UNIT``: run a unit's bench bit-exact against the reference model.

``UNIT`` is a name from :data:`ivita.sim.registry.UNITS` (``array``, ``requant``, ...) or
``attention``, the whole attention block through its host bus
(:mod:`ivita.commands.sim_attention`). The
unit's own options (shapes, widths) come from its TB class and are parsed only once the unit is
known, so listing the units imports no bench and a broken bench only breaks its own unit.
``ivita sim UNIT --help`` lists them. A thin wrapper over :func:`ivita.sim.bench.run_bench`.

Exit status: 0 when every element matched; 1 on any mismatch, timeout, stream-rule violation
or failed build (the first mismatching element is printed with its coordinates and the seed)
and on an internal error (traceback); 2 for invalid options (the message names the flag and
its range); 3 when the simulator is not installed; 130 when interrupted (Ctrl-C).

The run directory (Verilog, sidecar, vectors, logs, heartbeat) is a temporary folder that is
removed after the run, unless ``--keep`` is given, waves were asked for or the bench failed:
then its path is printed. Progress (the run's size, then a counter) goes to stderr when stderr
is a terminal or with ``--progress``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ._common import (EXIT_FAIL, EXIT_NO_TOOL, EXIT_USAGE, add_int, add_prob,
                      add_progress_options, add_seed, available_memory, progress_wanted)

__all__ = ["register", "add_run_options", "unit_parser", "run", "run_and_report", "main"]

EXIT_MISMATCH, EXIT_NO_SIMULATOR = EXIT_FAIL, EXIT_NO_TOOL
MAX_CYCLES = 1 << 40
#: the attention block's bench (``ivita.commands.sim_attention``), next to the registry's units
ATTENTION = "attention"


def register(subparsers: Any) -> None:
    """Add ``sim`` to the ``ivita`` subcommands."""
    from ivita.sim.registry import units

    names = [*units(), ATTENTION]
    p = subparsers.add_parser(
        "sim", help="run a unit's bench (cocotb on Icarus/Verilator, or amaranth.sim)",
        description="Run a unit's bench bit-exact against ivita.model: random and corner "
                    "vectors, random stalls on both stream sides, first mismatch reported with "
                    "its coordinates and the seed.",
        epilog=f"units: {', '.join(names)}. Options of a unit: ivita sim UNIT --help",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("unit", metavar="UNIT", choices=names,
                   help=f"the unit to bench: {', '.join(names)}")
    p.add_argument("unit_args", nargs=argparse.REMAINDER, metavar="...",
                   help="the unit's options (see ivita sim UNIT --help)")
    p.set_defaults(func=run)


def add_run_options(g: Any, *, stalls: bool = True,
                    max_cycles_default: str = "from the beat count",
                    seed_help: str = "seed of vectors and stalls") -> None:
    """The run options every ``ivita sim`` bench takes (``stalls``: the stream stall options,
    which only the stream benches have)."""
    from ivita.sim.bench import SIMULATORS

    bulk = stalls        # the bulk mode exists for the stream benches (sim/bulk.py)
    g.add_argument("--simulator", choices=SIMULATORS, default=None if bulk else "icarus",
                   help="icarus or verilator (cocotb on the generated Verilog) or amaranth "
                        "(amaranth.sim); default icarus" + (" (verilator with --bulk)" if bulk
                                                            else ""))
    add_seed(g, default=1, help=seed_help)
    if stalls:
        add_prob(g, "--stall", default=0.0,
                 help="probability of an idle input cycle and of back-pressure on the output")
        add_prob(g, "--stall-in", help="input idle probability", default_text="--stall")
        add_prob(g, "--stall-out", help="output back-pressure probability",
                 default_text="--stall")
    g.add_argument("--waves", action="store_true", default=None,
                   help="write waves (Icarus FST, Verilator VCD, amaranth VCD); also IVITA_WAVES=1")
    g.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    g.add_argument("--out", metavar="DIR",
                   help="run in DIR and keep Verilog, sidecar, vectors, logs and waves there")
    g.add_argument("--keep", action="store_true",
                   help="keep the temporary run directory (its path is printed); without it "
                        "the folder is removed unless the bench failed")
    g.add_argument("--build-dir", metavar="DIR",
                   help="simulator build cache (default $IVITA_SIM_BUILD or ~/.cache/ivita/sim)")
    add_int(g, "--max-cycles", lo=1, hi=MAX_CYCLES, help="cycle budget",
            default_text=max_cycles_default)
    g.add_argument("--corrupt-expected", action="store_true",
                   help="change one expected value on purpose: the run must fail (self-check)")
    if bulk:
        add_int(g, "--bulk", lo=1, hi=10**9, metavar="N",
                help="bulk check: N random vectors through the compiled bench (sim/bulk_tb.v, no "
                     "Python in the loop), compared with the model afterwards (ivita.sim.bulk); "
                     "the unit's count option (--tiles / --rows) is replaced by N",
                default_text="off")
        g.add_argument("--exact-pe", action="store_true",
                       help="with --bulk on Verilator: simulate the PEs' Booth multipliers as "
                            "they are, not their word-level form proven equal to them (the "
                            "default, which is faster)")
    add_progress_options(g)


def unit_parser(unit: str, tb_cls: Any) -> argparse.ArgumentParser:
    """The option parser of one unit: run options plus the TB's own."""
    parser = argparse.ArgumentParser(prog=f"ivita sim {unit}", description=tb_cls.summary)
    add_run_options(parser.add_argument_group("run"))
    tb_cls.add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Entry of ``ivita sim``: parse the unit's options, run the bench, print the verdict."""
    from ivita.sim.bench import run_bench
    from ivita.sim.progress import Progress
    from ivita.sim.registry import get_tb

    if args.unit == ATTENTION:     # the whole block through its bus, not a stream unit
        from .sim_attention import run_attention_cli
        return run_attention_cli(args.unit_args)
    try:
        tb_cls = get_tb(args.unit)
    except Exception as e:  # an import error in one bench module must not look like a crash
        print(f"ivita sim: cannot load the bench of {args.unit!r}: {type(e).__name__}: {e}",
              file=sys.stderr)
        return EXIT_USAGE
    parser = unit_parser(args.unit, tb_cls)
    ns = parser.parse_args(args.unit_args)
    try:
        tb = tb_cls.from_args(ns)
    except (ValueError, TypeError) as e:    # UsageError names the flags; a config error too
        parser.error(str(e))
    stall_in = ns.stall_in if ns.stall_in is not None else ns.stall
    stall_out = ns.stall_out if ns.stall_out is not None else ns.stall
    if ns.bulk is not None:
        from ._sim_bulk import run_bulk
        return run_bulk(args.unit, tb, ns, parser, stall_in=stall_in, stall_out=stall_out)
    if getattr(ns, "exact_pe", False):
        parser.error("--exact-pe only applies to --bulk (the cocotb benches always simulate "
                     "the design as emitted)")
    ns.simulator = ns.simulator or "icarus"
    planned = tb.planned_size(stall_in=stall_in, stall_out=stall_out)
    avail = available_memory()
    if planned is not None and avail is not None and planned.vector_bytes > avail:
        parser.error(f"the run does not fit this machine: {planned.text()}, but only "
                     f"{avail / 1e6:,.0f} MB of memory is available; reduce the run's size "
                     f"options")
    progress = Progress(sys.stderr, prog=f"ivita sim {args.unit}") \
        if progress_wanted(ns.progress) else None
    return run_and_report(ns, args.unit, lambda: run_bench(
        tb, simulator=ns.simulator, seed=ns.seed, stall_in=stall_in, stall_out=stall_out,
        waves=ns.waves, work_dir=ns.out, build_root=ns.build_dir,
        corrupt_expected=ns.corrupt_expected, max_cycles=ns.max_cycles, keep=ns.keep,
        progress=progress))


def run_and_report(ns: argparse.Namespace, unit: str, run: Any,
                   fail_fields: dict[str, Any] | None = None) -> int:
    """Run a bench (``run()`` returns a result with ``passed``, ``as_dict()``,
    ``summary_text()`` and ``run_dir``) and print its verdict the way every ``ivita sim``
    bench does: exit 3 when the simulator is missing; 1 and the kept run folder when the
    simulator build fails (``fail_fields`` are added to that JSON object) or the check fails;
    0 when it passes."""
    from ivita.sim.bench import json_default
    from ivita.sim.runner import SimulatorMissing
    try:
        res = run()
    except SimulatorMissing as e:
        print(f"ivita sim: {e}", file=sys.stderr)
        return EXIT_NO_SIMULATOR
    except RuntimeError as e:  # a failed simulator build
        kept = getattr(e, "kept_dir", None)
        if ns.json:
            print(json.dumps({"unit": unit, "simulator": ns.simulator, "seed": ns.seed,
                              "passed": False, **(fail_fields or {}), "errors": [str(e)],
                              "run_dir": str(kept) if kept else None}))
        else:
            print(f"ivita sim: {e}", file=sys.stderr)
            if kept:
                print(f"run directory: {kept}", file=sys.stderr)
        return EXIT_MISMATCH
    if ns.json:
        print(json.dumps(res.as_dict(), default=json_default))
    else:
        print(res.summary_text())
        if res.passed and res.run_dir is not None:
            print(f"run directory (kept): {res.run_dir}")
    return 0 if res.passed else EXIT_MISMATCH


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ivita.commands.sim UNIT ...`` (same as ``ivita sim``, same conventions)."""
    from ivita.cli import main as cli_main
    return cli_main(["sim", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
