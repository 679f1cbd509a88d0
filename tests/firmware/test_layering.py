"""Layering of ``ivita.firmware`` against ``ivita.hw``.

- ``ivita.hw`` may import the firmware's *definition* modules (``DEFINITIONS``: the host-link
  frame format, the ISA, the memory map -- the single definitions the gateware shares with the
  host) and nothing else of ``ivita.firmware`` (not the compilers, driver, transports).
- The definition modules import only the standard library, each other and, for the memory
  map, the block's configuration ``ivita.model.block_config`` (``ALLOWED_MODEL``: the widths
  and depths the map is derived from; ``ivita.hw`` imports ``ivita.model`` anyway): no numpy,
  no Amaranth, nothing else of ``ivita``.
- Every other firmware module may import numpy and ``ivita.model`` at the top level, never
  ``ivita.hw``/``ivita.sim``/``ivita.fpga``, and optional tools (Amaranth's simulator for
  ``SimTransport``, pyserial) only inside functions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DEFINITIONS = {"protocol", "isa", "memory_map"}
ALLOWED_MODEL = {"memory_map": {"ivita.model.block_config"}}


def imports(source: str, *, top_level_only: bool, package: str = "ivita.firmware") -> list[str]:
    """Absolute names of the modules ``source`` imports (``from ivita.firmware import isa`` and
    ``from .isa import x`` both count as ``ivita.firmware.isa``)."""
    tree = ast.parse(source)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: list[str] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])
            if base in ("ivita.firmware", "ivita.hw", "ivita.model"):   # a submodule by name
                names += [f"{base}.{a.name}" for a in node.names]
            else:
                names.append(base)
    return names


def _firmware_modules(path: str) -> list[str]:
    return [n for n in imports(Path(path).read_text(), top_level_only=False, package="ivita.hw")
            if n.startswith("ivita.firmware")]


def _definition_violations(name: str, source: str) -> list[str]:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    allowed = {f"ivita.firmware.{d}" for d in DEFINITIONS} | ALLOWED_MODEL.get(name, set())
    return [n for n in imports(source, top_level_only=False)
            if n.split(".")[0] not in stdlib and n not in allowed]


def test_hw_imports_only_the_definition_modules_from_firmware() -> None:
    users = {}
    for path in sorted((ROOT / "hw").glob("*.py")):
        fw = _firmware_modules(str(path))
        assert set(fw) <= {f"ivita.firmware.{d}" for d in DEFINITIONS}, (path.name, fw)
        if fw:
            users[path.name] = set(fw)
    # the check sees every definition module in use
    assert set().union(*users.values()) == {f"ivita.firmware.{d}" for d in DEFINITIONS}


def test_definition_modules_import_only_the_standard_library() -> None:
    for name in sorted(DEFINITIONS):
        path = ROOT / "firmware" / f"{name}.py"
        assert not _definition_violations(name, path.read_text()), name


@pytest.mark.parametrize("source,bad", [
    ("import numpy as np\n", ["numpy"]),
    ("def f():\n    from amaranth import Signal\n", ["amaranth"]),
    ("from .compiler import compile_attention\n", ["ivita.firmware.compiler"]),
    ("from ivita.model.attention import AttentionParams\n", ["ivita.model.attention"]),
    ("from ivita.firmware import layout\n", ["ivita.firmware.layout"]),
    ("from .isa import Op\nimport dataclasses\n", []),
])
def test_the_definition_rule_can_fail(source: str, bad: list[str]) -> None:
    assert _definition_violations("isa", source) == bad


def test_the_hw_rule_can_fail(tmp_path: Path) -> None:
    src = tmp_path / "x.py"
    src.write_text("from ivita.firmware import compiler\nfrom ivita.firmware.isa import Op\n"
                   "from ivita.firmware.layout import pack_a\n")
    assert _firmware_modules(str(src)) == ["ivita.firmware.compiler", "ivita.firmware.isa",
                                           "ivita.firmware.layout"]


def test_definition_modules_load_without_numpy_and_amaranth() -> None:
    """At run time too: protocol and isa load with numpy and Amaranth unavailable; the memory
    map (through the block's config) without Amaranth."""
    code = ("import sys\n"
            "for m in ('numpy', 'amaranth'):\n    sys.modules[m] = None\n"
            "import ivita.firmware.protocol, ivita.firmware.isa\n"
            "del sys.modules['numpy']\n"
            "import ivita.firmware.memory_map\n"
            "assert 'amaranth' not in [m.split('.')[0] for m in sys.modules if sys.modules[m]]\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_firmware_never_imports_hw_sim_or_fpga_and_tools_lazily() -> None:
    for path in sorted((ROOT / "firmware").glob("*.py")):
        every = imports(path.read_text(), top_level_only=False)
        assert not [n for n in every if n.startswith(("ivita.hw", "ivita.sim", "ivita.fpga"))], \
            path.name
        top = imports(path.read_text(), top_level_only=True)
        assert not [n for n in top if n.split(".")[0] in ("amaranth", "serial")], path.name
