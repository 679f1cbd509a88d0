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
      ``last_out <= last_in`` and ``prod <= a_in * b_in`` (the product as one or two
      registered partial sums, see ``multiplier``; these registers hold their value on
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
        ``digit_j * a * 4^j`` in LUTs, summed as a binary tree of carry chains, a
        partial-product bit and the add sharing one LUT where they can and each upper
        operand's two's-complement ``+1`` entering its chain as a carry in. With three or four
        rows (5-8-bit ``b``) stage 1 is the tree's first level only (rows 0 + 1, rows 2 + 3:
        one carry-chain level, for the 250 MHz estimate at 8 bits) and registers the two sums
        (``prod``, ``prod_hi``); stage 2 adds both to ``acc`` in one carry chain through a 3:2
        compressor in its LUTs (:meth:`_accumulate`). Otherwise (2-4-bit and 9-16-bit ``b``) stage 1
        is the whole tree and registers one sum (``prod``). The lower rows' ``+1`` are
        registered as single bits and enter stage 2's chain. On xc7 this is LUT fabric only
        (no DSP48E1) and the smallest PE we measured (docs/synthesis.md).
        ``"infer"``: the ``*`` operator; Yosys maps it to a DSP48E1 from 5-bit operands on
        (unless ``-nodsp``). Both are bit-identical; the choice is only about area and timing.

    After :meth:`elaborate`, ``in_flight_products`` lists, per pipeline register stage in
    order, the value ``a * b`` of the beat that stage holds, as an expression of its registers
    (today one stage: ``prod`` for ``"infer"``; for ``"booth"`` ``prod + prod_cin``, and at 5-8
    bits of ``b`` also ``+ 4^j (prod_hi + prod_hi_cin)`` of the second node). It is not
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

    def _booth_rows(self, m: Module) -> list[tuple[int, Signal, Value]]:
        """The radix-4 Booth rows of ``a_in * b_in`` as ``(j, pp_j, neg_j)``: row ``j`` (at bit
        ``2j``) is ``pp_j + neg_j`` with ``pp_j = |d_j| a XOR neg_j`` (signed ``a_bits + 1``
        bits, in LUTs) and ``d_j = -2 b[2j+1] + b[2j] + b[2j-1]`` (``b[-1] = 0``, ``b``
        sign-extended to an even width), ``neg_j = b[2j+1]``."""
        a, b = self.a_in, self.b_in
        bx = Cat(Const(0, 1), b.as_unsigned(), b[-1])
        rows: list[tuple[int, Signal, Value]] = []
        for j in range((self._b_bits + 1) // 2):
            b_m1, b_0, b_1 = bx[2 * j], bx[2 * j + 1], bx[2 * j + 2]
            one = b_0 ^ b_m1
            two = (b_1 & ~b_0 & ~b_m1) | (~b_1 & b_0 & b_m1)
            mag = Signal(signed(self._a_bits + 1), name=f"booth_mag{j}")
            m.d.comb += mag.eq(Mux(two, a << 1, Mux(one, a, 0)))
            pp = Signal(signed(self._a_bits + 1), name=f"booth_pp{j}")
            m.d.comb += pp.eq(mag ^ b_1.replicate(self._a_bits + 1).as_signed())
            rows.append((j, pp, b_1))
        return rows

    def _node_bits(self, i: int, j: int) -> int:
        """Signed width that holds the sum of rows ``i..j`` relative to bit ``2i`` exactly,
        without row ``i``'s ``+neg``: ``pp_i`` is in ``[-2^A, 2^A - 1]`` (``A = a_bits``), an
        upper row ``pp_r + neg_r = d_r a`` in ``[-M_r, M_r]`` with ``M_r = 2^A`` (``|d_r| <=
        1`` and so ``M_r = 2^(A-1)`` in the top row of an odd ``b_bits``, whose ``b[2r+1]`` is
        the sign-extended ``b[2r]``)."""
        top = (self._b_bits + 1) // 2 - 1
        mag = [(1 << (self._a_bits - 1)) if (r == top and self._b_bits % 2) else
               (1 << self._a_bits) for r in range(j + 1)]
        upper = sum(4 ** (r - i) * mag[r] for r in range(i + 1, j + 1))
        low, high = -(1 << self._a_bits) - upper, (1 << self._a_bits) - 1 + upper
        return max((-low - 1).bit_length(), high.bit_length()) + 1

    def _booth_product(self, m: Module) -> list[tuple[int, Signal, Value]]:
        """Stage 1: the Booth rows (:meth:`_booth_rows`) summed as a binary tree of carry chains
        down to the nodes that stage 2 adds, ``[(j, value, neg)]`` with ``sum(4^j (value +
        neg)) == a_in * b_in``: two nodes when the tree has two or more levels (5-8 bits: one
        level here; the last level is stage 2's three-operand add, :meth:`_accumulate`), else
        one (2-4 bits). A node is ``(lowest row, highest row, value, neg)`` with ``value +
        neg`` its rows' sum relative to its lowest row, ``value`` exactly as wide as that needs
        (:meth:`_node_bits`, so stage 2 may sign-extend it); merging two nodes adds the upper
        one's value at its offset in one chain, its ``+neg`` entering as the carry out of an
        extra low bit (bits below the offset pass through)."""
        nodes = [(j, j, pp, neg) for j, pp, neg in self._booth_rows(m)]
        keep = 2 if len(nodes) in (3, 4) else 1      # a two-level tree leaves its root to stage 2
        while len(nodes) > keep:
            merged = []
            for k in range(0, len(nodes) - 1, 2):
                (i, _, lo, lo_neg), (j, top, hi, hi_neg) = nodes[k], nodes[k + 1]
                off, bits = 2 * (j - i), self._node_bits(i, top)
                lo_x = Signal(signed(bits), name=f"booth_lo{i}_{top}")
                hi_x = Signal(signed(bits - off), name=f"booth_hi{i}_{top}")
                # a two-operand add keeps `lo` as the carry chain's DI operand
                wide = Signal(bits - off + 1, name=f"booth_row{i}_{top}")
                node = Signal(signed(bits), name=f"booth_sum{i}_{top}")
                m.d.comb += [lo_x.eq(lo), hi_x.eq(hi),
                             wide.eq(Cat(Const(1, 1), lo_x[off:]) +
                                     Cat(hi_neg, hi_x.as_unsigned())),
                             node.eq(Cat(lo_x[:off], wide[1:]))]
                merged.append((i, top, node, lo_neg))
            nodes = merged + nodes[len(nodes) - len(nodes) % 2:]
        return [(j, value, neg) for j, _, value, neg in nodes]

    def _product(self, m: Module, form: str) -> list[tuple[int, Signal, Value | None]]:
        """Stage 1 of either multiplier ``form``: nodes ``(j, value, neg)`` with ``sum(4^j
        (value + neg)) == a_in * b_in`` (``"infer"``: one node ``(0, a_in * b_in, None)``)."""
        if form == "booth":
            return self._booth_product(m)
        product = Signal(signed(self._a_bits + self._b_bits))
        m.d.comb += product.eq(self.a_in * self.b_in)
        return [(0, product, None)]

    def _accumulate(self, m: Module, acc: Signal,
                    nodes: list[tuple[int, Signal, Signal | None]]) -> Signal:
        """Stage 2: ``acc + sum(4^j (value + neg))`` over the registered nodes (mod
        ``2^acc_bits``, i.e. it wraps past ``k_max``), one carry chain. One node: ``acc +
        value``, its ``neg`` entering as the carry out of an extra low bit ``(1 + neg)``. Two
        nodes ``(0, x, neg_0)``, ``(j, y, neg_j)`` (offset ``o = 2j``): a 3:2 compressor in the
        chain's LUTs, ``u + v + neg_0`` with ``u_i = acc_i ^ x_i ^ y_(i-o)`` and ``v_(i+1) =
        maj(acc_i, x_i, y_(i-o))`` from bit ``o`` on, ``u_i = acc_i``, ``v_i = x_i`` below it
        and ``v_o = neg_j`` (the slot no carry of the compressor takes)."""
        n = self._acc_bits
        total = Signal(signed(n))
        if nodes[0][2] is None:
            m.d.comb += total.eq(acc + nodes[0][1])
            return total
        x = Signal(signed(n), name="prod_ext")
        m.d.comb += x.eq(nodes[0][1])
        cin = nodes[0][2]
        if len(nodes) == 1:
            u, v = acc.as_unsigned(), x.as_unsigned()
        else:
            j, y_node, neg_j = nodes[1]
            off = 2 * j
            y = Signal(signed(n - off), name="prod_hi_ext")
            u = Signal(n, name="acc_u")
            v = Signal(n, name="acc_v")
            m.d.comb += y.eq(y_node)
            ubits = [acc[i] for i in range(off)]
            vbits = [x[i] for i in range(off)] + [neg_j]
            for i in range(off, n):
                p, q, r = acc[i], x[i], y[i - off]
                ubits.append(p ^ q ^ r)
                if i + 1 < n:
                    vbits.append((p & q) | (p & r) | (q & r))
            m.d.comb += [u.eq(Cat(*ubits)), v.eq(Cat(*vbits))]
        wide = Signal(n + 1, name="acc_row")
        m.d.comb += [wide.eq(Cat(Const(1, 1), u) + Cat(cin, v)), total.eq(wide[1:])]
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
        nodes = []
        for k, (j, value, neg) in enumerate(self._product(m, form)):
            suffix = "" if k == 0 else "_hi"
            reg = Signal.like(value, name=f"prod{suffix}", reset_less=True)
            reg_neg = None if neg is None else Signal(name=f"prod{suffix}_cin", reset_less=True)
            with m.If(step):
                m.d.sync += reg.eq(value)
                if reg_neg is not None:
                    m.d.sync += reg_neg.eq(neg)
            nodes.append((j, reg, reg_neg))
        with m.If(step):
            m.d.sync += [
                self.a_out.eq(self.a_in),
                self.b_out.eq(self.b_in),
                self.last_out.eq(self.last_in),
            ]
        # Stage 2 (accumulate). The accumulator has no reset of its own: its synchronous reset
        # input carries both the domain reset and the tile clear (the last beat's product
        # being added), so the clear costs no LUT per bit.
        acc = Signal(signed(self._acc_bits), reset_less=True)
        total = self._accumulate(m, acc, nodes)
        self.in_flight_products = [sum((reg if neg is None else reg + neg) << (2 * j)
                                       for j, reg, neg in nodes)]
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
