"""sim/icarus_init.py: Yosys' ``always @*`` blocks run at time 0 on Icarus (``-g2012``)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from amaranth import Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ivita.sim.icarus_init import with_time0_evaluation


class _HeldByRegisters(wiring.Component):
    """``q``'s next value depends only on a register and the reset: nothing it reads changes
    while the reset is held, so without a time-0 evaluation Icarus never computes it."""

    def __init__(self) -> None:
        super().__init__({"q": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        a = Signal(init=1)
        m.d.sync += [a.eq(a), self.q.eq(a)]
        return m


_TB = """
module tb;
  reg clk = 0, rst = 1;
  wire q;
  dut dut(.clk(clk), .rst(rst), .q(q));
  initial begin
    #5 clk = 1; #5 clk = 0;          // one edge with the reset held
    $display("q=%b", q);
    $finish;
  end
endmodule
"""


def _run(design: str, tmp_path: Path) -> str:
    (tmp_path / "dut.v").write_text(design)
    (tmp_path / "tb.v").write_text(_TB)
    subprocess.run(["iverilog", "-g2012", "-o", "t.vvp", "-s", "tb", "dut.v", "tb.v"],
                   cwd=tmp_path, check=True, capture_output=True)
    out = subprocess.run(["vvp", "-n", "t.vvp"], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    return out.split("q=")[1].split()[0]


def test_adds_one_event_per_dump_module_register() -> None:
    text = verilog.convert(_HeldByRegisters(), name="dut")
    out = with_time0_evaluation(text)
    decls = [ln for ln in text.splitlines() if "dump_module$" in ln and ln.endswith(" = 0;")]
    events = [ln for ln in out.splitlines() if ln.strip().startswith("initial \\$auto")]
    assert decls and len(events) == len(decls)
    assert all(e.endswith("<= 1'b1;") for e in events)
    assert [ln for ln in out.splitlines() if ln not in events] == text.splitlines()
    assert with_time0_evaluation("module m; endmodule\n") == "module m; endmodule\n"


@pytest.mark.icarus
def test_reset_value_reaches_the_register_only_with_the_time0_event(
        need_simulator: Any, tmp_path: Path) -> None:
    need_simulator("icarus")
    text = verilog.convert(_HeldByRegisters(), name="dut")
    assert _run(text, tmp_path) == "x"                 # the Icarus behaviour this module fixes
    assert _run(with_time0_evaluation(text), tmp_path) == "0"
