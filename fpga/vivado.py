"""Out-of-context Vivado builds of one unit: Verilog, XDC and a batch Tcl script.

:func:`write_ooc_plan` writes into a folder:

- ``<top>.v``: the unit's Verilog (Amaranth), every ``pe_r{r}_c{c}`` module marked
  ``(* keep_hierarchy = "yes" *)`` so that utilization and power are reported per PE;
- ``<top>.xdc``: a clock on ``clk`` at the target frequency, ``HD.CLK_SRC`` (the clock comes
  from a global buffer outside the unit) and zero input/output delays on the other ports
  (they are taken to be registered outside, as in :mod:`ivita.fpga.timing`);
- ``build.tcl``: ``synth_design -mode out_of_context``, ``opt_design``, ``place_design``,
  ``phys_opt_design``, ``route_design``, then ``report_utilization -hierarchical``,
  ``report_timing_summary`` and ``report_power`` with a hierarchy depth that reaches every PE
  (``read_saif`` first when an activity file is given) into ``reports/``.

:func:`run_plan` runs it when ``vivado`` is on PATH. No bitstream: an out-of-context unit has
no pins; the board build (top, UART, bitstream) needs the attention block (not yet available).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .parts import PartChoice
from .synth import PE_RE

__all__ = ["VivadoPlan", "write_ooc_plan", "run_plan", "vivado_path", "REPORT_FILES"]

REPORT_FILES = {
    "utilization_synth": "reports/utilization_synth_hier.rpt",
    "utilization": "reports/utilization_hier.rpt",
    "timing": "reports/timing_summary.rpt",
    "power": "reports/power_hier.rpt",
}


@dataclass(frozen=True)
class VivadoPlan:
    directory: Path
    top: str
    part: str
    clock_mhz: float
    hier_depth: int
    saif: Path | None

    @property
    def tcl(self) -> Path:
        return self.directory / "build.tcl"

    @property
    def reports(self) -> Path:
        return self.directory / "reports"

    def command(self) -> list[str]:
        return ["vivado", "-mode", "batch", "-nojournal", "-log", "vivado.log",
                "-source", "build.tcl"]

    def command_text(self) -> str:
        return f"cd {self.directory} && {' '.join(self.command())}"


def vivado_path() -> str | None:
    return shutil.which("vivado")


def _mark_keep_hierarchy(verilog: str) -> tuple[str, int]:
    """Prefix every PE module definition with ``(* keep_hierarchy = "yes" *)``."""
    out, n = [], 0
    for line in verilog.splitlines(keepends=True):
        m = re.match(r"module\s+\\?(\S+)\s*\(", line)
        if m and PE_RE.search(m[1]):
            out.append('(* keep_hierarchy = "yes" *)\n')
            n += 1
        out.append(line)
    return "".join(out), n


def _hier_depth(verilog: str, top: str) -> int:
    """Levels below ``top`` (Amaranth names a submodule's module ``top.a.b``) plus one."""
    depth = 0
    for m in re.finditer(r"^module\s+\\?(\S+)\s*\(", verilog, re.M):
        name = m[1]
        if name.startswith(top + "."):
            depth = max(depth, name[len(top) + 1:].count(".") + 1)
    return depth + 1


def write_ooc_plan(component: Any, top: str, directory: str | Path, *, part: PartChoice,
                   clock_mhz: float, saif: str | Path | None = None,
                   saif_strip: str | None = None) -> VivadoPlan:
    """Write the out-of-context build of ``component`` into ``directory`` (created).

    ``clock_mhz``: the target clock on port ``clk``. ``saif``: a switching-activity file read
    before ``report_power`` (``saif_strip``: the instance path of the unit in the simulation
    that wrote it). Returns the :class:`VivadoPlan`."""
    from amaranth.back import verilog as averilog

    if not isinstance(top, str) or not top.isidentifier():
        raise ValueError(f"top={top!r} must be a plain identifier")
    if not (1.0 <= float(clock_mhz) <= 1000.0):
        raise ValueError(f"clock_mhz={clock_mhz} is out of range; it must be in 1..1000")
    d = Path(directory)
    (d / "reports").mkdir(parents=True, exist_ok=True)
    text, _ = _mark_keep_hierarchy(averilog.convert(component, name=top))
    depth = _hier_depth(text, top)
    (d / f"{top}.v").write_text(text)
    saif_path = Path(saif).resolve() if saif is not None else None
    if saif_path is not None and not saif_path.is_file():
        raise FileNotFoundError(f"activity file {saif} does not exist")
    period = 1000.0 / float(clock_mhz)
    (d / f"{top}.xdc").write_text(
        f"# ivita build: out-of-context constraints of {top}\n"
        f"create_clock -period {period:.3f} -name clk [get_ports clk]\n"
        f"set_property HD.CLK_SRC BUFGCTRL_X0Y0 [get_ports clk]\n"
        f"set_input_delay -clock clk 0.000 [get_ports -filter {{DIRECTION == IN && NAME != clk}}]\n"
        f"set_output_delay -clock clk 0.000 [get_ports -filter {{DIRECTION == OUT}}]\n")
    saif_lines = ""
    if saif_path is not None:
        strip = f" -strip_path {saif_strip}" if saif_strip else ""
        saif_lines = f"read_saif{strip} {{{saif_path}}}\n"
    r = REPORT_FILES
    (d / "build.tcl").write_text(
        f"# ivita build: out-of-context Vivado build of {top} for {part.full_name} at "
        f"{clock_mhz:g} MHz\n"
        f"# run: vivado -mode batch -nojournal -log vivado.log -source build.tcl\n"
        f"set top {top}\n"
        f"set part {part.full_name}\n"
        f"file mkdir reports\n"
        f"read_verilog {top}.v\n"
        f"read_xdc -mode out_of_context {top}.xdc\n"
        f"synth_design -top $top -part $part -mode out_of_context -flatten_hierarchy rebuilt\n"
        f"report_utilization -hierarchical -hierarchical_depth {depth} "
        f"-file {r['utilization_synth']}\n"
        f"write_checkpoint -force post_synth.dcp\n"
        f"opt_design\n"
        f"place_design\n"
        f"phys_opt_design\n"
        f"route_design\n"
        f"write_checkpoint -force post_route.dcp\n"
        f"report_utilization -hierarchical -hierarchical_depth {depth} "
        f"-file {r['utilization']}\n"
        f"report_timing_summary -delay_type min_max -max_paths 10 -file {r['timing']}\n"
        f"{saif_lines}"
        f"report_power -hierarchical_depth {depth} -file {r['power']}\n")
    return VivadoPlan(directory=d, top=top, part=part.full_name, clock_mhz=float(clock_mhz),
                      hier_depth=depth, saif=saif_path)


def run_plan(plan: VivadoPlan, *, timeout: float = 6 * 3600) -> subprocess.CompletedProcess:
    """Run ``vivado -mode batch`` on the plan (``vivado`` must be on PATH)."""
    exe = vivado_path()
    if exe is None:
        raise FileNotFoundError("vivado is not on PATH")
    return subprocess.run([exe, *plan.command()[1:]], cwd=plan.directory, timeout=timeout,
                          capture_output=True, text=True)
