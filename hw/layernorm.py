"""I-LayerNorm: integer layer normalization over rows of ``C`` channels (NUMERICS.md §7).

Normative model: :func:`ivita.model.int_layernorm` (before the affine part).
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ivita.model.config import LayerNormConfig

from ._nlutil import (BankRing, ceil_log2, check_config, check_int, const_mul, quiet_on_error,
                      ring_schedule, steady_period)
from .divider import Divider
from .isqrt import ISqrt

__all__ = ["IntLayerNorm", "LAYERNORM_ERRORS", "layernorm_b_cycles", "layernorm_schedule"]

#: ``error_flags`` layout: one sticky bit per cause.
LAYERNORM_ERRORS = data.StructLayout({"row_too_long": 1, "row_too_short": 1})

G_NUM = (1 << 31) - 1
C_LEAD = 4      # cycles from stage C taking a row to its first output


def layernorm_b_cycles(config: LayerNormConfig) -> int:
    """``D``: stage B's cycles per row: ``1 + M + 2 + (1 + ceil(var_bits/2)) + (1 + 31)`` with
    ``M = 1`` for a power-of-two ``C``, else ``1 + in_bits`` (the mean divider)."""
    C = config.channels
    mean = 1 if C & (C - 1) == 0 else 1 + config.in_bits
    return 1 + mean + 2 + (1 + (config.var_bits + 1) // 2) + (1 + 31)


def layernorm_schedule(config: LayerNormConfig, rows: int, *, banks: int = 3
                       ) -> list[tuple[int, int, int, int]]:
    """The cycle model of :class:`IntLayerNorm` without building one: ``(first_in, last_in,
    first_out, last_out)`` per row, input back to back from cycle 0, ``o_stream`` ready."""
    D = layernorm_b_cycles(config)
    return ring_schedule([config.channels] * rows, banks=banks, b_cycles=lambda _n: D,
                         c_lead=C_LEAD)


class IntLayerNorm(wiring.Component):
    """``int_layernorm`` of rows of exactly ``C = channels`` signed codes (NUMERICS.md §7).

    Normative model: :func:`ivita.model.int_layernorm`: ``mu = (sum + C//2) // C``,
    ``y = x - mu``, ``var = sum(y*y)``, ``std = max(isqrt(var), 1)``, ``g = (2^31-1) // std``,
    ``out = (y * g) >> 1`` (31 signed bits, scale ``sqrt(C) / 2^30``; the affine part is folded
    downstream).

    Architecture: three row stages over ``banks`` row buffers (one ``lib.memory`` of ``banks *
    2^ceil(log2 C)`` words of ``in_bits``, one write and one read port), handed on in row order:

    - **A** (input): writes the row and accumulates ``S = sum(x)`` and ``Q = sum(x*x)`` (one
      product per element, registered one cycle later).
    - **B** (per-row scalars, no memory access): ``mu`` (an arithmetic shift when ``C`` is a
      power of two, else a sequential :class:`~ivita.hw.divider.Divider` by the constant ``C``
      on ``|S + C//2|`` with a floor fix-up for negative sums), ``var = Q - mu*(2S - C*mu)``
      (exactly ``sum((x-mu)^2)``, so no second pass over the row), ``std`` by the sequential
      :class:`~ivita.hw.isqrt.ISqrt`, ``g`` by a sequential divider of the constant ``2^31-1``.
    - **C** (output): reads the row again; ``y = x - mu``, ``(y * g) >> 1``; one element per
      cycle while ``o_stream.ready``.

    Parameters
    ----------
    config : LayerNormConfig
        ``in_bits`` (2..16) and ``channels`` (``C``, 1..4096).
    banks : int, keyword-only
        Row buffers, 1..4 (default 3; see :class:`~ivita.hw.softmax.Shiftmax`).

    Ports
    -----
    i_stream : ``In(stream.Signature({"x": signed(in_bits), "last": 1}))``
        Rows of exactly ``C`` beats, ``last`` on the ``C``-th.
    o_stream : ``Out(stream.Signature({"y": signed(31), "last": 1}))``
    error : ``Out(1)``
        Sticky: any bit of ``error_flags``.
    error_flags : ``Out(LAYERNORM_ERRORS)``
        Sticky: ``row_too_long`` (the ``C``-th beat of a row came without ``last``),
        ``row_too_short`` (``last`` came before the ``C``-th beat).
    error_clear : ``In(1)``
        Clears ``error_flags``.

    A bad row is **discarded whole**: a too-long row's remaining beats are accepted and dropped
    up to and including ``last``; a too-short row ends at its ``last``. Nothing is output for a
    bad row; the next beat starts a new row.

    Timing (``o_stream`` ready, a free bank; ``D`` = :attr:`b_cycles`, 57 for 16-bit inputs and
    ``C = 64``): a row whose last element is accepted in cycle ``t`` has its first output in
    cycle ``t + D + 5`` and its last ``C - 1`` cycles later. Stage occupancy per row: A ``C``
    cycles, B ``D``, C ``C + 4``; with ``banks = 3`` rows stream at one per ``max(D, C + 4)``
    cycles. :meth:`schedule` is the exact model for any ``banks`` (checked against simulation).
    Throughput within a row: one element per cycle. Back-pressure: ``o_stream`` stalls only
    stage C; ``i_stream.ready`` is low while no bank is free (never while dropping a bad row).
    """

    @quiet_on_error
    def __init__(self, config: LayerNormConfig, *, banks: int = 3):
        self._config = check_config(config, LayerNormConfig)
        self._banks = check_int(banks, "banks", 1, 4)
        c = config
        super().__init__({
            "i_stream": In(stream.Signature(data.StructLayout({
                "x": signed(c.in_bits), "last": 1}))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "y": signed(c.out_bits), "last": 1}))),
            "error": Out(1),
            "error_flags": Out(LAYERNORM_ERRORS),
            "error_clear": In(1),
        })

    @property
    def config(self) -> LayerNormConfig:
        return self._config

    @property
    def banks(self) -> int:
        return self._banks

    # -- cycle model (checked against simulation by the tests) ---------------------------------
    @property
    def _pow2(self) -> bool:
        C = self._config.channels
        return C & (C - 1) == 0

    @property
    def b_cycles(self) -> int:
        """``D``: stage B's cycles per row (:func:`layernorm_b_cycles`)."""
        return layernorm_b_cycles(self._config)

    c_lead = C_LEAD
    """Cycles from stage C taking a row to its first output."""

    #: :attr:`latency` counts from a row's ``last`` input beat (read by ``ivita.sim.emit``).
    latency_from = "last"

    @property
    def latency(self) -> int:
        """Cycles from a row's last input transfer to its first output: ``D + 5``."""
        return self.b_cycles + 1 + self.c_lead

    def schedule(self, rows: int) -> list[tuple[int, int, int, int]]:
        """Exact ``(first_in, last_in, first_out, last_out)`` cycles of ``rows`` consecutive rows
        (input offered back to back from cycle 0, ``o_stream`` always ready)."""
        return layernorm_schedule(self._config, rows, banks=self._banks)

    @property
    def row_period(self) -> float:
        """Steady-state average cycles per row (from :meth:`schedule`)."""
        return steady_period(lambda lengths: self.schedule(len(lengths)), self._config.channels)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        ib, C = cfg.in_bits, cfg.channels
        ab = ceil_log2(C)
        m.submodules.mem = mem = Memory(shape=signed(ib), depth=self._banks << ab, init=[])
        wp = mem.write_port()
        rp = mem.read_port()
        ring = BankRing(m, self._banks)

        def addr(bank, idx):
            return Cat(idx[:ab], bank) if ab else bank

        flags = self.error_flags
        with m.If(self.error_clear):
            m.d.sync += flags.eq(0)
        m.d.comb += self.error.eq(flags.as_value().any())

        sb, vb = cfg.sum_bits, cfg.var_bits
        d_s = [Signal(signed(sb), name=f"d{i}_s") for i in range(self._banks)]
        d_q = [Signal(vb, name=f"d{i}_q") for i in range(self._banks)]
        d_mu = [Signal(signed(ib), name=f"d{i}_mu") for i in range(self._banks)]
        d_g = [Signal(31, name=f"d{i}_g") for i in range(self._banks)]

        # ---- stage A: input, sum and sum of squares -----------------------------------------
        a_idx = Signal(range(C))
        a_drop = Signal()
        p = self.i_stream.payload
        m.d.comb += self.i_stream.ready.eq(a_drop | ring.a_room)
        acc_v = Signal()                   # delayed accumulate stage
        acc_x = Signal(signed(ib))
        acc_first = Signal()
        acc_commit = Signal()
        acc_bank = Signal.like(ring.a_ptr)
        take = Signal()
        store = Signal()                   # a good element of a good row
        bad_short = Signal()
        bad_long = Signal()
        m.d.comb += [                      # plain expressions, see Shiftmax (iverilog -g2012)
            take.eq(self.i_stream.valid & self.i_stream.ready),
            bad_short.eq(p.last & (a_idx != C - 1)),
            bad_long.eq(~p.last & (a_idx == C - 1)),
            store.eq(take & ~a_drop & ~bad_short & ~bad_long),
            wp.en.eq(store), wp.addr.eq(addr(ring.a_ptr, a_idx)), wp.data.eq(p.x),
            ring.a_commit.eq(store & p.last),
        ]
        m.d.sync += acc_v.eq(store)
        with m.If(store):
            m.d.sync += [acc_x.eq(p.x), acc_first.eq(a_idx == 0), acc_commit.eq(p.last),
                         acc_bank.eq(ring.a_ptr)]
        with m.If(take):
            with m.If(a_drop):
                with m.If(p.last):
                    m.d.sync += a_drop.eq(0)
            with m.Elif(bad_short):
                m.d.sync += [flags.row_too_short.eq(1), a_idx.eq(0)]
            with m.Elif(bad_long):
                m.d.sync += [flags.row_too_long.eq(1), a_idx.eq(0), a_drop.eq(1)]
            with m.Elif(p.last):
                m.d.sync += a_idx.eq(0)
            with m.Else():
                m.d.sync += a_idx.eq(a_idx + 1)
        s_acc = Signal(signed(sb))
        q_acc = Signal(vb)
        s_new = Signal(signed(sb))
        q_new = Signal(vb)
        m.d.comb += [
            s_new.eq(Mux(acc_first, 0, s_acc) + acc_x),
            q_new.eq(Mux(acc_first, 0, q_acc) + acc_x * acc_x),
        ]
        with m.If(acc_v):
            m.d.sync += [s_acc.eq(s_new), q_acc.eq(q_new)]
            with m.If(acc_commit):
                for i in range(self._banks):
                    with m.If(acc_bank == i):
                        m.d.sync += [d_s[i].eq(s_new), d_q[i].eq(q_new)]

        # ---- stage B: mean, variance, square root, gain --------------------------------------
        m.submodules.mean_div = mdiv = Divider(
            dividend_bits=sb, divisor_bits=max(C.bit_length(), 1), quotient_bits=ib)
        m.submodules.isqrt = sqrt = ISqrt(in_bits=vb)
        m.submodules.gain_div = gdiv = Divider(
            dividend_bits=31, divisor_bits=sqrt.root_bits, dividend=G_NUM)
        S = ring.select(ring.b_ptr, d_s)
        Q = ring.select(ring.b_ptr, d_q)
        t = Signal(signed(sb + 1))
        m.d.comb += t.eq(S + C // 2)
        neg = Signal()
        mu = Signal(signed(ib))
        tt = Signal(signed(sb + 2))        # 2S - C*mu
        var = Signal(vb)
        std = Signal(sqrt.root_bits)
        m.d.comb += [
            mdiv.i_stream.payload.dividend.eq(Mux(t < 0, -t, t)),
            mdiv.i_stream.payload.divisor.eq(C),
            sqrt.i_stream.payload.v.eq(var),
            gdiv.i_stream.payload.divisor.eq(std),
        ]
        with m.FSM(name="b_fsm") as b_fsm:
            with m.State("IDLE"):
                with m.If(ring.b_avail):
                    m.next = "MEAN"
            with m.State("MEAN"):          # desc S/Q are written by now (one cycle after commit)
                if self._pow2:
                    m.d.sync += mu.eq(t >> ab)
                    m.next = "VAR0"
                else:
                    m.d.sync += neg.eq(t < 0)
                    with m.If(mdiv.i_stream.ready):
                        m.next = "MEANW"
            if not self._pow2:
                with m.State("MEANW"):
                    with m.If(mdiv.o_stream.valid):
                        qq = mdiv.o_stream.payload.quotient
                        rr = mdiv.o_stream.payload.remainder
                        m.d.sync += mu.eq(Mux(neg, -(qq + (rr != 0)), qq))
                        m.next = "VAR0"
            with m.State("VAR0"):
                m.d.sync += tt.eq(2 * S - const_mul(mu, C))
                m.next = "VAR1"
            with m.State("VAR1"):
                m.d.sync += var.eq(Q - mu * tt)
                m.next = "SQRT"
            with m.State("SQRT"):
                with m.If(sqrt.i_stream.ready):
                    m.next = "SQRTW"
            with m.State("SQRTW"):
                with m.If(sqrt.o_stream.valid):
                    root = sqrt.o_stream.payload.root
                    m.d.sync += std.eq(Mux(root == 0, 1, root))
                    m.next = "GAIN"
            with m.State("GAIN"):
                with m.If(gdiv.i_stream.ready):
                    m.next = "GAINW"
            with m.State("GAINW"):
                with m.If(gdiv.o_stream.valid):
                    for i in range(self._banks):
                        with m.If(ring.b_ptr == i):
                            m.d.sync += [d_mu[i].eq(mu),
                                         d_g[i].eq(gdiv.o_stream.payload.quotient)]
                    m.next = "IDLE"
        m.d.comb += [
            mdiv.i_stream.valid.eq(b_fsm.ongoing("MEAN") if not self._pow2 else 0),
            mdiv.o_stream.ready.eq(b_fsm.ongoing("MEANW") if not self._pow2 else 0),
            sqrt.i_stream.valid.eq(b_fsm.ongoing("SQRT")),
            sqrt.o_stream.ready.eq(b_fsm.ongoing("SQRTW")),
            gdiv.i_stream.valid.eq(b_fsm.ongoing("GAIN")),
            gdiv.o_stream.ready.eq(b_fsm.ongoing("GAINW")),
            ring.b_done.eq(b_fsm.ongoing("GAINW") & gdiv.o_stream.valid),
        ]

        # ---- stage C: output ----------------------------------------------------------------
        c_mu = Signal(signed(ib))
        c_g = Signal(31)
        c_idx = Signal(range(C))
        c_issue = Signal()
        adv = Signal()
        v_rd, v_y, v_p = Signal(), Signal(), Signal()
        l_rd, l_y, l_p = Signal(), Signal(), Signal()
        y = Signal(signed(ib + 1))
        prod = Signal(signed(ib + 1 + 31))
        m.d.comb += [
            adv.eq(~v_p | self.o_stream.ready),
            rp.en.eq(adv),
            rp.addr.eq(addr(ring.c_ptr, c_idx)),
            self.o_stream.valid.eq(v_p),
            self.o_stream.payload.y.eq(prod >> 1),
            self.o_stream.payload.last.eq(l_p),
        ]
        with m.If(adv):
            m.d.sync += [v_rd.eq(c_issue), v_y.eq(v_rd), v_p.eq(v_y)]
            with m.If(c_issue):
                m.d.sync += [c_idx.eq(c_idx + 1), l_rd.eq(c_idx == C - 1)]
            with m.If(v_rd):
                m.d.sync += [y.eq(rp.data - c_mu), l_y.eq(l_rd)]
            with m.If(v_y):
                m.d.sync += [prod.eq(y * c_g), l_p.eq(l_y)]
        with m.FSM(name="c_fsm") as c_fsm:
            with m.State("IDLE"):
                with m.If(ring.c_avail):
                    m.d.sync += [c_mu.eq(ring.select(ring.c_ptr, d_mu)),
                                 c_g.eq(ring.select(ring.c_ptr, d_g)), c_idx.eq(0)]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                with m.If(adv & (c_idx == C - 1)):
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
