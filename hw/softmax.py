"""Shiftmax: integer softmax over rows streamed one element per cycle (docs/numerics.md §5).

Normative model: :func:`ivita.model.shiftmax`.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int
from ivita.model.config import SoftmaxConfig

from ._nlutil import check_config, quiet_on_error
from ._skid import output_skid
from .bank_ring import ring_schedule, steady_period
from .divider import RECIP_FRONT_STAGES, RECIP_MUL_STAGES, Reciprocal, RecipMul
from .row_buffer import RowBuffer
from .row_input import RowInput
from .row_reader import RowReader
from .shift_exp import ShiftExp, shift_exp_timing, x0_in_range
from .sticky import StickyFlags
from .timing import Timing

__all__ = ["Shiftmax", "SHIFTMAX_ERRORS", "shiftmax_schedule"]

#: cycles from a beat's acceptance to stage A taking it (the input skid buffer)
A_LEAD = 1

#: ``error_flags`` layout: one sticky bit per cause.
SHIFTMAX_ERRORS = data.StructLayout({"row_too_long": 1, "bad_x0": 1})


def shiftmax_schedule(config: SoftmaxConfig, lengths: list[int], *, banks: int = 3
                      ) -> list[tuple[int, int, int, int]]:
    """The cycle model of :class:`Shiftmax` without building one (see :meth:`Shiftmax.schedule`):
    ``(first_in, last_in, first_out, last_out)`` per row, input back to back from cycle 0,
    ``o_stream`` always ready."""
    P, F = shift_exp_timing(config.n).latency, config.out_bits + 1
    B = F + RECIP_FRONT_STAGES + 4
    return ring_schedule(list(lengths), banks=banks, b_cycles=lambda N: N + P + B,
                         c_lead=P + 3 + RECIP_MUL_STAGES, skid=True)


class Shiftmax(wiring.Component):
    """Integer softmax of rows of up to ``max_tokens`` signed codes (docs/numerics.md §5).

    Normative model: :func:`ivita.model.shiftmax` ``(x, x0, n, out_bits)``: for each row,
    ``z = x - max(x)``, ``ex = shift_exp(z, x0, n)``, ``s = sum(ex)``, ``y = recip_div(ex, s,
    out_bits)``. Output codes are unsigned, ``0 .. 2^(out_bits-1) - 1`` (scale
    ``2^-(out_bits-1)``).

    Architecture: three row stages over ``banks`` row buffers (one ``lib.memory`` of
    ``banks * 2^ceil(log2 max_tokens)`` words of ``in_bits``, one write and two read ports),
    handed on in row order, behind a two-beat input skid buffer (each beat registered with
    ``x0`` and its range check; ``i_stream.ready`` a flip-flop):

    - **A** (input): writes the row into its bank and tracks the running maximum; samples
      ``x0`` with the row's first element.
    - **B** (sum): reads the row back, ``shift_exp`` (:class:`~ivita.hw.shift_exp.ShiftExp`, one
      element per cycle), accumulates ``s`` (``sum_bits`` wide), then one sequential
      :class:`~ivita.hw.divider.Reciprocal` per row (``f``, ``L``).
    - **C** (output): reads the row again, recomputes ``shift_exp`` (a second ShiftExp instead
      of a buffer of ``exp_bits``-wide values) and applies
      :class:`~ivita.hw.divider.RecipMul`; one element per cycle while ``o_stream.ready``.

    Parameters
    ----------
    config : SoftmaxConfig
        ``in_bits``, ``n``, ``out_bits``, ``max_tokens``, ``x0_bits``.
    banks : int, keyword-only
        Row buffers, 1..4 (default 3: A, B and C work on three rows at once; 2: ping-pong, a
        new row enters while the previous one is in B or C; 1: one row at a time).

    Ports
    -----
    i_stream : ``In(stream.Signature({"x": signed(in_bits), "last": 1}))``
        One element per beat; ``last`` marks a row's final element.
    o_stream : ``Out(stream.Signature({"y": unsigned(out_bits), "last": 1}))``
        The row's probabilities in input order; ``last`` on the final one.
    x0 : ``In(signed(x0_bits + 1))``
        Runtime ``x0``, sampled with each row's first element. Valid: ``-(2^x0_bits - 1) <=
        x0 <= -1``.
    error : ``Out(1)``
        Sticky: any bit of ``error_flags``.
    error_flags : ``Out(SHIFTMAX_ERRORS)``
        Sticky, one bit per cause: ``row_too_long`` (a row had more than ``max_tokens``
        elements), ``bad_x0`` (``x0`` out of range at a row's first element); stage A checks a
        beat, and raises its flag, in the cycle after it is accepted (at the earliest).
    error_clear : ``In(1)``
        Clears ``error_flags`` (an error detected in the same cycle still sets its bit).

    A bad row is **discarded whole**: its remaining input is accepted and dropped up to and
    including ``last``, and nothing is output for it (no partial row); following rows are
    processed normally. The unit never stalls on bad input.

    Timing (``P = bit_length(n) + 5`` = ShiftExp latency, ``F = out_bits + 1`` = divider steps,
    rows of ``N`` elements, ``o_stream`` always ready, a free bank): a row whose last element is
    accepted in cycle ``t`` has its first output in cycle ``t + N + 2P + F + 16`` (so ``2N + 2P
    + F + 15`` cycles after its first element when the input has no gaps) and its last ``N - 1``
    cycles later. Stage A takes each beat one cycle after it is accepted (:attr:`a_lead`).
    Stage occupancy per row: A ``N`` cycles, B ``N + P + F + 6``, C ``N + P + 8``
    (:meth:`b_cycles`, :attr:`c_lead`). With ``banks = 3`` the stages overlap fully and rows
    stream at one per ``N + P + F + 6`` cycles (8-bit defaults: ``N + 24``); with fewer banks A
    waits for C to free a bank (:meth:`schedule` is the exact model for any ``banks``).
    :meth:`timing` ``(N)`` states it in the uniform form: latency from the row's ``last`` beat,
    interval = steady-state cycles per row; both are checked against simulation. Throughput
    within a row: one element per cycle in every stage. Back-pressure: ``o_stream`` stalls only
    stage C; ``i_stream.ready`` (a flip-flop) is low once two beats wait for a free bank (never
    while dropping a bad row), so the input may run two beats ahead of stage A.
    """

    @quiet_on_error
    def __init__(self, config: SoftmaxConfig, *, banks: int = 3):
        self._config = check_config(config, SoftmaxConfig)
        self._banks = check_int(banks, "banks", 1, 4)
        c = config
        super().__init__({
            "i_stream": In(stream.Signature(data.StructLayout({
                "x": signed(c.in_bits), "last": 1}))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "y": unsigned(c.out_bits), "last": 1}))),
            "x0": In(signed(c.x0_bits + 1)),
            "error": Out(1),
            "error_flags": Out(SHIFTMAX_ERRORS),
            "error_clear": In(1),
        })

    @property
    def config(self) -> SoftmaxConfig:
        return self._config

    @property
    def banks(self) -> int:
        return self._banks

    # -- cycle model (checked against simulation by the tests) ---------------------------------
    def b_cycles(self, n_tokens: int) -> int:
        """Stage B's cycles per row: ``N + P + F + 6`` (``P`` = ShiftExp latency,
        ``F = out_bits + 1`` reciprocal steps, 2 of the 6 the reciprocal's front stages)."""
        P = shift_exp_timing(self._config.n).latency
        return n_tokens + P + self._config.out_bits + 1 + RECIP_FRONT_STAGES + 4

    @property
    def a_lead(self) -> int:
        """Cycles from a beat's acceptance to stage A taking it: 1 (the input skid buffer);
        the rest of the cycle model counts from stage A (:func:`~ivita.hw.bank_ring.ring_schedule`
        with ``skid``)."""
        return A_LEAD

    @property
    def c_lead(self) -> int:
        """Cycles from stage C taking a row to its first output: ``P + 8`` (3 + the
        RecipMul's 5 stages)."""
        return shift_exp_timing(self._config.n).latency + 3 + RECIP_MUL_STAGES

    def timing(self, n: int | None = None) -> Timing:
        """Rows of ``n`` elements (default ``max_tokens``): latency ``N + 2P + F + 16`` from a
        row's ``last`` beat to its first output; interval = steady-state cycles per row
        (``N + P + F + 6`` with 3 banks; an average with fewer)."""
        N = self._config.max_tokens if n is None else check_int(n, "n", 1,
                                                                 self._config.max_tokens)
        return Timing(latency=A_LEAD + self.b_cycles(N) + 1 + self.c_lead, latency_from="last",
                      interval=steady_period(self.schedule, N), per="row")

    def schedule(self, lengths: list[int]) -> list[tuple[int, int, int, int]]:
        """Exact ``(first_in, last_in, first_out, last_out)`` cycles of consecutive rows
        (input offered back to back from cycle 0, ``o_stream`` always ready)."""
        return shiftmax_schedule(self._config, lengths, banks=self._banks)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        T = cfg.max_tokens
        buf = RowBuffer(m, banks=self._banks, depth=T, shape=signed(cfg.in_bits), read_ports=2)
        sticky = StickyFlags(m, flags=self.error_flags, error=self.error,
                             clear=self.error_clear)
        # per-bank row descriptors: length, maximum, x0 (stage A); f, L (stage B)
        desc = {
            "nm1": buf.descriptor(range(T + 1), "nm1"),      # the row's length - 1
            "nm2": buf.descriptor(signed(T.bit_length() + 1), "nm2"),   # ... - 2
            "one": buf.descriptor(1, "one"),                 # ... is 0 (a one-element row)
            "two": buf.descriptor(1, "two"),                 # ... is 1
            "max": buf.descriptor(signed(cfg.in_bits), "max"),
            "x0": buf.descriptor(signed(cfg.x0_bits + 1), "x0"),
            "f": buf.descriptor(cfg.out_bits + 3, "f"),
            "L": buf.descriptor(unsigned(cfg.sum_bits.bit_length()), "L"),
        }
        self._stage_a(m, buf, desc, sticky)
        self._stage_b(m, buf, desc)
        self._stage_c(m, buf, desc)
        return m

    def _input_buffer(self, m) -> SimpleNamespace:
        """Two beats in front of stage A (:func:`~ivita.hw._skid.output_skid`):
        ``i_stream.ready`` is a flip-flop, and each beat is registered with ``x0`` and
        ``x0_bad``: it is a row's first beat (the beat before it had ``last``; a beat stage A
        does not drop is one exactly then) and ``x0`` is
        out of range, so stage A works on registers only (the ``x0`` port through the check and
        the bad-row logic was 5 LUT levels, docs/fpga.md). Returns the buffered stream
        (``valid``, ``ready``, ``payload``)."""
        cfg, i = self._config, self.i_stream
        beat = data.StructLayout({"x": signed(cfg.in_bits), "last": 1,
                                  "x0": signed(cfg.x0_bits + 1), "x0_bad": 1})
        head = SimpleNamespace(valid=Signal(name="in_valid"), ready=Signal(name="in_take"),
                               payload=Signal(beat, name="in_beat", reset_less=True))
        new = Signal(beat, name="in_new")
        # the beat's two entries are hw/_skid.py's skid buffer; i_stream.ready is a flip-flop
        # copy of its enable (``en_next`` registered: the serializer's enables behind it are
        # then one LUT, not two)
        _, en_next = output_skid(m, head, new, i.valid, name="in")
        ready = Signal(name="in_ready", init=1)
        m.d.sync += ready.eq(en_next)
        first = Signal(name="in_first", init=1)
        with m.If(i.valid & ready):
            m.d.sync += first.eq(i.payload.last)
        m.d.comb += [new.x.eq(i.payload.x), new.last.eq(i.payload.last), new.x0.eq(self.x0),
                     new.x0_bad.eq(i.valid & first & ~x0_in_range(self.x0, cfg.x0_bits)),
                     i.ready.eq(ready)]
        return head

    def _stage_a(self, m, buf, desc, sticky):
        """Input: write the row, track its maximum, sample x0; drop a bad row."""
        cfg, T = self._config, self._config.max_tokens
        i_stream = self._input_buffer(m)
        p = i_stream.payload
        a_full = Signal(name="a_full")     # idx == T: this beat makes the row too long
        a_live = Signal(name="a_live", init=1)    # ~drop & ~a_full
        # the commit (a good beat with last) as one LUT of registers in front of the bank ring
        a_end = Signal(name="a_end")
        a = RowInput(m, i_stream=i_stream, buf=buf, count=T + 1, early=True, at_end=a_end)
        a_max = Signal(signed(cfg.in_bits))
        a_x0 = Signal(signed(cfg.x0_bits + 1))
        new_max = Signal(signed(cfg.in_bits))
        row_x0 = Signal(signed(cfg.x0_bits + 1))
        m.d.comb += [
            a.bad.eq(p.x0_bad | a_full),
            new_max.eq(Mux(~a.first & (a_max > p.x), a_max, p.x)),
            row_x0.eq(Mux(a.first, p.x0, a_x0)),
        ]
        m.d.comb += a_end.eq(a_live & ~p.x0_bad)
        with m.If(a.take & ~a.drop):       # where RowInput steps or clears idx
            m.d.sync += a_full.eq(~a.bad & ~p.last & (a.idx == T - 1))
        with m.If(a.take):                 # RowInput's drop: cleared by last, set by bad
            m.d.sync += a_live.eq(p.last | (~a.drop & ~a.bad & (a.idx != T - 1)))
        sticky.raise_on(m, "bad_x0", a.rejected(p.x0_bad))
        sticky.raise_on(m, "row_too_long", a.rejected(a_full))
        # loaded on ``write`` (every beat of a row not being dropped, a bad one too): the
        # enables do not wait for the x0 check; a bad row's values are never committed and
        # the next row starts over at ``first``
        with m.If(a.write):
            m.d.sync += [a_max.eq(new_max), a_x0.eq(row_x0)]
            buf.store(m, buf.ring.a_ptr, [(desc["nm1"], a.idx), (desc["nm2"], a.idx - 1),
                                          (desc["one"], a.first),
                                          (desc["two"], a.idx == 1),
                                          (desc["max"], new_max),
                                          (desc["x0"], row_x0)])

    def _stage_b(self, m, buf, desc):
        """Sum: read the row, z = x - max, ShiftExp, accumulate; then the row's reciprocal."""
        cfg, T, ring = self._config, self._config.max_tokens, buf.ring
        m.submodules.exp_b = se = ShiftExp(z_bits=cfg.in_bits + 1, x0_bits=cfg.x0_bits, n=cfg.n)
        m.submodules.recip = recip = Reciprocal(s_bits=cfg.sum_bits, out_bits=cfg.out_bits)
        rp = buf.rp[0]
        b_max = Signal(signed(cfg.in_bits))
        b_x0 = Signal(signed(cfg.x0_bits + 1))
        b_idx = Signal(range(T + 1))
        # down counters and flip-flop flags instead of comparisons with the row length: the
        # FSM's transitions and the reciprocal's valid start from registers
        # reads still to issue after this one, minus one: negative (its sign bit) in the ISSUE
        # cycle that reads the row's last element
        b_left = Signal(signed(T.bit_length() + 1))
        b_issue_last = b_left[-1]
        # ShiftExp results still to come after the next; negative (its sign bit, ``b_all``) once
        # all of them are in acc. It and acc are loaded one cycle after IDLE (b_start), from a
        # flip-flop, long before the row's first result
        # (no reset: loaded before they are used, also after a reset)
        b_pend = Signal(signed(T.bit_length() + 1), reset_less=True)
        b_all = b_pend[-1]
        b_start = Signal(reset_less=True)
        acc = Signal(cfg.sum_bits, reset_less=True)
        b_rv = Signal()                    # b_x holds the read data of element b_idx - 1
        b_x = Signal(signed(cfg.in_bits))  # the read data, registered (block RAM output reg.)
        b_zv = Signal()
        b_z = Signal(signed(cfg.in_bits + 1))
        m.d.comb += rp.en.eq(1)
        m.d.sync += [b_rv.eq(0), b_zv.eq(b_rv), b_x.eq(rp.data)]
        with m.If(b_rv):
            m.d.sync += b_z.eq(b_x - b_max)
        m.d.comb += [
            se.i_stream.valid.eq(b_zv),
            se.i_stream.payload.z.eq(b_z),
            se.i_stream.payload.x0.eq(b_x0),
            se.o_stream.ready.eq(1),       # so se.i_stream.ready is always 1
            recip.i_stream.payload.s.eq(acc),
        ]
        m.d.sync += b_start.eq(0)
        with m.If(b_start):
            m.d.sync += [b_pend.eq(buf.load(ring.b_ptr, desc["nm1"])), acc.eq(0)]
        with m.Elif(se.o_stream.valid):
            m.d.sync += [acc.eq(acc + se.o_stream.payload.e), b_pend.eq(b_pend - 1)]
        with m.FSM(name="b_fsm") as b_fsm:
            with m.State("IDLE"):
                with m.If(ring.b_avail):
                    m.d.sync += [b_max.eq(buf.load(ring.b_ptr, desc["max"])),
                                 b_x0.eq(buf.load(ring.b_ptr, desc["x0"])),
                                 b_idx.eq(0), b_start.eq(1)]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.sync += [b_rv.eq(1), b_idx.eq(b_idx + 1)]
                with m.If(b_issue_last):
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(b_all & recip.i_stream.ready):
                    m.next = "RECIP"
            with m.State("RECIP"):
                with m.If(recip.o_stream.valid):
                    buf.store(m, ring.b_ptr, [(desc["f"], recip.o_stream.payload.f),
                                              (desc["L"], recip.o_stream.payload.L)])
                    m.next = "IDLE"
        # b_left is loaded in IDLE and steps in every other state (it is used in ISSUE only):
        # no FSM transition condition in front of it
        with m.If(b_fsm.ongoing("IDLE")):
            m.d.sync += b_left.eq(buf.load(ring.b_ptr, desc["nm2"]))
        with m.Else():
            m.d.sync += b_left.eq(b_left - 1)
        # each read one cycle ahead of its ISSUE cycle (element 0 in IDLE, where b_idx is 0),
        # so that the data is registered once more (b_x) and still arrives as b_rv rises
        m.d.comb += rp.addr.eq(buf.addr(ring.b_ptr, Mux(b_fsm.ongoing("IDLE"), 0, b_idx + 1)))
        m.d.comb += [
            recip.i_stream.valid.eq(b_fsm.ongoing("WAIT") & b_all),
            # always ready: the result comes F + 3 cycles after the FSM entered RECIP, so it is
            # taken there; no path from the FSM state into the reciprocal's enables
            recip.o_stream.ready.eq(1),
            ring.b_done.eq(b_fsm.ongoing("RECIP") & recip.o_stream.valid),
        ]

    def _stage_c(self, m, buf, desc):
        """Output: read the row again, z = x - max, ShiftExp, times the reciprocal."""
        cfg, T, ring = self._config, self._config.max_tokens, buf.ring
        m.submodules.exp_c = se = ShiftExp(z_bits=cfg.in_bits + 1, x0_bits=cfg.x0_bits, n=cfg.n,
                                           tag_shape=1)
        m.submodules.mul = mul = RecipMul(num_bits=cfg.exp_bits, s_bits=cfg.sum_bits,
                                          out_bits=cfg.out_bits, tag_shape=1)
        c_max = Signal(signed(cfg.in_bits))
        c_x0 = Signal(signed(cfg.x0_bits + 1))
        c_f = Signal(cfg.out_bits + 3)
        c_L = Signal(unsigned(cfg.sum_bits.bit_length()))
        c_zv = Signal()
        c_z = Signal(signed(cfg.in_bits + 1))
        c_zlast = Signal()
        c_adv = Signal()
        o = self.o_stream
        rd = RowReader(m, buf=buf, port=buf.rp[1], count=T + 1,
                       last=buf.load(ring.c_ptr, desc["nm1"]),
                       single=buf.load(ring.c_ptr, desc["one"]),
                       two=buf.load(ring.c_ptr, desc["two"]), prefetch=True, adv=c_adv,
                       last_taken=o.valid & o.ready & o.payload.last)
        m.d.comb += c_adv.eq(~c_zv | se.i_stream.ready)
        with m.If(rd.start):
            m.d.sync += [c_max.eq(buf.load(ring.c_ptr, desc["max"])),
                         c_x0.eq(buf.load(ring.c_ptr, desc["x0"])),
                         c_f.eq(buf.load(ring.c_ptr, desc["f"])),
                         c_L.eq(buf.load(ring.c_ptr, desc["L"]))]
        # the read data registered once more (c_x, the block RAM's output register); the
        # reader's prefetch issues each read one cycle earlier, so the latency is unchanged
        c_x = Signal(signed(cfg.in_bits))
        c_xv = Signal()
        c_xlast = Signal()
        with m.If(c_adv):
            m.d.sync += [c_xv.eq(rd.rv), c_zv.eq(c_xv)]
            with m.If(rd.rv):
                m.d.sync += [c_x.eq(buf.rp[1].data), c_xlast.eq(rd.rlast)]
            with m.If(c_xv):
                m.d.sync += [c_z.eq(c_x - c_max), c_zlast.eq(c_xlast)]
        m.d.comb += [
            se.i_stream.valid.eq(c_zv),
            se.i_stream.payload.z.eq(c_z),
            se.i_stream.payload.x0.eq(c_x0),
            se.i_stream.payload.tag.eq(c_zlast),
            mul.i_stream.valid.eq(se.o_stream.valid),
            se.o_stream.ready.eq(mul.i_stream.ready),
            mul.i_stream.payload.num.eq(se.o_stream.payload.e),
            mul.i_stream.payload.f.eq(c_f),
            mul.i_stream.payload.L.eq(c_L),
            mul.i_stream.payload.tag.eq(se.o_stream.payload.tag),
            o.valid.eq(mul.o_stream.valid),
            mul.o_stream.ready.eq(o.ready),
            o.payload.y.eq(mul.o_stream.payload.y),
            o.payload.last.eq(mul.o_stream.payload.tag),
        ]
