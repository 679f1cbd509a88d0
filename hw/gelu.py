"""ShiftGELU: sign-symmetric integer GELU, element-wise streaming (docs/numerics.md §6).

Normative model: :func:`ivita.model.shift_gelu`.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.config import GeluConfig

from ivita.model.checks import check_bool

from ._nlutil import StallPipe, check_config, quiet_on_error
from .divider import RecipDiv, recip_div_timing
from .shift_exp import ShiftExp, shift_exp_timing, x0_in_range
from .sticky import StickyFlags
from .timing import Timing

__all__ = ["ShiftGELU", "GELU_ERRORS"]

#: ``error_flags`` layout: one sticky bit per cause.
GELU_ERRORS = data.StructLayout({"bad_x0": 1})


class ShiftGELU(wiring.Component):
    """``y = shift_gelu(x, x0, n, sig_bits)`` for one element per cycle, no row buffer.

    Normative model: :func:`ivita.model.shift_gelu`: ``U = |x0| << n``, ``e = shift_exp(-|x|,
    x0, n)``, ``num = U if x >= 0 else e``, ``sig = recip_div(num, U + e, sig_bits)``,
    ``y = x * sig``. Datapath: :class:`~ivita.hw.shift_exp.ShiftExp` ->
    :class:`~ivita.hw.divider.RecipDiv` (a reciprocal per element: pipelined by default) ->
    the product ``x * sig``.

    Parameters
    ----------
    config : GeluConfig
        ``in_bits``, ``n``, ``sig_bits``, ``x0_bits``; output width ``config.out_bits =
        in_bits + sig_bits - 1`` (signed).
    pipelined : bool, keyword-only
        ``True`` (default): pipelined divider, one element per cycle. ``False``: sequential
        divider, one element per ``sig_bits + 1`` cycles, about half the area.

    Ports
    -----
    i_stream : ``In(stream.Signature({"x": signed(in_bits), "last": 1}))``
        ``last`` has no meaning here and is passed through with its element.
    o_stream : ``Out(stream.Signature({"y": signed(out_bits), "last": 1}))``
    x0 : ``In(signed(x0_bits + 1))``
        Runtime ``x0``, sampled with **every** element. Valid: ``-(2^x0_bits - 1) <= x0 <= -1``.
    error, error_flags (``GELU_ERRORS``: ``bad_x0``), error_clear
        Sticky error flag as in :class:`~ivita.hw.softmax.Shiftmax`.

    An element accepted with an invalid ``x0`` sets ``bad_x0`` and produces ``y = 0`` (its
    ``last`` passes through): every input beat still yields exactly one output beat.

    Timing (:meth:`timing`): latency ``bit_length(n) + sig_bits + 18`` cycles pipelined (1 for
    ``-|x|`` and the ``x0`` check, ``P = bit_length(n) + 5`` ShiftExp, 1 for ``U + e``,
    ``sig_bits + 9`` RecipDiv, 2 for the product), ``bit_length(n) + sig_bits + 17``
    sequential (RecipDiv ``sig_bits + 8``); throughput one element per cycle (pipelined) or one
    per ``sig_bits + 1`` cycles (sequential). Back-pressure: each part is a global-stall pipeline
    ending in an output skid buffer whose enable is a flip-flop
    (:class:`~ivita.hw._nlutil.StallPipe`), so ``i_stream.ready`` does not depend
    combinationally on ``o_stream.ready``; no loss or
    duplication.
    """

    @quiet_on_error
    def __init__(self, config: GeluConfig, *, pipelined: bool = True):
        self._config = check_config(config, GeluConfig)
        self._pipelined = check_bool(pipelined, "pipelined")
        c = config
        super().__init__({
            "i_stream": In(stream.Signature(data.StructLayout({
                "x": signed(c.in_bits), "last": 1}))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "y": signed(c.out_bits), "last": 1}))),
            "x0": In(signed(c.x0_bits + 1)),
            "error": Out(1),
            "error_flags": Out(GELU_ERRORS),
            "error_clear": In(1),
        })

    @property
    def config(self) -> GeluConfig:
        return self._config

    @property
    def pipelined(self) -> bool:
        return self._pipelined

    def timing(self, n: int | None = None) -> Timing:
        """Latency ``bit_length(n) + sig_bits + 18`` pipelined, ``+ 17`` sequential, from each
        element (``-|x|``, ShiftExp, ``U + e``, RecipDiv, the product in two stages); interval 1
        pipelined or ``sig_bits + 1`` (the argument, a row length, is ignored)."""
        div = recip_div_timing(self._config.sig_bits, pipelined=self._pipelined)
        return Timing(latency=shift_exp_timing(self._config.n).latency + div.latency + 4,
                      latency_from="first", interval=div.interval, per="element")

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        ib, xb, n, eb = cfg.in_bits, cfg.x0_bits, cfg.n, cfg.exp_bits
        sticky = StickyFlags(m, flags=self.error_flags, error=self.error,
                             clear=self.error_clear)

        tag = data.StructLayout({"x": signed(ib), "last": 1, "bad": 1})
        # nb = |x0| - 1 = ~x0 rides with the element for U = |x0| << n (no negation's carry
        # chain at the input, where synthesis shared it with the x0 check, docs/fpga.md)
        exp_tag = data.StructLayout({"t": tag, "nb": unsigned(xb)})
        m.submodules.exp = se = ShiftExp(z_bits=ib + 1, x0_bits=xb, n=n, tag_shape=exp_tag)
        m.submodules.div = div = RecipDiv(num_bits=eb, s_bits=eb + 1, out_bits=cfg.sig_bits,
                                          pipelined=self._pipelined, tag_shape=tag)
        p = self.i_stream.payload
        # the x0 check only flags the element (zeroed at the end): an invalid x0 goes on as it
        # is (every stage after is a pipeline that cannot hang on any value), so the check's
        # OR trees drive two flip-flops, not a multiplexer on every bit of x0
        ok = x0_in_range(self.x0, xb)
        # -|x| = x if x < 0 else ~x + 1: the XOR in front of one carry chain, whose carry-in is
        # the inverted sign (no separate negation and multiplexer)
        neg = p.x[-1]
        negabs = Signal(signed(ib + 1))
        m.d.comb += negabs.eq((p.x ^ Mux(neg, 0, -1)) + ~neg)
        # -|x| and the x0 check registered in front of ShiftExp (its input is this stage's head)
        in_pipe = StallPipe(m, stages=1, i_valid=self.i_stream.valid, o_stream=se.i_stream,
                            name="gin")
        m.d.comb += [
            self.i_stream.ready.eq(in_pipe.ready),
            in_pipe.nxt.z.eq(negabs),
            in_pipe.nxt.x0.eq(self.x0),
            in_pipe.nxt.tag.t.x.eq(p.x),
            in_pipe.nxt.tag.t.last.eq(p.last),
            in_pipe.nxt.tag.t.bad.eq(~ok),
            in_pipe.nxt.tag.nb.eq(~self.x0),                 # -x0 - 1
        ]
        sticky.raise_on(m, "bad_x0", self.i_stream.valid & self.i_stream.ready & ~ok)

        # U + e and the numerator in a stage of their own (a carry chain each, side by side),
        # registered in front of the reciprocal's leading-one logic: the divider input is this
        # stage's skid head. U = (nb + 1) << n has n zero bits, so U + e is e's low n bits
        # under nb + (e >> n) + 1 (one addition of x0_bits, its carry in as a bit 0)
        e = se.o_stream.payload.e
        t = se.o_stream.payload.tag
        u = Signal(eb)
        hi = Signal(xb + 1)
        sum_pipe = StallPipe(m, stages=1, i_valid=se.o_stream.valid, o_stream=div.i_stream,
                             name="gsum")
        m.d.comb += [
            u.eq((t.nb + 1) << n),
            hi.eq((Cat(Const(1, 1), t.nb) + Cat(Const(1, 1), e[n:]))[1:]),
            se.o_stream.ready.eq(sum_pipe.ready),
            sum_pipe.nxt.num.eq(Mux(t.t.x >= 0, u, e)),
            sum_pipe.nxt.s.eq(Cat(e[:n], hi)),
            sum_pipe.nxt.tag.eq(t.t),
        ]

        # the product x * sig registered (a DSP48E1's M register), then the bad-x0 zeroing
        pipe = StallPipe(m, stages=2, i_valid=div.o_stream.valid, o_stream=self.o_stream,
                         name="gmul")
        m.d.comb += div.o_stream.ready.eq(pipe.ready)
        sig = div.o_stream.payload.y
        dt = div.o_stream.payload.tag
        prod = Signal(signed(cfg.out_bits), name="gmul_prod", reset_less=True)
        bad = Signal(name="gmul_bad", reset_less=True)
        last = Signal(name="gmul_last", reset_less=True)
        with m.If(pipe.load(0)):
            m.d.sync += [prod.eq(dt.x * sig), bad.eq(dt.bad), last.eq(dt.last)]
        m.d.comb += [pipe.nxt.y.eq(Mux(bad, 0, prod)), pipe.nxt.last.eq(last)]
        return m
