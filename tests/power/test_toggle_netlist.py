"""Toggle counting end to end on a tiny hand-checkable netlist of Xilinx primitives.

A 2-bit counter (``q0 <= ~q0`` through a LUT1, ``q1 <= q1 ^ q0`` through a LUT2, both FDRE)
in a submodule ``cnt``, simulated by Icarus with Yosys's cells_sim.v: over 8 cycles ``q0``
toggles 8 times, ``q1`` 4 times, and each is at 1 half the time.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ivita.power.gatesim import cells_sim_path
from ivita.power.model import BitActivity, instance_features, load_model
from ivita.power.netlist import MappedNetlist, netlist_from_json
from ivita.power.vcd import count_activity

NETLIST = """
module counter(input clk, input rst, output q0, output q1);
  wire d0, d1;
  LUT1 #(.INIT(2'b01)) inv0 (.I0(q0), .O(d0));
  LUT2 #(.INIT(4'b0110)) xor1 (.I0(q0), .I1(q1), .O(d1));
  FDRE #(.INIT(1'b0)) r0 (.C(clk), .CE(1'b1), .R(rst), .D(d0), .Q(q0));
  FDRE #(.INIT(1'b0)) r1 (.C(clk), .CE(1'b1), .R(rst), .D(d1), .Q(q1));
endmodule
module top(input clk, input rst, output q0, output q1);
  counter cnt (.clk(clk), .rst(rst), .q0(q0), .q1(q1));
endmodule
"""

TB = """`timescale 1ns/1ps
module tb;
  reg clk = 0; reg rst = 1; wire q0, q1;
  top dut (.clk(clk), .rst(rst), .q0(q0), .q1(q1));
  always #5 clk = ~clk;
  initial begin
    $dumpfile("t.vcd"); $dumpvars(0, dut);
    #12 rst = 0;
    #200 $finish;
  end
endmodule
"""


@pytest.mark.icarus
def test_counter_toggles(tmp_path):
    if not shutil.which("iverilog"):
        pytest.skip("iverilog is not installed")
    (tmp_path / "n.v").write_text(NETLIST)
    (tmp_path / "tb.v").write_text(TB)
    subprocess.run(["iverilog", "-o", "s.vvp", "-s", "tb", "tb.v", "n.v", str(cells_sim_path())],
                   cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["vvp", "-n", "s.vvp"], cwd=tmp_path, check=True, capture_output=True)
    # posedges at 5, 15, ...; reset released at 12: the counter counts from the edge at 15.
    # Window [20, 100) ns: edges at 25..95, 8 cycles.
    acts = count_activity(tmp_path / "t.vcd", scope=("tb", "dut"), keep={"", "cnt"},
                          t0_ns=20, t1_ns=100)
    by = {(a.scope, a.name): a for a in acts}
    assert by[("cnt", "q0")].toggles == [8]
    assert by[("cnt", "q1")].toggles == [4]
    assert by[("cnt", "d0")].toggles == [8]
    assert by[("cnt", "q0")].high == pytest.approx([0.5])
    assert by[("cnt", "q1")].high == pytest.approx([0.5])
    assert by[("", "clk")].toggles == [16]


@pytest.mark.yosys
def test_counter_power_arithmetic(tmp_path):
    """The model's sum on the counter, by hand: each driver's 1/2 V^2 f tr (C_type + C_net +
    fanout C_fanout) plus V^2 f C_clock per FF."""
    from ivita.fpga.synth import _yosys_cmd

    (tmp_path / "n.v").write_text(NETLIST)
    subprocess.run([*_yosys_cmd(), "-q", "-p", "read_verilog -lib +/xilinx/cells_sim.v; "
                    "read_verilog n.v; hierarchy -top top; select top counter; "
                    "write_json -selected n.json"],
                   cwd=tmp_path, check=True, capture_output=True)
    mods = netlist_from_json(json.loads((tmp_path / "n.json").read_text()), "top")
    nl = MappedNetlist("top", tmp_path / "n.v", mods, "hand", 0.0, False)
    assert [p for p, _ in nl.instances()] == ["", "cnt"]
    assert nl.cell_counts() == {"LUT1": 1, "LUT2": 1, "FDRE": 2}
    cnt = mods["counter"]
    bit = {n: b[0] for n, b in cnt.nets.items()}
    act = {("cnt", bit["q0"]): BitActivity(1.0, 0.5), ("cnt", bit["q1"]): BitActivity(0.5, 0.5),
           ("cnt", bit["d0"]): BitActivity(1.0, 0.5), ("cnt", bit["d1"]): BitActivity(0.5, 0.5)}
    m = load_model()
    c = m.coefficients_pf
    paths, feats, unknown = instance_features(nl, act, freq_hz=100e6, vccint_v=1.0)
    assert unknown == 0
    p = dict(zip(paths, feats @ m.vector()))
    half = 0.5 * 1.0 * 100e6 * 1e-12
    # fanouts: q0 -> inv0, xor1, port q0 = 3; q1 -> xor1, port = 2; d0 -> r0 = 1; d1 -> r1 = 1
    want = (half * 1.0 * (c["FF"] + c["net"] + 3 * c["fanout"])
            + half * 0.5 * (c["FF"] + c["net"] + 2 * c["fanout"])
            + half * 1.0 * (c["LUT1"] + c["net"] + 1 * c["fanout"])
            + half * 0.5 * (c["LUT2"] + c["net"] + 1 * c["fanout"])
            + 2 * (2 * half * c["clock_per_ff"]))
    assert p["cnt"] == pytest.approx(want, rel=1e-12)
    assert p[""] == 0.0
    # missing activity is counted, not invented
    _, _, unknown = instance_features(nl, {}, freq_hz=100e6, vccint_v=1.0)
    assert unknown == 4
