"""One output-stationary multiply-accumulate processing element (docs/architecture.md).

The PE is the unit that power and utilization reports are broken down by: the systolic array
instantiates it ``rows x cols`` times as ``pe_r{r}_c{c}``. The dequant-first baseline
(docs/numerics.md §3) is the same generator with 16-bit operands.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int
from ivita.model.config import MAX_ACC_BITS
from ivita.model.quant import CODE_BITS
from ivita.model.requant import required_acc_bits

from .timing import Timing

__all__ = ["ProcessingElement", "MULTIPLIERS"]

#: multiplier structures of :class:`ProcessingElement` (see its ``multiplier`` parameter)
MULTIPLIERS = ("booth", "infer")


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
    multiplier : str
        ``"booth"`` (default): radix-4 Booth rows written out, one carry chain per Booth digit
        of ``b``: row ``j`` adds ``digit_j * a * 4^j`` to the previous row (the first row to
        ``acc``), its partial-product bit and the add sharing one LUT per bit and the
        two's-complement ``+1`` entering as the chain's carry in. On xc7 this is LUT fabric
        only (no DSP48E1) and the smallest PE we measured (docs/synthesis.md).
        ``"infer"``: the ``*`` operator; Yosys maps it to a DSP48E1 from 5-bit operands on
        (unless ``-nodsp``). Both are bit-identical; the choice is only about area and timing.

    Implementation notes (area, not behaviour): the tile clear is the flip-flops' synchronous
    reset (``acc``'s reset input is ``rst | (en & valid_in & last_in)``, so it costs one LUT
    per PE, not one per bit), and ``result`` is a register whose load enable is that same
    clear signal (no LUTs; its own reset wins under ``rst``).

    Raises
    ------
    TypeError, ValueError
        A width that is not an integer or out of range; the message names the value and limit.
    """

    def __init__(self, *, a_bits: int, b_bits: int, acc_bits: int,
                 multiplier: str = "booth") -> None:
        a_bits = check_int(a_bits, "a_bits", *CODE_BITS)
        b_bits = check_int(b_bits, "b_bits", *CODE_BITS)
        acc_bits = check_int(acc_bits, "acc_bits", 2, MAX_ACC_BITS)
        need = required_acc_bits(a_bits, b_bits, 1)
        if acc_bits < need:
            raise ValueError(
                f"acc_bits={acc_bits} is too narrow for a_bits={a_bits}, b_bits={b_bits} and "
                f"k=1; at least {need} bits are needed")
        if not isinstance(multiplier, str):
            raise TypeError(f"multiplier must be a str, not {type(multiplier).__name__} "
                            f"({multiplier!r})")
        if multiplier not in MULTIPLIERS:
            raise ValueError(f"multiplier={multiplier!r} is not one of {', '.join(MULTIPLIERS)}")
        self._a_bits, self._b_bits, self._acc_bits = a_bits, b_bits, acc_bits
        self._multiplier = multiplier
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

    @property
    def multiplier(self) -> str:
        return self._multiplier

    def _booth_sum(self, m: Module, acc: Signal) -> Signal:
        """``acc + a_in * b_in`` (mod ``2^acc_bits``) as one carry-chain add per radix-4 Booth
        digit of ``b_in``: digit ``d_j = -2 b[2j+1] + b[2j] + b[2j-1]`` (``b[-1] = 0``, ``b``
        sign-extended to an even width), row ``j`` adds ``(|d_j| a XOR neg_j) + neg_j`` at bit
        ``2j``; bits below ``2j`` pass through."""
        a, b = self.a_in, self.b_in
        bx = Cat(Const(0, 1), b.as_unsigned(), b[-1])
        s = acc
        for j in range((self._b_bits + 1) // 2):
            b_m1, b_0, b_1 = bx[2 * j], bx[2 * j + 1], bx[2 * j + 2]
            one = b_0 ^ b_m1
            two = (b_1 & ~b_0 & ~b_m1) | (~b_1 & b_0 & b_m1)
            neg = b_1
            mag = Signal(signed(self._a_bits + 1), name=f"booth_mag{j}")
            m.d.comb += mag.eq(Mux(two, a << 1, Mux(one, a, 0)))
            width = self._acc_bits - 2 * j
            pp = Signal(signed(width), name=f"booth_pp{j}")
            m.d.comb += pp.eq(mag ^ neg.replicate(self._a_bits + 1).as_signed())
            # the +neg enters as the carry out of an extra low bit (1 + neg): a two-operand
            # add keeps `s` as the carry chain's DI operand whatever Yosys' operand order
            wide = Signal(width + 1, name=f"booth_row{j}")
            m.d.comb += wide.eq(Cat(Const(1, 1), s[2 * j:]) + Cat(neg, pp.as_unsigned()))
            hi = wide[1:]
            row = Signal(signed(self._acc_bits), name=f"booth_sum{j}")
            m.d.comb += row.eq(Cat(s[:2 * j], hi) if j else hi)
            s = row
        return s

    def elaborate(self, platform: object) -> Module:
        m = Module()
        total = Signal(signed(self._acc_bits))
        # The accumulator has no reset of its own: its synchronous reset input carries both
        # the domain reset and the tile clear, so the clear costs no LUT per bit.
        acc = Signal(signed(self._acc_bits), reset_less=True)
        if self._multiplier == "booth":
            m.d.comb += total.eq(self._booth_sum(m, acc))
        else:
            product = Signal(signed(self._a_bits + self._b_bits))
            m.d.comb += [product.eq(self.a_in * self.b_in),
                         total.eq(acc + product)]   # wraps modulo 2^acc_bits past k_max
        step = Signal()
        clear = Signal()
        m.d.comb += [
            step.eq(self.en & self.valid_in),
            clear.eq(ResetSignal() | (step & self.last_in)),
            self.acc.eq(acc),
        ]
        with m.If(self.en):
            m.d.sync += self.valid_out.eq(self.valid_in)
        with m.If(step):
            m.d.sync += [
                self.a_out.eq(self.a_in),
                self.b_out.eq(self.b_in),
                self.last_out.eq(self.last_in),
            ]
        with m.If(clear):
            # result's own reset has priority, so under rst it still reads 0; otherwise
            # clear == step & last_in: one enable signal for both registers
            m.d.sync += [self.result.eq(total), acc.eq(0)]
        with m.Elif(step):
            m.d.sync += acc.eq(total)
        return m
