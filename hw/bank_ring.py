"""Ownership of ``banks`` row buffers handed along three row stages, and its cycle model
(private to ``ivita.hw``; used by :class:`~ivita.hw.row_buffer.RowBuffer`).

Stage A (input) fills a bank, stage B (per-row scalar work) takes it over, stage C (output)
empties it and hands it back to A, strictly in row order. :func:`ring_schedule` is the exact
cycle model of a unit built this way; :func:`steady_period` its steady state.
"""

from __future__ import annotations

import enum

from amaranth import Cat, Module, Mux, Signal
from amaranth.hdl import Value

__all__ = ["BankState", "BankRing", "ring_schedule", "steady_period"]


class BankState(enum.IntEnum):
    FREE = 0     # owned by stage A (being filled, or empty)
    FILLED = 1   # a complete row, waiting for / owned by stage B
    READY = 2    # per-row results known, waiting for / owned by stage C


class BankRing:
    """``banks`` row buffers handed A -> B -> C in row order.

    Each stage owns the bank at its pointer. ``a_room``/``b_avail``/``c_avail`` say whether the
    bank at the stage's pointer is in the state that stage needs (:class:`BankState` ``FREE``,
    ``FILLED``, ``READY``); pulsing ``a_commit``, ``b_done`` or ``c_done`` passes that bank on
    and advances the stage's pointer (mod ``banks``). The three transitions touch banks in three
    different states, so they never collide.

    Because the banks move strictly in row order, the state of the bank at each pointer follows
    from counts: ``filled`` (rows A committed that B has not finished), ``ready`` (rows B
    finished that C has not) and ``occupied = filled + ready``: ``b_avail = filled > 0``,
    ``c_avail = ready > 0``, ``a_room = occupied < banks``. The three flags are flip-flops,
    loaded with their values for the next cycle's counts, so a stage's control starts from a
    register, not from a pointer-indexed multiplexer of bank states (a shorter path for the
    timing estimate, docs/fpga.md); cycle for cycle they equal the flags of a per-bank state
    array.
    """

    def __init__(self, m: Module, banks: int, *, name: str = "bank"):
        self.banks = banks
        pbits = max(banks - 1, 1).bit_length()
        self.a_ptr = Signal(pbits, name=f"{name}_a_ptr")
        self.b_ptr = Signal(pbits, name=f"{name}_b_ptr")
        self.c_ptr = Signal(pbits, name=f"{name}_c_ptr")
        self.a_commit = Signal(name=f"{name}_a_commit")
        self.b_done = Signal(name=f"{name}_b_done")
        self.c_done = Signal(name=f"{name}_c_done")
        self.a_room = Signal(name=f"{name}_a_room", init=1)
        self.b_avail = Signal(name=f"{name}_b_avail")
        self.c_avail = Signal(name=f"{name}_c_avail")
        everything = range(banks + 1)
        for what, inc, dec, flag, good in (
                ("filled", self.a_commit, self.b_done, self.b_avail, everything[1:]),
                ("ready", self.b_done, self.c_done, self.c_avail, everything[1:]),
                ("occupied", self.a_commit, self.c_done, self.a_room, everything[:-1])):
            count = Signal(range(banks + 1), name=f"{name}_{what}")
            nxt = _count_and_flag(m, count, inc, dec, flag, good)
        #: ``a_room``'s next value (what it is loaded with), for a unit that registers its ready
        self.a_room_next = nxt
        for ptr, strobe in ((self.a_ptr, self.a_commit), (self.b_ptr, self.b_done),
                            (self.c_ptr, self.c_done)):
            with m.If(strobe):
                m.d.sync += ptr.eq(self.next(ptr))

    def next(self, ptr: Value) -> Value:
        if self.banks == 1:
            return ptr
        return Mux(ptr == self.banks - 1, 0, ptr + 1)[:len(ptr)]

    def select(self, ptr: Value, values: list[Value]) -> Value:
        """``values[ptr]`` as a mux chain (``banks`` is small)."""
        out = values[0]
        for i in range(1, self.banks):
            out = Mux(ptr == i, values[i], out)
        return out


def _count_and_flag(m: Module, count: Signal, inc: Value, dec: Value, flag: Signal,
                    good: range) -> Value:
    """``count <= count + inc - dec`` and ``flag <= (that next count in good)`` (returned, the
    flag's next value); the strobes
    only select among values formed from the register (comparisons with constants), so no
    carry chain or comparison sits behind a strobe."""
    up, down = inc & ~dec, dec & ~inc

    def is_good(offset: int) -> Value:
        return Cat(*[count == k - offset for k in good if 0 <= k - offset]).any()

    with m.If(up):
        m.d.sync += count.eq(count + 1)
    with m.Elif(down):
        m.d.sync += count.eq(count - 1)
    # the same as Mux(up, good(+1), Mux(down, good(-1), good(0))), with ``inc`` alone in the
    # last multiplexer (the strobe of stage A's commit is the latest-arriving input)
    nxt = Mux(inc, Mux(dec, is_good(0), is_good(1)), Mux(dec, is_good(-1), is_good(0)))
    m.d.sync += flag.eq(nxt)
    return nxt


def ring_schedule(lengths: list[int], *, banks: int, b_cycles, c_lead: int,
                  skid: bool = False) -> list[tuple[int, int, int, int]]:
    """Exact cycle model of a :class:`BankRing` unit (input back to back, output always ready).

    ``lengths``: row lengths in order. ``b_cycles(N)``: stage B's cycles per row (from the cycle
    it sees the row to the cycle it hands it on, inclusive). ``c_lead``: cycles from stage C
    taking a row to its first output. ``skid``: stage A takes its beats from a two-beat skid
    buffer (Shiftmax), one cycle after they are accepted at the earliest. Returns per row
    ``(first_in, last_in, first_out, last_out)`` cycle numbers, the first input beat being
    offered in cycle 0.

    Recurrences (row ``r``, bank ``r mod banks``): A starts when its previous row is in and C
    has freed the bank, ``a0 = max(a1[r-1] + 1, c1[r-banks] + 1)``, ``a1 = a0 + N - 1``; B
    ``b0 = max(a1 + 1, b1[r-1] + 1)``, ``b1 = b0 + b_cycles(N) - 1``; C ``c0 = max(b1 + 1,
    c1[r-1] + 1)``, first output ``c0 + c_lead``, ``c1 = c0 + c_lead + N - 1``. Without
    ``skid`` the input beats are accepted in A's cycles ``a0 .. a1``; with it A starts at cycle
    1 and beat ``k`` (counted over all rows) is accepted in ``in_k = max(in_{k-1} + 1,
    p_{k-2} + 1)``, ``p_k`` the cycle A takes it (the buffer holds two beats).
    """
    out: list[tuple[int, int, int, int]] = []
    a1 = 0 if skid else -1
    b1 = c1 = -1
    c_ends: list[int] = []
    for r, N in enumerate(lengths):
        a0 = max(a1 + 1, c_ends[r - banks] + 1 if r >= banks else 0)
        a1 = a0 + N - 1
        b0 = max(a1 + 1, b1 + 1)
        b1 = b0 + b_cycles(N) - 1
        c0 = max(b1 + 1, c1 + 1)
        c1 = c0 + c_lead + N - 1
        c_ends.append(c1)
        out.append((a0, a1, c0 + c_lead, c1))
    return _skid_inputs(lengths, out) if skid else out


def _skid_inputs(lengths: list[int], rows: list[tuple[int, int, int, int]]
                 ) -> list[tuple[int, int, int, int]]:
    """``rows`` with stage A's cycles replaced by the input cycles of a two-beat skid buffer
    (:func:`ring_schedule`)."""
    taken = [t for (a0, a1, _, _) in rows for t in range(a0, a1 + 1)]
    accepted: list[int] = []
    for k in range(len(taken)):
        accepted.append(max(accepted[-1] + 1 if k else 0, taken[k - 2] + 1 if k >= 2 else 0))
    out, k = [], 0
    for N, (_, _, f, l) in zip(lengths, rows):
        out.append((accepted[k], accepted[k + N - 1], f, l))
        k += N
    return out


def steady_period(schedule_fn, n: int) -> int | float:
    """Average cycles per row of length ``n`` in steady state (over the last 12 of 24 rows;
    with fewer banks than stages the pattern repeats every ``banks`` rows); an ``int`` when
    whole."""
    s = schedule_fn([n] * 24)
    period = (s[-1][2] - s[-13][2]) / 12
    return int(period) if period.is_integer() else period
