# amaranth: UnusedElaboratable=no
"""docs/firmware.md cannot drift: its ISA, error-code, command, status and memory-map tables
are rendered here from ``ivita.firmware`` and must equal the text between the doc's
``<!-- name:begin -->`` / ``<!-- name:end -->`` markers (on a mismatch the rendered table is
printed, to paste into the doc); its run-a-layer example is executed and the numbers the doc
states about it are measured."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivita.firmware import protocol as p
from ivita.firmware.isa import ERRORS, FIELDS, OP_NAMES, field_offsets
from ivita.firmware.memory_map import REGION_ORDER, memory_map
from ivita.model import AttentionConfig
from ivita.model.block_config import BlockConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "firmware.md"
#: the configuration of the doc's example (its memory-map table is rendered for it)
EXAMPLE_CFG = BlockConfig.for_attention(AttentionConfig(tokens=5, dim=4, heads=2), rows=2)


def isa_table() -> str:
    rows = ["| Op | Code | Field | Bits | Width | Signed |", "|---|---|---|---|---|---|"]
    for op in sorted(FIELDS):
        fields = field_offsets(op)
        if not fields:
            rows.append(f"| `{OP_NAMES[op]}` | {op} | — | — | — | — |")
        for f, off in fields:
            rows.append(f"| `{OP_NAMES[op]}` | {op} | `{f.name}` | {off}..{off + f.width - 1} "
                        f"| {f.width} | {'yes' if f.signed else 'no'} |")
    return "\n".join(rows)


def errors_table() -> str:
    return "\n".join(["| Error | Code |", "|---|---|",
                      *(f"| `{n}` | {c} |" for n, c in ERRORS.items())])


def commands_table() -> str:
    return "\n".join(["| Command | CMD | Response CMD |", "|---|---|---|",
                      *(f"| `{c.name}` | `0x{c.value:02X}` | `0x{c.value | p.RESPONSE_FLAG:02X}` |"
                        for c in p.Command)])


def status_table() -> str:
    return "\n".join(["| Status | Code |", "|---|---|",
                      *(f"| `{s.name}` | {s.value} |" for s in p.Status)])


def memory_map_table() -> str:
    mm = memory_map(EXAMPLE_CFG)
    rows = ["| Region | Base | Words | Lanes x bits | Bus words per word | Size |",
            "|---|---|---|---|---|---|"]
    for name in REGION_ORDER:
        r = mm[name]
        rows.append(f"| `{name}` | {r.base} | {r.depth} | {r.lanes} x {r.lane_bits} | "
                    f"{r.sub_words} | {r.size} |")
    rows.append(f"| `limit` | {mm.limit} | | | | |")
    return "\n".join(rows)


RENDER = {"isa": isa_table, "errors": errors_table, "commands": commands_table,
          "status": status_table, "memory-map": memory_map_table}


def section(text: str, name: str) -> str:
    m = re.search(rf"<!-- {name}:begin -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    assert m, f"docs/firmware.md has no {name} section"
    return m.group(1)


@pytest.mark.parametrize("name", list(RENDER))
def test_tables_equal_the_definitions(name: str) -> None:
    want = RENDER[name]()
    assert section(DOC.read_text(), name) == want, f"docs/firmware.md {name}:\n{want}"


def test_the_constants_the_prose_states() -> None:
    text = DOC.read_text()
    for fact in (f"SYNC (0x{p.SYNC:02X})", f"`ERROR_CMD` (`0x{p.ERROR_CMD:02X}`)",
                 f"`MAX_WORDS` ({p.MAX_WORDS})", f"`MAX_PAYLOAD` ({p.MAX_PAYLOAD})",
                 f"`PROTOCOL_MAGIC` (`0x{p.PROTOCOL_MAGIC:08X}`)",
                 f"`PROTOCOL_VERSION` ({p.PROTOCOL_VERSION})",
                 f"memory map needs\n  {memory_map(EXAMPLE_CFG).limit}: a different"):
        assert fact in text, fact


def test_the_example_runs_and_its_byte_counts_hold() -> None:
    """The ``example`` code block, executed; then the byte counts the doc states, measured on
    a recording transport over the same gateware."""
    code = section(DOC.read_text(), "example")
    code = re.fullmatch(r"```python\n(.*)\n```", code, re.S).group(1)   # type: ignore[union-attr]
    scope: dict = {}
    exec(compile(code, str(DOC), "exec"), scope)        # noqa: S102 - the doc's own example
    assert scope["cfg"] == EXAMPLE_CFG
    t = scope["driver"].transport
    sent = sum(1 for _, d, _ in t.events if d == "in")
    got = sum(1 for _, d, _ in t.events if d == "out")
    text = DOC.read_text()
    assert f"{sent} request bytes and {got} response bytes" in text, (sent, got)
    assert f"{t.cycle} simulated cycles" in text, t.cycle
    assert f"{scope['status'].cycles} cycles" in text, scope["status"].cycles
