"""Stage ``power``: per-PE power and energy per MAC from :func:`ivita.power.estimate_power`.

When ``ivita.power`` is not installed the stage is recorded as ``unavailable: ivita.power is
not installed`` (never as a number). The model and its inputs (toggle rates from attention
data, the part, the reference clock) are whatever ``estimate_power`` reports in ``model``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from . import Context, StageUnavailable

NAME, VERSION = "power", 1


def _estimate() -> Any:
    try:
        if importlib.util.find_spec("ivita.power") is None:
            return None
        from ivita.power import estimate_power  # type: ignore[import-not-found,attr-defined]
        return estimate_power
    except ImportError:
        return None


def implementation() -> str:
    return "ivita.power" if _estimate() is not None else "unavailable"


def run(ctx: Context) -> dict[str, Any]:
    est = _estimate()
    if est is None:
        raise StageUnavailable("ivita.power is not installed")
    p = ctx.point
    rep = est(rows=p.rows, cols=p.cols, a_bits=p.a_bits, w_bits=p.w_bits, freq_hz=p.freq_hz,
              data="attention", baseline=p.baseline, part=p.part,
              seed=int(ctx.option("seed", 1)))
    per_pe = [float(x) for x in rep.per_pe_mw.ravel()]
    return {"per_pe_mw": per_pe, "pe_mw_mean": sum(per_pe) / len(per_pe),
            "toggle_rate": [float(x) for x in rep.toggle_rate.ravel()],
            "toggle_rate_mean": float(rep.toggle_rate.mean()), "total_mw": float(rep.total_mw),
            "dynamic_mw": float(rep.dynamic_mw), "static_mw": float(rep.static_mw),
            "energy_per_mac_pj": float(rep.energy_per_mac_pj), "macs": int(rep.macs),
            "cycles": int(rep.cycles), "model": str(rep.model)}
