"""Stage A of the row units: a row's beats into its bank, bad rows dropped whole (private to
``ivita.hw``).

Normative model: none (it moves data). Timing: one beat per cycle; ``i_stream.ready =
drop | a_room`` (the bank at stage A's pointer is free, or a bad row is being dropped), never
dependent on ``i_stream.valid``.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.hdl import Value

from .row_buffer import RowBuffer

__all__ = ["RowInput"]


class RowInput:
    """Write accepted beats ``payload.x`` at ``idx`` of the bank at ``ring.a_ptr``.

    The unit drives ``bad`` (a plain expression of the current beat, ``idx`` and ``first``):
    a bad beat is not stored, ends the row (``idx`` back to 0) and, unless it carries ``last``,
    starts dropping: the following beats are accepted and discarded up to and including
    ``last``. A good beat with ``last`` commits the bank (``ring.a_commit``).

    ``take``: a beat is accepted; ``first``: ``idx == 0``; ``store``: it is a good beat of a
    good row; ``write``: ``store`` without the ``bad`` term (per-row registers of the bank at
    ``a_ptr`` may be loaded on it, since the bank is stage A's until ``commit``); ``commit``: the
    row is complete; ``rejected(cond)``: ``cond`` holds for an accepted beat that is not being
    dropped (the cause of an error flag).

    ``early`` (Shiftmax): ``first`` is a flip-flop kept with ``idx`` instead of a comparison,
    and the memory is written on ``write`` (a bad beat too: a dropped row leaves nothing
    behind), so neither waits for ``bad``. Off, the logic is the one I-LayerNorm was
    measured with (docs/fpga.md: its LUT mapping came out deeper with it on).

    ``at_end`` (optional; I-LayerNorm: a flip-flop of the unit, Shiftmax: one LUT of registers)
    high exactly when a beat now with ``last`` is good and completes the row (``~drop & ~bad``
    given ``last``);
    ``commit`` is then ``valid & a_room & last & at_end``, four registers and one LUT in front
    of the bank ring.

    ``ready_reg`` (I-LayerNorm): ``i_stream.ready`` (the same ``drop | a_room``) is a flip-flop,
    loaded with the next values of both.
    """

    def __init__(self, m: Module, *, i_stream, buf: RowBuffer, count: int, early: bool = False,
                 name: str = "a", at_end: Value | None = None, ready_reg: bool = False):
        ring = buf.ring
        p = i_stream.payload
        self.idx = Signal(range(count), name=f"{name}_idx")
        self.drop = Signal(name=f"{name}_drop")
        self.take = Signal(name=f"{name}_take")
        self.first = Signal(name=f"{name}_first", init=1)
        self.bad = Signal(name=f"{name}_bad")
        self.store = Signal(name=f"{name}_store")
        self.write = Signal(name=f"{name}_write")
        self.commit = Signal(name=f"{name}_commit")
        # plain expressions only (iverilog -g2012 never runs an always @* without input events)
        if ready_reg:
            # the same value from a flip-flop loaded with the next drop | a_room: the unit in
            # front sees no LUT of this unit's between the register and its enables
            ready = Signal(name=f"{name}_ready", init=1)
            drop_next = Mux(self.take, ~p.last & (self.drop | self.bad), self.drop)
            m.d.sync += ready.eq(drop_next | ring.a_room_next)
        else:
            ready = self.drop | ring.a_room
        m.d.comb += [
            i_stream.ready.eq(ready),
            self.take.eq(i_stream.valid & i_stream.ready),
            # (take & ~drop, written without ready: a_room is the flip-flop it needs)
            self.store.eq(i_stream.valid & ring.a_room & ~self.drop & ~self.bad),
            self.commit.eq(self.store & p.last if at_end is None else
                           i_stream.valid & ring.a_room & p.last & at_end),
            self.write.eq(i_stream.valid & ring.a_room & ~self.drop),
            buf.wp.en.eq(self.write if early else self.store),
            buf.wp.addr.eq(buf.addr(ring.a_ptr, self.idx)),
            buf.wp.data.eq(p.x),
            ring.a_commit.eq(self.commit),
        ]
        with m.If(self.take):
            with m.If(self.drop):
                with m.If(p.last):
                    m.d.sync += self.drop.eq(0)
            with m.Elif(self.bad):
                m.d.sync += [self.idx.eq(0), self.drop.eq(~p.last)]
            with m.Elif(p.last):
                m.d.sync += self.idx.eq(0)
            with m.Else():
                m.d.sync += self.idx.eq(self.idx + 1)
        if early:
            with m.If(self.take & ~self.drop):
                m.d.sync += self.first.eq(self.bad | p.last)
        else:
            m.d.comb += self.first.eq(self.idx == 0)

    def rejected(self, cond: Value) -> Value:
        return self.take & ~self.drop & cond
