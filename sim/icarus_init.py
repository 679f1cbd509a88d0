"""Icarus Verilog and the combinational blocks of Yosys' Verilog at time 0.

Yosys' ``write_verilog`` (behind Amaranth's ``verilog.convert``) writes each process as an
``always @*`` block that also reads a register ``\\$auto$verilog_backend.cc:N:dump_module$M``
declared ``= 0``, so that the block runs once at time 0 even if none of its real inputs
changes. Under ``iverilog -g2012`` a variable's declaration initializer is applied before time
0 and makes no event (SystemVerilog semantics), so such a block does not run until one of its
inputs changes: a next-state block that reads only registers and the reset, for example,
keeps ``x`` through the whole reset (the reset does not change while it is held) and hands it
to its flip-flop at the first edge. Amaranth's own simulator and Verilator evaluate every
combinational block at time 0, so the design is not at fault.

:func:`with_time0_evaluation` adds ``initial <reg> <= 1'b1;`` after each such declaration: a
non-blocking assignment at time 0, applied after every process has started, so each block
runs once, as Yosys intends. Nothing else of the Verilog changes; only Icarus builds use it
(``ivita.sim.bulk_build``, ``ivita.sim.runner``).
"""

from __future__ import annotations

import re

__all__ = ["with_time0_evaluation"]

_DECL = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$",
                   re.M)


def with_time0_evaluation(verilog: str) -> str:
    """``verilog`` with a time-0 event on each of Yosys' ``dump_module`` registers."""
    return _DECL.sub(lambda m: f"{m.group(0)}\n{m.group(1)}initial {m.group(2)} <= 1'b1;",
                     verilog)
