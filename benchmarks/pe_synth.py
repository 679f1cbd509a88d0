"""Per-PE area on xc7 as synthesized inside an array, at several operand widths: the Booth-row
PE (LUT fabric) against the ``*`` operator PE with and without DSP48E1 inference.

A script that prints measured numbers (not a test). Source: Yosys ``synth_xilinx -family xc7``
(hierarchy kept, no place and route) through :func:`ivita.fpga.synth.synthesize` on a 2 x 2
:class:`~ivita.hw.array.SystolicArray`; the row is PE ``pe_r0_c0`` (all of its outputs feed a
neighbour, as in the interior of a large array). Accumulators are sized exactly for ``--k``
terms (:func:`ivita.model.required_acc_bits`). ``--baseline`` adds the 16-bit dequant-first PE.

    python benchmarks/pe_synth.py [--bits 2,3,4,5,6,7,8] [--k 197] [--baseline]
                                  [--mappings booth-lut,infer-lut,infer-dsp] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

from ivita.fpga.synth import synthesize
from ivita.hw.array import SystolicArray
from ivita.model.config import ArrayConfig

#: (label, multiplier, nodsp)
MAPPINGS = (("booth, LUT-only", "booth", True), ("infer, LUT-only", "infer", True),
            ("infer, DSP ok", "infer", False))


def measure(bits: int, k: int, multiplier: str, nodsp: bool, dequant_first: bool = False
            ) -> dict:
    cfg = ArrayConfig(rows=2, cols=2, a_bits=bits, b_bits=bits, k_max=k,
                      dequant_first=dequant_first)
    res = synthesize(SystolicArray(cfg, multiplier=multiplier), "array", unit="array",
                     config=cfg.as_dict(), nodsp=nodsp, timing=False,
                     progress=lambda m: print(m, file=sys.stderr))
    pe = res.instance("pe_r0_c0").total
    return {"bits": cfg.pe_a_bits, "acc_bits": cfg.acc_bits, "multiplier": multiplier,
            "nodsp": nodsp, "LUT": pe.lut, "FF": pe.ff, "CARRY4": pe.carry4,
            "DSP48E1": pe.dsp48e1, "max_LUT_any_PE": max(p.total.lut for p in res.pes()),
            "lut_by_size": [pe.lut1, pe.lut2, pe.lut3, pe.lut4, pe.lut5, pe.lut6],
            "source": res.source}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", default="2,3,4,5,6,7,8", help="operand widths (comma-separated)")
    ap.add_argument("--k", type=int, default=197, help="reduction length the accumulator holds")
    ap.add_argument("--baseline", action="store_true", help="add the 16-bit dequant-first PE")
    ap.add_argument("--mappings", default="booth-lut,infer-lut,infer-dsp",
                    help="which of booth-lut, infer-lut, infer-dsp (comma-separated)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    keys = {"booth-lut": MAPPINGS[0], "infer-lut": MAPPINGS[1], "infer-dsp": MAPPINGS[2]}
    maps = [keys[k] for k in args.mappings.split(",")]
    rows = []
    for bits in [int(b) for b in args.bits.split(",")]:
        for label, mult, nodsp in maps:
            rows.append({"mapping": label, **measure(bits, args.k, mult, nodsp)})
    if args.baseline:
        for label, mult, nodsp in maps:
            rows.append({"mapping": label + " (dequant-first)",
                         **measure(16, args.k, mult, nodsp, dequant_first=True)})
    if args.json:
        print(json.dumps({"k": args.k, "rows": rows}))
        return 0
    print(f"per-PE cells inside a 2x2 array (pe_r0_c0), Yosys synth_xilinx -family xc7, "
          f"no place and route, k={args.k}")
    print(f"{'bits':>4} {'acc':>4}  {'mapping':<30}{'LUT':>6}{'FF':>6}{'CARRY4':>8}{'DSP':>5}")
    for r in rows:
        print(f"{r['bits']:>4} {r['acc_bits']:>4}  {r['mapping']:<30}{r['LUT']:>6}{r['FF']:>6}"
              f"{r['CARRY4']:>8}{r['DSP48E1']:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
