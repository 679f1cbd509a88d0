"""Exact integer square root, digit by digit (docs/numerics.md §7). Model: :func:`ivita.model.isqrt`."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.hdl import ShapeLike
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int

from ._nlutil import check_shape, quiet_on_error
from .timing import Timing

__all__ = ["ISqrt"]


class ISqrt(wiring.Component):
    """``root = isqrt(v)`` (floor square root), one result bit per cycle.

    Normative model: :func:`ivita.model.isqrt` (the restoring recurrence over pairs of input
    bits). The hardware runs the equivalent *non-restoring* recurrence, one addition per step
    and no compare-and-select: with ``R`` the signed partial remainder and ``Q`` the partial
    root, per step ``R = 4R + (next two bits of v) - (4Q + 1)`` if ``R >= 0``, else ``... +
    (4Q + 3)``; then ``Q = 2Q + (R >= 0)``. ``Q`` equals the restoring root after every step
    (only the remainder differs, and it is not output); ``-2^(rb+1) <= R < 2^(rb+1)``, so the
    adder is ``rb + 2 = ceil(in_bits/2) + 2`` bits wide and the sign of ``R`` selects add or
    subtract in the LUTs in front of its carry chain (one carry chain per step, docs/fpga.md).

    Parameters (keyword-only): ``in_bits`` (1..64), ``tag_shape`` (opaque, carried along).

    Ports: ``i_stream`` ``{"v": unsigned(in_bits), "tag"}``; ``o_stream`` ``{"root":
    unsigned(ceil(in_bits/2)), "tag"}``.

    Timing (:meth:`timing`): latency ``ceil(in_bits/2)`` cycles (the first step is taken while
    accepting). Throughput: one root per ``ceil(in_bits/2)`` cycles; a new ``v`` is accepted in
    the cycle the previous root is taken. Back-pressure: the result is held while
    ``o_stream.ready`` is low.
    """

    @quiet_on_error
    def __init__(self, *, in_bits: int, tag_shape: ShapeLike = unsigned(0)):
        self._in_bits = check_int(in_bits, "in_bits", 1, 64)
        self._tag_shape = check_shape(tag_shape, "tag_shape")
        super().__init__({
            "i_stream": In(stream.Signature(data.StructLayout({
                "v": unsigned(self._in_bits), "tag": tag_shape}))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "root": unsigned(self.root_bits), "tag": tag_shape}))),
        })

    @property
    def root_bits(self) -> int:
        return (self._in_bits + 1) // 2

    def timing(self, n: int | None = None) -> Timing:
        """Latency and interval ``ceil(in_bits/2)`` (``n`` is ignored)."""
        return Timing(latency=self.root_bits, latency_from="first", interval=self.root_bits,
                      per="root")

    def elaborate(self, platform):
        m = Module()
        rb = self.root_bits
        rw = rb + 2
        busy = Signal()
        done = Signal()
        tick = Signal(max(rb - 1, 1))            # one-hot step marker: the last step at tick[0]
        r = Signal(rw)                           # signed partial remainder (two's complement)
        # the partial root and the result with their bits inverted: each is the sign of r
        # after its step (no inverter after the carry chain); all ones = root 0
        nq = Signal(rb, init=(1 << rb) - 1)
        nroot = Signal(rb, init=(1 << rb) - 1)    # the result, held while not taken
        rest = Signal(max(2 * rb - 2, 1))        # input bit pairs still to consume, MSB first
        tag = Signal(self._tag_shape)
        accept = Signal()

        # r and the partial root are 0 between roots (cleared by the last step), so the first step,
        # taken while accepting, is the same step with the first bit pair multiplexed in (by
        # a copy of ~busy, a flip-flop of fanout 2): no multiplexer after the carry chain
        v = Cat(self.i_stream.payload.v, Const(0, 2 * rb - self._in_bits))
        first = Signal(init=1)                   # ~busy again, for the pair multiplexer
        pair = Mux(first, v[2 * rb - 2:], rest[-2:]) if rb > 1 else v
        op = Cat(Const(3, 2), nq ^ r[-1].replicate(rb))  # R >= 0: ~(4Q) = -(4Q + 1); else 4Q + 3
        r_next = Signal(rw)
        m.d.comb += r_next.eq(Cat(pair, r[:rw - 2]) + op)
        nq_next = Cat(r_next[-1], nq)[:rb]

        m.d.comb += [
            accept.eq(self.i_stream.valid & self.i_stream.ready),
            self.o_stream.valid.eq(done),
            self.o_stream.payload.root.eq(~nroot),
            self.o_stream.payload.tag.eq(tag),
            self.i_stream.ready.eq(~busy & (~done | self.o_stream.ready)),
        ]
        with m.If(self.o_stream.valid & self.o_stream.ready):
            m.d.sync += done.eq(0)
        if rb == 1:
            with m.If(accept):
                m.d.sync += [nroot.eq(nq_next), done.eq(1), tag.eq(self.i_stream.payload.tag)]
            return m
        last = tick[0]                           # high exactly in the last busy step
        with m.If(last):
            m.d.sync += [r.eq(0), nq.eq((1 << rb) - 1), nroot.eq(nq_next), busy.eq(0),
                         first.eq(1), done.eq(1)]
        with m.Elif(accept | busy):
            m.d.sync += [r.eq(r_next), nq.eq(nq_next)]
        # tick is 0 while idle (so accept alone loads its top bit) and shifts every cycle
        m.d.sync += tick.eq(Cat(tick[1:], accept))
        with m.If(accept):
            m.d.sync += [rest.eq(v[:2 * rb - 2]), busy.eq(1), first.eq(0),
                         tag.eq(self.i_stream.payload.tag)]
        with m.Elif(busy):
            m.d.sync += rest.eq(rest << 2)
        return m
