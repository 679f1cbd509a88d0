"""The board build: a :class:`~ivita.fpga.top.BoardTop` through amaranth-boards' Vivado flow.

:func:`write_board_plan` elaborates the top for one of :data:`~ivita.fpga.parts.BOARDS` with
``platform.build(top, name=..., do_build=False)`` (Amaranth's Vivado toolchain) and extracts
the build tree into a folder: ``<name>.v`` (the design), ``<name>.xdc`` (the pins and I/O
standards of the clock, reset button, UART and LEDs from the amaranth-boards resources, and
``create_clock`` with the board clock's period), ``<name>.tcl`` (``create_project -part``,
synthesis, place, route, reports, ``write_bitstream -force -bin_file <name>.bit``) and
``build_<name>.sh`` (runs ``vivado -mode batch -source <name>.tcl``).

:func:`run_board_plan` runs that script when ``vivado`` is on PATH (nothing is ever written
in place of a bitstream: without Vivado there is none), and :func:`board_reports` reads the
post-place hierarchical utilization and the post-route timing summary Vivado left there
(with :mod:`ivita.fpga.vivado_reports`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .parts import BOARDS

__all__ = ["BoardPlan", "board_platform", "write_board_plan", "run_board_plan",
           "board_reports", "BOARD_REPORTS"]

#: reports of Amaranth's Vivado script that :func:`board_reports` reads (``{name}`` = top)
BOARD_REPORTS = {"utilization": "{name}_utilization_hierarchical_place.rpt",
                 "timing": "{name}_timing.rpt", "power": "{name}_power.rpt"}


def board_platform(board: str) -> Any:
    """The amaranth-boards platform of ``board`` (a key of :data:`BOARDS`); ValueError naming
    the known boards otherwise."""
    from amaranth_boards.arty_s7 import ArtyS7_25Platform, ArtyS7_50Platform
    from amaranth_boards.cmod_s7 import CmodS7_Platform

    classes = {"arty-s7-50": ArtyS7_50Platform, "arty-s7-25": ArtyS7_25Platform,
               "cmod-s7": CmodS7_Platform}
    if board not in classes:
        raise ValueError(f"board {board!r} is not one of {', '.join(sorted(classes))}")
    platform = classes[board](toolchain="Vivado")
    assert platform.device + platform.package + "-" + platform.speed == BOARDS[board]
    return platform


@dataclass(frozen=True)
class BoardPlan:
    """A written board build tree."""

    directory: Path
    board: str
    name: str
    part: str
    clk_hz: float
    divisor: int
    baud: int

    @property
    def tcl(self) -> Path:
        return self.directory / f"{self.name}.tcl"

    @property
    def xdc(self) -> Path:
        return self.directory / f"{self.name}.xdc"

    @property
    def bitstream(self) -> Path:
        return self.directory / f"{self.name}.bit"

    def command(self) -> list[str]:
        return ["sh", f"build_{self.name}.sh"]

    def command_text(self) -> str:
        return f"cd {self.directory} && {' '.join(self.command())}"


def write_board_plan(board: str, directory: str | Path, *, core: Any = None,
                     name: str = "top", baud: int = 115200) -> BoardPlan:
    """Elaborate a :class:`~ivita.fpga.top.BoardTop` (``core`` as there; default the
    accelerator) for ``board`` and write its Vivado build tree into ``directory``."""
    from .top import BoardTop, accelerator_core

    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name={name!r} must be a plain identifier")
    platform = board_platform(board)
    top = BoardTop.for_platform(platform, accelerator_core if core is None else core, baud=baud)
    plan = platform.build(top, name=name, do_build=False)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    plan.extract(str(d))
    return BoardPlan(directory=d, board=board, name=name, part=BOARDS[board],
                     clk_hz=top.clk_hz, divisor=top.divisor, baud=baud)


def run_board_plan(plan: BoardPlan, *, timeout: float = 6 * 3600) -> subprocess.CompletedProcess:
    """Run the build script (``vivado`` must be on PATH; FileNotFoundError otherwise)."""
    from .vivado import vivado_path

    if vivado_path() is None:
        raise FileNotFoundError("vivado is not on PATH")
    return subprocess.run(plan.command(), cwd=plan.directory, timeout=timeout,
                          capture_output=True, text=True)


def board_reports(plan_or_dir: BoardPlan | str | Path, name: str = "top") -> Any:
    """A finished board build's reports -> :class:`~ivita.fpga.synth.UnitResult` (hierarchical
    post-place utilization, post-route timing summary, power); ReportError when the
    utilization report is missing."""
    from .vivado_reports import ReportError, unit_result_from_reports

    if isinstance(plan_or_dir, BoardPlan):
        d, name = plan_or_dir.directory, plan_or_dir.name
    else:
        d = Path(plan_or_dir)
    paths = {k: d / v.format(name=name) for k, v in BOARD_REPORTS.items()}
    if not paths["utilization"].is_file():
        raise ReportError(f"no {paths['utilization'].name} in {d} (did Vivado finish?)")
    return unit_result_from_reports(d, unit=f"board:{name}",
                                    reports={k: p for k, p in paths.items() if p.is_file()})
