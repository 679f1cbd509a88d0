"""Restoring integer divider and the normalized reciprocal division of docs/numerics.md §4.1.

Normative model: :func:`ivita.model.recip_div`
(``min((num * f + 2^(L+1)) >> (L+2), 2^(out_bits-1)-1)``, rounded half up, with
``L = bit_length(s)`` and ``f = 2^(L+out_bits+1) // s``; docs/numerics.md §4.1, revision 2).

- :class:`Divider`: ``dividend // divisor`` and ``dividend % divisor``, one quotient bit per
  cycle (sequential, restoring) or per pipeline stage (pipelined, non-restoring). Used by
  I-LayerNorm for the mean and for ``(2^31-1) // std``.
- :class:`Reciprocal`: ``s -> (f, L)``; a leading-one detector and a division of ``2^L - s``
  by ``s`` (the two top quotient bits follow from ``L``; no barrel shifter): a pipelined
  :class:`Divider` when pipelined (ShiftGELU), non-restoring steps on its own registers when
  sequential (Shiftmax).
- :class:`RecipMul`: ``(num, f, L) -> min((num*f + 2^(L+1)) >> (L+2), 2^(out_bits-1)-1)``,
  the per-element multiply, rounding shift and clamp.
- :class:`RecipDiv`: the two chained, ``(num, s) -> recip_div(num, s, out_bits)``.
"""

from __future__ import annotations

from amaranth import Cat, Const, Elaboratable, Module, Mux, Signal, unsigned
from amaranth.hdl import ShapeLike, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_bool, check_int

from ._nlutil import StallPipe, check_shape, quiet_on_error, split_product
from .timing import Timing

__all__ = ["Divider", "Reciprocal", "RecipMul", "RecipDiv", "bit_length_of", "divider_latency",
           "recip_div_timing"]

#: pipeline stages of :class:`RecipMul` (product in two: partial products, their sum;
#: coarse shift; fine shift; round and clamp)
RECIP_MUL_STAGES = 5
#: stages of :class:`Reciprocal` in front of its divider (leading one; ``2^L - s``)
RECIP_FRONT_STAGES = 2


def divider_latency(quotient_bits: int, *, pipelined: bool) -> int:
    """:meth:`Divider.timing`'s latency: ``quotient_bits`` sequential (the first step taken
    while accepting), ``quotient_bits + 1`` pipelined (a stage per step, then the output
    register)."""
    return quotient_bits + (1 if pipelined else 0)


def recip_div_timing(out_bits: int, *, pipelined: bool) -> Timing:
    """:meth:`RecipDiv.timing` without building one: latency ``out_bits + 8`` sequential,
    ``out_bits + 9`` pipelined (the reciprocal's stages A and B, its divider's ``out_bits + 1``
    steps (and the output register when pipelined), the five :class:`RecipMul` stages);
    interval 1 pipelined or ``out_bits + 1`` sequential."""
    steps = out_bits + 1
    return Timing(latency=RECIP_FRONT_STAGES + divider_latency(steps, pipelined=pipelined)
                  + RECIP_MUL_STAGES, latency_from="first",
                  interval=1 if pipelined else steps, per="division")


def _two_set(v) -> tuple[Value, Value]:
    """``(any bit set, at least two bits set)`` of ``v`` as a balanced tree (no carry chain)."""
    if len(v) == 1:
        return v[0], Const(0, 1)
    h = len(v) // 2
    a1, t1 = _two_set(v[:h])
    a2, t2 = _two_set(v[h:])
    return a1 | a2, t1 | t2 | (a1 & a2)


def bit_length_of(m: Module, v, name: str = "bitlen") -> Signal:
    """A priority encoder: a signal holding ``bit_length(v)`` of an unsigned value ``v``."""
    out = Signal(range(len(v) + 1), name=name)
    expr = Const(0, out.shape())
    for i in range(len(v)):            # later (higher) bits take priority
        expr = Mux(v[i], i + 1, expr)
    m.d.comb += out.eq(expr)
    return out


class Divider(wiring.Component):
    """Unsigned division ``quotient = dividend // divisor``, ``remainder`` (restoring when
    sequential, non-restoring when pipelined).

    Normative: Python ``//`` and ``%`` on non-negative integers (docs/numerics.md §0; a signed
    dividend, such as the LayerNorm mean sum of §7, must be floor-divided by the caller around
    this unsigned unit).

    Parameters (keyword-only)
    -------------------------
    dividend_bits, divisor_bits : int
        Unsigned operand widths (1..64).
    quotient_bits : int or None
        Quotient bits computed, one per cycle/stage (default ``dividend_bits``). With fewer,
        the caller guarantees ``dividend >> quotient_bits < divisor`` (the quotient fits).
    dividend : int or None
        A constant dividend (then the payload has no ``dividend`` field and the constant bits
        fold into the logic).
    pipelined : bool
        ``False`` (default): one division at a time, one quotient bit per cycle.
        ``True``: ``quotient_bits`` non-restoring pipeline stages and the output register,
        one division per cycle.
    tag_shape : shape-like
        Opaque payload carried alongside.

    Ports
    -----
    i_stream : ``In({"dividend": unsigned(dividend_bits), "divisor": unsigned(divisor_bits),
        "tag": tag_shape})`` (no ``dividend`` field with a constant dividend)
    o_stream : ``Out({"quotient": unsigned(quotient_bits), "remainder":
        unsigned(divisor_bits), "tag": tag_shape})``

    Timing (:meth:`timing`, :func:`divider_latency`): latency ``quotient_bits`` cycles
    sequential (the first step is taken while accepting), ``quotient_bits + 1`` pipelined (one
    stage per step, then the output register).
    Throughput: pipelined one per cycle; sequential one per ``quotient_bits`` cycles (a new
    division is accepted in the cycle the previous result is taken). Back-pressure: the result
    is held while ``o_stream.ready`` is low; pipelined mode stalls globally.
    A zero divisor (the units never divide by zero) does not hang either mode; the quotient is
    then all ones sequential and unspecified pipelined.
    """

    @quiet_on_error
    def __init__(self, *, dividend_bits: int, divisor_bits: int,
                 quotient_bits: int | None = None, dividend: int | None = None,
                 pipelined: bool = False, tag_shape: ShapeLike = unsigned(0)):
        self._dividend_bits = check_int(dividend_bits, "dividend_bits", 1, 64)
        self._divisor_bits = check_int(divisor_bits, "divisor_bits", 1, 64)
        if quotient_bits is None:
            quotient_bits = self._dividend_bits
        self._quotient_bits = check_int(quotient_bits, "quotient_bits", 1,
                                        self._dividend_bits)
        if dividend is not None:
            dividend = check_int(dividend, "dividend", 0, (1 << self._dividend_bits) - 1)
        self._dividend = dividend
        self._pipelined = check_bool(pipelined, "pipelined")
        self._tag_shape = check_shape(tag_shape, "tag_shape")
        fields = {"divisor": unsigned(self._divisor_bits), "tag": tag_shape}
        if dividend is None:
            fields = {"dividend": unsigned(self._dividend_bits), **fields}
        super().__init__({
            "i_stream": In(stream.Signature(data.StructLayout(fields))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "quotient": unsigned(self._quotient_bits),
                "remainder": unsigned(self._divisor_bits),
                "tag": tag_shape}))),
        })

    @property
    def pipelined(self) -> bool:
        return self._pipelined

    @property
    def quotient_bits(self) -> int:
        return self._quotient_bits

    def timing(self, n: int | None = None) -> Timing:
        """Latency :func:`divider_latency` (``quotient_bits``, ``+ 1`` pipelined) from
        acceptance to a valid result; interval 1 pipelined, else ``quotient_bits`` (``n`` is
        ignored)."""
        qb = self._quotient_bits
        return Timing(latency=divider_latency(qb, pipelined=self._pipelined),
                      latency_from="first", interval=1 if self._pipelined else qb,
                      per="division")

    def _step(self, r, bit, d):
        """One restoring step: ``t = 2r + bit``; ``(t >= d, t - d or t)``. One subtraction
        (one carry chain): ``t >= d`` is the sign of ``t - d``, not a second comparator."""
        t = Cat(bit, r)
        w = max(len(t), len(d)) + 1
        diff = t.as_unsigned() - Value.cast(d).as_unsigned()        # signed, w bits
        assert len(diff) == w
        ge = ~diff[w - 1]
        return ge, Mux(ge, diff[:w - 1], t)[:self._divisor_bits]

    def elaborate(self, platform):
        m = Module()
        qb, db = self._quotient_bits, self._divisor_bits
        p = self.i_stream.payload
        dividend = Const(self._dividend, self._dividend_bits) if self._dividend is not None \
            else p.dividend
        r0 = (dividend >> qb)[:db] if self._dividend_bits > qb else Const(0, db)
        low = dividend[:qb]            # the bits shifted in, most significant first
        if self._pipelined:
            self._pipelined_steps(m, r0, low)
        else:
            self._sequential_steps(m, r0, low)
        return m

    def _nr_step(self, r, bit, d):
        """One non-restoring step: ``t = 2r + bit``; ``diff = t + d`` when ``r < 0``, else
        ``t - d``; returns ``diff``, signed in ``divisor_bits + 1`` bits (modulo 2^w: the true
        value fits). ``r`` is the step before's ``diff`` (``-d <= r < d``; the restoring
        remainder is ``r``, or ``r + d`` when ``r < 0``), so ``diff`` is the restoring step's
        ``t - d`` and its sign the complement of the same quotient bit. No multiplexer behind
        the carry chain (whose select, the sign, would fan out to every remainder bit): ``t +
        d = t - ~d - 1`` (modulo 2^w), so the step is one subtraction ``t - (d ^ neg) - neg``
        with the borrow in as a bit 0. A subtraction keeps ``t`` as the chain's ``A`` operand
        (the CARRY4 DI input straight from the register) and ``d ^ neg`` in the LUT of its S
        input; as an addition Yosys made ``d ^ ~neg`` the ``A`` operand, a LUT level more."""
        w = self._divisor_bits + 1
        neg = r[w - 1]
        t = Cat(bit, r)[:w]
        y = Cat(d, Const(0, w - len(d))) ^ Cat(*([neg] * w))
        return (Cat(Const(0, 1), t) - Cat(neg, y))[1:w + 1]

    def _pipelined_steps(self, m: Module, r0, low) -> None:
        """One pipeline stage per quotient bit, then the output register (the head of
        :class:`~ivita.hw._nlutil.StallPipe`'s skid buffer); global stall.

        Non-restoring (:meth:`_nr_step`): each stage registers the signed difference, not the
        restored remainder, so a stage is one carry chain straight into flip-flops (its S-input
        LUTs in front, no LUT behind). The quotient bits are the complements of the
        differences' signs, kept as signs and inverted in front of the output register (in the
        skid buffer's multiplexer); the output stage restores the remainder (``diff + d`` when
        the last difference is negative: a carry chain that synthesis removes when the
        remainder is not used, as in :class:`Reciprocal`)."""
        qb, db = self._quotient_bits, self._divisor_bits
        p = self.i_stream.payload
        pipe = StallPipe(m, stages=qb + 1, i_valid=self.i_stream.valid, o_stream=self.o_stream,
                         name="div")
        m.d.comb += self.i_stream.ready.eq(pipe.ready)
        # no resets on data; the tag is a delay line on the common enable ``adv`` (SRLs)
        r = [Signal(db + 1, name=f"r{k}", reset_less=True) for k in range(qb)]
        neg = [Signal(qb, name=f"neg{k}", reset_less=True) for k in range(qb)]
        d = [Signal(db, name=f"d{k}", reset_less=True) for k in range(qb)]
        lo = [Signal(qb, name=f"lo{k}", reset_less=True) for k in range(qb - 1)]
        tag = [Signal(self._tag_shape, name=f"tag{k}", reset_less=True) for k in range(qb)]
        for k in range(qb):
            i = qb - 1 - k                      # quotient bit computed in stage k
            if k == 0:
                r_in, d_in, lo_in, tag_in = Cat(r0, Const(0, 1)), p.divisor, low, p.tag
                neg_in = Const(0, qb)
            else:
                r_in, d_in, tag_in, neg_in = r[k - 1], d[k - 1], tag[k - 1], neg[k - 1]
                lo_in = low if self._dividend is not None else lo[k - 1]
            diff = self._nr_step(r_in, lo_in[i], d_in)
            with m.If(pipe.load(k)):
                m.d.sync += [r[k].eq(diff), neg[k].eq(neg_in | (diff[db] << i)),
                             d[k].eq(d_in)]
                if self._dividend is None and k < qb - 1:
                    m.d.sync += lo[k].eq(lo_in)
            with m.If(pipe.adv):
                m.d.sync += tag[k].eq(tag_in)
        last = r[qb - 1]
        m.d.comb += [pipe.nxt.quotient.eq(~neg[qb - 1]),
                     pipe.nxt.remainder.eq(Mux(last[db], last + d[qb - 1], last)[:db]),
                     pipe.nxt.tag.eq(tag[qb - 1])]

    def _sequential_steps(self, m: Module, r0, low) -> None:
        """One quotient bit per cycle, the first while accepting."""
        qb, db = self._quotient_bits, self._divisor_bits
        p = self.i_stream.payload
        busy = Signal()
        done = Signal()
        cnt = Signal(range(qb + 1))      # quotient bits still to compute
        r = Signal(db, reset_less=True)
        q = Signal(qb, reset_less=True)
        d = Signal(db, reset_less=True)
        lo = Signal(qb, reset_less=True)
        tag = Signal(self._tag_shape, reset_less=True)
        m.d.comb += [
            self.o_stream.valid.eq(done),
            self.o_stream.payload.quotient.eq(q),
            self.o_stream.payload.remainder.eq(r),
            self.o_stream.payload.tag.eq(tag),
            self.i_stream.ready.eq(~busy & (~done | self.o_stream.ready)),
        ]
        with m.If(self.o_stream.valid & self.o_stream.ready):
            m.d.sync += done.eq(0)
        accept = self.i_stream.valid & self.i_stream.ready
        # first step (quotient bit qb-1) while accepting (never busy then), the others while
        # busy: the registers select between the two by busy alone (one LUT behind each carry
        # chain, not a second level for the accept condition)
        ge1, r1 = self._step(r0, low[qb - 1], p.divisor)
        ge2, r2 = self._step(r, lo[qb - 1], d)
        with m.If(accept | busy):
            # lo is a shift register: its top bit is the next bit to bring down (no
            # multiplexer indexed by the step counter on the critical path)
            m.d.sync += [r.eq(Mux(busy, r2, r1)), q.eq(Mux(busy, Cat(ge2, q)[:qb], ge1)),
                         lo.eq(Mux(busy, lo, low) << 1)]
        with m.If(accept):
            m.d.sync += [d.eq(p.divisor), tag.eq(p.tag)]
            if qb == 1:
                m.d.sync += done.eq(1)
            else:
                m.d.sync += [busy.eq(1), cnt.eq(qb - 1)]
        with m.Elif(busy):
            m.d.sync += cnt.eq(cnt - 1)
            with m.If(cnt == 1):
                m.d.sync += [busy.eq(0), done.eq(1)]
        return m


class _LeadFlags(Elaboratable):
    """OR trees of ``s`` for :class:`Reciprocal`'s stage A (combinational; a module of its own
    so that LUT mapping, which works per module, gives each tree its minimum depth instead of
    trading depth for area against the module's longest path). Groups of 6 bits: ``any``
    (a bit of the group is set), ``two`` (two are), ``above`` (a bit above the group is);
    ``sfx[i]``: bit ``i`` or a bit above it within its group is set."""

    def __init__(self, sb: int):
        self.groups = [(i, min(i + 6, sb)) for i in range(0, sb, 6)]
        self.s = Signal(sb)
        self.sfx = Signal(sb)
        self.any = Signal(len(self.groups))
        self.two = Signal(len(self.groups))
        self.above = Signal(len(self.groups))

    def elaborate(self, platform):
        m = Module()
        s, sb = self.s, len(self.s)
        m.d.comb += [
            self.sfx.eq(Cat(*[s[i:hi].any() for lo, hi in self.groups for i in range(lo, hi)])),
            self.any.eq(Cat(*[s[lo:hi].any() for lo, hi in self.groups])),
            self.two.eq(Cat(*[_two_set(s[lo:hi])[1] for lo, hi in self.groups])),
            self.above.eq(Cat(*[s[hi:].any() if hi < sb else 0 for lo, hi in self.groups])),
        ]
        return m


class _LeadEncode(Elaboratable):
    """:class:`Reciprocal`'s stage B logic from :class:`_LeadFlags`' registers (combinational,
    a module of its own for the same reason): ``r = (-s) & mask`` with ``mask[i]`` = some bit
    of ``s`` at or above ``i`` is set (so ``r = 2^L - s``), and ``L = bit_length(s)`` encoded
    from the isolated leading one (an OR tree per bit of ``L``)."""

    def __init__(self, sb: int, l_bits: int):
        self.s = Signal(sb)
        self.neg = Signal(sb)
        self.sfx = Signal(sb)
        self.above = Signal((sb + 5) // 6)
        self.r = Signal(sb)
        self.L = Signal(l_bits)

    def elaborate(self, platform):
        m = Module()
        sb = len(self.s)
        g = [i // 6 for i in range(sb)]
        top = [min(6 * (g[i] + 1), sb) for i in range(sb)]      # end of bit i's group
        mask = Cat(*[self.sfx[i] | self.above[g[i]] for i in range(sb)])
        lead = [self.s[i] & ~self.above[g[i]] & (~self.sfx[i + 1] if i + 1 < top[i] else 1)
                for i in range(sb)]
        m.d.comb += self.r.eq(self.neg & mask)
        for j in range(len(self.L)):
            m.d.comb += self.L[j].eq(Cat(*[lead[i] for i in range(sb) if (i + 1) >> j & 1]).any())
        return m


class Reciprocal(wiring.Component):
    """Normalized reciprocal ``L = bit_length(s)``, ``f = 2^(L+out_bits+1) // s`` (§4.1).

    Normative model: the ``f`` and ``L`` of :func:`ivita.model.recip_div`. ``s >= 1``;
    ``2^(out_bits+1) < f <= 2^(out_bits+2)``, so ``f`` is ``out_bits + 3`` bits wide.

    With ``k = out_bits + 1``: two front stages (A, B) find ``L`` (encoded from the isolated
    leading one of ``s``), whether ``s`` is a power of two (then ``f = 2^(k+1)``) and ``r =
    2^L - s`` (``r < s`` otherwise), so that neither the priority logic nor a subtraction
    behind it limits the clock (docs/fpga.md, timing estimate); the two top quotient bits are
    thereby known (``f = 2^k + ...``), and ``k`` division steps compute the rest, ``(r * 2^k)
    // s``: no barrel shifter, no normalization of ``s``. The two modes have fronts of their
    own, each the one its unit was timed with:

    - pipelined (ShiftGELU, :meth:`_elaborate_pipelined`): stage A registers ``-s`` and
      ``-rev(s)`` (two carry chains; ``s | rev(-rev(s))`` sets every bit from the leading one
      down), stage B forms ``r`` as the bits of ``-s`` below the leading one (0 for a power of
      two, found as a borrow), then a pipelined non-restoring :class:`Divider`;
    - sequential (Shiftmax, :meth:`_elaborate_sequential`): stage A registers ``-s`` and OR
      trees of ``s`` (:class:`_LeadFlags`), stage B ``r = (-s) & mask``
      (:class:`_LeadEncode`), then **non-restoring** steps on stage B's registers
      (:meth:`_sequential_divider`), one carry chain per step straight into the partial
      remainder.

    Parameters (keyword-only): ``s_bits`` (1..62), ``out_bits`` (2..32), ``pipelined``
    (see :class:`Divider`), ``tag_shape``.

    Ports: ``i_stream`` ``{"s": unsigned(s_bits), "tag"}``; ``o_stream`` ``{"f":
    unsigned(out_bits+3), "L": unsigned(bit_length(s_bits)), "tag"}``.

    Timing (:meth:`timing`): latency ``out_bits + 3`` cycles sequential, ``out_bits + 4``
    pipelined (stages A and B, then the ``out_bits + 1`` division steps, the first in the
    cycle the steps take stage B's element; pipelined followed by the divider's output
    register). Throughput: one per cycle pipelined, one per ``out_bits + 1`` cycles sequential
    (stage B takes the next ``s`` in the cycle of the last step). Back-pressure: pipelined as
    :class:`Divider`; sequential, the result is held while ``o_stream.ready`` is low and
    ``i_stream.ready`` (stages A and B advance) depends on flip-flops only.
    """

    @quiet_on_error
    def __init__(self, *, s_bits: int, out_bits: int, pipelined: bool = False,
                 tag_shape: ShapeLike = unsigned(0)):
        self._s_bits = check_int(s_bits, "s_bits", 1, 62)
        self._out_bits = check_int(out_bits, "out_bits", 2, 32)
        self._pipelined = check_bool(pipelined, "pipelined")
        self._tag_shape = check_shape(tag_shape, "tag_shape")
        self._l_shape = unsigned(self._s_bits.bit_length())
        super().__init__({
            "i_stream": In(stream.Signature(data.StructLayout({
                "s": unsigned(self._s_bits), "tag": tag_shape}))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "f": unsigned(self.f_bits), "L": self._l_shape, "tag": tag_shape}))),
        })

    @property
    def f_bits(self) -> int:
        return self._out_bits + 3

    @property
    def steps(self) -> int:
        """Restoring steps: ``out_bits + 1``."""
        return self._out_bits + 1

    def timing(self, n: int | None = None) -> Timing:
        """Latency ``out_bits + 3`` sequential, ``out_bits + 4`` pipelined (stages A and B,
        and the divider's :func:`divider_latency`); interval 1 pipelined, else ``out_bits + 1``
        (``n`` is ignored)."""
        return Timing(latency=RECIP_FRONT_STAGES
                      + divider_latency(self.steps, pipelined=self._pipelined),
                      latency_from="first",
                      interval=1 if self._pipelined else self.steps, per="division")

    def elaborate(self, platform):
        return self._elaborate_pipelined() if self._pipelined else self._elaborate_sequential()

    def _stage_b_registers(self) -> tuple[Signal, ...]:
        """Stage B of either front: ``(v, s_r, r_r, pow2_r, L_r, tag_r)`` (valid, ``s``, ``r``,
        power of two, ``L``, tag); only ``v`` has a reset."""
        sb = self._s_bits
        return (Signal(name="v"), Signal(sb, name="s_r", reset_less=True),
                Signal(sb, name="r_r", reset_less=True), Signal(name="pow2_r", reset_less=True),
                Signal(self._l_shape, name="L_r", reset_less=True),
                Signal(self._tag_shape, name="tag_r", reset_less=True))

    def _elaborate_pipelined(self) -> Module:
        """The pipelined front and a pipelined :class:`Divider` (the class docstring)."""
        m = Module()
        sb, k = self._s_bits, self.steps
        # pow2 and its complement both registered: f's two top bits straight from flip-flops
        # into RecipMul's DSP48E1 inputs (an inverter there is a LUT and a net more)
        inner = data.StructLayout({"L": self._l_shape, "pow2": 1, "npow2": 1,
                                   "tag": self._tag_shape})
        m.submodules.div = div = Divider(
            dividend_bits=sb + k, divisor_bits=sb, quotient_bits=k,
            pipelined=True, tag_shape=inner)
        # stage A: -s and -rev(s) (rev: the bits of s in reverse order), two carry chains side
        # by side straight into flip-flops. x | -x sets every bit from x's lowest one up, so
        # rev(rev(s) | -rev(s)) = s | rev(-rev(s)) sets every bit from the leading one of s
        # down: the leading one and the mask below it without a priority tree (which Yosys
        # maps as a chain of four or five LUT levels)
        s_in = self.i_stream.payload.s
        va = Signal()
        s_a = Signal(sb, reset_less=True)
        negs_a = Signal(sb, reset_less=True)    # -s modulo 2^sb
        negrev_a = Signal(sb, reset_less=True)  # -rev(s) modulo 2^sb
        tag_a = Signal(self._tag_shape, reset_less=True)
        # stage B: r = 2^L - s, which is (-s) mod 2^(L-1): the bits of -s below the leading
        # one (s = 2^(L-1) + low, low < 2^(L-1); r = 2^(L-1) - low, or 0 if s is a power of
        # two, when low = 0 and f = 2^(k+1)); r < s. An AND per bit, no carry chain
        upto = Signal(sb)                      # the leading one of s and every bit below it
        below = Signal(sb)                     # 2^(L-1) - 1
        msb = Signal(sb)                       # 2^(L-1)
        m.d.comb += [upto.eq(s_a | Cat(*reversed(list(negrev_a)))),
                     below.eq(upto >> 1),
                     msb.eq(upto & ~below)]
        # L = bit_length(s) from the one-hot leading one (an OR tree per bit of L)
        L = Signal(self._l_shape, name="L_in")
        for j in range(len(L)):
            m.d.comb += L[j].eq(Cat(*[msb[i] for i in range(sb) if (i + 1) >> j & 1]).any())
        # s is a power of two when no bit of s below its leading one is set: x = 0, the borrow
        # of x - 1, a carry chain behind one LUT level (an OR tree over x, or flags per group
        # of bits of s, mapped as five LUT levels or shared with the carries of -s)
        r = Signal(sb)
        x = Signal(sb)
        pow2 = Signal()
        m.d.comb += [r.eq(negs_a & below), x.eq(s_a & below),
                     pow2.eq((Cat(x, Const(0, 1)) - 1)[sb])]
        v, s_r, r_r, pow2_r, L_r, tag_r = self._stage_b_registers()
        # stages A and B stall with the divider (its ready is a flip-flop when pipelined; no
        # bubble collapsing, which would put two more LUT levels in front of their enables)
        adv = div.i_stream.ready
        m.d.comb += self.i_stream.ready.eq(adv)
        with m.If(adv):
            m.d.sync += va.eq(self.i_stream.valid)
            with m.If(self.i_stream.valid):
                m.d.sync += [s_a.eq(s_in), negs_a.eq(-s_in),
                             negrev_a.eq(-Cat(*reversed(list(s_in)))),
                             tag_a.eq(self.i_stream.payload.tag)]
        with m.If(adv):
            m.d.sync += v.eq(va)
            with m.If(va):
                m.d.sync += [s_r.eq(s_a), r_r.eq(r), pow2_r.eq(pow2), L_r.eq(L),
                             tag_r.eq(tag_a)]
        q = div.o_stream.payload.quotient
        dt = div.o_stream.payload.tag
        m.d.comb += [
            div.i_stream.valid.eq(v),
            div.i_stream.payload.dividend.eq(Cat(Const(0, k), r_r)),      # r * 2^k
            div.i_stream.payload.divisor.eq(s_r),
            div.i_stream.payload.tag.L.eq(L_r),
            div.i_stream.payload.tag.pow2.eq(pow2_r),
            div.i_stream.payload.tag.npow2.eq(~pow2_r),
            div.i_stream.payload.tag.tag.eq(tag_r),
            self.o_stream.valid.eq(div.o_stream.valid),
            div.o_stream.ready.eq(self.o_stream.ready),
            self.o_stream.payload.f.eq(Cat(q, dt.npow2, dt.pow2)),       # 2^k + q, or 2^(k+1)
            self.o_stream.payload.L.eq(dt.L),
            self.o_stream.payload.tag.eq(dt.tag),
        ]
        return m

    def _elaborate_sequential(self) -> Module:
        """The sequential front and non-restoring steps (the class docstring)."""
        m = Module()
        sb = self._s_bits
        # stage A: -s (one carry chain) and OR trees of s, each at most two LUT levels deep
        # (_LeadFlags); stage B forms from them, in one LUT per bit, the mask of the bits below
        # 2^L and the isolated leading one (_LeadEncode), so r = 2^L - s = (-s) & mask needs
        # no carry chain behind the priority logic (docs/fpga.md, timing estimate)
        s_in = self.i_stream.payload.s
        va = Signal()
        s_a = Signal(sb, reset_less=True)
        neg_a = Signal(sb, reset_less=True)
        tag_a = Signal(self._tag_shape, reset_less=True)
        m.submodules.lead_flags = flags = _LeadFlags(sb)
        m.submodules.lead_encode = enc = _LeadEncode(sb, self._l_shape.width)
        sfx_a = Signal(sb, reset_less=True)
        any_a = Signal(len(flags.any), reset_less=True)
        two_a = Signal(len(flags.any), reset_less=True)
        above_a = Signal(len(flags.any), reset_less=True)
        m.d.comb += [flags.s.eq(s_in), enc.s.eq(s_a), enc.neg.eq(neg_a), enc.sfx.eq(sfx_a),
                     enc.above.eq(above_a)]
        L = enc.L
        # stage B: r = 2^L - s (< 2^(L-1) when s is no power of two), in front of the divider
        pow2 = Signal()
        r = Signal(sb)
        m.d.comb += [pow2.eq(~(two_a.any() | _two_set(any_a)[1])),
                     r.eq(enc.r)]
        v, s_r, r_r, pow2_r, L_r, tag_r = self._stage_b_registers()
        # stages A and B advance together (no bubble collapsing, which would put two more LUT
        # levels in front of their enables)
        adv = Signal()
        m.d.comb += self.i_stream.ready.eq(adv)
        with m.If(adv):
            m.d.sync += va.eq(self.i_stream.valid)
            with m.If(self.i_stream.valid):
                m.d.sync += [s_a.eq(s_in), neg_a.eq(-s_in), tag_a.eq(self.i_stream.payload.tag),
                             sfx_a.eq(flags.sfx), any_a.eq(flags.any), two_a.eq(flags.two),
                             above_a.eq(flags.above)]
        with m.If(adv):
            m.d.sync += v.eq(va)
            with m.If(va):
                m.d.sync += [s_r.eq(s_a), r_r.eq(r), pow2_r.eq(pow2), L_r.eq(L),
                             tag_r.eq(tag_a)]
        q, o_pow2 = self._sequential_divider(m, adv, (v, s_r, r_r, pow2_r, L_r, tag_r))
        # 2^k + q, or 2^(k+1) (the steps see r = s for a power of two and give 2^k - 1, masked
        # here, off the carry chain)
        q = q & ~o_pow2.replicate(self.steps)
        m.d.comb += self.o_stream.payload.f.eq(Cat(q, ~o_pow2, o_pow2))
        return m

    def _sequential_divider(self, m: Module, adv: Signal, stage_b) -> tuple[Value, Value]:
        """``q = (r * 2^k) // s`` by **non-restoring** division, one quotient bit per cycle,
        on stage B's registers. Returns ``(quotient, pow2)`` of the output.

        The partial remainder ``p`` (``-s <= p <= s``, signed ``s_bits + 1``) is never
        restored: ``p <- 2p - s`` when ``p >= 0``, else ``p <- 2p + s``; the quotient bit is
        ``p >= 0`` after the step, the restoring quotient bit (Python ``//``; ``r = s``, a power
        of two, gives ``2^k - 1``, replaced by the caller). A step is one carry chain whose
        operands need no multiplexer: ``p`` is cleared after the last step (and while idle with
        no ``s`` waiting: after a reset) and ``r_r`` when the division starts, so the first
        operand is ``2 (p | r_r)``, and ``s_r`` (stage B's ``s``,
        held while the division runs) is the divisor; the chain's sum goes straight into ``p``.
        The restoring step's select of ``t - d`` or ``t`` by the sign, and the accept/step
        multiplexer behind it, were the Shiftmax critical path (docs/fpga.md).

        Timing: as :class:`Divider` sequential, the first step in the cycle the division is
        accepted, ``k`` steps, one division per ``k`` cycles (stage B takes the next ``s`` in
        the cycle of the last step); the result is held while ``o_stream.ready`` is low.
        """
        v, s_r, r_r, pow2_r, L_r, tag_r = stage_b
        sb, k = self._s_bits, self.steps
        busy = Signal()
        idle = Signal(init=1)                # ~busy, a flip-flop of its own
        last = Signal()                      # busy, and this is the last step
        done = Signal()
        cnt = Signal(range(k), reset_less=True)   # steps still to take after this one
        # partial remainder, two's complement; 0 when idle: cleared after the last step and
        # while idle without an s waiting (so also after a reset, without the reset net
        # ORed into its clear: fanout, docs/fpga.md)
        p = Signal(sb + 1, reset_less=True)
        qn = Signal(k, reset_less=True)      # complemented quotient bits (the signs of p)
        o_L = Signal(self._l_shape, reset_less=True)
        o_pow2 = Signal(reset_less=True)
        o_tag = Signal(self._tag_shape, reset_less=True)
        accept = Signal()
        m.d.comb += [
            # stage B takes the next s when empty, or in the last step of the division
            adv.eq((idle & ~v) | last),
            accept.eq(v & idle & (~done | self.o_stream.ready)),
            self.o_stream.valid.eq(done),
            self.o_stream.payload.L.eq(o_L),
            self.o_stream.payload.tag.eq(o_tag),
        ]
        # one adder, 2(p | r_r) -/+ s modulo 2^(sb+1): the carry in of the subtraction is bit
        # 0 of 2p (always 0), so the sum is one carry chain of sb + 1 bits
        sub = ~p[sb]
        a = Cat(sub, p[:sb] | r_r)
        b = Cat(s_r, Const(0, 1)) ^ sub.replicate(sb + 1)
        step = Signal(sb + 1)
        m.d.comb += step.eq(a + b)
        with m.If(accept | busy):
            m.d.sync += [p.eq(step), qn.eq(Cat(step[sb], qn)[:k])]
        with m.If(last | (idle & ~v)):
            m.d.sync += p.eq(0)
        with m.If(self.o_stream.valid & self.o_stream.ready):
            m.d.sync += done.eq(0)
        with m.If(accept):
            m.d.sync += [busy.eq(1), idle.eq(0), cnt.eq(k - 1), last.eq(k == 2), v.eq(0),
                         r_r.eq(0), o_L.eq(L_r), o_pow2.eq(pow2_r), o_tag.eq(tag_r)]
        with m.Elif(busy):
            m.d.sync += [cnt.eq(cnt - 1), last.eq(cnt == 2)]
            with m.If(last):
                m.d.sync += [busy.eq(0), idle.eq(1), done.eq(1)]
        return ~qn, o_pow2


class RecipMul(wiring.Component):
    """``y = min((num*f + 2^(L+1)) >> (L+2), 2^(out_bits-1) - 1)``: the per-element half of
    §4.1 (rounded half up, revision 2).

    Normative model: the last line of :func:`ivita.model.recip_div`. Five stages: the product
    (partial products of one DSP48E1 each, then their sum: two stages), the shift by the multiple of 8 in ``L + 1``, the shift by the
    rest, then the rounding and the saturation (short stages for the 250 MHz timing
    estimate). The rounding uses
    ``(P + 2^(L+1)) >> (L+2) == ((P >> (L+1)) + 1) >> 1``, so only ``out_bits + 1`` bits of
    ``P >> (L+1)`` are formed and the adder is ``out_bits + 1`` bits wide, not product-wide.

    Parameters (keyword-only): ``num_bits`` (1..62), ``s_bits`` (width of the ``s`` that ``f``
    and ``L`` came from), ``out_bits``, ``tag_shape``.

    Ports: ``i_stream`` ``{"num": unsigned(num_bits), "f": unsigned(out_bits+3), "L":
    unsigned(bit_length(s_bits)), "tag"}``; ``o_stream`` ``{"y": unsigned(out_bits), "tag"}``.

    Timing (:meth:`timing`): latency 5 cycles, throughput one per cycle, global stall.
    """

    @quiet_on_error
    def __init__(self, *, num_bits: int, s_bits: int, out_bits: int,
                 tag_shape: ShapeLike = unsigned(0)):
        self._num_bits = check_int(num_bits, "num_bits", 1, 62)
        self._s_bits = check_int(s_bits, "s_bits", 1, 62)
        self._out_bits = check_int(out_bits, "out_bits", 2, 32)
        self._tag_shape = check_shape(tag_shape, "tag_shape")
        super().__init__({
            "i_stream": In(stream.Signature(data.StructLayout({
                "num": unsigned(self._num_bits), "f": unsigned(self._out_bits + 3),
                "L": unsigned(self._s_bits.bit_length()), "tag": tag_shape}))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "y": unsigned(self._out_bits), "tag": tag_shape}))),
        })

    def timing(self, n: int | None = None) -> Timing:
        """Latency 5, one element per cycle (``n`` is ignored)."""
        return Timing(latency=RECIP_MUL_STAGES, latency_from="first", interval=1, per="element")

    def elaborate(self, platform):
        m = Module()
        ob = self._out_bits
        pipe = StallPipe(m, stages=RECIP_MUL_STAGES, i_valid=self.i_stream.valid,
                         o_stream=self.o_stream, name="rmul")
        m.d.comb += self.i_stream.ready.eq(pipe.ready)
        p = self.i_stream.payload
        prod = Signal(self._num_bits + ob + 3)
        sh = Signal(range(self._s_bits + 3), reset_less=True)
        tags = [Signal(self._tag_shape, name=f"tag{k}", reset_less=True)
                for k in range(1, RECIP_MUL_STAGES)]
        sh_m = Signal(range(self._s_bits + 3), reset_less=True)
        # the product in two stages: partial products, one DSP48E1 each, then their sum
        m.d.comb += prod.eq(split_product(m, p.f, p.num, loads=(pipe.load(0), pipe.load(1)),
                                          name="prod_sum"))
        with m.If(pipe.load(0)):
            m.d.sync += sh_m.eq(p.L + 1)
        with m.If(pipe.load(1)):
            m.d.sync += sh.eq(sh_m)
        with m.If(pipe.adv):
            m.d.sync += tags[0].eq(p.tag)
            m.d.sync += [tags[k].eq(tags[k - 1]) for k in range(1, len(tags))]
        # P >> (L+1) <= 2^ob for num <= s: the shift in two stages (by the multiple of 8,
        # then the rest: three 2:1 multiplexer levels each), keeping ob + 8 and then ob + 1 bits
        coarse = Signal(ob + 8, reset_less=True)
        fine = Signal(3, reset_less=True)
        with m.If(pipe.load(2)):
            m.d.sync += [coarse.eq(prod >> Cat(Const(0, 3), sh[3:])), fine.eq(sh[:3])]
        half = Signal(ob + 1, reset_less=True)
        with m.If(pipe.load(3)):
            m.d.sync += half.eq(coarse >> fine)
        y = Signal(ob + 1)             # ((P >> (L+1)) + 1) >> 1 <= 2^(ob-1)
        m.d.comb += y.eq((half + 1) >> 1)
        cap = (1 << (ob - 1)) - 1
        m.d.comb += [pipe.nxt.y.eq(Mux(y > cap, cap, y)), pipe.nxt.tag.eq(tags[-1])]
        return m


class RecipDiv(wiring.Component):
    """``y = recip_div(num, s, out_bits)`` (docs/numerics.md §4.1): :class:`Reciprocal` then
    :class:`RecipMul`, ``num`` riding in the reciprocal's tag.

    Normative model: :func:`ivita.model.recip_div`. Requires ``0 <= num <= s``, ``s >= 1``
    (outside that, the output is unspecified but the stream keeps flowing).

    Parameters (keyword-only): ``num_bits``, ``s_bits``, ``out_bits``, ``pipelined``,
    ``tag_shape``. Ports: ``i_stream`` ``{"num", "s", "tag"}``, ``o_stream`` ``{"y":
    unsigned(out_bits), "tag"}``.

    Timing (:meth:`timing`): latency ``out_bits + 8`` cycles sequential, ``out_bits + 9``
    pipelined. Throughput: one per cycle pipelined; one per ``out_bits + 1`` cycles sequential. Back-pressure: no loss or duplication.
    """

    @quiet_on_error
    def __init__(self, *, num_bits: int, s_bits: int, out_bits: int, pipelined: bool = False,
                 tag_shape: ShapeLike = unsigned(0)):
        self._num_bits = check_int(num_bits, "num_bits", 1, 62)
        self._s_bits = check_int(s_bits, "s_bits", 1, 62)
        self._out_bits = check_int(out_bits, "out_bits", 2, 32)
        if self._s_bits + self._out_bits + 2 > 64:
            raise ValueError(f"s_bits={self._s_bits} and out_bits={self._out_bits} need a "
                             f"{self._s_bits + self._out_bits + 2}-bit product; at most 64")
        self._pipelined = check_bool(pipelined, "pipelined")
        self._tag_shape = check_shape(tag_shape, "tag_shape")
        super().__init__({
            "i_stream": In(stream.Signature(data.StructLayout({
                "num": unsigned(self._num_bits), "s": unsigned(self._s_bits),
                "tag": tag_shape}))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "y": unsigned(self._out_bits), "tag": tag_shape}))),
        })

    def timing(self, n: int | None = None) -> Timing:
        """:func:`recip_div_timing` (``n`` is ignored)."""
        return recip_div_timing(self._out_bits, pipelined=self._pipelined)

    def elaborate(self, platform):
        m = Module()
        inner = data.StructLayout({"num": unsigned(self._num_bits), "tag": self._tag_shape})
        m.submodules.recip = recip = Reciprocal(
            s_bits=self._s_bits, out_bits=self._out_bits, pipelined=self._pipelined,
            tag_shape=inner)
        m.submodules.mul = mul = RecipMul(
            num_bits=self._num_bits, s_bits=self._s_bits, out_bits=self._out_bits,
            tag_shape=self._tag_shape)
        p = self.i_stream.payload
        m.d.comb += [
            recip.i_stream.valid.eq(self.i_stream.valid),
            self.i_stream.ready.eq(recip.i_stream.ready),
            recip.i_stream.payload.s.eq(p.s),
            recip.i_stream.payload.tag.num.eq(p.num),
            recip.i_stream.payload.tag.tag.eq(p.tag),
            mul.i_stream.valid.eq(recip.o_stream.valid),
            recip.o_stream.ready.eq(mul.i_stream.ready),
            mul.i_stream.payload.num.eq(recip.o_stream.payload.tag.num),
            mul.i_stream.payload.f.eq(recip.o_stream.payload.f),
            mul.i_stream.payload.L.eq(recip.o_stream.payload.L),
            mul.i_stream.payload.tag.eq(recip.o_stream.payload.tag.tag),
        ]
        wiring.connect(m, mul.o_stream, wiring.flipped(self.o_stream))
        return m
