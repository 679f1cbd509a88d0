#!/usr/bin/env python3
"""The shipped tiny ViT with encoder blocks on the simulated AttentionBlock: measured numbers.

A script that prints measured numbers (not a test). Quantizes the shipped tiny ViT at 8 bits
with ``prob_mode="direct"`` (the mode the block implements) on the calibration split
(``quantize_vit``), runs test images through :func:`ivita.sim.vit_run.run_vit_on_block`
(encoder blocks ``0..hw_blocks-1`` on the block in the Amaranth simulator, the rest in the
integer model), compares every tensor read back, the logits and the class with
``int_vit_trace`` using == (exit 1 on a mismatch) and prints, per image, the class, the block's
cycles per encoder block and the wall-clock simulation time.

Usage::

    python benchmarks/vit_block_bench.py                       # 3 images, block 0, 4x4, minmax
    python benchmarks/vit_block_bench.py --images 10 --hw-blocks 2 --rows 8 --method ptq
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ivita.firmware.memory_map import memory_map
from ivita.firmware.mlp_compiler import compile_encoder
from ivita.model import ViTQuantConfig, int_vit_trace, quantize_images, quantize_vit
from ivita.model.digits import load_digits_split, load_tiny_vit
from ivita.sim.vit_run import HW_TENSORS, run_vit_on_block, vit_block_config


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3, help="test images from --first (default 3)")
    ap.add_argument("--first", type=int, default=0, help="first test image (default 0)")
    ap.add_argument("--hw-blocks", type=int, default=1, help="encoder blocks on the block (1..2)")
    ap.add_argument("--rows", type=int, default=4, help="array rows = cols (4 or 8)")
    ap.add_argument("--method", choices=("minmax", "ptq"), default="minmax")
    a = ap.parse_args()
    data = load_digits_split()
    t0 = time.time()
    ivit = quantize_vit(load_tiny_vit(), data.calib_x,
                        ViTQuantConfig(a_bits=8, w_bits=8, prob_mode="direct"), a.method).model
    tq = time.time() - t0
    print(f"tiny ViT, 8 bits, {a.method}/direct (quantize_vit: {tq:.1f} s); encoder blocks "
          f"0..{a.hw_blocks - 1} on a {a.rows}x{a.rows} AttentionBlock (Amaranth simulator), "
          f"the rest in the integer model")
    print(f"{'image':>5} {'label':>5} {'model':>5} {'hw':>3} {'all ==':>6}  "
          f"{'cycles per block':<18} {'sim s':>6}")
    ok_all, total = True, 0.0
    for i in range(a.first, a.first + a.images):
        x = quantize_images(data.test_x[i:i + 1], ivit)
        tr = int_vit_trace(x, ivit)
        t0 = time.time()
        run = run_vit_on_block(x, ivit, hw_blocks=a.hw_blocks, rows=a.rows)
        dt = time.time() - t0
        total += dt
        ok = bool((run.logits == tr["logits"]).all())
        for key, got in run.tensors.items():
            want = tr[key][:, -1] if key.endswith("attn.a") else tr[key]
            ok = ok and bool((got == want).all())
        ok_all = ok_all and ok
        print(f"{i:>5} {int(data.test_y[i]):>5} {int(np.argmax(tr['logits'][0])):>5} "
              f"{int(run.classes[0]):>3} {str(ok):>6}  {str(run.cycles[0]):<18} {dt:>6.1f}")
    cfg = vit_block_config(ivit, rows=a.rows)
    mm = memory_map(cfg)
    x = quantize_images(data.test_x[a.first:a.first + 1], ivit)
    cb = compile_encoder(ivit.attn[0], ivit.mlp[0], cfg, int_vit_trace(x, ivit)["embed"][0])
    writes = sum(len(words) * mm[name].sub_words for name, words in cb.images.items())
    reads = sum(len(cb.words_of(n)) * mm[cb.tensors[n].mem].sub_words for n in HW_TENSORS)
    print(f"host bus per block run (1 cycle per 32-bit access): {writes} write cycles "
          f"(images), {reads} read cycles (checked tensors)")
    print(f"total simulation time {total:.1f} s for {a.images} image(s); all ==: {ok_all}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
