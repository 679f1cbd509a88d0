"""Lane-wise dyadic scaling shared by :class:`~ivita.hw.requant.Requantizer` and
:class:`~ivita.hw.dequant.DequantFirstConverter` (private to ``ivita.hw``).

``saturate(round_shift(x * b, c), out_bits)`` (docs/numerics.md §0, §2) in six registered stages
of a global-stall pipeline (:data:`DYADIC_LATENCY`; each stage is short enough for the 250 MHz
timing estimate, docs/fpga.md):

1. ``p = x * b`` (signed ``x``, unsigned ``b``: ``x_bits + mult_bits`` signed bits hold every
   product; the DSP48E1's M register), and the lane's ``c`` captured with it (so a later table
   write cannot reach a vector already accepted);
2. ``p`` and ``c`` again (the DSP48E1's P register: the shifter below starts from a
   flip-flop, not from the multiplier);
3. ``(2 * p) >> (c - c % 4)`` (the coarse half of the shifter);
4. ``t = that >> (c % 4)`` = ``(2 * p) >> c``, i.e. ``floor(p / 2^(c-1))`` (for ``c = 0``:
   ``2p``);
5. ``u = (t + 1) >> 1``;
6. ``q = saturate(u, out_bits)``, the output register: the head of an output skid buffer
   (:func:`~ivita.hw._skid.output_skid`) whose enable is a flip-flop.

``(floor(p / 2^(c-1)) + 1) >> 1 = floor((p + 2^(c-1)) / 2^c)`` for ``c >= 1`` and ``p`` for
``c = 0``, so stage 5 is exactly ``round_shift(p, c)`` (round half up) without a ``2^(c-1)``
constant generator. Shifts past the product width give ``t`` in ``{-1, 0}`` and ``q = 0``,
as in the model.

Each stage's data registers load only when the stage before holds a valid element, so bubbles
do not toggle the datapath (this matters for the activity-based power model).
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
    output register (:func:`stall_pipeline`'s skid) loads: stage 6.
    """
    prod_bits = x_bits + mult_bits
    prod = Signal(signed(prod_bits), name=f"{name}_prod")         # DSP48E1 M register
    prod_p = Signal(signed(prod_bits), name=f"{name}_prod_p")     # DSP48E1 P register
    shift = Signal(unsigned(shift_bits), name=f"{name}_shift")
    shift_p = Signal(unsigned(shift_bits), name=f"{name}_shift_p")
    floor_half = Signal(signed(prod_bits + 1), name=f"{name}_half")   # floor(p / 2^(c-1))
    rounded = Signal(signed(prod_bits + 1), name=f"{name}_round")
    lo, hi = -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1
    if x_bits > 25 and mult_bits <= 17:
        # x wider than a DSP48E1's A port: two products of one DSP each (the low 24 bits of
        # x unsigned, the rest signed), both registered (M), summed in the P stage, so no
        # DSP cascade (PCOUT -> PCIN) runs unregistered from the input register
        lo_bits = 24
        p_lo = Signal(signed(lo_bits + mult_bits + 1), name=f"{name}_prod_lo")
        p_hi = Signal(signed(prod_bits - lo_bits), name=f"{name}_prod_hi")
        with m.If(loads[0]):
            m.d.sync += [p_lo.eq(x[:lo_bits] * b), p_hi.eq(x[lo_bits:].as_signed() * b),
                         shift.eq(c)]
        with m.If(loads[1]):
            m.d.sync += [prod_p.eq((p_hi << lo_bits) + p_lo), shift_p.eq(shift)]
    else:
        with m.If(loads[0]):
            m.d.sync += [prod.eq(x * b), shift.eq(c)]
        with m.If(loads[1]):
            m.d.sync += [prod_p.eq(prod), shift_p.eq(shift)]
    # the shift in two stages: by the multiple of 4 in c, then by the rest (each a short mux)
    coarse = Signal(signed(prod_bits + 1), name=f"{name}_coarse")
    fine = Signal(2, name=f"{name}_fine")
    with m.If(loads[2]):
        m.d.sync += [coarse.eq(Cat(Const(0, 1), prod_p).as_signed()
                               >> Cat(Const(0, 2), shift_p[2:])),
                     fine.eq(shift_p[:2])]
    with m.If(loads[3]):
        m.d.sync += floor_half.eq(coarse >> fine)
    with m.If(loads[4]):
        m.d.sync += rounded.eq((floor_half + 1) >> 1)
    with m.If(rounded > hi):
        m.d.comb += out.eq(hi)
    with m.Elif(rounded < lo):
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
