#!/usr/bin/env python3
"""Attention block cycles: simulated, predicted by the cycle model, and the compute bound.

A script that prints measured numbers (not a test). Compiles a random quantized attention
layer (``compile_attention``), predicts its cycles with :func:`ivita.sim.cycle_model.
predict_cycles`, and (unless ``--no-sim``) runs it in the Amaranth simulator through the host
bus (``run_block``), checks the output against ``attention_block_trace(...)["out"]`` with ==
(exit 1 on a mismatch or when prediction and simulation differ for a program the model calls
exact) and prints cycles, prediction, the compute bound ``MACs / (rows*cols)``
(:func:`ivita.firmware.cycle_model.compute_bound`) and cycles / bound. ``--sequential``
compiles with ``overlap=False``; ``--breakdown`` prints the predicted dispatch and busy cycles
of every instruction. The default layer (64 tokens, dim 64, 2 heads, 8x8) takes tens of
minutes in the simulator: run it under ``nice``.

Usage::

    nice python benchmarks/attention_cycles.py                        # T=64, D=64, H=2, 8x8
    python benchmarks/attention_cycles.py --tokens 16 --dim 32 --rows 4
    python benchmarks/attention_cycles.py --no-sim --breakdown
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ivita.firmware.compiler import compile_attention
from ivita.firmware.cycle_model import compute_bound
from ivita.hw.attention import AttentionBlock
from ivita.model import (AttentionConfig, attention_block_trace, make_block_input,
                         make_float_block, quantize_block)
from ivita.model.block_config import BlockConfig
from ivita.sim.block_bus_run import run_block
from ivita.sim.cycle_model import predict_cycles


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sequential", action="store_true", help="compile with overlap=False")
    ap.add_argument("--no-sim", action="store_true", help="prediction only")
    ap.add_argument("--breakdown", action="store_true", help="per-instruction prediction")
    a = ap.parse_args()
    lc = AttentionConfig(tokens=a.tokens, dim=a.dim, heads=a.heads)
    params = quantize_block(make_float_block(lc, a.seed), lc, make_block_input(lc, a.seed + 1, 4))
    x = np.clip(np.round(make_block_input(lc, a.seed + 2, 1)[0] / params.scales.x),
                -32768, 32767).astype(np.int64)
    cfg = BlockConfig.for_attention(lc, rows=a.rows)
    cb = compile_attention(params, cfg, x, overlap=not a.sequential)
    est, bound = predict_cycles(cb), compute_bound(cb)
    print(f"layer tokens={a.tokens} dim={a.dim} heads={a.heads}, array {a.rows}x{a.rows}, "
          f"{'sequential' if a.sequential else 'overlapped'} program of {len(cb.program)} "
          f"instructions")
    if a.breakdown:
        print(f"{'pc':>3} {'op':<9} {'dispatch':>8} {'free':>7} {'busy':>6} {'stall':>6}")
        for i in est.instructions:
            print(f"{i.pc:>3} {i.op:<9} {i.dispatch:>8} {i.free:>7} {i.busy:>6} {i.stall:>6}")
    kind = "exact" if est.exact else "lower bound"
    print(f"predicted {est.cycles} cycles ({kind}); compute bound {bound}; "
          f"predicted / bound {est.cycles / bound:.3f}")
    if a.no_sim:
        return 0
    t0 = time.time()
    run = run_block(AttentionBlock(cfg), cb.images, {"R": cb.words_of("out")},
                    max_cycles=4 * est.cycles + 1000)
    wall = time.time() - t0
    ok = bool((cb.unpack("out", run.reads["R"]) == attention_block_trace(x, params)["out"]).all())
    print(f"simulated {run.cycles} cycles (out == trace: {ok}, done={run.done} "
          f"error={run.error}); cycles / bound {run.cycles / bound:.3f}; prediction "
          f"{'==' if est.cycles == run.cycles else '!='} simulation; simulated in {wall:.0f} s")
    return 0 if ok and (run.cycles == est.cycles or not est.exact) else 1


if __name__ == "__main__":
    sys.exit(main())
