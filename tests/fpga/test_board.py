"""The board build plan (fpga/board.py, ``ivita build --board``): the Tcl and XDC Amaranth's
Vivado flow writes for each board carry the board's part, the pins of its amaranth-boards
resources, the clock period and the bitstream step; without Vivado nothing pretends to be a
bitstream; a finished build's reports are read."""

import re
import shutil
from pathlib import Path

import pytest

from ivita.cli import main
from ivita.fpga.board import BOARD_REPORTS, board_platform, board_reports, write_board_plan
from ivita.fpga.parts import BOARDS
from ivita.fpga.top import RESET_BUTTONS, hostdevice_core
from ivita.fpga.vivado_reports import ReportError, parse_timing_summary, parse_utilization

DATA = Path(__file__).resolve().parents[1] / "data" / "vivado"


def _pins(resource) -> dict[str, str]:
    """``{subsignal or "": pin}`` of a one-pin resource or its subsignals."""
    out = {}
    for io in resource.ios:
        if hasattr(io, "names"):
            out[""] = " ".join(io.names)
        else:
            out[io.name] = " ".join(io.ios[0].names)
    return out


@pytest.fixture(scope="module", params=sorted(BOARDS))
def plan(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    return write_board_plan(request.param, out, core=hostdevice_core())


def test_tcl_has_the_part_sources_and_bitstream(plan):
    tcl = plan.tcl.read_text()
    assert f"create_project -force -name top -part {BOARDS[plan.board]}" in tcl
    assert "add_files top.v" in tcl and "read_xdc top.xdc" in tcl
    assert re.search(r"^\s*synth_design -top top\b", tcl, re.M)
    for step in ("opt_design", "place_design", "route_design"):
        assert re.search(rf"^\s*{step}\b", tcl, re.M), step
    assert re.search(r"^\s*write_bitstream -force -bin_file top\.bit", tcl, re.M)
    for rpt in BOARD_REPORTS.values():                   # the reports board_reports reads
        assert rpt.format(name="top") in tcl
    assert "vivado" in (plan.directory / "build_top.sh").read_text()
    assert not plan.bitstream.exists()


def test_xdc_has_the_board_pins_and_clock(plan):
    platform = board_platform(plan.board)
    xdc = plan.xdc.read_text()

    def loc(port: str) -> str:
        m = re.search(rf'set_property LOC (\S+) \[get_ports "{re.escape(port)}"\]', xdc)
        assert m, f"no LOC for {port}"
        return m[1]

    clk = platform.default_clk
    assert loc(f"{clk}_0__io") == _pins(platform.lookup(clk, 0))[""]
    uart = _pins(platform.lookup("uart", 0))
    assert loc("uart_0__rx__io") == uart["rx"] and loc("uart_0__tx__io") == uart["tx"]
    name, number = RESET_BUTTONS[type(platform).__name__]
    assert loc(f"{name}_{number}__io") == _pins(platform.lookup(name, number))[""]
    for i in range(4):
        assert loc(f"led_{i}__io") == _pins(platform.lookup("led", i))[""]
    assert 'set_property IOSTANDARD "LVCMOS33" [get_ports "uart_0__tx__io"]' in xdc
    period = float(re.search(rf"create_clock -name {clk}_0__io -period (\S+)", xdc)[1])
    assert period == pytest.approx(1e9 / platform.default_clk_frequency)
    assert period == pytest.approx({"arty-s7-50": 10.0, "arty-s7-25": 10.0,
                                    "cmod-s7": 1000 / 12}[plan.board])


def test_design_is_the_board_top(plan):
    v = (plan.directory / "top.v").read_text()
    assert re.search(r"^module top\(", v, re.M)
    assert "STARTUPE2" in v and "uart_0__tx__io" in v
    assert plan.divisor == round(plan.clk_hz / 115200)
    assert plan.divisor == {"cmod-s7": 104}.get(plan.board, 868)


def test_unknown_board():
    with pytest.raises(ValueError, match="board 'basys3' is not one of arty-s7-25, arty-s7-50"):
        board_platform("basys3")


def test_cli_without_vivado_writes_the_project_and_no_bitstream(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("ivita.fpga.vivado.vivado_path", lambda: None)
    out = tmp_path / "cmod"
    rc = main(["build", "--board", "cmod-s7", "--core", "testdevice", "--out", str(out)])
    assert rc == 3
    err = capsys.readouterr().err
    assert "xc7s25csga225-1, 12 MHz, UART 115200 baud = 104 clocks per bit" in err
    assert "vivado is not on PATH, so the build was not run and there is no bitstream" in err
    assert f"cd {out} && sh build_top.sh" in err
    assert (out / "top.tcl").is_file() and (out / "top.xdc").is_file()
    assert not list(out.glob("*.bit"))


@pytest.mark.parametrize("args, message", [
    (["--clock", "100"], "--clock 100: the board build runs at the board's clock"),
    (["--baud", "fast"], "--baud fast: must be a positive integer"),
    (["--baud", "5000000"], "--baud 5000000: baud=5000000 at 12 MHz needs divisor=2"),
])
def test_cli_usage_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["build", "--board", "cmod-s7", "--core", "testdevice", "--out", str(tmp_path),
              *args])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_unit_with_board_is_still_an_out_of_context_build(tmp_path, capsys):
    rc = main(["build", "--unit", "gelu", "--board", "cmod-s7", "--no-run", "--out",
               str(tmp_path)])
    assert rc == 0
    assert "set part xc7s25csga225-1" in (tmp_path / "build.tcl").read_text()


def test_board_reports_read_amaranths_report_names(tmp_path, capsys):
    src = DATA / "2025.1"
    shutil.copy(src / "utilization_hier.rpt",
                tmp_path / BOARD_REPORTS["utilization"].format(name="top"))
    shutil.copy(src / "timing_summary.rpt", tmp_path / BOARD_REPORTS["timing"].format(name="top"))
    shutil.copy(src / "timing_summary.rpt", tmp_path / "top_timing_synth.rpt")
    res = board_reports(tmp_path)
    _, rows = parse_utilization((src / "utilization_hier.rpt").read_text())
    assert res.total == rows[0].counts
    want = parse_timing_summary((src / "timing_summary.rpt").read_text())
    assert res.vivado_timing == want
    assert main(["build", "--board", "cmod-s7", "--reports", str(tmp_path)]) == 0
    assert f"{rows[0].counts.lut} LUT" in capsys.readouterr().out


def test_board_reports_missing(tmp_path):
    with pytest.raises(ReportError, match="no top_utilization_hierarchical_place.rpt"):
        board_reports(tmp_path)


@pytest.mark.parametrize("returncode, message", [
    (1, "vivado failed (exit 1, no bitstream)"), (0, "vivado failed (exit 0, no bitstream)")])
def test_cli_vivado_failure_or_missing_bitstream_exits_1(tmp_path, capsys, monkeypatch,
                                                         returncode, message):
    import subprocess
    monkeypatch.setattr("ivita.fpga.vivado.vivado_path", lambda: "/opt/vivado/bin/vivado")
    monkeypatch.setattr("ivita.fpga.board.run_board_plan", lambda plan: subprocess.
                        CompletedProcess(plan.command(), returncode, "", "ERROR: [Place 30-58]"))
    rc = main(["build", "--board", "arty-s7-25", "--core", "testdevice", "--out",
               str(tmp_path)])
    assert rc == 1
    err = capsys.readouterr().err
    assert message in err and "ERROR: [Place 30-58]" in err and f"{tmp_path}/top.log" in err
