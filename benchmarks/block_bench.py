#!/usr/bin/env python3
"""Measure the AttentionBlock: cycles per instruction of a compiled attention layer.

A script that prints measured numbers (not a test). Builds a random float block, quantizes
it (``quantize_block``), compiles it (``ivita.firmware.compiler``), runs the program in the
Amaranth simulator through the host bus (``ivita.sim.block_bus_run.run_block``), checks the
output against ``attention_block_trace(...)["out"]`` with == (exit 1 on a mismatch) and prints, per
instruction, the cycles (from the controller's ``pc``) against the compute bound
``MACs / (rows*cols)`` of each MATMUL.

Usage::

    python benchmarks/block_bench.py                                 # T=8, D=8, H=2, 4x4
    python benchmarks/block_bench.py --tokens 16 --dim 16 --heads 2 --rows 4
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ivita.firmware.asm import format_instruction
from ivita.firmware.compiler import compile_attention
from ivita.firmware.isa import Op
from ivita.hw.attention import AttentionBlock
from ivita.sim.block_bus_run import run_block
from ivita.model import (AttentionConfig, attention_block_trace, make_block_input,
                         make_float_block, quantize_block)
from ivita.model.block_config import BlockConfig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--dim", type=int, default=8)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    lc = AttentionConfig(tokens=a.tokens, dim=a.dim, heads=a.heads)
    params = quantize_block(make_float_block(lc, a.seed), lc, make_block_input(lc, a.seed + 1, 4))
    x = np.clip(np.round(make_block_input(lc, a.seed + 2, 1)[0] / params.scales.x),
                -32768, 32767).astype(np.int64)
    cfg = BlockConfig.for_attention(lc, rows=a.rows)
    cb = compile_attention(params, cfg, x)
    t0 = time.time()
    run = run_block(AttentionBlock(cfg), cb.images, {"R": cb.words_of("out")})
    wall = time.time() - t0
    ok = (cb.unpack("out", run.reads["R"]) == attention_block_trace(x, params)["out"]).all()
    issued = run.pc_cycles[1:] + [run.wall]      # pc leaves p when p is dispatched
    total_macs = 0
    print(f"layer tokens={a.tokens} dim={a.dim} heads={a.heads}, array {a.rows}x{a.rows}, "
          f"out == trace: {bool(ok)}, status done={run.done} error={run.error}")
    print(f"{'pc':>3} {'issued':>7} {'+cyc':>6} {'bound':>6}  instruction")
    for pc, (op, f) in enumerate(cb.program[:-1]):
        cyc = issued[pc] - (issued[pc - 1] if pc else 0)
        bound = ""
        if op == Op.MATMUL:
            macs = f["row_blocks"] * a.rows * f["col_blocks"] * a.rows * f["k"]
            total_macs += macs
            bound = str(macs // (a.rows * a.rows))
        text = format_instruction(cb.images["prog"][pc])
        print(f"{pc:>3} {issued[pc]:>7} {cyc:>6} {bound:>6}  {text[:84]}")
    print(f"total {run.cycles} cycles; compute bound {total_macs // (a.rows * a.rows)} "
          f"(array MACs incl. padding / (rows*cols)); simulated in {wall:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
