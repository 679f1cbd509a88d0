"""ivita.sim.bulk_view: the Verilator view of a design keeps its text's meaning.

The view's function is checked end to end by tests/sim/test_bulk.py (Verilator on the view
against the model with ``==`` and against Icarus on the unmodified Verilog, cycle for cycle);
these tests pin the rewrites themselves.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivita.sim.bulk_view import (no_inline_submodules, replicate_runs, verilator_view,
                                 word_level_design)


def test_runs_of_one_item_become_replications() -> None:
    src = "  assign y = { \\$38 [8], \\$38 [8], \\$38 [8], \\$38 , b_in[5] };\n"
    assert replicate_runs(src) == "  assign y = { {3{\\$38 [8]}}, \\$38 , b_in[5] };\n"
    # an escaped identifier keeps the whitespace that ends it, also inside a replication
    assert replicate_runs("{ \\a.b , \\a.b , c }") == "{ {2{\\a.b }}, c }"
    # commas inside an escaped identifier do not split it
    assert replicate_runs("{ \\x,y , \\x,y }") == "{ {2{\\x,y }} }"


def test_concatenations_without_runs_are_unchanged() -> None:
    for src in ("{ a, b, a }", "{ a }", "{ {4{s}}, a }", "x = a ? b : c;", "{ a[1], a[0] }"):
        assert replicate_runs(src) == src


def test_every_module_but_the_top_is_not_inlined() -> None:
    src = ("module top(a, y);\n  sub u (.a(a));\nendmodule\n"
           "module \\top.sub (a);\n  input a;\nendmodule\n")
    out = no_inline_submodules(src, "top")
    assert out.count("/* verilator no_inline_module */") == 1
    assert "module \\top.sub (a);\n  /* verilator no_inline_module */\n" in out
    assert out.startswith("module top(a, y);\n  sub u")


@pytest.mark.yosys
def test_the_view_of_the_array_has_no_multiplexers(tmp_path: Path) -> None:
    """Yosys turned every ?: into AND/OR logic; the modules and their ports are kept."""
    from ivita.sim.bulk import make_tb
    from ivita.sim.emit import emit

    tb = make_tb("array", bits=4, rows=2, cols=2, k=3)
    em = emit(tb.build_component(), tb.module_name, tmp_path, config=tb.config,
              n=tb.timing_n())
    original = em.verilog.read_text()
    view = verilator_view(original, tb.module_name)
    assert "?" in original and "?" not in view
    modules = re.findall(r"(?m)^module (\S+)", original)
    assert sorted(re.findall(r"(?m)^module (\S+)", view)) == sorted(modules)
    assert view.count("/* verilator no_inline_module */") == len(modules) - 1
    assert re.search(r"\{\d+\{", view)          # sign extensions written as replications


def _proven(monkeypatch: pytest.MonkeyPatch, verdict: bool) -> list[tuple[int, int, int]]:
    """Replace the proof by a verdict (the substitution mechanics, not its soundness: that is
    tests/hw/test_formal.py); returns the widths it was asked about."""
    import ivita.sim.pe_equiv as pe_equiv

    asked: list[tuple[int, int, int]] = []

    def prove(a_bits: int, b_bits: int, acc_bits: int, **kw: object) -> pe_equiv.PEProof:
        asked.append((a_bits, b_bits, acc_bits))
        return pe_equiv.PEProof(a_bits, b_bits, acc_bits, verdict,
                                "PASS" if verdict else "FAIL", "k", 0.0, False,
                                "" if verdict else "SymbiYosys says FAIL")
    monkeypatch.setattr(pe_equiv, "prove_pe_equivalent", prove)
    return asked


def _array_verilog(tmp_path: Path) -> tuple[object, str, str]:
    from ivita.sim.bulk import make_tb
    from ivita.sim.emit import emit

    tb = make_tb("array", bits=5, rows=2, cols=2, k=3)
    em = emit(tb.build_component(), tb.module_name, tmp_path, config=tb.config,
              n=tb.timing_n())
    return tb, tb.module_name, em.verilog.read_text()


def _modules(verilog: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r"(?ms)^module (\S+).*?^endmodule",
                                                           verilog)}


def test_word_level_design_substitutes_proven_pes_only(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Proven: every PE module (same name, same ports) computes ``a * b`` and has no Booth
    rows; the other modules are unchanged text; one proof per PE width. Not proven: the text
    is the design's and a message names the width."""
    tb, name, exact = _array_verilog(tmp_path)
    asked = _proven(monkeypatch, True)
    text, view = word_level_design(tb.build_component, name, exact)
    assert asked == [(5, 5, tb.config.acc_bits)]
    assert view.form == "word-level" and view.substituted == 4 and view.kept == 0
    before, after = _modules(exact), _modules(text)
    assert before.keys() == after.keys()
    pes = [m for m in before if ".pe_r" in m]
    assert len(pes) == 4
    for mod in before:
        header = re.compile(r"(?m)^\s*(?:module|input|output)\b.*$")
        assert header.findall(before[mod]) == header.findall(after[mod]), mod
        if mod in pes:
            assert "booth_" in before[mod] and "booth_" not in after[mod]
            assert " * " in after[mod] and " * " not in before[mod]
        else:
            assert before[mod] == after[mod], mod

    _proven(monkeypatch, False)
    text, view = word_level_design(tb.build_component, name, exact)
    assert text == exact and view.form == "exact" and view.kept == 4
    assert view.messages == [f"PE a_bits=5, b_bits=5, acc_bits={tb.config.acc_bits}: the "
                             f"word-level form is not proven equal to Booth (SymbiYosys says "
                             f"FAIL); Verilator simulates the exact Booth form"]


def test_the_proof_rebuilds_the_design_pe_from_all_its_arguments() -> None:
    """The miter copies the design PE's class and constructor arguments (not just widths); a
    PE with an argument it cannot read back is refused, so it keeps the Booth form."""
    from ivita.hw.pe import ProcessingElement
    from ivita.sim.pe_equiv import PEMiter, pe_params

    pe = ProcessingElement(a_bits=3, b_bits=5, acc_bits=12)
    pe._MustUse__silence = True
    assert pe_params(pe) == {"a_bits": 3, "b_bits": 5, "acc_bits": 12}

    class HiddenArgPE(ProcessingElement):
        def __init__(self, *, a_bits: int, b_bits: int, acc_bits: int,
                     multiplier: str = "booth", stages: int = 2) -> None:
            super().__init__(a_bits=a_bits, b_bits=b_bits, acc_bits=acc_bits,
                             multiplier=multiplier)

    hidden = HiddenArgPE(a_bits=3, b_bits=5, acc_bits=12)
    hidden._MustUse__silence = True
    with pytest.raises(ValueError, match="HiddenArgPE has no attribute 'stages'"):
        pe_params(hidden)
    with pytest.raises(ValueError, match="not a_bits=4, b_bits=5, acc_bits=12"):
        PEMiter(a_bits=4, b_bits=5, acc_bits=12, template=pe)
