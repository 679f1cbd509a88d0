"""The pure-Python parts of ivita.sim import without cocotb and without Amaranth, the modules of
ivita.sim import each other without cycles, and hw/ holds gateware only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PURE = ["ivita.sim.payload", "ivita.sim.sidecar", "ivita.sim.scoreboard", "ivita.sim.loop",
        "ivita.sim.bench", "ivita.sim.registry", "ivita.sim.runner", "ivita.sim._objcache",
        "ivita.sim.tools", "ivita.sim.jsonio", "ivita.sim.rows", "ivita.sim.formal",
        "ivita.sim.bus_plan", "ivita.sim.attention_run", "ivita.sim.attention_matrix",
        "ivita.sim.bulk", "ivita.sim.bulk_files", "ivita.sim.bulk_units", "ivita.sim.bulk_build",
        "ivita.sim.bulk_view"]


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


def sim_imports() -> dict[str, set[str]]:
    """module -> the ``ivita.sim`` modules it imports anywhere (also inside functions)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "sim").glob("*.py")):
        mod = path.stem
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    if node.module:
                        deps.add(node.module.split(".")[0])
                    else:
                        deps.update(a.name for a in node.names)
                elif node.module and node.module.startswith("ivita.sim."):
                    deps.add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                deps.update(a.name.split(".")[2] for a in node.names
                            if a.name.startswith("ivita.sim."))
        graph[mod] = deps - {mod}
    return graph


def test_sim_modules_have_no_import_cycle() -> None:
    graph = sim_imports()
    assert "bench" not in graph["amaranth_bench"]
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            assert state.get(d) != 1, f"import cycle: {' -> '.join([*stack, m, d])}"
            if d not in state:
                visit(d, [*stack, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_hw_holds_gateware_only() -> None:
    """No simulation or proof helpers in hw/ (they live in sim/), and hw/ never imports sim."""
    names = {p.stem for p in (ROOT / "hw").glob("*.py")}
    assert not names & {"simlanes", "simstream", "formal"}, names
    for path in (ROOT / "hw").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for m in mods:
                assert not m.startswith(("ivita.sim", "amaranth.sim")), f"{path.name}: {m}"
