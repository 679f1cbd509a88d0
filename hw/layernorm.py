"""I-LayerNorm: integer layer normalization over rows of ``C`` channels (docs/numerics.md §7).

Normative model: :func:`ivita.model.int_layernorm` (before the affine part).
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.hdl import Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int
from ivita.model.config import LayerNormConfig
from ivita.model.core import ceil_log2
from ivita.model.layernorm import G_NUM

from ._nlutil import check_config, const_mul, quiet_on_error, split_product
from .bank_ring import ring_schedule, steady_period
from .divider import Divider
from .isqrt import ISqrt
from .row_buffer import RowBuffer
from .row_input import RowInput
from .row_reader import RowReader
from .sticky import StickyFlags
from .timing import Timing

__all__ = ["IntLayerNorm", "LAYERNORM_ERRORS", "layernorm_b_cycles", "layernorm_schedule"]

#: ``error_flags`` layout: one sticky bit per cause.
LAYERNORM_ERRORS = data.StructLayout({"row_too_long": 1, "row_too_short": 1})

C_LEAD = 5      # cycles from stage C taking a row to its first output


def layernorm_b_cycles(config: LayerNormConfig) -> int:
    """``D``: stage B's cycles per row: ``1 + M + 4 + (1 + ceil(var_bits/2)) + (1 + 31)`` with
    ``M = 1`` for a power-of-two ``C``, else ``1 + in_bits`` (the mean divider)."""
    C = config.channels
    mean = 1 if C & (C - 1) == 0 else 1 + config.in_bits
    return 1 + mean + 4 + (1 + (config.var_bits + 1) // 2) + (1 + 31)


def layernorm_schedule(config: LayerNormConfig, rows: int, *, banks: int = 3
                       ) -> list[tuple[int, int, int, int]]:
    """The cycle model of :class:`IntLayerNorm` without building one: ``(first_in, last_in,
    first_out, last_out)`` per row, input back to back from cycle 0, ``o_stream`` ready."""
    D = layernorm_b_cycles(config)
    return ring_schedule([config.channels] * rows, banks=banks, b_cycles=lambda _n: D,
                         c_lead=C_LEAD)


class IntLayerNorm(wiring.Component):
    """``int_layernorm`` of rows of exactly ``C = channels`` signed codes (docs/numerics.md §7).

    Normative model: :func:`ivita.model.int_layernorm`: ``mu = (sum + C//2) // C``,
    ``y = x - mu``, ``var = sum(y*y)``, ``std = max(isqrt(var), 1)``, ``g = (2^31-1) // std``,
    ``out = (y * g) >> 1`` (31 signed bits, scale ``sqrt(C) / 2^30``; the affine part is folded
    downstream).

    Architecture: three row stages over ``banks`` row buffers (one ``lib.memory`` of ``banks *
    2^ceil(log2 C)`` words of ``in_bits``, one write and one read port), handed on in row order:

    - **A** (input): writes the row and accumulates ``S = sum(x)`` and ``Q = sum(x*x)`` (one
      product per element; S one cycle after the beat, Q two).
    - **B** (per-row scalars, no memory access; one flip-flop per state): ``mu`` (an arithmetic
      shift when ``C`` is a power of two, else a sequential :class:`~ivita.hw.divider.Divider`
      by the constant ``C`` on ``|S + C//2|`` with a floor fix-up for negative sums),
      ``var = Q - mu*(2S - C*mu)`` (exactly ``sum((x-mu)^2)``, so no second pass over the row;
      ``2S - C*mu``, the product in a DSP48E1's M then P register, the difference: four
      states), ``std`` by the sequential :class:`~ivita.hw.isqrt.ISqrt`, ``g`` by a sequential
      divider of the constant ``2^31-1``.
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
        Clears ``error_flags`` (an error detected in the same cycle still sets its bit).

    A bad row is **discarded whole**: a too-long row's remaining beats are accepted and dropped
    up to and including ``last``; a too-short row ends at its ``last``. Nothing is output for a
    bad row; the next beat starts a new row.

    Timing (``o_stream`` ready, a free bank; ``D`` = :attr:`b_cycles`, 59 for 16-bit inputs and
    ``C = 64``): a row whose last element is accepted in cycle ``t`` has its first output in
    cycle ``t + D + 6`` and its last ``C - 1`` cycles later. Stage occupancy per row: A ``C``
    cycles, B ``D``, C ``C + 5``; with ``banks = 3`` rows stream at one per ``max(D, C + 5)``
    cycles. :meth:`schedule` is the exact model for any ``banks``; :meth:`timing` states it in
    the uniform form (latency from a row's ``last`` beat, interval = cycles per row); both are
    checked against simulation.
    Throughput within a row: one element per cycle. Back-pressure: ``o_stream`` stalls only
    stage C; ``i_stream.ready`` (a flip-flop) is low while no bank is free (never while
    dropping a bad row).
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
    def b_cycles(self) -> int:
        """``D``: stage B's cycles per row (:func:`layernorm_b_cycles`)."""
        return layernorm_b_cycles(self._config)

    c_lead = C_LEAD
    """Cycles from stage C taking a row to its first output."""

    def timing(self, n: int | None = None) -> Timing:
        """Latency ``D + 6`` from a row's ``last`` beat to its first output; interval = steady
        cycles per row (``max(D, C + 5)`` with 3 banks). ``n``, if given, must be ``C``."""
        C = self._config.channels
        if n is not None and check_int(n, "n") != C:
            raise ValueError(f"n={n}: IntLayerNorm rows have exactly channels={C} elements")
        period = steady_period(lambda lengths: self.schedule(len(lengths)), C)
        return Timing(latency=self.b_cycles + 1 + self.c_lead, latency_from="last",
                      interval=period, per="row")

    def schedule(self, rows: int) -> list[tuple[int, int, int, int]]:
        """Exact ``(first_in, last_in, first_out, last_out)`` cycles of ``rows`` consecutive rows
        (input offered back to back from cycle 0, ``o_stream`` always ready)."""
        return layernorm_schedule(self._config, rows, banks=self._banks)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        buf = RowBuffer(m, banks=self._banks, depth=cfg.channels, shape=signed(cfg.in_bits),
                        read_ports=1)
        sticky = StickyFlags(m, flags=self.error_flags, error=self.error,
                             clear=self.error_clear)
        desc = {   # per-bank row descriptors: sums (stage A); mean and gain (stage B)
            "s": buf.descriptor(signed(cfg.sum_bits), "s"),
            "q": buf.descriptor(cfg.var_bits, "q"),
            "mu": buf.descriptor(signed(cfg.in_bits), "mu"),
            "g": buf.descriptor(31, "g"),
        }
        self._stage_a(m, buf, desc, sticky)
        self._stage_b(m, buf, desc)
        self._stage_c(m, buf, desc)
        return m

    def _stage_a(self, m, buf, desc, sticky):
        """Input: write the row; S = sum(x) and Q = sum(x*x), one product per element (S one
        cycle after the beat, Q two); a too long or too short row is dropped."""
        cfg, C = self._config, self._config.channels
        p = self.i_stream.payload
        # a.idx == C - 1 as a flip-flop, kept in step with a.idx: the commit into the bank
        # ring then starts from registers (one LUT), not from a comparison of the index. For
        # C > 1 it is low while a row is dropped (idx is 0 then), so it also says "not dropping"
        at_end = Signal(init=C == 1)
        a = RowInput(m, i_stream=self.i_stream, buf=buf, count=C, name="a",
                     at_end=at_end if C > 1 else None, ready_reg=True)
        with m.If(a.take & ~a.drop):
            with m.If(a.bad | p.last):
                m.d.sync += at_end.eq(C == 1)
            with m.Else():
                m.d.sync += at_end.eq(a.idx == C - 2 if C >= 2 else 0)
        short = p.last & ~at_end
        long = ~p.last & at_end
        m.d.comb += a.bad.eq(short | long)
        sticky.raise_on(m, "row_too_short", a.rejected(short))
        sticky.raise_on(m, "row_too_long", a.rejected(long))
        # S one cycle after the beat, Q one cycle later (x*x from the registered x: the
        # DSP48E1's A input from a flip-flop, its M register, then the accumulating P register)
        acc_v, q_v = Signal(), Signal()    # the two delayed accumulate stages (valid)
        acc_x = Signal(signed(cfg.in_bits), reset_less=True)
        acc_sq = Signal(2 * cfg.in_bits, reset_less=True)
        acc_commit, q_commit = Signal(reset_less=True), Signal(reset_less=True)
        acc_bank = Signal.like(buf.ring.a_ptr, reset_less=True)
        q_bank = Signal.like(buf.ring.a_ptr, reset_less=True)
        # the sums are 0 at a row's first beat: cleared by the commit of the row before, one
        # cycle after a rejected beat (which ends a bad row) and after a reset (the clear flags
        # start at 1), so the sums need no reset and no multiplexer sits in front of the adders
        acc_clear, q_clear = Signal(init=1), Signal(init=1)
        m.d.sync += [acc_clear.eq(a.take & ~a.drop & a.bad), q_clear.eq(acc_clear),
                     acc_v.eq(a.store), q_v.eq(acc_v)]
        with m.If(a.store):
            m.d.sync += [acc_x.eq(p.x), acc_commit.eq(p.last), acc_bank.eq(buf.ring.a_ptr)]
        with m.If(acc_v):
            m.d.sync += [acc_sq.eq(acc_x * acc_x), q_commit.eq(acc_commit), q_bank.eq(acc_bank)]
        s_acc = Signal(signed(cfg.sum_bits), reset_less=True)
        q_acc = Signal(cfg.var_bits, reset_less=True)
        s_new = Signal(signed(cfg.sum_bits))
        q_new = Signal(cfg.var_bits)
        m.d.comb += [s_new.eq(s_acc + acc_x), q_new.eq(q_acc + acc_sq)]
        with m.If(acc_v & acc_commit | acc_clear):
            m.d.sync += s_acc.eq(0)
        with m.Elif(acc_v):
            m.d.sync += s_acc.eq(s_new)
        with m.If(q_v & q_commit | q_clear):
            m.d.sync += q_acc.eq(0)
        with m.Elif(q_v):
            m.d.sync += q_acc.eq(q_new)
        with m.If(acc_v & acc_commit):
            buf.store(m, acc_bank, [(desc["s"], s_new)])
        with m.If(q_v & q_commit):        # (stage B reads Q from VAR0 on, two cycles later)
            buf.store(m, q_bank, [(desc["q"], q_new)])

    def _stage_b(self, m, buf, desc):
        """Per-row scalars: mean, variance, square root, gain (no memory access)."""
        cfg, C, ring = self._config, self._config.channels, buf.ring
        ib, sb, vb, pow2 = cfg.in_bits, cfg.sum_bits, cfg.var_bits, C & (C - 1) == 0
        m.submodules.mean_div = mdiv = Divider(
            dividend_bits=sb, divisor_bits=max(C.bit_length(), 1), quotient_bits=ib)
        m.submodules.isqrt = sqrt = ISqrt(in_bits=vb)
        m.submodules.gain_div = gdiv = Divider(
            dividend_bits=31, divisor_bits=sqrt.root_bits, dividend=G_NUM)
        S = buf.load(ring.b_ptr, desc["s"])
        Q = buf.load(ring.b_ptr, desc["q"])
        s_l = Signal(signed(sb))           # S latched from the bank's descriptors in MEAN ...
        q_l = Signal(vb)                   # ... and Q in VAR0
        t = Signal(signed(sb + 1))
        neg = Signal()
        mu = Signal(signed(ib))
        tt = Signal(signed(sb + 2))        # 2S - C*mu
        mt = Signal(signed(ib + sb + 2))   # mu * tt: the DSP48E1's M register ...
        mp = Signal(signed(ib + sb + 2))   # ... and its P register
        var = Signal(vb)
        var_zero = Signal()                # var == 0, registered: std = max(isqrt(var), 1)
        std = Signal(sqrt.root_bits)
        # request flip-flops, set on entering SQRT / GAIN and cleared on acceptance: the
        # units' input valids come from a register, not from decoding the state
        sqrt_req, gain_req = Signal(), Signal()
        m.d.comb += [
            t.eq(S + C // 2),
            mdiv.i_stream.payload.dividend.eq(Mux(t < 0, -t, t)),
            mdiv.i_stream.payload.divisor.eq(C),
            sqrt.i_stream.payload.v.eq(var),
            gdiv.i_stream.payload.divisor.eq(std),
        ]
        # one flip-flop per state (one-hot): every transition reads one state bit and at most
        # one handshake flip-flop, so no state decoding sits in front of the enables
        names = ["IDLE", "MEAN"] + ([] if pow2 else ["MEANW"]) + [
            "VAR0", "VAR1", "VAR2", "VAR3", "SQRT", "SQRTW", "GAIN", "GAINW"]
        st = {n: Signal(name=f"b_st_{n.lower()}", init=n == "IDLE") for n in names}

        moves: list[tuple[str, str, Value]] = []

        def go(frm: str, to: str, when: Value) -> Value:
            """Leave ``frm`` for ``to`` when ``when`` (which includes ``st[frm]``)."""
            moves.append((frm, to, when))
            return when

        mu_m = Signal(signed(ib))          # mu again for the DSP48E1's B register (its own D
        m.d.sync += [mt.eq(mu_m * tt), mp.eq(mt)]   # path is one flip-flop); free-running
        go("IDLE", "MEAN", st["IDLE"] & ring.b_avail)
        with m.If(st["MEAN"]):             # desc S is written by now (one cycle after commit)
            m.d.sync += s_l.eq(S)
            if pow2:
                m.d.sync += mu.eq(t >> ceil_log2(C))
                go("MEAN", "VAR0", st["MEAN"])
            else:
                m.d.sync += neg.eq(t < 0)
                go("MEAN", "MEANW", st["MEAN"] & mdiv.i_stream.ready)
        if not pow2:
            with m.If(go("MEANW", "VAR0", st["MEANW"] & mdiv.o_stream.valid)):
                qq = mdiv.o_stream.payload.quotient
                rr = mdiv.o_stream.payload.remainder
                m.d.sync += mu.eq(Mux(neg, -(qq + (rr != 0)), qq))
        with m.If(st["VAR0"]):
            # desc Q is written by now (two cycles after commit, VAR0 at least three)
            m.d.sync += [tt.eq(2 * s_l - const_mul(mu, C)), mu_m.eq(mu), q_l.eq(Q)]
        go("VAR0", "VAR1", st["VAR0"])
        go("VAR1", "VAR2", st["VAR1"])     # mt = mu * tt (M register)
        go("VAR2", "VAR3", st["VAR2"])     # mp = mt (P register)
        with m.If(go("VAR3", "SQRT", st["VAR3"])):   # then the difference alone
            m.d.sync += var.eq(q_l - mp)
        with m.If(st["SQRT"]):
            m.d.sync += var_zero.eq(var == 0)
        sqrt_go = go("SQRT", "SQRTW", st["SQRT"] & sqrt.i_stream.ready)
        with m.If(go("SQRTW", "GAIN", st["SQRTW"] & sqrt.o_stream.valid)):
            root = sqrt.o_stream.payload.root
            m.d.sync += std.eq(Cat(root[0] | var_zero, root[1:]))
        gain_go = go("GAIN", "GAINW", st["GAIN"] & gdiv.i_stream.ready)
        with m.If(go("GAINW", "IDLE", ring.b_done)):
            buf.store(m, ring.b_ptr, [(desc["mu"], mu),
                                      (desc["g"], gdiv.o_stream.payload.quotient)])
        # every state and request flip-flop as one expression of set and clear terms, not a
        # clear under a condition: synthesis would merge that clear with the block's reset
        # into the flip-flop's reset pin (a LUT more behind the reset)
        for n in names:
            leave = Cat(*[w for f, _, w in moves if f == n]).any()
            enter = Cat(*[w for _, t, w in moves if t == n]).any()
            m.d.sync += st[n].eq(st[n] & ~leave | enter)
        m.d.sync += [sqrt_req.eq(sqrt_req & ~sqrt_go | st["VAR3"]),
                     gain_req.eq(gain_req & ~gain_go | st["SQRTW"] & sqrt.o_stream.valid)]
        m.d.comb += [
            mdiv.i_stream.valid.eq(st["MEAN"] if not pow2 else 0),
            # the results are always taken: each arrives (latency >= 1) while stage B waits in
            # its *W state, so no path runs from the state into the units' enables
            mdiv.o_stream.ready.eq(1 if not pow2 else 0),
            sqrt.i_stream.valid.eq(sqrt_req),          # high exactly in state SQRT
            sqrt.o_stream.ready.eq(1),
            gdiv.i_stream.valid.eq(gain_req),          # high exactly in state GAIN
            gdiv.o_stream.ready.eq(1),
            ring.b_done.eq(st["GAINW"] & gdiv.o_stream.valid),
        ]

    def _stage_c(self, m, buf, desc):
        """Output: read the row again; ((x - mu) * g) >> 1, one element per cycle."""
        cfg, C, ring = self._config, self._config.channels, buf.ring
        ib = cfg.in_bits
        o = self.o_stream
        c_mu = Signal(signed(ib))
        c_g = Signal(31)
        adv = Signal()
        v_y, v_m, v_p = Signal(), Signal(), Signal()
        l_y, l_m, l_p = Signal(), Signal(), Signal()
        y = Signal(signed(ib + 1))
        prod = Signal(signed(ib + 1 + 31))
        rd = RowReader(m, buf=buf, port=buf.rp[0], count=C, last=C - 1, adv=adv,
                       last_taken=o.valid & o.ready & o.payload.last)
        m.d.comb += [
            adv.eq(~v_p | o.ready),
            o.valid.eq(v_p),
            o.payload.y.eq(prod >> 1),
            o.payload.last.eq(l_p),
        ]
        with m.If(rd.start):
            m.d.sync += [c_mu.eq(buf.load(ring.c_ptr, desc["mu"])),
                         c_g.eq(buf.load(ring.c_ptr, desc["g"]))]
        with m.If(adv):
            m.d.sync += [v_y.eq(rd.rv), v_m.eq(v_y), v_p.eq(v_m)]
            with m.If(rd.rv):
                m.d.sync += [y.eq(buf.rp[0].data - c_mu), l_y.eq(rd.rlast)]
            with m.If(v_y):
                m.d.sync += l_m.eq(l_y)
            with m.If(v_m):
                m.d.sync += l_p.eq(l_m)
        # the product in two stages: partial products (one DSP48E1 each), then their sum
        m.d.comb += prod.eq(split_product(m, y, c_g, loads=(adv & v_y, adv & v_m), name="prod"))
