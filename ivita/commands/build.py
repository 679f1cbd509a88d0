"""``ivita build``: out-of-context Vivado builds of one unit, and reading their reports.

``ivita build --unit array --out DIR`` writes a Vivado project (Verilog with the PEs kept as
hierarchy, XDC with the clock, batch Tcl: synthesis, place and route, hierarchical
utilization, timing summary, hierarchical power) and runs it when ``vivado`` is on PATH, then
parses its reports. Without Vivado it says so and prints the command to run.
``ivita build --reports DIR`` turns a finished run's reports into the same result as
``ivita synth``. ``ivita build --board B`` (without ``--unit``) writes the board build of
:mod:`ivita.commands.build_board` (top, UART, pins, bitstream step) instead.

Exit status: 0 done; 1 Vivado failed or its reports are unreadable; 2 invalid options;
3 Vivado is not on PATH (the project is written); 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .synth import add_unit_options, part_choice, summary_text, unit_options

__all__ = ["register", "run", "main"]

EXIT_FAIL, EXIT_USAGE, EXIT_NO_VIVADO = 1, 2, 3


def register(subparsers: Any) -> None:
    """Add ``build`` to the ``ivita`` subcommands."""
    from ivita.fpga.units import UNITS

    p = subparsers.add_parser(
        "build", help="Vivado out-of-context build of a unit (run when vivado is on PATH)",
        description="Write (and with Vivado on PATH, run) an out-of-context Vivado build of "
                    "one unit with per-PE hierarchical utilization, timing and power reports; "
                    "or read a finished run's reports (--reports DIR).")
    p.add_argument("--unit", choices=UNITS,
                   help="default array; without --unit, --board builds the board top")
    p.add_argument("--out", metavar="DIR", help="project folder (default build/<unit>)")
    p.add_argument("--clock", metavar="MHZ",
                   help="target clock in MHz (1..1000; default 250)")
    p.add_argument("--saif", metavar="FILE", help="switching activity for report_power")
    p.add_argument("--saif-strip", metavar="PATH",
                   help="instance path of the unit inside the simulation that wrote the SAIF")
    p.add_argument("--reports", metavar="DIR",
                   help="do not build: parse the reports of a finished run in DIR")
    p.add_argument("--no-run", action="store_true",
                   help="only write the project, even when vivado is on PATH")
    add_unit_options(p)
    from .build_board import add_board_options
    add_board_options(p)
    p.set_defaults(func=run, _parser=p)


def _report(unit_result: Any, part: Any, as_json: bool) -> None:
    from ivita.fpga.synth import SynthReport
    report = SynthReport(part, (unit_result,))
    if as_json:
        print(json.dumps(report.as_dict()))
        return
    print(summary_text(report))
    if unit_result.vivado_timing is not None:
        print(unit_result.vivado_timing.summary())
    if unit_result.power is not None:
        pw = unit_result.power
        print(f"power: {pw.total_w} W on chip ({pw.dynamic_w} W dynamic, confidence "
              f"{pw.confidence or '-'}), {len(pw.hierarchy)} hierarchy rows")


def run(args: argparse.Namespace) -> int:
    """Entry of ``ivita build``."""
    from ivita.fpga.parts import parse_part
    from ivita.fpga.units import build_unit
    from ivita.fpga.vivado import run_plan, vivado_path, write_ooc_plan
    from ivita.fpga.vivado_reports import ReportError, unit_result_from_reports

    parser = args._parser
    if args.board and args.unit is None:
        from .build_board import run_board
        return run_board(args)
    args.unit = args.unit or "array"
    args.clock = "250" if args.clock is None else args.clock
    if args.reports:
        try:
            res = unit_result_from_reports(args.reports, unit=args.unit)
        except (ReportError, OSError) as e:
            print(f"ivita build: --reports {args.reports}: {e}", file=sys.stderr)
            return EXIT_FAIL
        device = res.config.get("device") or ""
        try:
            part = parse_part(device) if device else part_choice(parser, args)
        except ValueError:
            part = part_choice(parser, args)
        _report(res, part, args.json)
        return 0
    try:
        clock = float(args.clock)
    except ValueError:
        parser.error(f"--clock {args.clock}: must be a number in 1..1000 (MHz)")
    if not 1.0 <= clock <= 1000.0:
        parser.error(f"--clock {args.clock}: must be in 1..1000 (MHz)")
    opts = unit_options(parser, args)
    part = part_choice(parser, args)
    if args.saif and not Path(args.saif).is_file():
        parser.error(f"--saif {args.saif}: no such file")
    comp, _cfg = build_unit(args.unit, opts)
    out = Path(args.out or Path("build") / args.unit)
    plan = write_ooc_plan(comp, args.unit, out, part=part, clock_mhz=clock, saif=args.saif,
                          saif_strip=args.saif_strip)
    print(f"ivita build: wrote {plan.tcl} ({args.unit}, {part.full_name}, {clock:g} MHz, "
          f"report depth {plan.hier_depth})", file=sys.stderr)
    if args.no_run:
        print(f"run it with: {plan.command_text()}", file=sys.stderr)
        return 0
    if vivado_path() is None:
        print(f"ivita build: vivado is not on PATH, so the build was not run. The project is "
              f"in {out}; run it with: {plan.command_text()}\n"
              f"then read its reports with: ivita build --unit {args.unit} --reports "
              f"{plan.reports}", file=sys.stderr)
        return EXIT_NO_VIVADO
    try:
        print("ivita build: running vivado (this takes minutes) ...", file=sys.stderr)
        proc = run_plan(plan)
    except KeyboardInterrupt:
        print("ivita build: interrupted", file=sys.stderr)
        return 130
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        print(f"ivita build: vivado failed (exit {proc.returncode}); see {out}/vivado.log\n"
              f"{tail}", file=sys.stderr)
        return EXIT_FAIL
    try:
        res = unit_result_from_reports(plan.reports, unit=args.unit)
    except ReportError as e:
        print(f"ivita build: reading the reports in {plan.reports}: {e}", file=sys.stderr)
        return EXIT_FAIL
    _report(res, part, args.json)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ivita.commands.build ...`` (same as ``ivita build``)."""
    parser = argparse.ArgumentParser(prog="ivita")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["build", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
