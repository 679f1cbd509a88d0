#!/usr/bin/env python3
"""Measured effect of the rounding ``recip_div`` (docs/numerics.md §4.1) on Shiftmax and
ShiftGELU, with the installed ``ivita.model`` (numpy only, about 1 s):

    python benchmarks/recip_rounding.py

Prints (seeded, deterministic):

- Shiftmax row sums of 197 8-bit logits drawn uniformly from a window of ``w + 1`` codes
  (``w = 0``: all equal), for score scales ``S = 1/8`` and ``1/16`` (``x0 = -1/S``), 200 rows
  each, ``n = 15``, ``out_bits = 8``: mean, min and max of the row sum (ideal: 128);
- the mean absolute error of Shiftmax probabilities against float softmax of the real scores
  (rows of 16 and 197 uniform 8-bit scores, ``S = 1/16``), in LSB of ``2^-7``;
- ShiftGELU over every 8-bit input code (``n = 15``, ``sig_bits = 8``) at three input scales:
  max and mean absolute error (real units) against the sigmoid form ``x sigma(1.702 x)`` and the
  erf GELU.

docs/numerics.md records the output for revision 1 (floor) and revision 2 (rounding); the
revision-1 numbers come from running this script with ``model/nonlinear.py`` of revision 1.
"""

from __future__ import annotations

import math

import numpy as np

from ivita.model import gelu_x0, shift_gelu, shiftmax, softmax_x0


def main() -> None:
    rng = np.random.default_rng(0)
    print("Shiftmax, 197 logits from a window of w+1 codes, 200 rows: row sum of 128")
    for S in (1 / 8, 1 / 16):
        for w in (0, 8, 16, 32, 64):
            rows = rng.integers(0, w + 1, size=(200, 197)) - 64
            sums = shiftmax(rows, softmax_x0(S), 15, 8).sum(axis=-1)
            print(f"  S=1/{round(1 / S):<3} w={w:<3} mean {sums.mean():6.1f}  "
                  f"min {int(sums.min()):4d}  max {int(sums.max()):4d}")
    print("Shiftmax vs float softmax, S=1/16, uniform 8-bit scores: mean |error| in LSB")
    for tokens in (16, 197):
        x = rng.integers(-128, 128, size=(200, tokens))
        p = shiftmax(x, softmax_x0(1 / 16), 15, 8) / 128.0
        z = x / 16.0
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        ref = e / e.sum(axis=-1, keepdims=True)
        print(f"  tokens={tokens:<4} mean |P - softmax| = {np.abs(p - ref).mean() * 128:.3f} LSB, "
              f"mean row sum {(p.sum(axis=-1) * 128).mean():.1f}")
    print("ShiftGELU, every 8-bit code: |error| in real units")
    x = np.arange(-128, 128)
    for S in (6 / 128, 1 / 16, 1 / 32):
        out = shift_gelu(x, gelu_x0(S), 15, 8) * S / 128
        xr = x * S
        sig = xr / (1 + np.exp(-1.702 * xr))
        erf = 0.5 * xr * (1 + np.vectorize(math.erf)(xr / math.sqrt(2)))
        print(f"  S={S:.5f} x0={gelu_x0(S)}: vs sigmoid form max {np.abs(out - sig).max():.4f} "
              f"mean {np.abs(out - sig).mean():.5f}; vs erf GELU max "
              f"{np.abs(out - erf).max():.4f} mean {np.abs(out - erf).mean():.5f}")


if __name__ == "__main__":
    main()
