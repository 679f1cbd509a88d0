"""Stage ``check``: bit-exact check of the array and the units at the point's widths.

Engine (point option ``check_engine``, ``ivita sweep --check-engine``): ``bench`` (default),
the unit benches (:func:`ivita.sim.bench.run_bench` on ``amaranth.sim``); or ``icarus`` /
``verilator``, the same benches in bulk mode (:func:`ivita.sim.bulk.bulk_check_tb`: vectors and
stall patterns in memory files, the simulator without Python in the loop, compared afterwards),
for large ``check_vectors``. Either way about ``check_vectors`` sampled input vectors per unit,
seeded random stalls (10 %) on both stream sides, corner vectors first. For the default few
hundred vectors the bench is the cheaper engine (a bulk run pays a simulator build per unit
configuration: about 5 s on Icarus, 15 s on Verilator here). Hardware vs model with ``==``; any
mismatch fails the point with the bench's first-mismatch message.

Units: the array (``a_bits x w_bits``, ``k_max`` from the point) and, for integer points, the
requantizer (the array's accumulator, ``a_bits`` outputs), Shiftmax and ShiftGELU at
``a_bits``. The dequant-first baseline checks its array (16-bit PEs) only.

Self-check: the point option ``corrupt_expected`` (tests only) changes one expected value of
every bench, so the stage must fail (``ivita sim --corrupt-expected``).
"""

from __future__ import annotations

import importlib.util
import tempfile
from typing import Any

from . import Context, PointFailure

NAME, VERSION = "check", 1
STALL = 0.1


def _bulk() -> Any:
    try:
        if importlib.util.find_spec("ivita.sim.bulk") is None:
            return None
        from ivita.sim.bulk import bulk_check_tb  # type: ignore[import-not-found]
        return bulk_check_tb
    except ImportError:
        return None


def implementation() -> str:
    return "bench amaranth or bulk" if _bulk() is not None else "bench amaranth"


def _benches(ctx: Context) -> list[Any]:
    from ivita.model.config import ArrayConfig, GeluConfig, RequantConfig, SoftmaxConfig
    from ivita.sim.tb_array import ArrayTB
    from ivita.sim.tb_gelu import GeluTB
    from ivita.sim.tb_requant import RequantTB
    from ivita.sim.tb_softmax import SoftmaxTB

    p = ctx.point
    n = int(ctx.option("check_vectors", 256))
    k_max = int(ctx.option("k", 197))
    arr = ArrayConfig(rows=p.rows, cols=p.cols, a_bits=p.a_bits, b_bits=p.w_bits, k_max=k_max,
                      dequant_first=p.baseline)
    k = min(16, k_max)
    tbs: list[Any] = [ArrayTB(config=arr, k=k, tiles=max(1, n // k))]
    if not p.baseline:
        tbs.append(RequantTB(config=RequantConfig(lanes=p.cols, acc_bits=arr.acc_bits,
                                                  out_bits=p.a_bits),
                             rows=4, tiles=max(1, n // 4)))
        tokens = 16
        tbs.append(SoftmaxTB(config=SoftmaxConfig(in_bits=p.a_bits, out_bits=p.a_bits,
                                                  max_tokens=tokens),
                             rows=max(1, n // tokens)))
        tbs.append(GeluTB(config=GeluConfig(in_bits=p.a_bits), rows=max(1, n // 64), tokens=64))
    return tbs


def run(ctx: Context) -> dict[str, Any]:
    seed = int(ctx.option("seed", 1))
    engine = str(ctx.option("check_engine", "bench"))
    bulk = None if engine == "bench" else _bulk()
    if engine != "bench" and bulk is None:
        raise PointFailure(f"check engine {engine!r} needs ivita.sim.bulk, which is not "
                           f"installed")
    units: dict[str, Any] = {}
    for tb in _benches(ctx):
        if bulk is not None:        # the same bench, compiled, no Python in the loop
            res = bulk(tb, seed=seed, simulator=engine, stall_in=STALL, stall_out=STALL,
                       corrupt_expected=bool(ctx.option("corrupt_expected", False)))
            units[tb.unit] = {"engine": "bulk", "simulator": res.simulator,
                              "vectors": res.vectors, "cycles": res.cycles,
                              "mismatches": res.mismatches, "wall_s": round(res.wall_s, 2)}
            if not res.passed:
                raise PointFailure(f"{tb.unit} bit-exact check failed (seed={seed}, stalls "
                                   f"{STALL}): {res.mismatches} mismatches; first "
                                   f"{res.first_mismatch}; {'; '.join(res.errors)}")
            continue
        from ivita.sim.bench import run_bench
        with tempfile.TemporaryDirectory(prefix=f"ivita-sweep-check-{tb.unit}-") as tmp:
            res = run_bench(tb, simulator="amaranth", seed=seed, stall_in=STALL,
                            stall_out=STALL, work_dir=tmp,
                            corrupt_expected=bool(ctx.option("corrupt_expected", False)))
        units[tb.unit] = {"engine": "bench amaranth", "work": res.work,
                          "mismatches": res.result.get("mismatches"),
                          "checked": res.result.get("checked", res.result.get("elements")),
                          "wall_s": round(sum(res.timings.values()), 2)}
        if not res.passed:
            raise PointFailure(f"{tb.unit} bit-exact check failed (seed={seed}, stalls "
                               f"{STALL}): {res.failure_message()}")
    return {"engine": engine, "seed": seed, "units": units, "passed": True}
