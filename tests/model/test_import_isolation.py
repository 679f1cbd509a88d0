"""``ivita.model`` must import without amaranth or cocotb (docs/architecture.md, layering): checked in a fresh
interpreter where importing either one raises ImportError, as on a machine without them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent("""
    import importlib.abc, json, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("amaranth", "cocotb", "cocotb_tools"):
                raise ImportError(f"{name} is blocked for this test")
            return None

    sys.meta_path.insert(0, Block())
    import MODULE
    loaded = sorted(m for m in sys.modules
                    if m.split(".")[0] in ("amaranth", "cocotb", "cocotb_tools"))
    print(json.dumps(loaded))
""")


def _run(module: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", BLOCKER.replace("MODULE", module)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_model_imports_without_amaranth_or_cocotb() -> None:
    assert _run("ivita.model") == []


def test_accuracy_command_imports_without_amaranth_or_cocotb() -> None:
    assert _run("ivita.commands.accuracy") == []


def test_blocker_really_blocks() -> None:
    # the harness itself must be able to fail: importing amaranth under it is an error
    proc = subprocess.run([sys.executable, "-c", BLOCKER.replace("MODULE", "amaranth")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "amaranth is blocked for this test" in proc.stderr


def test_firmware_compiler_and_assembler_import_without_amaranth_or_cocotb() -> None:
    assert _run("ivita.firmware.compiler, ivita.firmware.asm") == []
