"""The pure-Python parts of ivita.sim import without cocotb and without Amaranth."""

from __future__ import annotations

import subprocess
import sys

PURE = ["ivita.sim.payload", "ivita.sim.sidecar", "ivita.sim.scoreboard", "ivita.sim.loop",
        "ivita.sim.bench", "ivita.sim.registry", "ivita.sim.runner", "ivita.sim._objcache"]


def test_pure_modules_import_without_cocotb_and_amaranth() -> None:
    code = (
        "import sys\n"
        "for m in ('cocotb', 'amaranth', 'cocotb_tools'):\n"
        "    sys.modules[m] = None  # any import of them raises ImportError\n"
        f"import importlib\nfor m in {PURE!r}:\n    importlib.import_module(m)\n"
        "from ivita.sim.registry import units\nprint(units())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "array" in proc.stdout
