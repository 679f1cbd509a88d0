"""An output skid buffer that gives a global-stall pipeline a *registered* enable (private to
``ivita.hw``).

A global-stall pipeline advances every register on one enable. Computed as
``~o_stream.valid | o_stream.ready`` that enable is a combinational function of the consumer's
``ready``, so ``ready`` ripples back through every unit of a chain and fans out to all their
flip-flops in the same cycle. :func:`output_skid` instead makes the stream's output register
(``o_stream.payload``/``valid``) the head of a two-entry buffer whose second entry (the
"spare") catches the one element that arrives while the head waits; the pipeline's enable is
``~spare_full``, a flip-flop. ``o_stream.ready`` then only steers the head and the spare.

Latency is unchanged (the head is the output register the pipeline had), throughput stays one
element per cycle while ``o_stream.ready`` is high, and nothing is lost or duplicated: when the
head waits and an element arrives, it goes to the spare and the pipeline stops the next cycle;
when the head is taken the spare moves into it and the pipeline restarts the cycle after.

Normative model: none (flow control, no arithmetic).
"""

from __future__ import annotations

from amaranth import Elaboratable, Module, Mux, Signal
from amaranth.hdl import Value

__all__ = ["output_skid", "EnableCopy"]


class EnableCopy(Elaboratable):
    """A flip-flop copy of a skid buffer's enable, ``q <= d`` (reset 1), for one part of a
    large pipeline (the systolic array gives one to every PE): the enable then reaches each
    flip-flop through a net of small fanout. A submodule of its own, so that synthesis keeps
    the copies apart (identical registers in one module would be merged back into one).
    ``d`` is :func:`output_skid`'s ``en_next``.

    Normative model: none (a register).
    """

    def __init__(self) -> None:
        self.d = Signal(init=1)
        self.q = Signal(init=1)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.sync += self.q.eq(self.d)
        return m


def output_skid(m: Module, o_s: object, nxt: Value, nxt_valid: Value, *,
                name: str = "skid") -> tuple[Signal, Signal]:
    """Drive ``o_s.valid``/``o_s.payload`` as the head of a two-entry skid buffer.

    ``nxt``/``nxt_valid``: the element the pipeline's last stage offers this cycle (taken
    only in cycles where the returned enable is high; the caller advances its pipeline on that
    same enable). Returns ``(en, en_next)``: ``en`` is high while the spare entry is free, a
    flip-flop output, so no combinational path runs from ``o_s.ready`` to it; ``en_next`` is
    its value in the next cycle (for :class:`EnableCopy` registers). The spare entry copies
    ``nxt`` in every cycle it is free (not only an element that must wait), so its enable is
    ``~full`` alone and does not depend on ``o_s.ready``; the stream behaves the same.
    """
    full = Signal(name=f"{name}_full")
    # the spare is data (read only while full) without reset; it copies nxt in every cycle
    # it is free, so its enable is ~full alone (not o_s.ready or nxt_valid)
    spare = Signal(len(Value.cast(o_s.payload)), name=f"{name}_spare", reset_less=True)
    en = Signal(name=f"{name}_en")
    m.d.comb += en.eq(~full)
    with m.If(~full):
        m.d.sync += spare.eq(nxt)
    with m.If(full):
        with m.If(o_s.ready):                        # o_s.valid is high while full
            m.d.sync += [o_s.payload.eq(spare), full.eq(0)]
    with m.Elif(nxt_valid):
        with m.If(o_s.valid & ~o_s.ready):
            m.d.sync += full.eq(1)
        with m.Else():
            m.d.sync += [o_s.payload.eq(nxt), o_s.valid.eq(1)]
    with m.Elif(o_s.ready):
        m.d.sync += o_s.valid.eq(0)
    en_next = Signal(name=f"{name}_en_next")
    m.d.comb += en_next.eq(~Mux(full, ~o_s.ready, nxt_valid & o_s.valid & ~o_s.ready))
    return en, en_next
