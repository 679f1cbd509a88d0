"""Every component's declared ``timing(n)`` (hw/timing.py) against the Amaranth simulator.

For each component: items (elements, vectors, divisions, rows, tiles) offered back to back,
``o_stream`` always ready. The latency is measured from the transfer of the beat the timing
counts from (``latency_from``: the first item's first beat, or its ``last`` beat) to the first
output transfer; the interval is the steady-state cycles per item, measured between the first
outputs of items over the second half of the run. Both must equal the declaration exactly.
A coverage test makes sure no component of ``ivita.hw`` is left out; the components with
pins or non-stream ports (the host link) have their measured cases in the sibling
``tests/hw/test_timing_hostif.py`` (``HOST_CASES``), which it counts too.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from amaranth.lib import wiring
from amaranth.sim import Simulator

import ivita.hw
from ivita.hw.array import SystolicArray
from ivita.hw.dequant import DequantFirstConverter
from ivita.hw.divider import Divider, Reciprocal, RecipDiv, RecipMul
from ivita.hw.gelu import ShiftGELU
from ivita.hw.isqrt import ISqrt
from ivita.hw.layernorm import IntLayerNorm
from ivita.hw.pe import ProcessingElement
from ivita.hw.requant import Requantizer
from ivita.hw.row_affine import RowAffine
from ivita.hw.tile_epilogue import TileEpilogue
from ivita.hw.shift_exp import ShiftExp
from ivita.sim.timing_probe import period
from ivita.sim.unit_run import run_lanes
from ivita.hw.softmax import Shiftmax
from ivita.hw.timing import Timing
from ivita.firmware.memory_map import pack_const
from ivita.model import (ArrayConfig, BlockConfig, GeluConfig, LayerNormConfig,
                         RequantConfig, SoftmaxConfig)

ITEMS = 24      # items per run; the interval is measured over the last half


@dataclass
class Case:
    """A component, its items (each a list of payload dicts) and outputs per item."""

    build: Callable[[], Any]
    item: Callable[[int], list[dict[str, Any]]]
    outs_per_item: int = 1
    n: int | None = None                   # the argument of timing(n)
    side: dict[str, int] | None = None     # ports held during every beat (x0)
    setup: dict[str, int] | None = None    # ports set once before the run (block units)


def _row(n: int) -> Callable[[int], list[dict[str, Any]]]:
    return lambda i: [{"x": (i * 3 + k) % 7 - 3, "last": int(k == n - 1)} for k in range(n)]


def _tile(cfg: ArrayConfig, k: int) -> Callable[[int], list[dict[str, Any]]]:
    return lambda i: [{"a": [(i + j + r) % 3 - 1 for r in range(cfg.rows)],
                       "b": [(i * j + c) % 3 - 1 for c in range(cfg.cols)],
                       "last": int(j == k - 1)} for j in range(k)]


A43 = ArrayConfig(rows=4, cols=3, a_bits=4, b_bits=4, k_max=16)
A43DF = ArrayConfig(rows=2, cols=3, a_bits=4, b_bits=4, k_max=4, dequant_first=True)
SMX = SoftmaxConfig(in_bits=4, n=7, out_bits=6, max_tokens=8, x0_bits=5)
BLK = BlockConfig(rows=2, cols=2, max_tokens=16, max_dim=16, max_heads=1, prog_depth=16)
#: the block units' constant port (``c_data``, one C-mem word), held for the whole run
BLK_CONST = pack_const(BLK, [{"bias": 5, "b": 3, "c": 1}, {"bias": -7, "b": 9, "c": 2}])
BLK1 = BlockConfig(rows=1, cols=1, max_tokens=4, max_dim=4, max_heads=1, prog_depth=16)
BLK1_CONST = pack_const(BLK1, [{"bias": 5, "b": 3, "c": 1}])

CASES = {
    "ShiftExp": Case(lambda: ShiftExp(z_bits=6, x0_bits=4, n=7),
                     lambda i: [{"z": -(i % 30), "x0": -(i % 15) - 1}]),
    "Divider-seq": Case(lambda: Divider(dividend_bits=12, divisor_bits=5),
                        lambda i: [{"dividend": 4000 - 7 * i, "divisor": i % 31 + 1}]),
    "Divider-pipe": Case(lambda: Divider(dividend_bits=12, divisor_bits=5, pipelined=True),
                         lambda i: [{"dividend": 4000 - 7 * i, "divisor": i % 31 + 1}]),
    "Divider-const": Case(lambda: Divider(dividend_bits=31, divisor_bits=9, dividend=(1 << 31) - 1),
                          lambda i: [{"divisor": i + 1}]),
    "Reciprocal-seq": Case(lambda: Reciprocal(s_bits=10, out_bits=6),
                           lambda i: [{"s": 3 * i + 1}]),
    "Reciprocal-pipe": Case(lambda: Reciprocal(s_bits=10, out_bits=6, pipelined=True),
                            lambda i: [{"s": 3 * i + 1}]),
    "RecipMul": Case(lambda: RecipMul(num_bits=8, s_bits=10, out_bits=6),
                     lambda i: [{"num": i, "f": 150, "L": 5}]),
    "RecipDiv-seq": Case(lambda: RecipDiv(num_bits=8, s_bits=8, out_bits=5),
                         lambda i: [{"num": i, "s": 200}]),
    "RecipDiv-pipe": Case(lambda: RecipDiv(num_bits=8, s_bits=8, out_bits=5, pipelined=True),
                          lambda i: [{"num": i, "s": 200}]),
    "ISqrt": Case(lambda: ISqrt(in_bits=13), lambda i: [{"v": 331 * i}]),
    "Requantizer": Case(lambda: Requantizer(RequantConfig(lanes=3, acc_bits=12, out_bits=4,
                                                          mult_bits=6)),
                        lambda i: [{"acc": [i, -i, 2 * i], "last": i % 2}]),
    "Requantizer-per-beat": Case(
        lambda: Requantizer(RequantConfig(lanes=2, acc_bits=12, out_bits=4, mult_bits=6),
                            per_beat=True),
        lambda i: [{"acc": [i, -i], "b": [i % 64, 5], "c": [i % 8, 2], "last": i % 2}]),
    "TileEpilogue": Case(lambda: TileEpilogue(BLK),
                         lambda i: [{"c": [i, -i], "last": i % 2}],
                         setup={"row_blocks": 255, "const_base": 0, "c_data": BLK_CONST}),
    **{f"RowAffine-N{N}": Case(lambda: RowAffine(BLK), lambda i, N=N: [
        {"y": i * 3 + k, "last": int(k == N - 1)} for k in range(N)], outs_per_item=N, n=N,
        setup={"const_base": 0, "c_data": BLK_CONST}) for N in (2, 4, 5)},
    "RowAffine-cols1-N3": Case(lambda: RowAffine(BLK1), lambda i: [
        {"y": i * 3 + k, "last": int(k == 2)} for k in range(3)], outs_per_item=3, n=3,
        setup={"const_base": 0, "c_data": BLK1_CONST}),
    "DequantFirstConverter": Case(lambda: DequantFirstConverter(A43DF, mult_bits=6),
                                  _tile(A43DF, 1)),
    "SystolicArray-K6": Case(lambda: SystolicArray(A43), _tile(A43, 6), outs_per_item=4, n=6),
    "SystolicArray-K2": Case(lambda: SystolicArray(A43), _tile(A43, 2), outs_per_item=4, n=2),
    "ShiftGELU-pipe": Case(lambda: ShiftGELU(GeluConfig(in_bits=4, n=6, sig_bits=5, x0_bits=6)),
                           lambda i: [{"x": i % 16 - 8, "last": 0}], side={"x0": -9}),
    "ShiftGELU-seq": Case(lambda: ShiftGELU(GeluConfig(in_bits=4, n=6, sig_bits=5, x0_bits=6),
                                            pipelined=False),
                          lambda i: [{"x": i % 16 - 8, "last": 0}], side={"x0": -9}),
    **{f"Shiftmax-banks{b}-N{N}": Case(lambda b=b: Shiftmax(SMX, banks=b), _row(N),
                                       outs_per_item=N, n=N, side={"x0": -9})
       for b in (1, 2, 3) for N in (1, 6)},
    **{f"IntLayerNorm-banks{b}-C{C}": Case(
        lambda b=b, C=C: IntLayerNorm(LayerNormConfig(in_bits=6, channels=C), banks=b),
        _row(C), outs_per_item=C)
       for b in (1, 2, 3) for C in (1, 5, 64)},
}


@pytest.mark.parametrize("name", list(CASES))
def test_declared_timing_equals_simulation(name: str) -> None:
    case = CASES[name]
    dut = case.build()
    t = dut.timing(case.n)
    assert isinstance(t, Timing)
    items = [case.item(i) for i in range(ITEMS)]
    beats = [b for it in items for b in it]
    side = [dict(case.side) for _ in beats] if case.side else None
    res = run_lanes(dut, beats, n_out=ITEMS * case.outs_per_item, side=side, setup=case.setup)
    assert len(res.outputs) == ITEMS * case.outs_per_item
    ref = 0 if t.latency_from == "first" else len(items[0]) - 1
    assert res.out_cycles[0] - res.in_cycles[ref] == t.latency, f"{name}: {t}"
    measured = period(res.out_cycles[::case.outs_per_item])
    assert measured == t.interval, f"{name}: {t}, measured {measured} cycles per {t.per}"


def _sibling_cases(stem: str, name: str) -> dict[str, Any]:
    """``name`` of the sibling file ``stem``.py: components with pins or non-stream ports
    (``HOST_CASES``: the host link; ``BLOCK_CASES``: the attention block), each with its own
    measuring function (pytest's importlib mode puts no test folder on ``sys.path``, so the
    file is loaded by path)."""
    path = Path(__file__).with_name(f"{stem}.py")
    spec = importlib.util.spec_from_file_location(f"_ivita_{stem}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return getattr(mod, name)


HOST_CASES = _sibling_cases("test_timing_hostif", "HOST_CASES")
BLOCK_CASES = _sibling_cases("test_timing_block", "BLOCK_CASES")


@pytest.mark.parametrize("name", [*HOST_CASES, *BLOCK_CASES])
def test_host_link_and_block_timing_equals_simulation(name: str) -> None:
    """Latency and interval measured cycle by cycle (see tests/hw/test_timing_hostif.py and
    tests/hw/test_timing_block.py)."""
    case = HOST_CASES[name] if name in HOST_CASES else BLOCK_CASES[name]
    dut = case.build()
    t = dut.timing(case.n)
    assert isinstance(t, Timing)
    got = case.measure(dut, case.n)
    assert (got.latency, got.interval) == (t.latency, t.interval), f"{name}: {t}, measured {got}"


def test_processing_element_timing() -> None:
    """``result`` holds a tile's sum ``timing().latency`` cycles after its ``last`` beat; one
    beat per cycle."""
    dut = ProcessingElement(a_bits=4, b_bits=4, acc_bits=12)
    t = dut.timing()
    seen: list[tuple[int, int]] = []
    tiles = [[(1, 2), (3, 4), (-5, 6)], [(7, 7), (2, -8)]]

    async def bench(ctx: Any) -> None:
        cycle = 0
        for tile in tiles:
            for k, (a, b) in enumerate(tile):
                ctx.set(dut.a_in, a)
                ctx.set(dut.b_in, b)
                ctx.set(dut.valid_in, 1)
                ctx.set(dut.last_in, int(k == len(tile) - 1))
                await ctx.tick()
                cycle += 1
                seen.append((cycle, ctx.get(dut.result)))
        ctx.set(dut.valid_in, 0)
        for _ in range(3):
            await ctx.tick()
            cycle += 1
            seen.append((cycle, ctx.get(dut.result)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    # beat k is presented in cycle k (0-based); ``seen`` holds (cycle, result at its start).
    # Tile 0's last beat is in cycle 2, so its sum must appear in cycle 2 + latency.
    assert t == Timing(latency=2, latency_from="last", interval=1, per="beat")
    first = next(c for c, r in seen if r == 1 * 2 + 3 * 4 - 5 * 6)
    assert first == 2 + t.latency
    assert next(c for c, r in seen if r == 7 * 7 - 16) == 4 + t.latency


def test_every_component_is_covered() -> None:
    """Every ``wiring.Component`` of ``ivita.hw`` (gateware only: the formal harnesses live in
    ``ivita.sim``) states a timing and has a case above, in ``HOST_CASES`` or in
    ``BLOCK_CASES``."""
    covered = {"ProcessingElement"} | {c.cls.__name__ for c in
                                       [*HOST_CASES.values(), *BLOCK_CASES.values()]}
    for c in CASES.values():
        dut = c.build()
        dut._MustUse__silence = True   # built only for its class
        covered.add(type(dut).__name__)
    found = set()
    for mi in pkgutil.iter_modules(ivita.hw.__path__):
        mod = importlib.import_module(f"ivita.hw.{mi.name}")
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, wiring.Component) \
                    and obj.__module__ == mod.__name__:
                assert callable(getattr(obj, "timing", None)), f"{obj.__name__} has no timing()"
                for old in ("latency", "latency_from", "interval", "tile_latency"):
                    assert not hasattr(obj, old), f"{obj.__name__}.{old}: use timing()"
                found.add(obj.__name__)
    assert found == covered, f"components without a timing case: {found - covered}"


def test_timing_arguments() -> None:
    smx = Shiftmax(SMX)
    assert smx.timing() == smx.timing(SMX.max_tokens)
    with pytest.raises(ValueError, match=r"^n=9 is out of range; it must be at most 8$"):
        smx.timing(9)
    ln = IntLayerNorm(LayerNormConfig(in_bits=6, channels=5))
    assert ln.timing() == ln.timing(5)
    with pytest.raises(ValueError, match=r"^n=4: IntLayerNorm rows have exactly channels=5 "
                                         r"elements$"):
        ln.timing(4)
    for c in (smx, ln):
        c._MustUse__silence = True     # built only to ask for the timing


@pytest.mark.parametrize("kwargs,exc,msg", [
    (dict(latency=-1, latency_from="first", interval=1, per="row"), ValueError,
     "latency=-1 is out of range; it must be at least 0"),
    (dict(latency=1, latency_from="middle", interval=1, per="row"), ValueError,
     "latency_from='middle' is not one of first, last"),
    (dict(latency=1, latency_from="last", interval=0, per="row"), ValueError,
     "interval=0 is out of range; it must be a number of cycles, at least 1"),
    (dict(latency=1, latency_from="last", interval=1, per="rows"), ValueError,
     "per='rows' is not one of element, vector, beat, division, root, row, tile, byte, "
     "frame, instruction"),
    (dict(latency=1.0, latency_from="last", interval=1, per="row"), TypeError,
     "latency must be an integer, not float (1.0)"),
])
def test_timing_validation(kwargs: dict, exc: type, msg: str) -> None:
    with pytest.raises(exc, match=f"^{re.escape(msg)}$"):
        Timing(**kwargs)


def test_timing_as_dict() -> None:
    t = Timing(latency=7, latency_from="last", interval=36.5, per="row")
    assert t.as_dict() == {"latency": 7, "latency_from": "last", "interval": 36.5, "per": "row"}
