"""fpga/vivado_reports.py on hand-written samples in the formats of Vivado 2018.3 and 2025.1
(tests/data/vivado: each file says in its first line that it is not a real Vivado output)."""

from pathlib import Path

import pytest

from ivita.fpga.vivado_reports import (ReportError, find_reports, parse_header, parse_power,
                                       parse_timing_summary, parse_utilization,
                                       unit_result_from_reports)

DATA = Path(__file__).resolve().parents[1] / "data" / "vivado"
VERSIONS = ["2018.3", "2025.1"]


@pytest.mark.parametrize("ver", VERSIONS)
def test_samples_are_labelled(ver):
    for p in (DATA / ver).glob("*.rpt"):
        first = p.read_text().splitlines()[0]
        assert first.startswith(f"# HAND-WRITTEN SAMPLE in the format of Vivado {ver}"), p
        assert "NOT a real Vivado output" in first


@pytest.mark.parametrize("ver", VERSIONS)
def test_utilization_hierarchy(ver):
    header, rows = parse_utilization((DATA / ver / "utilization_hier.rpt").read_text())
    assert header.tool_version == ver
    assert header.device == "xc7s50csga324-1"       # 2018.3 writes 7s50csga324-1
    assert [(r.instance, r.depth, r.own_logic) for r in rows] == [
        ("array", 0, False), ("(array)", 1, True), ("pe_r0_c0", 1, False),
        ("pe_r0_c1", 1, False), ("pe_r1_c0", 1, False), ("pe_r1_c1", 1, False)]
    top = rows[0].counts
    assert (top.lut, top.srl, top.ff, top.dsp48e1) == (156, 4, 228, 1)   # DSP48 / DSP Blocks
    assert rows[2].counts.lut == 32 and rows[2].counts.ff == 40
    assert rows[2].module == "array.pe_r0_c0"


def test_utilization_without_logic_luts_column():
    text = "\n".join([
        "| Instance | Module | Total LUTs | LUTRAMs | SRLs | FFs | DSP Blocks |",
        "+----------+--------+------------+---------+------+-----+------------+",
        "| top      |  (top) |         10 |       2 |    1 |   5 |          0 |"])
    _, rows = parse_utilization(text)
    c = rows[0].counts
    assert (c.lut, c.lutram, c.srl, c.lut_sites) == (7, 2, 1, 10)


@pytest.mark.parametrize("ver, wns, whs, met, fmax", [
    ("2018.3", -0.412, 0.061, False, 226.7), ("2025.1", 0.345, 0.058, True, 273.6)])
def test_timing_summary(ver, wns, whs, met, fmax):
    t = parse_timing_summary((DATA / ver / "timing_summary.rpt").read_text())
    assert (t.wns_ns, t.whs_ns, t.met, t.fmax_mhz, t.tool_version) == (wns, whs, met, fmax, ver)
    assert [(c.name, c.period_ns, c.frequency_mhz) for c in t.clocks] == [("clk", 4.0, 250.0)]
    assert t.failing_endpoints == (12 if not met else 0)


@pytest.mark.parametrize("ver, total, pe01", [("2018.3", 0.087, (0.001, True)),
                                              ("2025.1", 0.088, (0.002, False))])
def test_power_hierarchy(ver, total, pe01):
    p = parse_power((DATA / ver / "power_hier.rpt").read_text())
    assert (p.total_w, p.static_w, p.confidence, p.tool_version) == (total, 0.072, "Low", ver)
    names = [(e.name, e.depth) for e in p.hierarchy]
    assert names == [("array", 0)] + [(f"pe_r{r}_c{c}", 1) for r in range(2) for c in range(2)]
    e = p.hierarchy[2]
    assert (e.watts, e.upper_bound) == pe01


@pytest.mark.parametrize("ver", VERSIONS)
def test_reports_to_unit_result(ver):
    assert set(find_reports(DATA / ver)) == {"utilization", "timing", "power"}
    res = unit_result_from_reports(DATA / ver, unit="array")
    assert res.top == "array" and res.config == {"device": "xc7s50csga324-1"}
    assert [p.pe_position for p in res.pes()] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert res.instance("").own.lut == 32 and res.instance("").total.lut == 156
    assert res.vivado_timing is not None and res.power is not None
    assert res.timing is None                 # no estimate: Vivado's own numbers instead


def test_errors_say_what_is_missing(tmp_path):
    with pytest.raises(ReportError, match="no 'Instance' table"):
        parse_utilization("nothing here")
    with pytest.raises(ReportError, match="no 'Design Timing Summary'"):
        parse_timing_summary("nothing here")
    with pytest.raises(ReportError, match="no 'Total On-Chip Power"):
        parse_power("nothing here")
    with pytest.raises(ReportError, match="no report_utilization -hierarchical report"):
        unit_result_from_reports(tmp_path)


def test_header_fields():
    h = parse_header("| Tool Version : Vivado v.2019.1 (lin64)\n| Device : 7s25csga225-1\n"
                     "| Command : report_power -file x\n| Design : top\n")
    assert (h.tool_version, h.device, h.design) == ("2019.1", "xc7s25csga225-1", "top")
