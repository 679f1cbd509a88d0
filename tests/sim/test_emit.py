"""Verilog emission and the JSON sidecar (ports, payload offsets, config, provenance)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toy_bench import ToyAdder, ToyConfig

from ivita.model import ArrayConfig
from ivita.sim.emit import emit, parse_verilog_ports
from ivita.sim.sidecar import Sidecar


def test_sidecar_of_the_toy(tmp_path: Path) -> None:
    res = emit(ToyAdder(ToyConfig(width=5, lanes=3)), "toy_top", tmp_path)
    assert res.verilog == tmp_path / "toy_top.v" and res.verilog.exists()
    raw = json.loads((tmp_path / "toy_top.json").read_text())
    side = Sidecar.load(tmp_path / "toy_top.json")
    assert side.name == "toy_top" and raw["schema"] == 1
    assert side.config == {"type": "ToyConfig", "width": 5, "lanes": 3, "bug": False}
    assert side.timing == {"latency": 1, "latency_from": "first", "interval": 1, "per": "beat",
                           "n": None}
    assert (side.latency, side.latency_from, side.interval) == (1, "first", 1)
    assert side.clock == "clk" and side.reset == "rst"
    # the ports are those of the generated Verilog, with their widths
    assert side.ports["i_stream__payload"] == {"direction": "input", "width": 2 * 3 * 5 + 1}
    assert side.ports["o_stream__payload"] == {"direction": "output", "width": 3 * 6 + 1}
    assert side.ports["i_stream__ready"]["direction"] == "output"
    ins = side.stream("i_stream")
    assert (ins.direction, ins.valid, ins.ready) == ("in", "i_stream__valid", "i_stream__ready")
    assert side.stream("o_stream").direction == "out"
    # payload offsets derived from the Amaranth layout
    b = ins.codec.groups["b"]
    assert [leaf.offset for leaf in b.leaves] == [15, 20, 25] and b.signed and b.width == 5
    assert ins.codec.groups["last"].leaves[0].offset == 30
    prov = raw["provenance"]
    assert prov["ivita"] and prov["amaranth"] == "0.5.10" and "git" in prov
    assert raw["verilog_sha256"] == res.sha256
    assert set(side.inputs()) == {"i_stream__valid", "o_stream__ready", "i_stream__payload"}


def test_sidecar_of_the_array_carries_status_members(tmp_path: Path) -> None:
    from ivita.hw.array import SystolicArray
    cfg = ArrayConfig(rows=2, cols=3, a_bits=3, b_bits=5, k_max=4)
    res = emit(SystolicArray(cfg), "arr", tmp_path)
    side = res.sidecar
    assert side.config == cfg.as_dict()
    assert ArrayConfig.from_dict(side.config) == cfg
    assert side.port_of("k_overflow") == "k_overflow"
    assert side.signals["k_overflow"]["direction"] == "output"
    out = side.stream("o_stream").codec
    assert out.groups["c"].width == cfg.acc_bits and out.groups["c"].dims == (3,)
    assert side.ports["i_stream__payload"]["width"] == 2 * 3 + 3 * 5 + 1


def test_sidecar_records_the_timing_for_the_runs_n(tmp_path: Path) -> None:
    """``n`` (the run's row length / tile K) reaches ``component.timing(n)``; the nonlinear
    units' sidecars carry their timing (the benches wrap them, the wrapper forwards it)."""
    from ivita.hw.array import SystolicArray
    from ivita.hw.layernorm import IntLayerNorm
    from ivita.hw.softmax import Shiftmax
    from ivita.model import LayerNormConfig, SoftmaxConfig
    from ivita.sim.emit import describe
    from ivita.sim.tb_softmax import build_top

    arr = SystolicArray(ArrayConfig(rows=4, cols=3, a_bits=3, b_bits=3, k_max=9))
    side = Sidecar(describe(arr, "arr", n=2))
    assert side.timing == {"latency": 6, "latency_from": "last", "interval": 4, "per": "tile",
                           "n": 2}
    assert Sidecar(describe(arr, "arr", n=9)).interval == 9
    cfg = SoftmaxConfig(in_bits=4, max_tokens=16)
    smx = Shiftmax(cfg)
    top = build_top(smx)
    for n in (1, 16):
        t = Sidecar(describe(top, "smx", n=n)).timing
        assert t == {**smx.timing(n).as_dict(), "n": n} and t["latency_from"] == "last"
    assert Sidecar(describe(top, "smx", n=1)).latency != Sidecar(describe(top, "smx", n=16)).latency
    ln = IntLayerNorm(LayerNormConfig(in_bits=4, channels=5))
    assert Sidecar(describe(ln, "ln")).timing == {**ln.timing().as_dict(), "n": None}
    for c in (arr, smx, top, ln):
        c._MustUse__silence = True     # described, never elaborated


def test_emit_rewrites_only_changed_verilog(tmp_path: Path) -> None:
    comp = ToyAdder(ToyConfig())
    first = emit(comp, "t", tmp_path)
    mtime = first.verilog.stat().st_mtime_ns
    second = emit(ToyAdder(ToyConfig()), "t", tmp_path)
    assert second.sha256 == first.sha256 and second.verilog.stat().st_mtime_ns == mtime


def test_emit_rejects_bad_names_and_non_components(tmp_path: Path) -> None:
    comp = ToyAdder(ToyConfig())
    comp._MustUse__silence = True  # never elaborated on purpose
    with pytest.raises(ValueError, match="is not a Verilog identifier"):
        emit(comp, "9bad-name", tmp_path)
    with pytest.raises(TypeError, match="needs an amaranth.lib.wiring.Component"):
        emit(object(), "x", tmp_path)  # type: ignore[arg-type]


def test_parse_verilog_ports() -> None:
    text = """
module other(a); input a; endmodule
module top(clk, \\x.y , bus, o);
  input clk;
  wire clk;
  input \\x.y ;
  input [12:0] bus;
  output signed [3:0] o;
  reg [3:0] internal;
endmodule
"""
    assert parse_verilog_ports(text, "top") == {
        "clk": {"direction": "input", "width": 1}, "x.y": {"direction": "input", "width": 1},
        "bus": {"direction": "input", "width": 13}, "o": {"direction": "output", "width": 4}}
    with pytest.raises(ValueError, match="module 'nope' not found"):
        parse_verilog_ports(text, "nope")


def test_sidecar_validation(tmp_path: Path) -> None:
    res = emit(ToyAdder(ToyConfig()), "t", tmp_path)
    data = json.loads(res.sidecar_path.read_text())
    bad = json.loads(json.dumps(data))
    bad["schema"] = 99
    with pytest.raises(ValueError, match="schema 99 is not 1"):
        Sidecar(bad)
    bad = json.loads(json.dumps(data))
    bad["ports"]["i_stream__payload"]["width"] += 1
    with pytest.raises(ValueError, match="payload layout is 25 bits but port i_stream__payload"):
        Sidecar(bad)
    bad = json.loads(json.dumps(data))
    bad["streams"]["i_stream"]["ready"] = "nope"
    with pytest.raises(ValueError, match="ready port 'nope' is not a port"):
        Sidecar(bad)
    with pytest.raises(KeyError, match="has no stream 'x_stream'"):
        Sidecar(data).stream("x_stream")
