"""Lane-wise dyadic scaling shared by :class:`~ivita.hw.requant.Requantizer` and
:class:`~ivita.hw.dequant.DequantFirstConverter` (private to ``ivita.hw``).

``saturate(round_shift(x * b, c), out_bits)`` (NUMERICS.md §0, §2) in three registered stages
of a global-stall pipeline:

1. ``p = x * b`` (signed ``x``, unsigned ``b``: ``x_bits + mult_bits`` signed bits hold every
   product), and the lane's ``c`` captured with it (so a later table write cannot reach a
   vector already accepted);
2. ``t = (2 * p) >> c``, i.e. ``floor(p / 2^(c-1))`` (for ``c = 0``: ``2p``);
3. ``q = saturate((t + 1) >> 1, out_bits)``.

``(floor(p / 2^(c-1)) + 1) >> 1 = floor((p + 2^(c-1)) / 2^c)`` for ``c >= 1`` and ``p`` for
``c = 0``, so stage 3 is exactly ``round_shift(p, c)`` (round half up) without a ``2^(c-1)``
constant generator. Shifts past the product width give ``t`` in ``{-1, 0}`` and ``q = 0``,
as in the model.

Each stage's data registers load only when the stage before holds a valid element, so bubbles
do not toggle the datapath (this matters for the activity-based power model).
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth import Cat, Const, Module, Signal, signed, unsigned
from amaranth.hdl import Value

__all__ = ["DYADIC_LATENCY", "dyadic_table", "dyadic_lane", "stall_pipeline"]

DYADIC_LATENCY = 3


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
    """Add the three stages for one lane; ``loads[i]`` enables the registers of stage ``i+1``.

    ``out`` (signed ``out_bits``) is the stage-3 register, driven here.
    """
    prod_bits = x_bits + mult_bits
    prod = Signal(signed(prod_bits), name=f"{name}_prod")
    shift = Signal(unsigned(shift_bits), name=f"{name}_shift")
    floor_half = Signal(signed(prod_bits + 1), name=f"{name}_half")   # floor(p / 2^(c-1))
    lo, hi = -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1
    with m.If(loads[0]):
        m.d.sync += [prod.eq(x * b), shift.eq(c)]
    with m.If(loads[1]):
        m.d.sync += floor_half.eq(Cat(Const(0, 1), prod).as_signed() >> shift)
    rounded = Signal(signed(prod_bits + 1), name=f"{name}_round")
    m.d.comb += rounded.eq((floor_half + 1) >> 1)
    with m.If(loads[2]):
        with m.If(rounded > hi):
            m.d.sync += out.eq(hi)
        with m.Elif(rounded < lo):
            m.d.sync += out.eq(lo)
        with m.Else():
            m.d.sync += out.eq(rounded)


def stall_pipeline(m: Module, i_s: object, o_s: object) -> tuple[Value, Value, Value]:
    """Valid/``last`` bookkeeping of the three-stage global-stall pipeline.

    ``en = ~o_s.valid | o_s.ready`` advances every stage; ``i_s.ready = en``. ``last`` travels
    with the valid bits to ``o_s.payload.last``. Returns the load enables of stages 1, 2, 3.
    """
    en = Signal(name="pipe_en")
    m.d.comb += [en.eq(~o_s.valid | o_s.ready), i_s.ready.eq(en)]
    accept = Signal(name="pipe_accept")
    m.d.comb += accept.eq(i_s.valid & en)
    v1, v2 = Signal(name="stage1_valid"), Signal(name="stage2_valid")
    l1, l2 = Signal(name="stage1_last"), Signal(name="stage2_last")
    with m.If(en):
        m.d.sync += [v1.eq(accept), v2.eq(v1), o_s.valid.eq(v2)]
    with m.If(accept):
        m.d.sync += l1.eq(i_s.payload.last)
    with m.If(en & v1):
        m.d.sync += l2.eq(l1)
    with m.If(en & v2):
        m.d.sync += o_s.payload.last.eq(l2)
    return accept, en & v1, en & v2
