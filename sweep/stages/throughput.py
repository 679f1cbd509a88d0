"""Stage ``throughput``: GMAC/s of the array at the estimated Fmax and at the reference clock.

Steady state of :meth:`ivita.hw.array.SystolicArray.timing`: one tile of ``K`` beats (``K`` =
the point's ``k`` option, default 197 = the tokens of the default attention configuration)
every ``max(K, rows)`` cycles, ``rows * cols * K`` MACs per tile, no stalls. At Fmax only when
the ``timing`` stage ran (an estimate, like the Fmax).
"""

from __future__ import annotations

from typing import Any

from . import Context

NAME, VERSION = "throughput", 1


def implementation() -> str:
    return "SystolicArray.timing steady state"


def run(ctx: Context) -> dict[str, Any]:
    from ivita.hw.array import SystolicArray
    from ivita.model.config import ArrayConfig

    p = ctx.point
    k = int(ctx.option("k", 197))
    cfg = ArrayConfig(rows=p.rows, cols=p.cols, a_bits=p.a_bits, b_bits=p.w_bits, k_max=k,
                      dequant_first=p.baseline)
    arr = SystolicArray(cfg)
    arr._MustUse__silence = True          # asked for its timing only, never elaborated
    interval = arr.timing(k).interval
    macs_per_cycle = p.rows * p.cols * k / interval
    out: dict[str, Any] = {"k": k, "interval_cycles": interval,
                           "macs_per_cycle": macs_per_cycle,
                           "gmacs_ref": macs_per_cycle * p.freq_hz / 1e9,
                           "ref_freq_mhz": p.freq_hz / 1e6, "gmacs_fmax": None}
    timing = ctx.results.get("timing")
    if timing:
        out["gmacs_fmax"] = macs_per_cycle * timing["fmax_mhz"] * 1e6 / 1e9
        out["fmax_kind"] = "estimate"
    return out
