"""Stage C's read sequencer of the row units: issue a row's reads, hand the bank back once the
row's last output is taken (private to ``ivita.hw``).

Normative model: none. Timing: ``start`` in the cycle stage C takes a bank (``IDLE`` with the
bank at ``c_ptr`` ready), then one read per cycle in which ``adv`` is high; the read data is
valid (``rv``) in the following advancing cycle, with ``rlast`` on the row's last element.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.hdl import Value

from .row_buffer import RowBuffer

__all__ = ["RowReader"]


class RowReader:
    """``IDLE -> ISSUE -> DRAIN`` over the bank at ``ring.c_ptr`` through read port ``port``.

    ``length``: the row's element count (a constant or a register the unit latches on
    ``start``); ``adv``: the stage-C pipeline advances (the read port's enable);
    ``last_taken``: the row's last output beat is transferred (frees the bank).
    ``idx``: the next element to read; ``issue``: a read is being issued this cycle.
    """

    def __init__(self, m: Module, *, buf: RowBuffer, port, count: int, length: Value | int,
                 adv: Value, last_taken: Value, name: str = "c"):
        ring = buf.ring
        self.start = Signal(name=f"{name}_start")
        self.issue = Signal(name=f"{name}_issue")
        self.idx = Signal(range(count), name=f"{name}_idx")
        self.rv = Signal(name=f"{name}_rv")          # read data valid
        self.rlast = Signal(name=f"{name}_rlast")    # ... and it is the row's last element
        m.d.comb += [port.en.eq(adv), port.addr.eq(buf.addr(ring.c_ptr, self.idx))]
        if isinstance(length, int):
            # idx == length - 1 as a flip-flop kept in step with idx (a constant length): the
            # FSM's exit from ISSUE then reads registers, not a comparison
            at_last = Signal(name=f"{name}_at_last")
            with m.If(self.start):
                m.d.sync += at_last.eq(length == 1)
            with m.Elif(adv & self.issue):
                m.d.sync += at_last.eq(self.idx == length - 2 if length >= 2 else 1)
        else:
            at_last = self.idx == length - 1
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
