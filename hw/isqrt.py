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

    Normative model: :func:`ivita.model.isqrt`. The classic restoring recurrence over pairs of
    input bits, shifts and subtractions only: with ``R`` the partial remainder and ``Q`` the
    partial root, per step ``R = 4R + (next two bits of v)``, ``T = 4Q + 1``; if ``R >= T``
    then ``R -= T`` and ``Q = 2Q + 1``, else ``Q = 2Q``. ``R <= 2Q`` throughout, so the adder is
    ``ceil(in_bits/2) + 2`` bits wide.

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
        cnt = Signal(range(rb + 1))
        r = Signal(rw)
        q = Signal(rb)
        rest = Signal(max(2 * rb - 2, 1))        # input bit pairs still to consume, MSB first
        tag = Signal(self._tag_shape)

        def step(r_in, q_in, pair):
            t_r = Cat(pair, r_in)                # 4R + pair
            t = Cat(Const(1, 2), q_in)           # 4Q + 1
            ge = t_r >= t
            return Mux(ge, t_r - t, t_r)[:rw], Cat(ge, q_in)[:rb]

        m.d.comb += [
            self.o_stream.valid.eq(done),
            self.o_stream.payload.root.eq(q),
            self.o_stream.payload.tag.eq(tag),
            self.i_stream.ready.eq(~busy & (~done | self.o_stream.ready)),
        ]
        with m.If(self.o_stream.valid & self.o_stream.ready):
            m.d.sync += done.eq(0)
        v = Cat(self.i_stream.payload.v, Const(0, 2 * rb - self._in_bits))
        with m.If(self.i_stream.valid & self.i_stream.ready):
            r_next, q_next = step(Const(0, rw), Const(0, rb), v[2 * rb - 2:])
            m.d.sync += [r.eq(r_next), q.eq(q_next), tag.eq(self.i_stream.payload.tag)]
            if rb == 1:
                m.d.sync += done.eq(1)
            else:
                m.d.sync += [rest.eq(v[:2 * rb - 2]), busy.eq(1), cnt.eq(rb - 1)]
        with m.Elif(busy):
            r_next, q_next = step(r, q, rest[-2:])
            m.d.sync += [r.eq(r_next), q.eq(q_next), rest.eq(rest << 2), cnt.eq(cnt - 1)]
            with m.If(cnt == 1):
                m.d.sync += [busy.eq(0), done.eq(1)]
        return m
