"""One output-stationary multiply-accumulate processing element (docs/architecture.md).

The PE is the unit that power and utilization reports are broken down by: the systolic array
instantiates it ``rows x cols`` times as ``pe_r{r}_c{c}``. The dequant-first baseline
(docs/numerics.md §3) is the same generator with 16-bit operands.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from amaranth import Cat, Const, Module, Mux, ResetSignal, Signal, signed
from amaranth.hdl import Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int
from ivita.model.config import MAX_ACC_BITS
from ivita.model.quant import CODE_BITS
from ivita.model.requant import required_acc_bits

from .timing import Timing

__all__ = ["ProcessingElement", "MULTIPLIERS", "PE_LATENCY", "elaborated_as"]

#: multiplier structures of :class:`ProcessingElement` (see its ``multiplier`` parameter)
MULTIPLIERS = ("booth", "infer")

#: enabled cycles from a tile's ``last`` beat at the PE's input to its sum in ``result``: one
#: for the product register, one for the accumulator (:meth:`ProcessingElement.timing`)
PE_LATENCY = 2


_FORM_OF: ContextVar[Callable[["ProcessingElement"], str] | None] = ContextVar(
    "ivita_pe_form_of", default=None)


@contextlib.contextmanager
def elaborated_as(form_of: Callable[["ProcessingElement"], str]) -> Iterator[None]:
    """Within this block every :class:`ProcessingElement` is elaborated with the multiplier
    ``form_of(pe)`` (one of :data:`MULTIPLIERS`) instead of its own; the PE's ports, name,
    :attr:`~ProcessingElement.multiplier` and timing stay. For simulation views only: the bulk
    bench's Verilator view (:mod:`ivita.sim.bulk_view`) substitutes the word-level form where
    :func:`ivita.sim.pe_equiv.prove_pe_equivalent` proved it equal. ``form_of`` runs with the
    substitution off (so a proof it starts sees the real forms)."""
    token = _FORM_OF.set(form_of)
    try:
        yield
    finally:
        _FORM_OF.reset(token)


def _elaboration_form(pe: "ProcessingElement") -> str:
    form_of = _FORM_OF.get()
    if form_of is None:
        return pe.multiplier
    token = _FORM_OF.set(None)
    try:
        form = form_of(pe)
    finally:
        _FORM_OF.reset(token)
    if form not in MULTIPLIERS:
        raise ValueError(f"elaborated_as chose multiplier={form!r}, not one of "
                         f"{', '.join(MULTIPLIERS)}")
    return form


class ProcessingElement(wiring.Component):
    """Signed ``a_bits x b_bits`` multiply, ``acc_bits`` accumulate, operands passed on.

    Normative model: the accumulator of one tile is ``sum_k a[k] * b[k]`` over the valid beats
    of that tile (one term of ``A @ B`` in int64, i.e. :func:`ivita.model.linear_acc` without
    bias), exact while the sum fits ``acc_bits`` (the array sizes ``acc_bits`` with
    :func:`ivita.model.required_acc_bits` for its ``k_max``; longer sums wrap modulo
    ``2^acc_bits``).

    Behaviour, on every cycle with ``en`` high (``en`` low freezes every register), in two
    stages (issue 9: the product register cuts the multiply from the accumulate):

    - stage 1: ``valid_out <= valid_in``; if ``valid_in``: ``a_out <= a_in``, ``b_out <= b_in``,
      ``last_out <= last_in`` and ``prod <= a_in * b_in`` (these registers hold their value on
      bubbles, so idle multipliers do not toggle);
    - stage 2, on the beat registered by stage 1 (``valid_out``, ``last_out``): if
      ``valid_out``: ``s = acc + prod``; if ``last_out`` then ``result <= s`` and ``acc <= 0``,
      else ``acc <= s``.

    ``valid``/``last`` travel rightwards with ``a``; the array's skew aligns ``b`` with them, so
    ``b`` needs no control bits of its own. The clear travels with the data: it is the
    registered ``last_out`` of the product it belongs to.

    Timing: one MAC per cycle, no back-pressure of its own (the array stalls it through ``en``).
    Latency :data:`PE_LATENCY` = 2: ``result`` holds the sum of the most recently completed tile
    from the second enabled cycle after its last beat until the next tile's sum replaces it
    (the shadow register of the double-buffered array); ``acc`` is the running sum of the
    current tile's beats up to the one before the most recent (one enabled cycle behind the
    inputs).

    Parameters (keyword-only)
    -------------------------
    a_bits, b_bits : int
        Signed operand widths, 2..16.
    acc_bits : int
        Signed accumulator width, up to 48 and at least ``a_bits + b_bits`` (one product).
    multiplier : str
        ``"booth"`` (default): radix-4 Booth rows written out. Stage 1: the partial products
        ``digit_j * a * 4^j`` in LUTs, summed as a binary tree of carry chains (one chain at
        3-4 bits, two levels at 7-8), a partial-product bit and the add sharing one LUT where
        they can and each upper operand's two's-complement ``+1`` entering its chain as a
        carry in; row 0's ``+1`` is registered as one bit and enters stage 2's chain
        (``acc + prod``) as its carry in. On xc7 this is LUT fabric only (no DSP48E1) and the smallest PE we measured
        (docs/synthesis.md).
        ``"infer"``: the ``*`` operator; Yosys maps it to a DSP48E1 from 5-bit operands on
        (unless ``-nodsp``). Both are bit-identical; the choice is only about area and timing.

    After :meth:`elaborate`, ``in_flight_products`` lists, per pipeline register stage in
    order, the value ``a * b`` of the beat that stage holds, as an expression of its registers
    (today one stage: ``prod`` for ``"infer"``, ``prod + prod_cin`` for ``"booth"``). It is not
    a port: the equivalence proof of the two forms (:mod:`ivita.sim.pe_equiv`) asserts these
    equal to strengthen its induction. A multiplier stage added or changed must be listed
    here, or that proof fails (it never passes because of this list).

    Implementation notes (area, not behaviour): the tile clear is the flip-flops' synchronous
    reset (``acc``'s reset input is ``rst | (en & valid_out & last_out)``, so it costs one LUT
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
        """Latency :data:`PE_LATENCY` (2): ``result`` holds a tile's sum two enabled cycles
        after its ``last`` beat (product register, then accumulator); one MAC (beat) per
        enabled cycle (``n`` is ignored)."""
        return Timing(latency=PE_LATENCY, latency_from="last", interval=1, per="beat")

    @property
    def multiplier(self) -> str:
        return self._multiplier

    def _booth_product(self, m: Module) -> tuple[Signal, Value]:
        """Stage 1: ``(p, cin)`` with ``p + cin == a_in * b_in`` (``p`` signed, ``a_bits +
        b_bits`` wide, ``cin`` one bit). Radix-4 Booth digits of ``b_in``: ``d_j = -2 b[2j+1]
        + b[2j] + b[2j-1]`` (``b[-1] = 0``, ``b`` sign-extended to an even width); row ``j`` is
        ``(|d_j| a XOR neg_j) + neg_j`` at bit ``2j``, its partial product ``|d_j| a XOR
        neg_j`` in LUTs. The rows are summed as a binary tree of carry chains (two levels at
        8 bits instead of three in sequence): a node is ``(value, neg)`` with ``value + neg`` its
        rows' sum relative to its lowest row; merging two nodes adds the upper one's value at
        its offset in one chain, its ``+neg`` entering as the carry out of an extra low bit (bits
        below the offset pass through). The root's ``neg`` (row 0's) is ``cin``, added by the
        accumulate stage as its chain's carry in."""
        a, b = self.a_in, self.b_in
        width = self._a_bits + self._b_bits
        bx = Cat(Const(0, 1), b.as_unsigned(), b[-1])
        nodes: list[tuple[int, Signal, Value]] = []        # (lowest row, value, neg)
        for j in range((self._b_bits + 1) // 2):
            b_m1, b_0, b_1 = bx[2 * j], bx[2 * j + 1], bx[2 * j + 2]
            one = b_0 ^ b_m1
            two = (b_1 & ~b_0 & ~b_m1) | (~b_1 & b_0 & b_m1)
            mag = Signal(signed(self._a_bits + 1), name=f"booth_mag{j}")
            m.d.comb += mag.eq(Mux(two, a << 1, Mux(one, a, 0)))
            pp = Signal(signed(width - 2 * j), name=f"booth_pp{j}")
            m.d.comb += pp.eq(mag ^ b_1.replicate(self._a_bits + 1).as_signed())
            nodes.append((j, pp, b_1))
        while len(nodes) > 1:
            merged = []
            for k in range(0, len(nodes) - 1, 2):
                (i, lo, lo_neg), (j, hi, hi_neg) = nodes[k], nodes[k + 1]
                off = 2 * (j - i)
                # a two-operand add keeps `lo` as the carry chain's DI operand
                wide = Signal(width - 2 * j + 1, name=f"booth_row{i}_{j}")
                node = Signal(signed(width - 2 * i), name=f"booth_sum{i}_{j}")
                m.d.comb += [wide.eq(Cat(Const(1, 1), lo[off:]) + Cat(hi_neg, hi.as_unsigned())),
                             node.eq(Cat(lo[:off], wide[1:]))]
                merged.append((i, node, lo_neg))
            nodes = merged + nodes[len(nodes) - len(nodes) % 2:]
        _, p, cin = nodes[0]
        return p, cin

    def _product(self, m: Module, form: str) -> tuple[Signal, Value | None]:
        """Stage 1 of either multiplier ``form``: ``(p, cin)``, ``p + cin == a_in * b_in``
        (``cin`` is ``None`` for ``"infer"``: ``p`` is the product)."""
        if form == "booth":
            return self._booth_product(m)
        product = Signal(signed(self._a_bits + self._b_bits))
        m.d.comb += product.eq(self.a_in * self.b_in)
        return product, None

    def _accumulate(self, m: Module, acc: Signal, p: Signal, cin: Value | None) -> Signal:
        """Stage 2: ``acc + p (+ cin)`` (mod ``2^acc_bits``, i.e. it wraps past ``k_max``), one
        carry chain; ``cin`` enters as the carry out of an extra low bit ``(1 + cin)``."""
        total = Signal(signed(self._acc_bits))
        if cin is None:
            m.d.comb += total.eq(acc + p)
        else:
            p_ext = Signal(signed(self._acc_bits), name="prod_ext")
            wide = Signal(self._acc_bits + 1, name="acc_row")
            m.d.comb += [p_ext.eq(p),
                         wide.eq(Cat(Const(1, 1), acc) + Cat(cin, p_ext.as_unsigned())),
                         total.eq(wide[1:])]
        return total

    def elaborate(self, platform: object) -> Module:
        form = _elaboration_form(self)          # self.multiplier unless elaborated_as says
        m = Module()
        step = Signal()
        m.d.comb += step.eq(self.en & self.valid_in)
        with m.If(self.en):
            m.d.sync += self.valid_out.eq(self.valid_in)
        # Stage 1 (product): loads with the operands it passes on, so valid_out/last_out are
        # the product's valid and last; it holds on bubbles (idle multipliers do not toggle).
        p_next, cin_next = self._product(m, form)
        p = Signal.like(p_next, name="prod", reset_less=True)
        cin = None if cin_next is None else Signal(name="prod_cin", reset_less=True)
        with m.If(step):
            m.d.sync += [
                self.a_out.eq(self.a_in),
                self.b_out.eq(self.b_in),
                self.last_out.eq(self.last_in),
                p.eq(p_next),
            ]
            if cin is not None:
                m.d.sync += cin.eq(cin_next)
        # Stage 2 (accumulate). The accumulator has no reset of its own: its synchronous reset
        # input carries both the domain reset and the tile clear (the last beat's product
        # being added), so the clear costs no LUT per bit.
        acc = Signal(signed(self._acc_bits), reset_less=True)
        total = self._accumulate(m, acc, p, cin)
        self.in_flight_products = [p if cin is None else p + cin]
        step2 = Signal()
        clear = Signal()
        m.d.comb += [
            step2.eq(self.en & self.valid_out),
            clear.eq(ResetSignal() | (step2 & self.last_out)),
            self.acc.eq(acc),
        ]
        with m.If(clear):
            # result's own reset has priority, so under rst it still reads 0; otherwise
            # clear == step2 & last_out: one enable signal for both registers
            m.d.sync += [self.result.eq(total), acc.eq(0)]
        with m.Elif(step2):
            m.d.sync += acc.eq(total)
        return m
