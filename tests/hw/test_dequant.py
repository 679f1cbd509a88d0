# amaranth: UnusedElaboratable=no
"""DequantFirstConverter vs ``ivita.model.dequant_first_operand``, alone and in front of the
dequant-first array (the baseline datapath of docs/numerics.md §3)."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
from amaranth import Module
from amaranth.hdl import signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.hw.array import SystolicArray, array_input_layout, array_output_layout
from ivita.hw.dequant import DequantFirstConverter, dequant_input_layout
from ivita.sim.unit_run import run_lanes
from ivita.model import ArrayConfig, dequant_first_operand, linear_acc

SHAPES = [(1, 1), (4, 4), (3, 5), (5, 3)]
WIDTHS = [(2, 2), (8, 8), (3, 6), (7, 4)]


def seed_for(*params: object) -> int:
    return zlib.crc32(repr(params).encode())


def lane_table(conv: DequantFirstConverter, rng: np.random.Generator) -> tuple[list, list]:
    """(b, c) per lane: full-scale codes land near full-scale 16-bit values; some corners."""
    cfg, mb = conv.config, conv.mult_bits
    bits = [cfg.a_bits] * cfg.rows + [cfg.b_bits] * cfg.cols
    b, c = [], []
    for lane, k in enumerate(bits):
        bb = int(rng.integers(1 << (mb - 1), 1 << mb))
        cc = int(np.clip(mb + k - 16 + rng.integers(-2, 4), 0, conv.max_shift))
        if lane and rng.random() < 0.2:
            bb, cc = [(0, 0), ((1 << mb) - 1, 0), (1, conv.max_shift), (3, 1)][rng.integers(4)]
        b.append(bb)
        c.append(cc)
    return b, c


def writes_for(b: list, c: list) -> list[dict[str, int]]:
    return [{"table_we": 1, "table_lane": i, "table_b": bb, "table_c": cc}
            for i, (bb, cc) in enumerate(zip(b, c))]


def operand_beats(cfg: ArrayConfig, n: int, rng: np.random.Generator) -> list[dict]:
    amin, amax = -(1 << (cfg.a_bits - 1)), (1 << (cfg.a_bits - 1)) - 1
    bmin, bmax = -(1 << (cfg.b_bits - 1)), (1 << (cfg.b_bits - 1)) - 1
    beats = []
    for i in range(n):
        if i < 4:      # corners first: all min, all max, mixed
            a = [[amin, amax, amin, amax][i]] * cfg.rows
            b = [[bmin, bmax, bmax, bmin][i]] * cfg.cols
        else:
            a = rng.integers(amin, amax + 1, size=cfg.rows).tolist()
            b = rng.integers(bmin, bmax + 1, size=cfg.cols).tolist()
        beats.append({"a": a, "b": b, "last": int(rng.random() < 0.3)})
    return beats


def converted(beat: dict, b: list, c: list, rows: int) -> dict:
    qa = dequant_first_operand(np.array(beat["a"]), np.array(b[:rows]), np.array(c[:rows]), 16)
    qb = dequant_first_operand(np.array(beat["b"]), np.array(b[rows:]), np.array(c[rows:]), 16)
    return {"a": qa.tolist(), "b": qb.tolist(), "last": beat["last"]}


# ------------------------------------------------------------------ construction and interface

def test_rejects_non_config() -> None:
    with pytest.raises(TypeError, match=r"^config must be an ArrayConfig, not NoneType \(None\)$"):
        DequantFirstConverter(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("cfg_kwargs, kwargs, exc, message", [
    ({}, {}, ValueError,
     "DequantFirstConverter needs an ArrayConfig with dequant_first=True (16-bit PE operands)"),
    ({"dequant_first": True}, {"mult_bits": 1}, ValueError,
     "mult_bits=1 is out of range; it must be at least 2"),
    ({"dequant_first": True}, {"mult_bits": 33}, ValueError,
     "mult_bits=33 is out of range; it must be at most 32"),
    ({"dequant_first": True}, {"max_shift": 64}, ValueError,
     "max_shift=64 is out of range; it must be at most 63"),
    ({"dequant_first": True}, {"max_shift": -1}, ValueError,
     "max_shift=-1 is out of range; it must be at least 0"),
    ({"dequant_first": True}, {"mult_bits": 16.0}, TypeError,
     "mult_bits must be an integer, not float (16.0)"),
])
def test_rejects_bad_parameters(cfg_kwargs: dict, kwargs: dict, exc: type, message: str) -> None:
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        DequantFirstConverter(ArrayConfig(**cfg_kwargs), **kwargs)


def test_parameters_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        DequantFirstConverter(ArrayConfig(dequant_first=True), 16)  # type: ignore[misc]


def test_signature_and_layouts() -> None:
    cfg = ArrayConfig(rows=3, cols=5, a_bits=4, b_bits=6, k_max=8, dequant_first=True)
    conv = DequantFirstConverter(cfg, mult_bits=12)
    assert conv.lanes == 8 and conv.max_shift == 18 and conv.shift_bits == 5
    assert conv.timing().latency == 6 and conv.out_bits == 16
    members = conv.signature.members
    assert members["table_lane"] == In(range(8))
    assert members["table_b"] == In(unsigned(12))
    assert members["table_c"] == In(unsigned(5))
    assert members["table_error"] == Out(1)
    il = dequant_input_layout(cfg)
    assert conv.i_stream.payload.shape() == il
    assert il == data.StructLayout({"a": data.ArrayLayout(signed(4), 3),
                                    "b": data.ArrayLayout(signed(6), 5), "last": 1})
    assert [(n, f.offset, f.width) for n, f in il] == [("a", 0, 12), ("b", 12, 30),
                                                        ("last", 42, 1)]
    # the output is exactly the dequant-first array's input
    assert conv.o_stream.payload.shape() == array_input_layout(cfg)
    assert SystolicArray(cfg).i_stream.payload.shape() == conv.o_stream.payload.shape()


# -------------------------------------------------------------------------------- the matrix

@pytest.mark.parametrize("a_bits, b_bits", WIDTHS, ids=[f"a{a}b{b}" for a, b in WIDTHS])
@pytest.mark.parametrize("rows, cols", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_matrix_with_stalls(rows: int, cols: int, a_bits: int, b_bits: int) -> None:
    cfg = ArrayConfig(rows=rows, cols=cols, a_bits=a_bits, b_bits=b_bits, k_max=16,
                      dequant_first=True)
    seed = seed_for("conv", rows, cols, a_bits, b_bits)
    rng = np.random.default_rng(seed)
    conv = DequantFirstConverter(cfg)
    b, c = lane_table(conv, rng)
    beats = operand_beats(cfg, 60, rng)
    expected = [converted(x, b, c, rows) for x in beats]
    res = run_lanes(conv, beats, n_out=len(beats), seed=seed, writes={0: writes_for(b, c)},
                    p_valid=0.7, p_ready=0.65, watch={"error": conv.table_error})
    assert len(res.outputs) == len(expected), f"seed={seed}"
    for i, (g, e) in enumerate(zip(res.outputs, expected)):
        assert g == e, f"seed={seed}: beat {i}: got {g}, expected {e} (b={b}, c={c})"
    assert res.final["error"] == 0


def test_latency_and_rate() -> None:
    cfg = ArrayConfig(rows=2, cols=3, a_bits=8, b_bits=8, k_max=4, dequant_first=True)
    seed = seed_for("conv-rate")
    rng = np.random.default_rng(seed)
    conv = DequantFirstConverter(cfg, mult_bits=8)
    b, c = lane_table(conv, rng)
    beats = operand_beats(cfg, 40, rng)
    res = run_lanes(conv, beats, n_out=len(beats), seed=seed, writes={0: writes_for(b, c)})
    assert res.outputs == [converted(x, b, c, cfg.rows) for x in beats], f"seed={seed}"
    first = res.in_cycles[0]
    assert res.in_cycles == list(range(first, first + len(beats)))
    assert res.out_cycles == [t + conv.timing().latency for t in res.in_cycles]


def test_table_error() -> None:
    cfg = ArrayConfig(rows=2, cols=3, a_bits=4, b_bits=4, k_max=4, dequant_first=True)
    for bad in ({"table_we": 1, "table_lane": 0, "table_b": 1, "table_c": 21},   # > max_shift
                {"table_we": 1, "table_lane": 5, "table_b": 1, "table_c": 0}):   # lane >= 5
        conv = DequantFirstConverter(cfg)
        assert conv.max_shift == 20 and conv.shift_bits == 5
        beats = [{"a": [3, -3], "b": [1, 2, -8], "last": 1}]
        ok = writes_for([2] * 5, [0] * 5)
        res = run_lanes(conv, beats, n_out=1, writes={0: ok + [bad]},
                        watch={"error": conv.table_error})
        assert res.final["error"] == 1, bad
        assert res.outputs == [{"a": [6, -6], "b": [2, 4, -16], "last": 1}]


# ------------------------------------------------------------------ the baseline datapath

class Baseline(wiring.Component):
    """Converter -> dequant-first array, table port forwarded."""

    def __init__(self, cfg: ArrayConfig) -> None:
        self.cfg = cfg
        self.conv = DequantFirstConverter(cfg)
        super().__init__({
            "i_stream": In(stream.Signature(dequant_input_layout(cfg))),
            "o_stream": Out(stream.Signature(array_output_layout(cfg))),
            "table_we": In(1), "table_lane": In(range(cfg.rows + cfg.cols)),
            "table_b": In(unsigned(16)), "table_c": In(unsigned(self.conv.shift_bits)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.conv = conv = self.conv
        m.submodules.array = array = SystolicArray(self.cfg)
        wiring.connect(m, wiring.flipped(self.i_stream), conv.i_stream)
        wiring.connect(m, conv.o_stream, array.i_stream)
        wiring.connect(m, array.o_stream, wiring.flipped(self.o_stream))
        m.d.comb += [conv.table_we.eq(self.table_we), conv.table_lane.eq(self.table_lane),
                     conv.table_b.eq(self.table_b), conv.table_c.eq(self.table_c)]
        return m


def test_baseline_datapath_matches_model() -> None:
    """C = dequant(A) @ dequant(B) through converter and array, with stalls on both sides."""
    cfg = ArrayConfig(rows=3, cols=4, a_bits=6, b_bits=5, k_max=13, dequant_first=True)
    seed = seed_for("baseline")
    rng = np.random.default_rng(seed)
    dut = Baseline(cfg)
    b, c = lane_table(dut.conv, rng)
    ba, ca = np.array(b[:cfg.rows]), np.array(c[:cfg.rows])
    bb, cb = np.array(b[cfg.rows:]), np.array(c[cfg.rows:])
    beats, expected = [], []
    ks = (1, 2, 7, 3, 13, 13)
    for j, k in enumerate(ks):
        A = rng.integers(-32, 32, size=(cfg.rows, k))
        B = rng.integers(-16, 16, size=(k, cfg.cols))
        if j == len(ks) - 1:                                  # extreme tile at k_max
            A, B = np.full_like(A, -32), np.full_like(B, -16)
        for i in range(k):
            beats.append({"a": A[:, i].tolist(), "b": B[i].tolist(), "last": int(i == k - 1)})
        Af = dequant_first_operand(A.T, ba, ca, 16).T        # per-row (b, c) of the a lanes
        Bf = dequant_first_operand(B, bb, cb, 16)             # per-column (b, c) of the b lanes
        C = linear_acc(Af, Bf.T, 0)
        expected += [{"c": C[r].tolist(), "last": int(r == cfg.rows - 1)} for r in range(cfg.rows)]
    res = run_lanes(dut, beats, n_out=len(expected), seed=seed, writes={0: writes_for(b, c)},
                    p_valid=0.8, p_ready=0.7)
    assert res.outputs == expected, f"seed={seed}"
