"""``ivita build --board B``: the board top's Vivado project, and the bitstream with Vivado.

Writes the build tree of :func:`ivita.fpga.board.write_board_plan` (Verilog, XDC with the
amaranth-boards pins and the clock period, Tcl ending in ``write_bitstream``, build script)
into ``--out`` (default ``build/<board>``). With ``vivado`` on PATH (and no ``--no-run``) it
runs it and prints the bitstream path and the parsed utilization and timing; without Vivado
it says so and prints the command (exit 3). ``--reports DIR`` reads a finished build.
``--core accel`` (default) is ``ivita.hw.accel.AcceleratorUART``; ``--core testdevice`` the
host test device (bring-up of the UART link without the block).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_board_options", "run_board"]

EXIT_FAIL, EXIT_NO_VIVADO = 1, 3
CORES = ("accel", "testdevice")


def add_board_options(p: argparse.ArgumentParser) -> None:
    """``--core`` and ``--baud`` of the board build."""
    p.add_argument("--core", choices=CORES, default="accel",
                   help="board build: the core behind the UART (default accel: the "
                        "accelerator; testdevice: the host test device)")
    p.add_argument("--baud", metavar="N", default="115200",
                   help="board build: UART baud rate (default 115200)")


def _core(name: str) -> Any:
    from ivita.fpga.top import accelerator_core, hostdevice_core
    return accelerator_core if name == "accel" else hostdevice_core()


def _report(res: Any, as_json: bool, bitstream: Path | None) -> None:
    import json
    if as_json:
        d = res.as_dict()
        d["bitstream"] = None if bitstream is None else str(bitstream)
        print(json.dumps(d))
        return
    t = res.total
    if bitstream is not None:
        print(f"bitstream: {bitstream}")
    print(f"{res.source}: {t.lut} LUT, {t.ff} FF, {t.dsp48e1} DSP48E1, {t.bram36:g} RAMB36")
    if res.vivado_timing is not None:
        print(res.vivado_timing.summary())


def run_board(args: argparse.Namespace) -> int:
    """Entry of ``ivita build --board B`` (no ``--unit``)."""
    from ivita.fpga.board import board_reports, run_board_plan, write_board_plan
    from ivita.fpga.vivado import vivado_path
    from ivita.fpga.vivado_reports import ReportError

    parser = args._parser
    if args.clock is not None:
        parser.error(f"--clock {args.clock}: the board build runs at the board's clock; "
                     f"--clock is for --unit builds")
    if args.reports:
        try:
            _report(board_reports(args.reports), args.json, None)
        except (ReportError, OSError) as e:
            print(f"ivita build: --reports {args.reports}: {e}", file=sys.stderr)
            return EXIT_FAIL
        return 0
    try:
        baud = int(args.baud)
    except ValueError:
        parser.error(f"--baud {args.baud}: must be a positive integer")
    out = Path(args.out or Path("build") / args.board)
    try:
        plan = write_board_plan(args.board, out, core=_core(args.core), baud=baud)
    except ValueError as e:
        parser.error(f"--baud {args.baud}: {e}")
    except ImportError as e:
        print(f"ivita build: {e}", file=sys.stderr)
        return EXIT_FAIL
    print(f"ivita build: wrote {plan.tcl} and {plan.xdc} ({args.board}, {plan.part}, "
          f"{plan.clk_hz / 1e6:g} MHz, UART {baud} baud = {plan.divisor} clocks per bit, "
          f"core {args.core})", file=sys.stderr)
    if args.no_run:
        print(f"run it with: {plan.command_text()}", file=sys.stderr)
        return 0
    if vivado_path() is None:
        print(f"ivita build: vivado is not on PATH, so the build was not run and there is no "
              f"bitstream. The project is in {out}; run it with: {plan.command_text()}\n"
              f"(it writes {plan.bitstream}); then read its reports with: ivita build --board "
              f"{args.board} --reports {out}", file=sys.stderr)
        return EXIT_NO_VIVADO
    try:
        print("ivita build: running vivado (this takes minutes) ...", file=sys.stderr)
        proc = run_board_plan(plan)
    except KeyboardInterrupt:
        print("ivita build: interrupted", file=sys.stderr)
        return 130
    if proc.returncode != 0 or not plan.bitstream.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        print(f"ivita build: vivado failed (exit {proc.returncode}"
              f"{'' if plan.bitstream.is_file() else ', no bitstream'}); see "
              f"{out}/{plan.name}.log\n{tail}", file=sys.stderr)
        return EXIT_FAIL
    try:
        res = board_reports(plan)
    except ReportError as e:
        print(f"ivita build: bitstream {plan.bitstream}; reading the reports in {out}: {e}",
              file=sys.stderr)
        return EXIT_FAIL
    _report(res, args.json, plan.bitstream)
    return 0
