"""fpga/vivado.py: the generated out-of-context Vivado project (Tcl, XDC, Verilog)."""

import re

import pytest

from ivita.fpga.parts import parse_part
from ivita.fpga.vivado import write_ooc_plan
from ivita.hw.array import SystolicArray
from ivita.model.config import ArrayConfig


@pytest.fixture
def plan(tmp_path):
    cfg = ArrayConfig(rows=2, cols=3, a_bits=4, b_bits=4, k_max=16)
    saif = tmp_path / "act.saif"
    saif.write_text("(SAIFILE)\n")
    return write_ooc_plan(SystolicArray(cfg), "array", tmp_path / "proj",
                          part=parse_part("xc7s25csga225-1"), clock_mhz=200, saif=saif,
                          saif_strip="tb/dut")


def test_tcl_flow(plan):
    tcl = plan.tcl.read_text()
    lines = [line for line in tcl.splitlines() if not line.startswith("#")]
    assert "set part xc7s25csga225-1" in lines
    assert "read_xdc -mode out_of_context array.xdc" in lines
    assert ("synth_design -top $top -part $part -mode out_of_context -flatten_hierarchy rebuilt"
            in lines)
    order = ["synth_design", "opt_design", "place_design", "route_design",
             "report_utilization -hierarchical -hierarchical_depth 2 -file reports/utilization_hier",
             "report_timing_summary", "read_saif",
             "report_power"]
    pos = [next(i for i, line in enumerate(lines) if line.startswith(k)) for k in order]
    assert pos == sorted(pos)
    # the depth reaches the PEs (one level below the top) in every hierarchical report
    assert plan.hier_depth == 2
    assert "report_power -hierarchical_depth 2 -file reports/power_hier.rpt" in lines
    assert ("report_utilization -hierarchical -hierarchical_depth 2 "
            "-file reports/utilization_hier.rpt") in lines
    saif_line = next(line for line in lines if line.startswith("read_saif"))
    assert saif_line == f"read_saif -strip_path tb/dut {{{plan.saif}}}"
    assert plan.command_text().endswith("vivado -mode batch -nojournal -log vivado.log "
                                        "-source build.tcl")


def test_no_saif_no_read_saif(tmp_path):
    cfg = ArrayConfig(rows=1, cols=1, a_bits=2, b_bits=2, k_max=4)
    p = write_ooc_plan(SystolicArray(cfg), "array", tmp_path, part=parse_part("xc7s50-1"),
                       clock_mhz=250)
    assert "read_saif" not in p.tcl.read_text()
    with pytest.raises(FileNotFoundError, match="activity file .*missing.saif does not exist"):
        write_ooc_plan(SystolicArray(cfg), "array", tmp_path, part=parse_part("xc7s50-1"),
                       clock_mhz=250, saif=tmp_path / "missing.saif")


def test_xdc_clock(plan):
    xdc = plan.directory.joinpath("array.xdc").read_text().splitlines()
    assert "create_clock -period 5.000 -name clk [get_ports clk]" in xdc
    assert "set_property HD.CLK_SRC BUFGCTRL_X0Y0 [get_ports clk]" in xdc
    assert any(x.startswith("set_input_delay -clock clk 0.000") and "NAME != clk" in x
               for x in xdc)


def test_every_pe_keeps_its_hierarchy(plan):
    v = plan.directory.joinpath("array.v").read_text().splitlines()
    kept = [v[i + 1] for i, line in enumerate(v) if line == '(* keep_hierarchy = "yes" *)']
    names = sorted(re.match(r"module \\array\.(\S+) ", k)[1] for k in kept)
    assert names == [f"pe_r{r}_c{c}" for r in range(2) for c in range(3)]


@pytest.mark.parametrize("mhz", [0, 1001])
def test_bad_clock(tmp_path, mhz):
    cfg = ArrayConfig(rows=1, cols=1, a_bits=2, b_bits=2, k_max=4)
    arr = SystolicArray(cfg)
    with pytest.raises(ValueError, match=f"clock_mhz={mhz} is out of range; it must be in "
                                         f"1..1000"):
        write_ooc_plan(arr, "array", tmp_path, part=parse_part("xc7s50-1"), clock_mhz=mhz)
    from amaranth.hdl import Fragment
    Fragment.get(arr, None)
