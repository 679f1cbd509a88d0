#!/usr/bin/env python3
"""Measured numbers of the nonlinear units: cycles per row vs row length (Amaranth simulation)
and Yosys xc7 cell counts (``synth_xilinx``, hierarchy kept) at 8-bit.

    python benchmarks/nonlinear_bench.py              # table on stdout (~75 s)
    python benchmarks/nonlinear_bench.py --json       # one JSON object
    python benchmarks/nonlinear_bench.py --no-synth   # simulation only (~10 s)

Cycles: ``rows`` rows of ``N`` elements are offered back to back with ``o_stream`` always
ready. ``latency`` = cycles from a row's last input to its first output (first row; for the
element-wise GELU, from an element's input to its output);
``cycles/row`` = steady-state average distance between consecutive rows' first outputs (the
last half of the rows); ``model`` = the unit's declared ``timing(N)`` (latency, and the
interval times ``N`` for the element-wise GELU), which the tests check against simulation.
Every run is also checked ``==`` against ``ivita.model``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

import numpy as np

from ivita.hw.gelu import ShiftGELU
from ivita.hw.layernorm import IntLayerNorm
from ivita.sim.rows import row_beats, row_mismatch
from ivita.sim.unit_run import run_stream
from ivita.hw.softmax import Shiftmax
from ivita.model import (GeluConfig, LayerNormConfig, SoftmaxConfig, int_layernorm, shift_gelu,
                         shiftmax)

LENGTHS = (1, 16, 64, 197, 256)
X0 = -1234


def _measure(dut, rows, want, n, *, ports=()):
    beats = row_beats(rows, **({"x0": X0} if ports else {}))
    res = run_stream(dut, beats, n_out=sum(len(w) for w in want), ports=ports, seed=0)
    msg = row_mismatch(res.outputs, want)
    if msg:
        raise AssertionError(f"{type(dut).__name__} N={n}: {msg}")
    firsts = [res.out_cycles[r * n] for r in range(len(rows))]
    half = len(rows) // 2
    per_row = (firsts[-1] - firsts[half]) / (len(rows) - 1 - half)
    return {"latency": res.out_cycles[0] - res.in_cycles[n - 1], "cycles_per_row": per_row,
            "element_latency": res.out_cycles[0] - res.in_cycles[0],
            "first_in_to_last_out": res.out_cycles[-1] - res.in_cycles[0] + 1}


def bench_cycles(rows: int = 6, seed: int = 1) -> dict:
    rng = random.Random(seed)
    out: dict[str, list] = {"shiftmax": [], "gelu": [], "layernorm": []}
    for n in LENGTHS:
        data = [[rng.randint(-128, 127) for _ in range(n)] for _ in range(rows)]
        sm = Shiftmax(SoftmaxConfig())
        want = [shiftmax(np.array(r), X0) for r in data]
        m = _measure(sm, data, want, n, ports=("x0",))
        m.pop("element_latency")
        sched = sm.schedule([n] * rows)
        m["model_latency"] = sm.timing(n).latency
        m["model_cycles_per_row"] = sm.timing(n).interval
        m["model_first_out"] = sched[0][2]
        out["shiftmax"].append({"N": n, **m})

        ge = ShiftGELU(GeluConfig())
        want = [[shift_gelu(x, X0) for x in r] for r in data]
        m = _measure(ge, data, want, n, ports=("x0",))
        m["latency"] = m.pop("element_latency")    # element-wise: an element's input to output
        m["model_latency"] = ge.timing().latency
        m["model_cycles_per_row"] = n * ge.timing().interval
        out["gelu"].append({"N": n, **m})

        ln_cfg = LayerNormConfig(in_bits=8, channels=n)
        ln = IntLayerNorm(ln_cfg)
        want = [int_layernorm(np.array(r)) for r in data]
        m = _measure(ln, data, want, n)
        m.pop("element_latency")
        m["model_latency"] = ln.timing().latency
        m["model_cycles_per_row"] = ln.timing().interval
        out["layernorm"].append({"N": n, **m})
    return out


def bench_synth() -> dict:
    from ivita.fpga.synth import synthesize
    units = {
        "shiftmax": (Shiftmax(SoftmaxConfig()), "SoftmaxConfig() (in 8, n 15, out 8, 256 tokens)"),
        "gelu": (ShiftGELU(GeluConfig()), "GeluConfig() (in 8, n 15, sig 8), pipelined divider"),
        "gelu_seq": (ShiftGELU(GeluConfig(), pipelined=False), "GeluConfig(), sequential divider"),
        "layernorm": (IntLayerNorm(LayerNormConfig(in_bits=8, channels=64)),
                      "LayerNormConfig(in_bits=8, channels=64)"),
        "layernorm16": (IntLayerNorm(LayerNormConfig(in_bits=16, channels=768)),
                        "LayerNormConfig(in_bits=16, channels=768)"),
    }
    keys = ("LUT", "FF", "CARRY4", "DSP48E1", "RAMB18E1", "RAMB36E1", "SRL", "LUTRAM",
            "MUXF7", "MUXF8")

    def pick(c) -> dict:
        return dict(zip(keys, (c.lut, c.ff, c.carry4, c.dsp48e1, c.ramb18, c.ramb36, c.srl,
                               c.lutram, c.muxf7, c.muxf8)))
    out = {}
    for name, (dut, desc) in units.items():
        res = synthesize(dut, name, timing=False)
        out[name] = {
            "config": desc,
            "total": pick(res.total),
            "modules": {i.module: pick(i.own) for i in res.instances},
            "seconds": res.wall_s,
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--no-synth", action="store_true", help="skip Yosys")
    ap.add_argument("--rows", type=int, default=6, help="rows per measurement (default 6)")
    args = ap.parse_args(argv)
    result = {"cycles": bench_cycles(args.rows)}
    if not args.no_synth:
        result["synth_xc7"] = bench_synth()
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
        return 0
    print("cycles (Amaranth simulation, o_stream always ready; model = unit's declared timing(N))")
    print(f"{'unit':10} {'N':>4} {'latency':>8} {'(model)':>8} {'cycles/row':>11} {'(model)':>8}")
    for unit, rows in result["cycles"].items():
        for r in rows:
            print(f"{unit:10} {r['N']:4d} {r['latency']:8d} {r['model_latency']:8d} "
                  f"{r['cycles_per_row']:11.1f} {r['model_cycles_per_row']:8.1f}")
    if "synth_xc7" in result:
        print("\nYosys synth_xilinx -family xc7 (hierarchy kept), whole unit:")
        keys = ("LUT", "FF", "CARRY4", "DSP48E1", "RAMB18E1", "RAMB36E1", "SRL", "LUTRAM")
        print(f"{'unit':12} " + " ".join(f"{k:>8}" for k in keys) + "  config")
        for name, r in result["synth_xc7"].items():
            counts = " ".join(f"{r['total'][k]:8d}" for k in keys)
            print(f"{name:12} {counts}  {r['config']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
