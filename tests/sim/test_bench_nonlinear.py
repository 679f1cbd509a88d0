"""The Shiftmax, ShiftGELU and I-LayerNorm benches on Icarus, Verilator and amaranth.sim,
bit-exact ``==`` against ivita.model.

CI (not ``slow``): per unit one Icarus run with random stalls on both sides and malformed rows
/ invalid ``x0`` (the sticky ``error`` must end at 1, the good rows exact), one Verilator run at
the default 8-bit (16-bit for LayerNorm) configuration, and a proof that each bench fails on a
corrupted expected value (amaranth.sim, fast).

The full matrix, at least 10^4 rows per unit on Verilator (about 10 minutes on one core)::

    python -m pytest -m slow tests/sim/test_bench_nonlinear.py

Shiftmax: in_bits 2..8 x 1500 rows of lengths 1..256; ShiftGELU: in_bits 2..8 x 1500 rows of
64; I-LayerNorm: in_bits {2, 4, 8, 12, 16} x C {3, 64, 192} with 10^4 rows per width.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivita.model import GeluConfig, LayerNormConfig, SoftmaxConfig
from ivita.sim.bench import BenchResult, run_bench
from ivita.sim.tb_gelu import GeluTB
from ivita.sim.tb_layernorm import LayerNormTB
from ivita.sim.tb_softmax import SoftmaxTB

MARKS = {"icarus": [pytest.mark.icarus], "verilator": [pytest.mark.verilator], "amaranth": []}


def case(sim: str, *values: object, slow: bool = False) -> object:
    marks = [*MARKS[sim], *([pytest.mark.slow] if slow else [])]
    return pytest.param(sim, *values, marks=marks, id="-".join(map(str, (sim, *values))))


def check(res: BenchResult, rows: int | None = None) -> None:
    assert res.passed, res.failure_message()
    r = res.result
    assert r["beats_out"] == r["beats_expected"] and r["mismatches"] == 0
    assert r["elements_checked"] > 0 and not r["timeout"]
    if rows is not None:
        assert res.work["rows"] == rows


# -- Shiftmax ------------------------------------------------------------------------------------

# (sim, in_bits, n, out_bits, max_tokens, rows, bad_rows, stall)
SOFTMAX_CI = [
    case("icarus", 8, 15, 8, 256, 12, True, 0.3),
    case("icarus", 3, 6, 4, 16, 30, False, 0.4),
    case("verilator", 8, 15, 8, 256, 24, False, 0.2),
]
SOFTMAX_SLOW = [case("verilator", b, 15, 8, 256, 1500, False, 0.1, slow=True)
                for b in range(2, 9)]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("sim, in_bits, n, out_bits, max_tokens, rows, bad_rows, stall",
                         SOFTMAX_CI + SOFTMAX_SLOW)
def test_softmax(sim: str, in_bits: int, n: int, out_bits: int, max_tokens: int, rows: int,
                 bad_rows: bool, stall: float, build_root: Path, need_simulator) -> None:
    need_simulator(sim)
    cfg = SoftmaxConfig(in_bits=in_bits, n=n, out_bits=out_bits, max_tokens=max_tokens)
    tb = SoftmaxTB(config=cfg, rows=rows, bad_rows=bad_rows)
    res = run_bench(tb, simulator=sim, seed=100 * in_bits + rows, stall_in=stall,
                    stall_out=stall, build_root=build_root)
    check(res, rows)
    assert res.result["end_values"]["error"] == int(bad_rows)


# -- ShiftGELU -----------------------------------------------------------------------------------

# (sim, in_bits, n, sig_bits, rows, tokens, sequential, bad_x0, stall)
GELU_CI = [
    case("icarus", 8, 15, 8, 10, 64, False, True, 0.3),
    case("icarus", 4, 6, 4, 6, 16, True, False, 0.3),
    case("verilator", 8, 15, 8, 40, 64, False, False, 0.2),
]
GELU_SLOW = [case("verilator", b, 15, 8, 1500, 64, False, False, 0.1, slow=True)
             for b in range(2, 9)]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("sim, in_bits, n, sig_bits, rows, tokens, sequential, bad_x0, stall",
                         GELU_CI + GELU_SLOW)
def test_gelu(sim: str, in_bits: int, n: int, sig_bits: int, rows: int, tokens: int,
              sequential: bool, bad_x0: bool, stall: float, build_root: Path,
              need_simulator) -> None:
    need_simulator(sim)
    cfg = GeluConfig(in_bits=in_bits, n=n, sig_bits=sig_bits)
    tb = GeluTB(config=cfg, rows=rows, tokens=tokens, sequential=sequential, bad_x0=bad_x0)
    res = run_bench(tb, simulator=sim, seed=10 * in_bits + rows, stall_in=stall,
                    stall_out=stall, build_root=build_root)
    check(res, rows)
    assert res.result["end_values"]["error"] == int(bad_x0)


# -- I-LayerNorm ---------------------------------------------------------------------------------

# (sim, in_bits, channels, rows, banks, bad_rows, stall)
LAYERNORM_CI = [
    case("icarus", 16, 12, 20, 3, True, 0.3),
    case("icarus", 4, 1, 12, 2, False, 0.3),
    case("verilator", 16, 64, 24, 3, False, 0.2),
]
LAYERNORM_SLOW = [case("verilator", b, c, rows, 3, False, 0.1, slow=True)
                  for b in (2, 4, 8, 12, 16)
                  for c, rows in ((3, 4000), (64, 4000), (192, 2000))]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("sim, in_bits, channels, rows, banks, bad_rows, stall",
                         LAYERNORM_CI + LAYERNORM_SLOW)
def test_layernorm(sim: str, in_bits: int, channels: int, rows: int, banks: int,
                   bad_rows: bool, stall: float, build_root: Path, need_simulator) -> None:
    need_simulator(sim)
    cfg = LayerNormConfig(in_bits=in_bits, channels=channels)
    tb = LayerNormTB(config=cfg, rows=rows, banks=banks, bad_rows=bad_rows)
    res = run_bench(tb, simulator=sim, seed=in_bits * 1000 + channels, stall_in=stall,
                    stall_out=stall, build_root=build_root)
    check(res, rows)
    assert res.result["end_values"]["error"] == int(bad_rows)


# -- declared timing vs simulation (docs/verification.md level 4) ----------------------------------------

@pytest.mark.parametrize("sim", [case("icarus"), case("amaranth")])
@pytest.mark.parametrize("unit", ["softmax", "gelu", "layernorm"])
def test_declared_latency_equals_simulation(sim: str, unit: str, build_root: Path,
                                            need_simulator) -> None:
    """With no stalls, the first output comes exactly ``timing(n).latency`` cycles after the
    input beat the unit counts from (Shiftmax and I-LayerNorm: the first row's ``last`` beat,
    with ``n`` its length; ShiftGELU: the first element). The configurations are those of the
    CI runs above, so the Icarus builds are cached."""
    need_simulator(sim)
    if unit == "softmax":
        tb = SoftmaxTB(config=SoftmaxConfig(in_bits=3, n=6, out_bits=4, max_tokens=16), rows=3)
        want = ("last", 1 + 2 * 8 + 5 + 16)        # first row of 1: N + 2P + F + 16
    elif unit == "gelu":
        tb = GeluTB(config=GeluConfig(in_bits=4, n=6, sig_bits=4), rows=2, tokens=4,
                    sequential=True)
        # -|x| and x0 check, ShiftExp, U + e, RecipDiv, the product (2 stages)
        want = ("first", 1 + 8 + 1 + (4 + 8) + 2)
    else:
        tb = LayerNormTB(config=LayerNormConfig(in_bits=4, channels=1), rows=3, banks=2)
        want = ("last", (1 + 1 + 4 + (1 + 5) + 32) + 6)   # D + 6, D at C = 1, var_bits 9
    res = run_bench(tb, simulator=sim, seed=7, build_root=build_root)
    check(res)
    r = res.result
    assert (r["latency_from"], r["latency"]) == want
    assert r["latency_measured"] == r["latency"]


# -- the benches can fail ------------------------------------------------------------------------

@pytest.mark.parametrize("tb", [
    SoftmaxTB(config=SoftmaxConfig(in_bits=4, max_tokens=8), rows=6),
    GeluTB(config=GeluConfig(in_bits=4), rows=4, tokens=8),
    LayerNormTB(config=LayerNormConfig(in_bits=6, channels=5), rows=6),
], ids=["softmax", "gelu", "layernorm"])
def test_bench_fails_on_a_corrupted_expected_value(tb, build_root: Path,
                                                   tmp_path: Path) -> None:
    res = run_bench(tb, simulator="amaranth", seed=3, stall_out=0.3, build_root=build_root,
                    corrupt_expected=True, work_dir=tmp_path)
    assert not res.passed
    fm = res.first_mismatch
    assert fm is not None and fm["beat"] == res.corrupted["beat"]
    assert set(fm["coords"]) >= {"row"}
