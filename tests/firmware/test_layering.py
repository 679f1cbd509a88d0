"""Layering of the host link: ``ivita.hw`` may import ``ivita.firmware.protocol`` (the one
definition of the frame format) and nothing else of ``ivita.firmware``; ``ivita.firmware``
never imports ``ivita.hw``/``ivita.sim`` and imports Amaranth only inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports(path: Path, *, top_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def test_hw_imports_only_the_protocol_from_firmware() -> None:
    users = {}
    for path in sorted((ROOT / "hw").glob("*.py")):
        fw = [n for n in imports(path, top_level_only=False) if n.startswith("ivita.firmware")]
        assert set(fw) <= {"ivita.firmware.protocol"}, (path.name, fw)
        if fw:
            users[path.name] = fw
    assert "hostif_exec.py" in users            # the check can see an import


def test_firmware_does_not_import_hw_sim_or_amaranth_at_import_time() -> None:
    for path in sorted((ROOT / "firmware").glob("*.py")):
        every = imports(path, top_level_only=False)
        assert not [n for n in every if n.startswith(("ivita.hw", "ivita.sim", "ivita.fpga"))], \
            path.name
        top = imports(path, top_level_only=True)
        assert not [n for n in top if n.split(".")[0] in ("amaranth", "serial", "numpy")], \
            path.name
