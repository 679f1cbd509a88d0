"""ivita.sim.bulk_view: the Verilator view of a design keeps its text's meaning.

The view's function is checked end to end by tests/sim/test_bulk.py (Verilator on the view
against the model with ``==`` and against Icarus on the unmodified Verilog, cycle for cycle);
these tests pin the rewrites themselves.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivita.sim.bulk_view import no_inline_submodules, replicate_runs, verilator_view


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
