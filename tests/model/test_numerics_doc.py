"""docs/numerics.md is the normative specification: its public API table (§9) must list exactly
``ivita.model.__all__`` with the real parameter lists, it must state revision 2 and the rounded
``recip_div``, and no file of the repository may point to the team's shared notes folder
(a user's clone does not have it)."""

from __future__ import annotations

import inspect
import re
import subprocess
from pathlib import Path

import pytest

import ivita.model as model

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "numerics.md"


def _section(text: str, number: str) -> str:
    m = re.search(rf"^#{{2,3}} {re.escape(number)}\.? .*?$(.*?)(?=^#{{2,3}} |\Z)", text,
                  re.M | re.S)
    assert m, f"docs/numerics.md has no section {number}"
    return m.group(1)


def _api_items() -> dict[str, str | None]:
    """``{name: parameter text or None}`` from the first column of the §9 table."""
    items: dict[str, str | None] = {}
    for line in _section(DOC.read_text(encoding="utf-8"), "9").splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split(" | ")[0]
        for code in re.findall(r"`([^`]+)`", first):
            m = re.fullmatch(r"(\w+)(?:\((.*)\))?", code)
            assert m, f"unparsable API entry {code!r}"
            assert m.group(1) not in items, f"{m.group(1)} listed twice"
            items[m.group(1)] = m.group(2)
    return items


def _params(obj: object) -> str:
    """Parameter list as the table writes it: ``a, b=1, *, c=None`` (no annotations)."""
    parts: list[str] = []
    star = False
    for p in inspect.signature(obj).parameters.values():  # type: ignore[arg-type]
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(parts)


def test_api_table_lists_exactly_the_exports() -> None:
    items = _api_items()
    assert sorted(items) == sorted(model.__all__)


@pytest.mark.parametrize("name", sorted(model.__all__))
def test_api_table_signatures(name: str) -> None:
    written = _api_items()[name]
    obj = getattr(model, name)
    if inspect.isclass(obj) or not callable(obj):
        assert written is None, (f"{name} is a class or a constant; the table lists it without "
                                 f"parameters")
    else:
        assert written == _params(obj), f"{name}: table says ({written}), code has ({_params(obj)})"


def test_doc_states_revision_2_and_the_rounded_reciprocal() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "revision 2" in text.splitlines()[0]
    assert "min((num * f + 2^(L+1)) >> (L + 2), 2^(out_bits-1) - 1)" in _section(text, "4.1")
    assert "[-0.75, +0.5]" in _section(text, "4.1")
    assert "required_acc_bits" in _section(text, "3")
    assert "floor division" in _section(text, "0").lower()
    history = _section(text, "16")
    assert "Revision 2" in history and "Revision 1" in history


FOLDER = "shar" + "ed/"                     # spelled apart so this file does not match itself
PATTERN = re.compile(r"(^|[^a-zA-Z_])" + FOLDER, re.M)
SKIP_DIRS = {".git", ".venv", "build", "sim_build", "__pycache__", ".hypothesis", "out"}


def _repo_files() -> list[Path]:
    """Tracked files (git ls-files), or every file outside build/venv folders without git."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             timeout=60, check=True)
        return [ROOT / f for f in out.stdout.decode().split("\0") if f]
    except (OSError, subprocess.SubprocessError):
        return [p for p in ROOT.rglob("*") if p.is_file()
                and not SKIP_DIRS.intersection(p.relative_to(ROOT).parts)]


def test_no_file_refers_to_the_shared_notes_folder() -> None:
    hits = []
    for path in _repo_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue                                # binary data (e.g. the golden .npz)
        for m in PATTERN.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            hits.append(f"{path.relative_to(ROOT)}:{line}")
    assert not hits, f"files refer to the {FOLDER} folder (use docs/numerics.md): {hits}"


#: the team's note files, by name (spelled apart so this file does not match itself)
NOTE_NAMES = re.compile("|".join(re.escape(n) for n in
                                 ("DES" "IGN.md", "NUM" "ERICS.md", "TOOL" "CHAIN.md",
                                  "SEE" "DS.md", "EXAM" "PLES.md")))


def test_no_file_cites_the_team_notes_by_name() -> None:
    """Docs and docstrings cite the repository's own pages (docs/numerics.md, ...), never the
    team's note files, which a clone does not have."""
    hits = []
    for path in _repo_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for m in NOTE_NAMES.finditer(text):
            hits.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}")
    assert not hits, f"files cite the team's notes (use the docs/ pages): {hits}"
