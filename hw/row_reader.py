"""Stage C's read sequencer of the row units: issue a row's reads, hand the bank back once the
row's last output is taken (private to ``ivita.hw``).

Normative model: none. Timing: ``start`` in the cycle stage C takes a bank (``IDLE`` with the
bank at ``c_ptr`` ready), then one read per cycle in which ``adv`` is high; the read data is
valid (``rv``) in the following advancing cycle, with ``rlast`` on the row's last element.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.hdl import Value

from .row_buffer import RowBuffer

__all__ = ["RowReader"]


class RowReader:
    """``IDLE -> ISSUE -> DRAIN`` over the bank at ``ring.c_ptr`` through read port ``port``.

    ``last``: the index of the row's last element (its length - 1), sampled in the ``start``
    cycle (a constant, or the bank's descriptor); ``adv``: the stage-C pipeline advances (the
    read port's enable); ``last_taken``: the row's last output beat is transferred (frees the bank).
    ``idx``: the next element to read; ``issue``: a read is being issued this cycle.

    ``prefetch`` (Shiftmax): the ``start`` cycle is itself the first read (of element 0;
    ``start`` then waits for ``adv``), one cycle earlier than without, so that the unit can
    register the read data once more (the block RAM's output register) at the same latency;
    ``single`` and ``two`` (``last == 0``, ``last == 1``, sampled with ``last``; default: those
    comparisons) and a down counter keep the row length out of the FSM's paths. Without it
    (I-LayerNorm, a constant ``last``) the reader is the plain comparison form.
    """

    def __init__(self, m: Module, *, buf: RowBuffer, port, count: int, last: Value | int,
                 adv: Value, last_taken: Value, single: Value | None = None,
                 two: Value | None = None, prefetch: bool = False, name: str = "c"):
        ring = buf.ring
        self.start = Signal(name=f"{name}_start")
        self.issue = Signal(name=f"{name}_issue")
        self.idx = Signal(range(count), name=f"{name}_idx")
        self.rv = Signal(name=f"{name}_rv")          # read data valid
        self.rlast = Signal(name=f"{name}_rlast")    # ... and it is the row's last element
        m.d.comb += [port.en.eq(adv), port.addr.eq(buf.addr(ring.c_ptr, self.idx))]
        if not prefetch:
            # the plain form (I-LayerNorm). A constant ``last``: idx == last as a flip-flop
            # kept in step with idx, so the FSM's exit from ISSUE reads registers, not a
            # comparison; otherwise the comparison
            if isinstance(last, int):
                # (written at start before it is used: no reset, so the block's reset reaches
                # it through no second LUT)
                at_last = Signal(name=f"{name}_at_last", reset_less=True)
                with m.If(self.start):
                    m.d.sync += at_last.eq(last == 0)
                with m.Elif(adv & self.issue):
                    m.d.sync += at_last.eq(self.idx == last - 1 if last >= 1 else 1)
            else:
                at_last = self.idx == last
            with m.If(adv):
                m.d.sync += self.rv.eq(self.issue)
                with m.If(self.issue):
                    m.d.sync += [self.idx.eq(self.idx + 1), self.rlast.eq(at_last)]
            with m.FSM(name=f"{name}_fsm") as fsm:
                with m.State("IDLE"):
                    with m.If(ring.c_avail):
                        m.d.sync += self.idx.eq(0)
                        m.next = "ISSUE"
                with m.State("ISSUE"):
                    with m.If(adv & at_last):
                        m.next = "DRAIN"
                with m.State("DRAIN"):
                    with m.If(ring.c_done):
                        m.next = "IDLE"
            m.d.comb += [
                self.issue.eq(fsm.ongoing("ISSUE")),
                self.start.eq(fsm.ongoing("IDLE") & ring.c_avail),
                ring.c_done.eq(fsm.ongoing("DRAIN") & last_taken),
            ]
            return
        # prefetch: reads left after this one plus one, and whether this is the last, as a down
        # counter and a flip-flop (no comparison with the row length in front of the FSM; the
        # plus one: ``last`` is loaded as it is, no carry chain behind the bank multiplexer);
        # the start cycle reads element 0 (idx is 0 in IDLE), so it waits for adv
        left = Signal(range(count), name=f"{name}_left")
        at_last = Signal(name=f"{name}_at_last")
        single = last == 0 if single is None else single
        two = last == 1 if two is None else two
        with m.FSM(name=f"{name}_fsm") as fsm:
            with m.State("IDLE"):
                with m.If(ring.c_avail & adv):
                    with m.If(single):
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "ISSUE"
            with m.State("ISSUE"):
                with m.If(adv & at_last):
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(ring.c_done):
                    m.d.sync += self.idx.eq(0)
                    m.next = "IDLE"
        idle = fsm.ongoing("IDLE")
        start = idle & ring.c_avail
        go = fsm.ongoing("ISSUE") | start
        # the registers take their values from the state alone, adv only enables them
        with m.If(adv):
            m.d.sync += self.rv.eq(go)
            with m.If(go):
                m.d.sync += [self.idx.eq(Mux(idle, 1, self.idx + 1)),
                             self.rlast.eq(Mux(idle, single, at_last)),
                             left.eq(Mux(idle, last, left - 1)),
                             at_last.eq(Mux(idle, two, left == 2))]
        m.d.comb += [
            self.start.eq(start & adv),
            self.issue.eq(go),
            ring.c_done.eq(fsm.ongoing("DRAIN") & last_taken),
        ]
