"""One output-stationary multiply-accumulate processing element (DESIGN.md §2).

The PE is the unit that power and utilization reports are broken down by: the systolic array
instantiates it ``rows x cols`` times as ``pe_r{r}_c{c}``. The dequant-first baseline
(NUMERICS.md §3) is the same generator with 16-bit operands.
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int
from ivita.model.config import MAX_ACC_BITS
from ivita.model.quant import CODE_BITS
from ivita.model.requant import required_acc_bits

from .timing import Timing

__all__ = ["ProcessingElement"]


class ProcessingElement(wiring.Component):
    """Signed ``a_bits x b_bits`` multiply, ``acc_bits`` accumulate, operands passed on.

    Normative model: the accumulator of one tile is ``sum_k a[k] * b[k]`` over the valid beats
    of that tile (one term of ``A @ B`` in int64, i.e. :func:`ivita.model.linear_acc` without
    bias), exact while the sum fits ``acc_bits`` (the array sizes ``acc_bits`` with
    :func:`ivita.model.required_acc_bits` for its ``k_max``; longer sums wrap modulo
    ``2^acc_bits``).

    Behaviour, on every cycle with ``en`` high (``en`` low freezes every register):

    - ``valid_out <= valid_in``;
    - if ``valid_in``: ``a_out <= a_in``, ``b_out <= b_in``, ``last_out <= last_in`` (operand
      registers hold their value on bubbles, so idle multipliers do not toggle), and
      ``s = acc + a_in * b_in``; if ``last_in`` then ``result <= s`` and ``acc <= 0``, else
      ``acc <= s``.

    ``valid``/``last`` travel rightwards with ``a``; the array's skew aligns ``b`` with them, so
    ``b`` needs no control bits of its own.

    Timing: one MAC per cycle, no back-pressure of its own (the array stalls it through ``en``).
    ``result`` holds the sum of the most recently completed tile from the cycle after its last
    beat until the next tile's last beat (the shadow register of the double-buffered array);
    ``acc`` is the running sum of the current tile.

    Parameters (keyword-only)
    -------------------------
    a_bits, b_bits : int
        Signed operand widths, 2..16.
    acc_bits : int
        Signed accumulator width, up to 48 and at least ``a_bits + b_bits`` (one product).

    Raises
    ------
    TypeError, ValueError
        A width that is not an integer or out of range; the message names the value and limit.
    """

    def __init__(self, *, a_bits: int, b_bits: int, acc_bits: int) -> None:
        a_bits = check_int(a_bits, "a_bits", *CODE_BITS)
        b_bits = check_int(b_bits, "b_bits", *CODE_BITS)
        acc_bits = check_int(acc_bits, "acc_bits", 2, MAX_ACC_BITS)
        need = required_acc_bits(a_bits, b_bits, 1)
        if acc_bits < need:
            raise ValueError(
                f"acc_bits={acc_bits} is too narrow for a_bits={a_bits}, b_bits={b_bits} and "
                f"k=1; at least {need} bits are needed")
        self._a_bits, self._b_bits, self._acc_bits = a_bits, b_bits, acc_bits
        super().__init__({
            "en": In(1, init=1),
            "a_in": In(signed(a_bits)),
            "b_in": In(signed(b_bits)),
            "valid_in": In(1),
            "last_in": In(1),
            "a_out": Out(signed(a_bits)),
            "b_out": Out(signed(b_bits)),
            "valid_out": Out(1),
            "last_out": Out(1),
            "acc": Out(signed(acc_bits)),
            "result": Out(signed(acc_bits)),
        })

    @property
    def a_bits(self) -> int:
        return self._a_bits

    @property
    def b_bits(self) -> int:
        return self._b_bits

    @property
    def acc_bits(self) -> int:
        return self._acc_bits

    def timing(self, n: int | None = None) -> Timing:
        """Latency 1: ``result`` holds a tile's sum in the cycle after its ``last`` beat; one
        MAC (beat) per enabled cycle (``n`` is ignored)."""
        return Timing(latency=1, latency_from="last", interval=1, per="beat")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        product = Signal(signed(self._a_bits + self._b_bits))
        total = Signal(signed(self._acc_bits))
        m.d.comb += [
            product.eq(self.a_in * self.b_in),
            total.eq(self.acc + product),          # wraps modulo 2^acc_bits past k_max
        ]
        with m.If(self.en):
            m.d.sync += self.valid_out.eq(self.valid_in)
            with m.If(self.valid_in):
                m.d.sync += [
                    self.a_out.eq(self.a_in),
                    self.b_out.eq(self.b_in),
                    self.last_out.eq(self.last_in),
                ]
                with m.If(self.last_in):
                    m.d.sync += [self.result.eq(total), self.acc.eq(0)]
                with m.Else():
                    m.d.sync += self.acc.eq(total)
        return m
