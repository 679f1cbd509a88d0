"""``ivita power``: per-PE power **estimates** from gate-level activity of the mapped netlist.

Synthesizes the array (cached), simulates the Yosys xc7 netlist on real attention-layer
operands (or ``--data random``), checks its outputs against the model, and prints a per-PE
table (mW, toggle rate), per unit and total, and the energy per MAC; ``--out DIR`` also writes
``power.json``, ``power_heatmap.png`` and ``activity.saif`` (for ``read_saif`` in the
``ivita build`` Vivado project of the same array). ``--compare`` runs widths 2..8 and the
16-bit dequant-first baseline on the same layer data. ``--calibrate REPORT...`` fits the model
to Vivado ``report_power -hierarchical`` output of this array and saves the calibration
(``--out DIR/calibration.json``), which ``--model FILE`` uses later. Every printed power says
"estimate" and names the model.

Exit status: 0 success; 1 the gate-level outputs differ from the model, or a tool failed;
2 invalid options; 3 a simulator is not installed; 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import (EXIT_FAIL, EXIT_NO_TOOL, EXIT_OK, EXIT_USAGE, add_progress_options,
                      progress_wanted)

__all__ = ["register", "main", "run"]

UNITS = ("array",)
COMPARE_BITS = (2, 3, 4, 5, 6, 7, 8)


def _int(parser: argparse.ArgumentParser, flag: str, text: str | None, lo: int, hi: int,
         default: int | None) -> int | None:
    """:func:`ivita.commands.synth.int_flag` with a default for an absent option."""
    from .synth import int_flag
    v = int_flag(parser, flag, text, lo, hi)
    return default if v is None else v


def _add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--unit", default="array",
                   help="unit to analyse (only 'array', the systolic array of PEs, for now)")
    p.add_argument("--rows", metavar="N", help="array rows (1..32; default 8)")
    p.add_argument("--cols", metavar="N", help="array columns (1..32; default 8)")
    p.add_argument("--bits", metavar="N", help="operand width of activations and weights "
                                               "(2..16; default 4)")
    p.add_argument("--a-bits", metavar="N", help="activation width (default --bits)")
    p.add_argument("--w-bits", metavar="N", help="weight width (default --bits)")
    p.add_argument("--freq", metavar="MHZ", default="100",
                   help="clock frequency in MHz (1..1000; default 100)")
    p.add_argument("--data", default="attention",
                   help="operands: attention (an attention layer's X·W, Q·Kᵀ, P·V tiles; "
                        "default) or random (uniform codes, a labelled extra)")
    p.add_argument("--baseline", metavar="KIND",
                   help="dequant-first: the 16-bit dequantize-first PE array on the same data")
    p.add_argument("--compare", action="store_true",
                   help="widths 2..8 and the dequant-first baseline on the same layer data")
    p.add_argument("--part", default="xc7s50-1", help="Spartan-7 part (default xc7s50-1)")
    p.add_argument("--seed", metavar="N", default="0", help="data seed (default 0)")
    p.add_argument("--beats", metavar="N", default="512",
                   help="input beats per matmul kind (X·W, Q·Kᵀ, P·V; 16..21845; default 512)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="gate-level simulator (default verilator; icarus only for tiny arrays)")
    p.add_argument("--model", metavar="FILE",
                   help="power model or calibration file (default: the shipped coefficients)")
    p.add_argument("--calibrate", metavar="REPORT", nargs="+",
                   help="fit the model to Vivado report_power -hierarchical output of this "
                        "array (run with the SAIF of the same options); saves "
                        "calibration.json in --out")
    p.add_argument("--out", metavar="DIR",
                   help="write power.json, power_heatmap.png and activity.saif here")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_progress_options(p)


def register(sub: Any) -> None:
    p = sub.add_parser("power", help="per-PE power estimates from gate-level activity",
                       description=__doc__.split("\n\n")[0].replace("``", "'")
                       .replace("**", ""))
    _add_args(p)
    p.set_defaults(func=lambda a: run(a, p))


def _options(parser: argparse.ArgumentParser, a: argparse.Namespace) -> dict[str, Any]:
    if a.unit not in UNITS:
        parser.error(f"--unit {a.unit}: must be one of {', '.join(UNITS)}")
    if a.data not in ("attention", "random"):
        parser.error(f"--data {a.data}: must be one of attention, random")
    if a.baseline is not None and a.baseline != "dequant-first":
        parser.error(f"--baseline {a.baseline}: must be dequant-first")
    if a.compare and (a.baseline or a.calibrate):
        parser.error("--compare runs the baseline itself; it takes no --baseline/--calibrate")
    rows = _int(parser, "--rows", a.rows, 1, 32, 8)
    cols = _int(parser, "--cols", a.cols, 1, 32, 8)
    bits = _int(parser, "--bits", a.bits, 2, 16, 4)
    try:
        freq = float(a.freq)
    except ValueError:
        parser.error(f"--freq {a.freq}: must be a number of MHz in 1..1000")
    if not 1 <= freq <= 1000:
        parser.error(f"--freq {a.freq}: must be in 1..1000 MHz")
    from ivita.fpga.parts import parse_part
    try:
        parse_part(a.part)
    except ValueError as e:
        parser.error(f"--part {a.part}: {e}")
    if a.model is not None and not Path(a.model).is_file():
        parser.error(f"--model {a.model}: no such file")
    for f in a.calibrate or []:
        if not Path(f).is_file():
            parser.error(f"--calibrate {f}: no such file")
    return dict(rows=rows, cols=cols,
                a_bits=_int(parser, "--a-bits", a.a_bits, 2, 16, bits),
                w_bits=_int(parser, "--w-bits", a.w_bits, 2, 16, bits),
                freq_hz=freq * 1e6, data=a.data, baseline=a.baseline == "dequant-first",
                seed=_int(parser, "--seed", a.seed, 0, 2**31 - 1, 0),
                beats=_int(parser, "--beats", a.beats, 16, 21845, 512))


def _table(rep: Any) -> str:
    kind = "dequant-first 16-bit PE" if rep.baseline else f"{rep.a_bits}x{rep.w_bits}-bit PE"
    lines = [f"Power ESTIMATE (model: {rep.model}) — {rep.rows}x{rep.cols} array, {kind}, "
             f"{rep.freq_hz / 1e6:g} MHz, {rep.part}",
             f"data: {rep.data_label}",
             f"activity: {rep.simulator} on the mapped netlist, {rep.cycles} steady-state "
             f"cycles, outputs == model on {rep.tiles_checked} tiles",
             "per PE: estimated mW / toggle rate (toggles per cycle per driven bit)"]
    head = "      " + "".join(f"{'c' + str(c):>15}" for c in range(rep.cols))
    lines.append(head)
    for r in range(rep.rows):
        lines.append(f"r{r:<4} " + "".join(
            f"{rep.per_pe_mw[r, c]:>8.4f}/{rep.toggle_rate[r, c]:<6.3f}"
            for c in range(rep.cols)))
    for unit, mw in rep.units_mw.items():
        lines.append(f"{unit}: {mw:.4f} mW (estimate)")
    lines.append(f"dynamic {rep.dynamic_mw:.4f} mW, static {rep.static_mw:.4f} mW, total "
                 f"{rep.total_mw:.4f} mW (estimate)")
    lines.append(f"mean per PE {rep.per_pe_mw.mean():.4f} mW (estimate); energy per MAC "
                 f"{rep.energy_per_mac_pj:.3f} pJ (estimate, dynamic) over {rep.macs} MACs")
    t = ", ".join(f"{k} {v:.1f} s" for k, v in rep.timings.items())
    lines.append(f"time: {t}")
    return "\n".join(lines)


def run(a: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    opts = _options(parser, a)
    show = progress_wanted(a.progress)
    t0 = time.monotonic()

    def progress(msg: str) -> None:
        if show:
            print(f"[{time.monotonic() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)

    from ivita.power.estimate import GateLevelMismatch
    try:
        if a.compare:
            return _compare(a, opts, progress)
        return _single(a, opts, progress)
    except GateLevelMismatch as e:
        print(f"ivita power: {e}", file=sys.stderr)
        return EXIT_FAIL
    except FileNotFoundError as e:
        print(f"ivita power: {e}", file=sys.stderr)
        return EXIT_NO_TOOL
    except ValueError as e:
        print(f"ivita power: {e}", file=sys.stderr)
        return EXIT_USAGE


def _single(a: argparse.Namespace, opts: dict[str, Any], progress: Any) -> int:
    from ivita.power.estimate import activity_run, report_from_run
    from ivita.power.model import instance_features, load_model

    model = load_model(a.model)
    out = Path(a.out) if a.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    run_ = activity_run(rows=opts["rows"], cols=opts["cols"], a_bits=opts["a_bits"],
                        w_bits=opts["w_bits"], data=opts["data"], baseline=opts["baseline"],
                        seed=opts["seed"], simulator=a.simulator, progress=progress,
                        max_beats=opts["beats"])
    extra: dict[str, Any] = {}
    if a.calibrate:
        from ivita.power.calibrate import calibrate_model, read_reports
        paths, feats, _ = instance_features(run_.netlist, run_.activity,
                                            freq_hz=opts["freq_hz"], vccint_v=model.vccint_v)
        cal = calibrate_model(model, paths, feats, read_reports(a.calibrate),
                              top=run_.netlist.top)
        model = cal.model
        dest = (out or Path(".")) / "calibration.json"
        model.save(dest)
        extra["calibration"] = {"file": str(dest), "scales": cal.scales, "rows": cal.rows,
                                "rms_residual_w": cal.rms_residual_w,
                                "max_rel_error": cal.max_rel_error}
        progress(f"calibration saved to {dest}")
    rep = report_from_run(run_, model, freq_hz=opts["freq_hz"], part=a.part,
                          data=opts["data"], baseline=opts["baseline"], a_bits=opts["a_bits"],
                          w_bits=opts["w_bits"])
    if out:
        from ivita.power.plot import heatmap_png
        from ivita.power.saif import saif_text

        (out / "power.json").write_text(json.dumps(rep.as_dict(), indent=1) + "\n")
        heatmap_png(rep, out / "power_heatmap.png")
        (out / "activity.saif").write_text(saif_text(run_, design=run_.netlist.top))
        extra["files"] = [str(out / n) for n in ("power.json", "power_heatmap.png",
                                                 "activity.saif")]
    if a.json:
        print(json.dumps({**rep.as_dict(), **extra}))
    else:
        print(_table(rep))
        if "calibration" in extra:
            c = extra["calibration"]
            sc = ", ".join(f"{k} x{v:.3g}" if v is not None else f"{k} (not fitted)"
                           for k, v in c["scales"].items())
            print(f"calibration: {c['rows']} instances, scales {sc}; rms residual "
                  f"{c['rms_residual_w'] * 1e3:.4f} mW; saved to {c['file']}")
        for f in extra.get("files", []):
            print(f"wrote {f}")
    return EXIT_OK


def _compare(a: argparse.Namespace, opts: dict[str, Any], progress: Any) -> int:
    from ivita.power.estimate import estimate_power
    from ivita.power.model import load_model

    model = load_model(a.model)
    common = dict(rows=opts["rows"], cols=opts["cols"], freq_hz=opts["freq_hz"],
                  data=opts["data"], part=a.part, seed=opts["seed"], progress=progress,
                  model=model, simulator=a.simulator, max_beats=opts["beats"])
    reps = []
    for b in COMPARE_BITS:
        progress(f"--- {b}-bit integer PE")
        reps.append(estimate_power(a_bits=b, w_bits=b, **common))
    rows: list[dict[str, Any]] = []
    for b in COMPARE_BITS:
        progress(f"--- dequant-first baseline from {b}-bit codes")
        base = estimate_power(a_bits=b, w_bits=b, baseline=True, **common)
        rep = reps[COMPARE_BITS.index(b)]
        rows.append({"bits": b, "pe_mw": float(rep.per_pe_mw.mean()),
                     "energy_per_mac_pj": rep.energy_per_mac_pj,
                     "baseline_pe_mw": float(base.per_pe_mw.mean()),
                     "baseline_energy_per_mac_pj": base.energy_per_mac_pj,
                     "pe_power_ratio": float(rep.per_pe_mw.mean() / base.per_pe_mw.mean()),
                     "toggle_rate": float(rep.toggle_rate.mean()),
                     "baseline_toggle_rate": float(base.toggle_rate.mean())})
    doc = {"estimate": True, "model": model.name, "rows": opts["rows"], "cols": opts["cols"],
           "freq_hz": opts["freq_hz"], "part": a.part, "data": opts["data"], "widths": rows}
    if a.out:
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "compare.json").write_text(json.dumps(doc, indent=1) + "\n")
    if a.json:
        print(json.dumps(doc))
        return EXIT_OK
    print(f"Integerized PE vs 16-bit dequant-first PE — power ESTIMATES (model: {model.name}), "
          f"{opts['rows']}x{opts['cols']} array, {opts['freq_hz'] / 1e6:g} MHz, {a.part}, "
          f"data {opts['data']}")
    print(f"{'bits':>4} {'PE mW':>9} {'pJ/MAC':>8} {'base PE mW':>11} {'base pJ/MAC':>12} "
          f"{'ratio':>6}")
    for r in rows:
        print(f"{r['bits']:>4} {r['pe_mw']:>9.4f} {r['energy_per_mac_pj']:>8.3f} "
              f"{r['baseline_pe_mw']:>11.4f} {r['baseline_energy_per_mac_pj']:>12.3f} "
              f"{r['pe_power_ratio']:>6.3f}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ivita power")
    _add_args(p)
    return run(p.parse_args(argv), p)


