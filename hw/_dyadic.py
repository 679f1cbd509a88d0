"""Lane-wise dyadic scaling shared by :class:`~ivita.hw.requant.Requantizer` and
:class:`~ivita.hw.dequant.DequantFirstConverter` (private to ``ivita.hw``).

``saturate(round_shift(x * b, c), out_bits)`` (docs/numerics.md §0, §2) in six registered stages
of a global-stall pipeline (:data:`DYADIC_LATENCY`; each stage is short enough for the 250 MHz
timing estimate, docs/fpga.md). An ``x`` that fits a DSP48E1's A port (25 bits):

1. ``p = x * b`` (signed ``x``, unsigned ``b``: ``x_bits + mult_bits`` signed bits hold every
   product; the DSP48E1's M register), and the lane's ``c`` captured with it (so a later table
   write cannot reach a vector already accepted);
2. ``p`` and ``c`` again (the DSP48E1's P register: the shifter below starts from a
   flip-flop, not from the multiplier);
3. ``(2 * p) >> (16 * (c // 16))``;
4. ``u = that >> (4 * (c // 4 % 4))`` = ``(2 * p) >> (c - c % 4)``;

a wider ``x`` (the block's 33- and 41-bit inputs) in two DSPs, the low 24 bits and the rest:

1. both partial products (M registers), 2. again (P registers), 3. their sum ``p``
   (an adder that starts at flip-flops), 4. ``u = (2 * p) >> (c - c % 4)``;

then, for both:

5. with ``t = u >> (c % 4)`` = ``(2 * p) >> c``, i.e. ``floor(p / 2^(c-1))`` (for ``c = 0``:
   ``2p``): the low ``out_bits`` of ``(t + 1) >> 1`` (from ``t``'s low ``out_bits + 1``) and
   the parts of the tests ``t >= 2^out_bits - 1`` (above the range) and
   ``t < -2^out_bits - 1`` (below it), bit tests without a comparator;
6. ``q`` = that value, the top or the bottom code (one LUT per bit), into the output
   register: the head of an output skid buffer (:func:`~ivita.hw._skid.output_skid`) whose
   enable is a flip-flop.

``(floor(p / 2^(c-1)) + 1) >> 1 = floor((p + 2^(c-1)) / 2^c)`` for ``c >= 1`` and ``p`` for
``c = 0``, so stage 5 is exactly ``round_shift(p, c)`` (round half up) without a ``2^(c-1)``
constant generator. Shifts past the product width give ``t`` in ``{-1, 0}`` and ``q = 0``,
as in the model.

Each stage's data registers load only when the stage before holds a valid element, so bubbles
do not toggle the datapath (this matters for the activity-based power model); they have no
reset (the valid bits say when they hold a value). The skid's spare entry copies the
element leaving stage 5 in every cycle it is free (``output_skid``), so its enable does not
wait for ``o_stream.ready``.
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth import Cat, Const, Module, Signal, signed, unsigned
from amaranth.hdl import Value
from amaranth.lib.data import View

from ._skid import output_skid

__all__ = ["DYADIC_LATENCY", "dyadic_table", "dyadic_lane", "stall_pipeline"]

DYADIC_LATENCY = 6


def dyadic_table(m: Module, *, lanes: int, mult_bits: int, shift_bits: int, max_shift: int,
                 we: Value, lane: Value, b: Value, c: Value, error: Value,
                 name: str = "table") -> tuple[list[Signal], list[Signal]]:
    """Per-lane ``(b, c)`` registers with a one-entry-per-cycle write port.

    A write with ``c > max_shift`` or ``lane >= lanes`` is dropped and sets ``error`` (sticky).
    Entries reset to ``b = 0, c = 0`` (every output 0 until written).
    """
    bs = [Signal(unsigned(mult_bits), name=f"{name}_b{i}") for i in range(lanes)]
    cs = [Signal(unsigned(shift_bits), name=f"{name}_c{i}") for i in range(lanes)]
    with m.If(we):
        with m.If((c > max_shift) | (lane >= lanes)):
            m.d.sync += error.eq(1)
        with m.Else():
            with m.Switch(lane):
                for i in range(lanes):
                    with m.Case(i):
                        m.d.sync += [bs[i].eq(b), cs[i].eq(c)]
    return bs, cs


def dyadic_lane(m: Module, *, loads: Sequence[Value], x: Value, x_bits: int, b: Value,
                mult_bits: int, c: Value, shift_bits: int, out: Signal, out_bits: int,
                name: str) -> None:
    """Add the five registered stages for one lane; ``loads[i]`` enables the registers of stage
    ``i+1``. ``out`` (signed ``out_bits``, combinational) is the saturated result that the
    output register (:func:`stall_pipeline`'s skid) loads: stage 6. The data registers have no
    reset: the valid bits of :func:`stall_pipeline` say when they hold a value.
    """
    prod_bits = x_bits + mult_bits
    if x_bits > 25 and mult_bits <= 17:      # x wider than the DSP48E1's A port
        prod, shift = _split_product(m, loads[:3], x=x, x_bits=x_bits, b=b,
                                     mult_bits=mult_bits, c=c, shift_bits=shift_bits, name=name)
        steps = [2]                          # by 4 * c[2:] in stage 4
    else:
        prod, shift = _product(m, loads[:2], x=x, b=b, prod_bits=prod_bits, c=c,
                               shift_bits=shift_bits, name=name)
        steps = [4, 2]                       # by 16 * c[4:] (stage 3), by 4 * c[2:4] (stage 4)
    # (2 * p) >> (c - c % 4) in one or two steps (a mux of 16, or two of 4, inputs per bit).
    # 2p's low bit (0) only reaches t when c = 0: it is taken as c's bit 0 (0 then), so that
    # synthesis does not turn the constant into a synchronous reset of the register below
    value: Value = Cat(shift[0], prod).as_signed()
    for i, lo in enumerate(steps):
        v = Signal(signed(prod_bits + 1), name=f"{name}_coarse{i}", reset_less=True)
        rest = Signal(lo, name=f"{name}_rest{i}", reset_less=True)
        with m.If(loads[4 - len(steps) + i]):
            m.d.sync += [v.eq(value >> Cat(Const(0, lo), shift[lo:])),
                         rest.eq(shift[:lo])]
        value, shift = v, rest
    _round_saturate(m, loads[4], value, shift, out=out, out_bits=out_bits, name=name)


def _product(m: Module, loads: Sequence[Value], *, x: Value, b: Value, prod_bits: int,
             c: Value | None, shift_bits: int, name: str) -> tuple[Signal, Signal | None]:
    """``x * b`` through a DSP48E1's M register (``loads[0]``) and P register (``loads[1]``),
    with ``c`` alongside (none when ``c`` is None). Returns the P register and the shift."""
    prod = Signal(signed(prod_bits), name=f"{name}_prod", reset_less=True)       # M register
    prod_p = Signal(signed(prod_bits), name=f"{name}_prod_p", reset_less=True)   # P register
    with m.If(loads[0]):
        m.d.sync += prod.eq(x * b)
    with m.If(loads[1]):
        m.d.sync += prod_p.eq(prod)
    if c is None:
        return prod_p, None
    shift = _delayed(m, loads, c, shift_bits, f"{name}_shift")
    return prod_p, shift


def _split_product(m: Module, loads: Sequence[Value], *, x: Value, x_bits: int, b: Value,
                   mult_bits: int, c: Value, shift_bits: int, name: str) -> tuple[Signal, Signal]:
    """``x`` wider than a DSP48E1's A port: two products of one DSP each (the low 24 bits of
    ``x`` unsigned, the rest signed), each through its DSP's M and P registers
    (``loads[0..1]``), summed in a third stage (``loads[2]``) whose adder starts at the P
    registers (not behind the multipliers, and no DSP cascade PCOUT -> PCIN)."""
    lo_bits = 24
    p_lo, _ = _product(m, loads, x=x[:lo_bits], b=b, prod_bits=lo_bits + mult_bits + 1,
                       c=None, shift_bits=shift_bits, name=f"{name}_lo")
    p_hi, _ = _product(m, loads, x=x[lo_bits:].as_signed(), b=b,
                       prod_bits=x_bits - lo_bits + mult_bits, c=None, shift_bits=shift_bits,
                       name=f"{name}_hi")
    prod = Signal(signed(x_bits + mult_bits), name=f"{name}_prod_s", reset_less=True)
    with m.If(loads[2]):
        m.d.sync += prod.eq((p_hi << lo_bits) + p_lo)
    return prod, _delayed(m, loads[:3], c, shift_bits, f"{name}_shift")


def _delayed(m: Module, loads: Sequence[Value], v: Value, bits: int, name: str) -> Signal:
    """``v`` through one register per entry of ``loads`` (each loading on its enable)."""
    for i, load in enumerate(loads):
        reg = Signal(unsigned(bits), name=f"{name}_{i + 1}", reset_less=True)
        with m.If(load):
            m.d.sync += reg.eq(v)
        v = reg
    return v


def _any(bits: list[Value]) -> Value:
    return Cat(*bits).any() if bits else Const(0, 1)


def _all(bits: list[Value]) -> Value:
    return Cat(*bits).all() if bits else Const(1, 1)


def _round_saturate(m: Module, load: Value, u: Value, fine: Value, *, out: Signal,
                    out_bits: int, name: str) -> None:
    """Stage 5 (``load``): with ``t = u >> fine`` (``fine`` < 4), the low ``out_bits`` of
    ``(t + 1) >> 1`` and the parts of the tests whether that is above or below the signed
    ``out_bits`` range; ``out`` (stage 6's input) picks it, the top or the bottom code.

    ``(t + 1) >> 1 > hi`` iff ``t >= 2^n - 1`` and ``< lo`` iff ``t < -2^n - 1`` (``n =
    out_bits``): bit tests on ``t``, no comparator carry chain. Each test is registered in two
    parts, ``u``'s bits from ``n + 3`` up (independent of ``fine``) and the rest, and the
    parts are combined in the one LUT per output bit that picks the code. Only the low
    ``n + 1`` bits of ``t`` are incremented.
    """
    n, w = out_bits, len(u)
    low = [{min(i + f, w - 1) for i in range(n)} for f in range(4)]    # t[:n] in u, per f
    mid = set.intersection(*low)
    mid_all = _all([u[j] for j in sorted(mid)])
    over_f, under_f = [], []
    for f in range(4):                     # the low part of each test for t = u >> f
        low_all = mid_all & _all([u[j] for j in sorted(low[f] - mid)])     # t[:n] all ones
        over_f.append(_any([u[j] for j in range(n + f, min(n + 3, w - 1))]) | low_all)
        under_f.append(_all([u[j] for j in range(n + 1 + f, min(n + 4, w))])
                       & (u[min(n + f, w - 1)] | low_all))
    t_low = Signal(n + 1, name=f"{name}_low")                # t's low n + 1 bits
    m.d.comb += t_low.eq(Cat(*[u[min(i, w - 1)] for i in range(n + 4)]) >> fine)
    regs = {part: Signal(name=f"{name}_{part}", reset_less=True)
            for part in ("sign", "top_any", "low_over", "top_all", "low_under")}
    rounded = Signal(signed(n), name=f"{name}_round", reset_less=True)
    with m.If(load):
        m.d.sync += [rounded.eq((t_low + 1)[1:n + 1]),
                     regs["sign"].eq(u[w - 1]),
                     regs["top_any"].eq(_any([u[j] for j in range(n + 3, w - 1)])),
                     regs["low_over"].eq(Cat(*over_f).bit_select(fine, 1)),
                     regs["top_all"].eq(_all([u[j] for j in range(n + 4, w)])),
                     regs["low_under"].eq(Cat(*under_f).bit_select(fine, 1))]
    over = ~regs["sign"] & (regs["top_any"] | regs["low_over"])
    under = regs["sign"] & ~(regs["top_all"] & regs["low_under"])
    lo, hi = -(1 << (n - 1)), (1 << (n - 1)) - 1
    with m.If(over):
        m.d.comb += out.eq(hi)
    with m.Elif(under):
        m.d.comb += out.eq(lo)
    with m.Else():
        m.d.comb += out.eq(rounded)


def stall_pipeline(m: Module, i_s: object, o_s: object) -> tuple[list[Value], View]:
    """Valid/``last`` bookkeeping of the global-stall pipeline, ending in an output skid.

    The five stages before the output register advance together on ``en``, a flip-flop
    (:func:`~ivita.hw._skid.output_skid`: high while its spare entry is free), and
    ``i_s.ready = en``: no combinational path from ``o_s.ready``. ``last`` travels with the
    valid bits. Returns the load enables of stages 1..5 and ``nxt``, a signal of
    ``o_s.payload``'s layout that the caller drives combinationally from stage 5 with the next
    output (``nxt.last`` is driven here).
    """
    stages = DYADIC_LATENCY - 1
    nxt = Signal(o_s.payload.shape(), name="pipe_next")
    valid = [Signal(name=f"stage{s}_valid") for s in range(1, stages + 1)]
    last = [Signal(name=f"stage{s}_last") for s in range(1, stages + 1)]
    en, _ = output_skid(m, o_s, nxt, valid[-1], name="pipe_skid")
    m.d.comb += i_s.ready.eq(en)
    loads = [Signal(name="pipe_accept")] + [Signal(name=f"stage{s}_load")
                                             for s in range(1, stages)]
    m.d.comb += loads[0].eq(i_s.valid & en)
    for s in range(1, stages):
        m.d.comb += loads[s].eq(en & valid[s - 1])
    with m.If(en):
        m.d.sync += valid[0].eq(loads[0])
        m.d.sync += [valid[s].eq(valid[s - 1]) for s in range(1, stages)]
    with m.If(loads[0]):
        m.d.sync += last[0].eq(i_s.payload.last)
    for s in range(1, stages):
        with m.If(loads[s]):
            m.d.sync += last[s].eq(last[s - 1])
    m.d.comb += nxt.last.eq(last[-1])
    return loads, nxt
