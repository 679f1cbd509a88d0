"""Shiftmax: integer softmax over rows streamed one element per cycle (NUMERICS.md §5).

Normative model: :func:`ivita.model.shiftmax`.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ivita.model.config import SoftmaxConfig

from ._nlutil import (BankRing, ceil_log2, check_config, check_int, quiet_on_error, ring_schedule,
                      steady_period)
from .divider import Reciprocal, RecipMul
from .shift_exp import ShiftExp, shift_exp_latency

__all__ = ["Shiftmax", "SHIFTMAX_ERRORS", "shiftmax_schedule"]

#: ``error_flags`` layout: one sticky bit per cause.
SHIFTMAX_ERRORS = data.StructLayout({"row_too_long": 1, "bad_x0": 1})


def shiftmax_schedule(config: SoftmaxConfig, lengths: list[int], *, banks: int = 3
                      ) -> list[tuple[int, int, int, int]]:
    """The cycle model of :class:`Shiftmax` without building one (see :meth:`Shiftmax.schedule`):
    ``(first_in, last_in, first_out, last_out)`` per row, input back to back from cycle 0,
    ``o_stream`` always ready."""
    P, F = shift_exp_latency(config.n), config.out_bits + 1
    return ring_schedule(list(lengths), banks=banks, b_cycles=lambda N: N + P + F + 5,
                         c_lead=P + 5)


class Shiftmax(wiring.Component):
    """Integer softmax of rows of up to ``max_tokens`` signed codes (NUMERICS.md §5).

    Normative model: :func:`ivita.model.shiftmax` ``(x, x0, n, out_bits)``: for each row,
    ``z = x - max(x)``, ``ex = shift_exp(z, x0, n)``, ``s = sum(ex)``, ``y = recip_div(ex, s,
    out_bits)``. Output codes are unsigned, ``0 .. 2^(out_bits-1) - 1`` (scale
    ``2^-(out_bits-1)``).

    Architecture: three row stages over ``banks`` row buffers (one ``lib.memory`` of
    ``banks * 2^ceil(log2 max_tokens)`` words of ``in_bits``, one write and two read ports),
    handed on in row order:

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
        elements), ``bad_x0`` (``x0`` out of range at a row's first element).
    error_clear : ``In(1)``
        Clears ``error_flags`` (an error detected in the same cycle still sets its bit).

    A bad row is **discarded whole**: its remaining input is accepted and dropped up to and
    including ``last``, and nothing is output for it (no partial row); following rows are
    processed normally. The unit never stalls on bad input.

    Timing (``P = bit_length(n) + 2`` = ShiftExp latency, ``F = out_bits + 1`` = divider steps,
    rows of ``N`` elements, ``o_stream`` always ready, a free bank): a row whose last element is
    accepted in cycle ``t`` has its first output in cycle ``t + N + 2P + F + 11`` (so ``2N + 2P
    + F + 10`` cycles after its first element when the input has no gaps) and its last ``N - 1``
    cycles later. Stage occupancy per row: A ``N`` cycles, B ``N + P + F + 5``, C ``N + P + 5``
    (:meth:`b_cycles`, :attr:`c_lead`). With ``banks = 3`` the stages overlap fully and rows
    stream at one per ``N + P + F + 5`` cycles (8-bit defaults: ``N + 20``); with fewer banks A
    waits for C to free a bank (:meth:`schedule` is the exact model for any ``banks``,
    :meth:`row_period` its steady state; both are checked against simulation). Throughput
    within a row: one element per cycle in every stage. Back-pressure: ``o_stream`` stalls only
    stage C; ``i_stream.ready`` is low while no bank is free (never while dropping a bad row).
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
    @property
    def exp_latency(self) -> int:
        """``P``: the ShiftExp pipeline depth."""
        return shift_exp_latency(self._config.n)

    @property
    def recip_steps(self) -> int:
        """``F = out_bits + 1``: steps of the per-row sequential reciprocal."""
        return self._config.out_bits + 1

    def b_cycles(self, n_tokens: int) -> int:
        """Stage B's cycles per row: ``N + P + F + 5``."""
        return n_tokens + self.exp_latency + self.recip_steps + 5

    @property
    def c_lead(self) -> int:
        """Cycles from stage C taking a row to its first output: ``P + 5``."""
        return self.exp_latency + 5

    #: :meth:`latency` counts from a row's ``last`` input beat (read by ``ivita.sim.emit``).
    latency_from = "last"

    def latency(self, n_tokens: int) -> int:
        """Cycles from a row's last input transfer to its first output, banks free and
        ``o_stream`` ready: ``N + 2P + F + 11``."""
        return self.b_cycles(n_tokens) + 1 + self.c_lead

    def schedule(self, lengths: list[int]) -> list[tuple[int, int, int, int]]:
        """Exact ``(first_in, last_in, first_out, last_out)`` cycles of consecutive rows
        (input offered back to back from cycle 0, ``o_stream`` always ready)."""
        return shiftmax_schedule(self._config, lengths, banks=self._banks)

    def row_period(self, n_tokens: int) -> float:
        """Steady-state average cycles per row of ``n_tokens`` (from :meth:`schedule`)."""
        return steady_period(self.schedule, n_tokens)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        ib, ob, n, xb, T = cfg.in_bits, cfg.out_bits, cfg.n, cfg.x0_bits, cfg.max_tokens
        ab = ceil_log2(T)                  # address bits within a bank
        m.submodules.mem = mem = Memory(shape=signed(ib), depth=self._banks << ab, init=[])
        wp = mem.write_port()
        rp_b = mem.read_port()
        rp_c = mem.read_port()
        ring = BankRing(m, self._banks)

        def addr(bank, idx):
            return Cat(idx[:ab], bank) if ab else bank

        flags = self.error_flags
        with m.If(self.error_clear):
            m.d.sync += flags.eq(0)
        m.d.comb += self.error.eq(flags.as_value().any())

        # per-bank row descriptors
        l_shape = unsigned(cfg.sum_bits.bit_length())
        d_n = [Signal(range(T + 1), name=f"d{i}_n") for i in range(self._banks)]
        d_max = [Signal(signed(ib), name=f"d{i}_max") for i in range(self._banks)]
        d_x0 = [Signal(signed(xb + 1), name=f"d{i}_x0") for i in range(self._banks)]
        d_f = [Signal(ob + 3, name=f"d{i}_f") for i in range(self._banks)]
        d_L = [Signal(l_shape, name=f"d{i}_L") for i in range(self._banks)]

        # ---- stage A: input -----------------------------------------------------------------
        a_idx = Signal(range(T + 1))
        a_drop = Signal()
        a_max = Signal(signed(ib))
        a_x0 = Signal(signed(xb + 1))
        p = self.i_stream.payload
        x0_ok = (self.x0 < 0) & (self.x0 > -(1 << xb))
        m.d.comb += self.i_stream.ready.eq(a_drop | ring.a_room)
        # Combinational controls are plain expressions (no conditional ``comb`` assignments):
        # Verilog simulators with SystemVerilog initialization semantics (``iverilog -g2012``)
        # never evaluate an ``always @*`` block whose inputs do not change after time 0.
        take = Signal()
        store = Signal()                   # a good element of a good row
        first = Signal()
        new_max = Signal(signed(ib))
        row_x0 = Signal(signed(xb + 1))
        m.d.comb += [
            take.eq(self.i_stream.valid & self.i_stream.ready),
            first.eq(a_idx == 0),
            store.eq(take & ~a_drop & ~(first & ~x0_ok) & (a_idx != T)),
            new_max.eq(Mux(~first & (a_max > p.x), a_max, p.x)),
            row_x0.eq(Mux(first, self.x0, a_x0)),
            wp.en.eq(store), wp.addr.eq(addr(ring.a_ptr, a_idx)), wp.data.eq(p.x),
            ring.a_commit.eq(store & p.last),
        ]
        with m.If(take):
            with m.If(a_drop):
                with m.If(p.last):
                    m.d.sync += a_drop.eq(0)
            with m.Elif(first & ~x0_ok):
                m.d.sync += [flags.bad_x0.eq(1), a_drop.eq(~p.last)]
            with m.Elif(a_idx == T):
                m.d.sync += [flags.row_too_long.eq(1), a_drop.eq(~p.last), a_idx.eq(0)]
            with m.Else():
                m.d.sync += [a_max.eq(new_max), a_x0.eq(row_x0)]
                with m.If(p.last):
                    m.d.sync += a_idx.eq(0)
                    for i in range(self._banks):
                        with m.If(ring.a_ptr == i):
                            m.d.sync += [d_n[i].eq(a_idx + 1), d_max[i].eq(new_max),
                                         d_x0[i].eq(row_x0)]
                with m.Else():
                    m.d.sync += a_idx.eq(a_idx + 1)

        # ---- stage B: exp, sum, reciprocal --------------------------------------------------
        m.submodules.exp_b = se_b = ShiftExp(z_bits=ib + 1, x0_bits=xb, n=n)
        m.submodules.recip = recip = Reciprocal(s_bits=cfg.sum_bits, out_bits=ob)
        b_n = Signal(range(T + 1))
        b_max = Signal(signed(ib))
        b_x0 = Signal(signed(xb + 1))
        b_idx = Signal(range(T + 1))
        b_cnt = Signal(range(T + 1))
        acc = Signal(cfg.sum_bits)
        b_rv = Signal()                    # read data valid (BRAM output register)
        b_zv = Signal()
        b_z = Signal(signed(ib + 1))
        m.d.comb += [rp_b.addr.eq(addr(ring.b_ptr, b_idx)), rp_b.en.eq(1)]
        m.d.sync += [b_rv.eq(0), b_zv.eq(b_rv)]
        with m.If(b_rv):
            m.d.sync += b_z.eq(rp_b.data - b_max)
        m.d.comb += [
            se_b.i_stream.valid.eq(b_zv),
            se_b.i_stream.payload.z.eq(b_z),
            se_b.i_stream.payload.x0.eq(b_x0),
            se_b.o_stream.ready.eq(1),     # so se_b.i_stream.ready is always 1
            recip.i_stream.payload.s.eq(acc),
        ]
        with m.If(se_b.o_stream.valid):
            m.d.sync += [acc.eq(acc + se_b.o_stream.payload.e), b_cnt.eq(b_cnt + 1)]
        with m.FSM(name="b_fsm") as b_fsm:
            with m.State("IDLE"):
                with m.If(ring.b_avail):
                    m.d.sync += [
                        b_n.eq(ring.select(ring.b_ptr, d_n)),
                        b_max.eq(ring.select(ring.b_ptr, d_max)),
                        b_x0.eq(ring.select(ring.b_ptr, d_x0)),
                        b_idx.eq(0), b_cnt.eq(0), acc.eq(0),
                    ]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.sync += [b_rv.eq(1), b_idx.eq(b_idx + 1)]
                with m.If(b_idx == b_n - 1):
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If((b_cnt == b_n) & recip.i_stream.ready):
                    m.next = "RECIP"
            with m.State("RECIP"):
                with m.If(recip.o_stream.valid):
                    for i in range(self._banks):
                        with m.If(ring.b_ptr == i):
                            m.d.sync += [d_f[i].eq(recip.o_stream.payload.f),
                                         d_L[i].eq(recip.o_stream.payload.L)]
                    m.next = "IDLE"
        m.d.comb += [
            recip.i_stream.valid.eq(b_fsm.ongoing("WAIT") & (b_cnt == b_n)),
            recip.o_stream.ready.eq(b_fsm.ongoing("RECIP")),
            ring.b_done.eq(b_fsm.ongoing("RECIP") & recip.o_stream.valid),
        ]

        # ---- stage C: output ----------------------------------------------------------------
        m.submodules.exp_c = se_c = ShiftExp(z_bits=ib + 1, x0_bits=xb, n=n, tag_shape=1)
        m.submodules.mul = mul = RecipMul(num_bits=cfg.exp_bits, s_bits=cfg.sum_bits,
                                          out_bits=ob, tag_shape=1)
        c_n = Signal(range(T + 1))
        c_max = Signal(signed(ib))
        c_x0 = Signal(signed(xb + 1))
        c_f = Signal(ob + 3)
        c_L = Signal(l_shape)
        c_idx = Signal(range(T + 1))
        c_issue = Signal()
        c_rv = Signal()
        c_rlast = Signal()
        c_zv = Signal()
        c_z = Signal(signed(ib + 1))
        c_zlast = Signal()
        c_adv = Signal()
        m.d.comb += [
            c_adv.eq(~c_zv | se_c.i_stream.ready),
            rp_c.en.eq(c_adv),
            rp_c.addr.eq(addr(ring.c_ptr, c_idx)),
        ]
        with m.If(c_adv):
            m.d.sync += [c_rv.eq(c_issue), c_zv.eq(c_rv)]
            with m.If(c_issue):
                m.d.sync += [c_idx.eq(c_idx + 1), c_rlast.eq(c_idx == c_n - 1)]
            with m.If(c_rv):
                m.d.sync += [c_z.eq(rp_c.data - c_max), c_zlast.eq(c_rlast)]
        m.d.comb += [
            se_c.i_stream.valid.eq(c_zv),
            se_c.i_stream.payload.z.eq(c_z),
            se_c.i_stream.payload.x0.eq(c_x0),
            se_c.i_stream.payload.tag.eq(c_zlast),
            mul.i_stream.valid.eq(se_c.o_stream.valid),
            se_c.o_stream.ready.eq(mul.i_stream.ready),
            mul.i_stream.payload.num.eq(se_c.o_stream.payload.e),
            mul.i_stream.payload.f.eq(c_f),
            mul.i_stream.payload.L.eq(c_L),
            mul.i_stream.payload.tag.eq(se_c.o_stream.payload.tag),
            self.o_stream.valid.eq(mul.o_stream.valid),
            mul.o_stream.ready.eq(self.o_stream.ready),
            self.o_stream.payload.y.eq(mul.o_stream.payload.y),
            self.o_stream.payload.last.eq(mul.o_stream.payload.tag),
        ]
        with m.FSM(name="c_fsm") as c_fsm:
            with m.State("IDLE"):
                with m.If(ring.c_avail):
                    m.d.sync += [
                        c_n.eq(ring.select(ring.c_ptr, d_n)),
                        c_max.eq(ring.select(ring.c_ptr, d_max)),
                        c_x0.eq(ring.select(ring.c_ptr, d_x0)),
                        c_f.eq(ring.select(ring.c_ptr, d_f)),
                        c_L.eq(ring.select(ring.c_ptr, d_L)),
                        c_idx.eq(0),
                    ]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                with m.If(c_adv & (c_idx == c_n - 1)):
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(ring.c_done):
                    m.next = "IDLE"
        m.d.comb += [
            c_issue.eq(c_fsm.ongoing("ISSUE")),
            ring.c_done.eq(c_fsm.ongoing("DRAIN") & self.o_stream.valid & self.o_stream.ready
                           & self.o_stream.payload.last),
        ]
        return m
