# amaranth: UnusedElaboratable=no
"""The stream contract of every stream component, through the one simulation harness
(``ivita.sim.unit_run.run_lanes``): under random idle input cycles and output back-pressure

- ``i_stream.ready`` never depends on ``i_stream.valid`` (checked in every cycle by the
  harness' ready/valid check: the run raises otherwise),
- a beat offered on ``o_stream`` stays valid and unchanged until taken (the monitor's stream
  rules: the run raises otherwise),
- every expected beat comes out and nothing more, and back-pressure really held beats.

The values are checked against the model in each unit's own test file (which runs through the
same harness, so the checks above also apply there); here every component gets at least one
run under stalls on both sides, including the sequential divider variants and the attention
block's stream-to-stream units (the per-beat requantizer, ``TileEpilogue``, ``RowAffine``; its
one-sided units -- ``TileSequencer``/``RowSerializer`` read memory, ``LaneWriter``/
``TileWriteBack`` write it -- are exercised under the block's own back-pressure in
``tests/hw/test_attention*.py``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from ivita.firmware.memory_map import pack_const
from ivita.hw.array import SystolicArray
from ivita.hw.dequant import DequantFirstConverter
from ivita.hw.divider import Divider, RecipDiv, RecipMul, Reciprocal
from ivita.hw.gelu import ShiftGELU
from ivita.hw.isqrt import ISqrt
from ivita.hw.layernorm import IntLayerNorm
from ivita.hw.requant import Requantizer
from ivita.hw.row_affine import RowAffine
from ivita.hw.shift_exp import ShiftExp
from ivita.hw.softmax import Shiftmax
from ivita.hw.tile_epilogue import TileEpilogue
from ivita.model import (ArrayConfig, BlockConfig, GeluConfig, LayerNormConfig, RequantConfig,
                         SoftmaxConfig)
from ivita.sim.unit_run import run_lanes

Case = tuple[Any, list[dict[str, Any]], int, dict[str, Any]]   # dut, beats, n_out, run_lanes kw


def _array(rng: random.Random) -> Case:
    cfg = ArrayConfig(rows=3, cols=2, a_bits=4, b_bits=4, k_max=5)
    beats, n_out = [], 0
    for k in (5, 1, 3, 2):
        for i in range(k):
            beats.append({"a": [rng.randint(-8, 7) for _ in range(3)],
                          "b": [rng.randint(-8, 7) for _ in range(2)], "last": int(i == k - 1)})
        n_out += cfg.rows
    return SystolicArray(cfg), beats, n_out, {}


def _requant(rng: random.Random) -> Case:
    cfg = RequantConfig(lanes=2, acc_bits=12, out_bits=4, mult_bits=4)
    table = [{"table_we": 1, "table_lane": i, "table_b": 5, "table_c": 3} for i in range(2)]
    beats = [{"acc": [rng.randint(-2048, 2047) for _ in range(2)], "last": rng.randint(0, 1)}
             for _ in range(30)]
    return Requantizer(cfg), beats, len(beats), {"writes": {0: table}}


def _requant_per_beat(rng: random.Random) -> Case:
    cfg = RequantConfig(lanes=2, acc_bits=12, out_bits=4, mult_bits=4, max_shift=15)
    beats = [{"acc": [rng.randint(-2048, 2047) for _ in range(2)],
              "b": [rng.randrange(16) for _ in range(2)],
              "c": [rng.randrange(16) for _ in range(2)],
              "last": rng.randint(0, 1)} for _ in range(30)]
    return Requantizer(cfg, per_beat=True), beats, len(beats), {}


BLK = BlockConfig(rows=2, cols=2, max_tokens=8, max_dim=8, max_heads=1, prog_depth=4)
#: one C-mem word on the block units' constant port, held for the whole run
BLK_CONST = pack_const(BLK, [{"bias": 5, "b": 3, "c": 1}, {"bias": -7, "b": 9, "c": 2}])


def _tile_epilogue(rng: random.Random) -> Case:
    """Two row blocks per column block: a constant reload (ready low) every 4 rows."""
    beats = [{"c": [rng.randint(-1000, 1000) for _ in range(2)], "last": i % 2}
             for i in range(30)]
    return (TileEpilogue(BLK), beats, len(beats),
            {"setup": {"row_blocks": 2, "const_base": 0, "c_data": BLK_CONST}})


def _row_affine(rng: random.Random) -> Case:
    beats = [{"y": b["x"], "last": b["last"]} for b in _rows(rng, 20, [3, 1, 5, 2, 4])]
    return RowAffine(BLK), beats, len(beats), {"setup": {"const_base": 0, "c_data": BLK_CONST}}


def _dequant(rng: random.Random) -> Case:
    cfg = ArrayConfig(rows=2, cols=2, a_bits=4, b_bits=4, k_max=4, dequant_first=True)
    table = [{"table_we": 1, "table_lane": i, "table_b": 3, "table_c": 1} for i in range(4)]
    beats = [{"a": [rng.randint(-8, 7) for _ in range(2)], "b": [rng.randint(-8, 7)
              for _ in range(2)], "last": rng.randint(0, 1)} for _ in range(30)]
    return DequantFirstConverter(cfg), beats, len(beats), {"writes": {0: table}}


def _shift_exp(rng: random.Random) -> Case:
    beats = [{"z": rng.randint(-255, 0), "x0": -rng.randint(1, 999)} for _ in range(30)]
    return ShiftExp(z_bits=9, x0_bits=10, n=15), beats, len(beats), {}


def _divider(pipelined: bool) -> Callable[[random.Random], Case]:
    def make(rng: random.Random) -> Case:
        beats = [{"dividend": rng.randrange(4096), "divisor": rng.randint(1, 31)}
                 for _ in range(20)]
        return (Divider(dividend_bits=12, divisor_bits=5, pipelined=pipelined), beats,
                len(beats), {})
    return make


def _reciprocal(pipelined: bool) -> Callable[[random.Random], Case]:
    def make(rng: random.Random) -> Case:
        beats = [{"s": rng.randint(1, 1000)} for _ in range(20)]
        return Reciprocal(s_bits=10, out_bits=6, pipelined=pipelined), beats, len(beats), {}
    return make


def _recip_mul(rng: random.Random) -> Case:
    beats = [{"num": rng.randrange(256), "f": rng.randrange(512), "L": rng.randint(1, 8)}
             for _ in range(30)]
    return RecipMul(num_bits=8, s_bits=8, out_bits=6), beats, len(beats), {}


def _recip_div(pipelined: bool) -> Callable[[random.Random], Case]:
    def make(rng: random.Random) -> Case:
        beats = []
        for _ in range(20):
            s = rng.randint(1, 255)
            beats.append({"num": rng.randint(0, s), "s": s})
        return (RecipDiv(num_bits=8, s_bits=8, out_bits=6, pipelined=pipelined), beats,
                len(beats), {})
    return make


def _isqrt(rng: random.Random) -> Case:
    beats = [{"v": rng.randrange(1 << 12)} for _ in range(15)]
    return ISqrt(in_bits=12), beats, len(beats), {}


def _rows(rng: random.Random, bits: int, lengths: list[int]) -> list[dict[str, int]]:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return [{"x": rng.randint(lo, hi), "last": int(i == n - 1)} for n in lengths
            for i in range(n)]


def _shiftmax(rng: random.Random) -> Case:
    beats = _rows(rng, 4, [3, 1, 6, 2])
    cfg = SoftmaxConfig(in_bits=4, n=7, out_bits=6, max_tokens=8)
    return (Shiftmax(cfg, banks=2), beats, len(beats),
            {"side": [{"x0": -9}] * len(beats)})


def _gelu(rng: random.Random) -> Case:
    beats = _rows(rng, 6, [5, 5, 5, 5])
    cfg = GeluConfig(in_bits=6, n=8, sig_bits=6, x0_bits=8)
    return ShiftGELU(cfg), beats, len(beats), {"side": [{"x0": -37}] * len(beats)}


def _layernorm(rng: random.Random) -> Case:
    beats = _rows(rng, 8, [4] * 5)
    return IntLayerNorm(LayerNormConfig(in_bits=8, channels=4), banks=2), beats, len(beats), {}


CASES: dict[str, Callable[[random.Random], Case]] = {
    "SystolicArray": _array, "Requantizer": _requant, "Requantizer-per-beat": _requant_per_beat,
    "TileEpilogue": _tile_epilogue, "RowAffine": _row_affine, "DequantFirstConverter": _dequant,
    "ShiftExp": _shift_exp, "Divider-seq": _divider(False), "Divider-pipe": _divider(True),
    "Reciprocal-seq": _reciprocal(False), "Reciprocal-pipe": _reciprocal(True),
    "RecipMul": _recip_mul, "RecipDiv-seq": _recip_div(False), "RecipDiv-pipe": _recip_div(True),
    "ISqrt": _isqrt, "Shiftmax": _shiftmax, "ShiftGELU": _gelu, "IntLayerNorm": _layernorm,
}


@pytest.mark.parametrize("name", CASES)
def test_stream_contract_under_stalls(name: str) -> None:
    seed = sum(map(ord, name))
    dut, beats, n_out, kw = CASES[name](random.Random(seed))
    res = run_lanes(dut, beats, n_out=n_out, seed=seed, p_valid=0.6, p_ready=0.4, **kw)
    assert len(res.outputs) == n_out, f"{name} seed={seed}"
    assert len(res.in_cycles) == len(beats)
    assert res.ready_checks == res.cycles + 1          # ready vs valid checked every cycle
    assert res.stall_cycles > 0, f"{name}: the back-pressure never held a beat"

