"""Shift-based exponential ``shift_exp`` (docs/numerics.md §4), a pipelined stream datapath.

Normative model: :func:`ivita.model.shift_exp`.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import ShapeLike, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int

from ._nlutil import StallPipe, check_shape, const_mul, quiet_on_error
from .timing import Timing

__all__ = ["ShiftExp", "shift_exp_timing", "x0_in_range"]


#: stages besides the ``bit_length(n)`` restoring stages: three for the shift-add and clamp,
#: two for the final subtraction and shift
SHIFT_EXP_EXTRA = 5


def shift_exp_timing(n: int) -> Timing:
    """:meth:`ShiftExp.timing` for exponent range ``n``, without building one: latency
    ``bit_length(n) + 5`` from each element, one element per cycle."""
    return Timing(latency=n.bit_length() + SHIFT_EXP_EXTRA, latency_from="first", interval=1,
                  per="element")


def x0_in_range(x0: Value, x0_bits: int) -> Value:
    """The hardware form of :meth:`ivita.model.SoftmaxConfig.check_x0`: ``-(2^x0_bits - 1) <=
    x0 <= -1`` for a runtime ``x0`` port (the units that take one flag ``bad_x0`` otherwise)."""
    x0 = Value.cast(x0)
    if len(x0) == x0_bits + 1 and x0.shape().signed:
        # -2^x0_bits is the one negative value out of range: the sign and any other bit set,
        # OR trees instead of two comparisons' carry chains
        return x0[-1] & x0[:x0_bits].any()
    return (x0 < 0) & (x0 > -(1 << x0_bits))


def _below(v: Value, c: int) -> Value:
    """``v < c`` for an unsigned ``v``: the sign of ``v - c``, a carry chain (an OR over ``v``'s
    high bits, shared between several such flags, maps as a chain of LUTs)."""
    if c >= 1 << len(v):
        return Const(1, 1)
    return (v.as_unsigned() - c)[-1]


class ShiftExp(wiring.Component):
    """``e = shift_exp(z, x0, n)`` for one element per cycle (docs/numerics.md §4).

    Normative model: :func:`ivita.model.shift_exp`. Datapath, with ``a = -zp >= 0`` and
    ``b = -x0 >= 1`` so every quantity is unsigned:

    1. stages 0a-0c: ``zp = z + (z >> 1) - (z >> 4)`` (shift-add by 1.4375; ``z + (z >> 1)``
       and ``b`` first, then ``-zp`` and ``n*b``), ``a = min(-zp, n*b)`` (the clamp at
       ``n*x0``; ``n*b`` is a constant multiple, i.e. shifts and adds): one carry chain per
       stage, for the 250 MHz timing estimate (docs/fpga.md);
    2. ``bit_length(n)`` restoring stages compute the bounded quotient ``q = a // b`` (``0 <= q
       <= n``) one bit per stage by comparison with ``b << j`` (the sign of one subtraction of
       ``a``'s width; whether ``b << j`` exceeds that width is a flag registered in stage 0b),
       leaving the remainder ``a - q*b`` (so ``r = zp - q*x0 = -(a mod b)``);
    3. last two stages: ``e = (r >> 1) - x0 = b - ((a mod b) + 1) // 2 = (2b - (a mod b)) >>
       1`` shifted left by ``(n - q) % 4``, then by the rest of ``n - q`` (the barrel shifter
       over ``0..n`` split so that neither stage is more than one carry chain and three LUT
       levels).

    Parameters (keyword-only)
    -------------------------
    z_bits : int
        Signed width of ``z`` (1..32). ``z`` must be ``<= 0`` (a positive ``z`` gives an
        unspecified value; the units never produce one).
    x0_bits : int
        ``|x0| < 2^x0_bits`` (1..31). ``x0`` travels with each element as ``signed(x0_bits+1)``
        and must lie in ``[-(2^x0_bits - 1), -1]`` (the units check their runtime ``x0`` port).
    n : int
        The exponent range (0..31); output width ``x0_bits + n``.
    tag_shape : shape-like
        An opaque payload carried alongside each element (default ``unsigned(0)``).

    Ports
    -----
    i_stream : ``In(stream.Signature({"z": signed(z_bits), "x0": signed(x0_bits+1),
        "tag": tag_shape}))``
    o_stream : ``Out(stream.Signature({"e": unsigned(x0_bits+n), "tag": tag_shape}))``

    Timing (:meth:`timing`): latency ``bit_length(n) + 5`` cycles (an element accepted in cycle
    ``t`` is valid on ``o_stream`` in cycle ``t + latency``); throughput one element per cycle.
    Back-pressure: a global stall on a flip-flop enable (the output register is the head of
    an output skid buffer, :class:`~ivita.hw._nlutil.StallPipe`), so ``i_stream.ready`` does
    not depend combinationally on ``o_stream.ready``; no element is lost or duplicated.
    """

    @quiet_on_error
    def __init__(self, *, z_bits: int, x0_bits: int, n: int,
                 tag_shape: ShapeLike = unsigned(0)):
        self._z_bits = check_int(z_bits, "z_bits", 1, 32)
        self._x0_bits = check_int(x0_bits, "x0_bits", 1, 31)
        self._n = check_int(n, "n", 0, 31)
        self._tag_shape = check_shape(tag_shape, "tag_shape")
        super().__init__({
            "i_stream": In(stream.Signature(data.StructLayout({
                "z": signed(self._z_bits), "x0": signed(self._x0_bits + 1),
                "tag": tag_shape}))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "e": unsigned(self.exp_bits), "tag": tag_shape}))),
        })

    @property
    def z_bits(self) -> int:
        return self._z_bits

    @property
    def x0_bits(self) -> int:
        return self._x0_bits

    @property
    def n(self) -> int:
        return self._n

    @property
    def exp_bits(self) -> int:
        """Unsigned output width ``x0_bits + n``."""
        return self._x0_bits + self._n

    def timing(self, n: int | None = None) -> Timing:
        """Latency ``bit_length(self.n) + 5`` from each element, interval 1 (the argument, a
        row length, is ignored: :func:`shift_exp_timing`)."""
        return shift_exp_timing(self._n)

    @staticmethod
    def _restoring_stages(m: Module, pipe: StallPipe, a: list, q: list, b: list, small: list,
                          a_bits: int) -> None:
        """Stages 3 .. qbits + 2: quotient bit j = (a >= b << j), the sign of one subtraction
        (one carry chain) of a_bits + 1 bits: b << j below 2^a_bits, with ~small as the top
        bit."""
        qbits = len(a) - 1
        for k in range(qbits):
            j = qbits - 1 - k
            low = Signal(a_bits, name=f"bj{k}")             # b << j when it is < 2^a_bits
            m.d.comb += low.eq(b[k][:max(a_bits - j, 0)] << j)
            diff = (a[k] - Cat(low, ~small[k][j]))[:a_bits + 2]
            ge = ~diff[a_bits + 1]
            with m.If(pipe.load(k + 3)):
                m.d.sync += [
                    a[k + 1].eq(Mux(ge, diff[:a_bits], a[k])),
                    q[k + 1].eq(q[k] | (ge << j)),
                    b[k + 1].eq(b[k]),
                ]
                if k + 1 < qbits:
                    m.d.sync += small[k + 1].eq(small[k])

    def elaborate(self, platform):
        m = Module()
        n, xb = self._n, self._x0_bits
        qbits = n.bit_length()
        # a = -zp <= 1.4375 * 2^(z_bits-1) + 0.5 < 2^z_bits, and a <= n*b < 2^(x0_bits+qbits)
        a_bits = min(self._z_bits, xb + qbits) if qbits else 1
        stages = 3 + qbits + 2
        pipe = StallPipe(m, stages=stages, i_valid=self.i_stream.valid, o_stream=self.o_stream,
                         name="sexp")
        m.d.comb += self.i_stream.ready.eq(pipe.ready)

        # data registers have no reset; the tag is a pure delay line clocked by ``adv`` alone
        # (a common enable, so synthesis can map it to SRL shift registers)
        a = [Signal(a_bits, name=f"a{k}", reset_less=True) for k in range(qbits + 1)]
        q = [Signal(max(qbits, 1), name=f"q{k}", reset_less=True) for k in range(qbits + 1)]
        b = [Signal(xb, name=f"b{k}", reset_less=True) for k in range(qbits + 1)]
        # small[k] bit j: b << j < 2^a_bits (else b << j > a: quotient bit j is 0), registered
        # in stage 0b as the sign of b - 2^(a_bits - j) (not inverted: no LUT behind the chain),
        # so the restoring stages compare a_bits wide, with no OR over b's high bits in them
        small = [Signal(max(qbits, 1), name=f"small{k}", reset_less=True)
                 for k in range(qbits)]
        tag = [Signal(self._tag_shape, name=f"tag{k}", reset_less=True)
               for k in range(stages - 1)]

        # stages 0a-0c: shift-add, clamp at n*x0
        z = self.i_stream.payload.z
        zs = Signal(signed(self._z_bits + 1), name="zs", reset_less=True)    # z + (z >> 1)
        z4 = Signal(signed(self._z_bits), name="z4", reset_less=True)        # z >> 4
        b_a = Signal(xb, name="b_a", reset_less=True)
        with m.If(pipe.load(0)):
            m.d.sync += [zs.eq(z + (z >> 1)), z4.eq(z >> 4),
                         b_a.eq(-self.i_stream.payload.x0)]
        neg_zp = Signal(unsigned(self._z_bits + 1), name="neg_zp", reset_less=True)
        nb = Signal(xb + qbits, name="nb", reset_less=True)
        b_b = Signal(xb, name="b_b", reset_less=True)
        small_b = Signal(max(qbits, 1), name="small_b", reset_less=True)
        with m.If(pipe.load(1)):
            m.d.sync += [neg_zp.eq(z4 - zs), nb.eq(const_mul(b_a, n)), b_b.eq(b_a),
                         small_b.eq(Cat(*[_below(b_a, 1 << max(a_bits - j, 0))
                                          for j in range(max(qbits, 1))]))]
        with m.If(pipe.load(2)):
            m.d.sync += [
                a[0].eq(Mux(neg_zp > nb, nb, neg_zp)),
                q[0].eq(0),
                b[0].eq(b_b),
            ]
            if qbits:
                m.d.sync += small[0].eq(small_b)
        with m.If(pipe.adv):
            m.d.sync += tag[0].eq(self.i_stream.payload.tag)
            for k in range(1, stages - 1):
                m.d.sync += tag[k].eq(tag[k - 1])
        self._restoring_stages(m, pipe, a, q, b, small, a_bits)
        # last two stages: e = b - ceil(rem / 2) = (2b - rem) >> 1 (one carry chain) shifted left
        # by sh % 4 (sh = n - q; a 4:1 multiplexer, one LUT level behind the chain), then by
        # the rest of sh: the whole shift in front of the output register's skid multiplexer
        # was four LUT levels
        rem, qf, bf = a[qbits], q[qbits], b[qbits]
        sh_full = Signal(range(n + 1), name="sh_full")
        m.d.comb += sh_full.eq(n - qf)
        e = Signal(xb + 3, name="e", reset_less=True)
        sh = Signal(range(n // 4 + 1), name="sh", reset_less=True)
        with m.If(pipe.load(stages - 2)):
            m.d.sync += [e.eq(((bf << 1) - rem)[1:xb + 1] << sh_full[:2]), sh.eq(sh_full[2:])]
        m.d.comb += [pipe.nxt.e.eq(e << Cat(Const(0, 2), sh)),
                     pipe.nxt.tag.eq(tag[stages - 2])]
        return m
