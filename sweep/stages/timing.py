"""Stage ``timing``: the Fmax *estimate* of the array's critical path (no place and route).

From the synthesized netlist (:func:`ivita.fpga.timing.estimate_timing`, delay model named in
``model``; expect Vivado to differ by +-30 % or more). Reuses the ``synth`` stage's result
(cached). For the baseline the slower of array and converter sets Fmax.
"""

from __future__ import annotations

from typing import Any

from . import Context, PointFailure
from .synth import synth_units

NAME, VERSION = "timing", 1


def implementation() -> str:
    return "logic-depth estimate"


def run(ctx: Context) -> dict[str, Any]:
    ests = [(u.unit, u.timing) for u in synth_units(ctx) if u.timing is not None]
    if not ests:
        raise PointFailure("synthesis gave no timing estimate")
    unit, t = min(ests, key=lambda e: e[1].fmax_mhz)
    return {"fmax_mhz": t.fmax_mhz, "period_ns": t.period_ns, "capped": t.capped,
            "lut_levels": t.lut_levels, "carry4": t.carry4, "critical_unit": unit,
            "meets_freq": t.fmax_mhz * 1e6 >= ctx.point.freq_hz, "kind": t.kind,
            "model": t.model, "summary": t.summary()}
