"""Small arithmetic and handshake helpers of the attention block (private to ``ivita.hw``)."""

from __future__ import annotations

from collections.abc import Callable

from amaranth import Const, Elaboratable, Module, Mux, Signal, signed
from amaranth.hdl import Value

__all__ = ["clamp_to", "pinned", "saturation_flags", "wrap_counter"]


def clamp_to(m: Module, value: Value, hi: Value, lo: Value, width: int, name: str) -> Signal:
    """``value`` clamped to ``lo .. hi`` (combinational; bounds usually registered, e.g. from
    a runtime ``sat_bits``); returns a ``signed(width)`` signal."""
    out = Signal(signed(width), name=name)
    m.d.comb += out.eq(Mux(value > hi, hi, Mux(value < lo, lo, value)))
    return out


class _Pinned(Elaboratable):
    """``out = fn(*ins)`` alone in a module (see :func:`pinned`)."""

    def __init__(self, fn: Callable[..., Value], inputs: list[Value], name: str) -> None:
        self._fn = fn
        self.ins = [Signal(Value.cast(v).shape(), name=f"{name}_in{n}")
                    for n, v in enumerate(inputs)]
        self.out = Signal(Value.cast(fn(*self.ins)).shape(), name=name)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.out.eq(self._fn(*self.ins))
        return m


def pinned(m: Module, name: str, fn: Callable[..., Value], *inputs: Value) -> Signal:
    """``fn(*inputs)`` computed in a submodule ``name`` of ``m`` of its own: Yosys maps the
    LUTs of each module separately, so a function of at most six input bits is one LUT
    there, whatever else ``m`` holds (the mapper would otherwise share a term with other
    logic and put a second LUT level on a late input such as a ``ready``)."""
    sub = _Pinned(fn, list(inputs), name)
    m.submodules[name] = sub
    m.d.comb += [i.eq(v) for i, v in zip(sub.ins, inputs)]
    return sub.out


def saturation_flags(value: Value, hi: Value, lo: Value, width: int) -> tuple[Value, Value]:
    """``(value > hi, value < lo)`` for the bounds of a saturation to ``s`` bits, ``hi =
    2^(s-1) - 1`` and ``lo = -2^(s-1)`` with ``1 <= s <= width + 1`` (as bit patterns of at
    least ``width`` bits, usually registered), ``value`` a ``signed(width)``: ORs of masked
    bits (``value > hi``: not negative and a bit set where ``hi`` has a 0; ``value < lo``:
    negative and a bit clear where ``lo`` has a 1), no carry chain. The clamped value is then
    ``Mux(gt, hi, Mux(lt, lo, value))`` (one LUT level, e.g. a stage later)."""
    v = Value.cast(value)
    sign, low = v[width - 1], v[:width - 1]
    return ~sign & (low & ~hi[:width - 1]).any(), sign & (~low & lo[:width - 1]).any()


def wrap_counter(m: Module, n: Value | int, load: Value, step: Value, *, width: int,
                 name: str) -> tuple[Signal, Signal]:
    """A counter ``0 .. n-1`` that wraps to 0 after ``n - 1``, and its ``last`` flag (``cnt ==
    n - 1``) as a *register*: no compare sits between the counter and the logic it steers.

    ``load`` sets the count to 0 (to 1 mod ``n`` with a ``step`` in the same cycle) and
    reads ``n`` (>= 1) in that cycle; ``step`` counts one. ``n`` must then hold until the next
    ``load`` (it is also registered as
    ``n - 2``, used from the cycle after ``load``). Both registers are reset-less: they are
    defined by the first ``load``. Returns ``(cnt, last)``."""
    cnt = Signal(width, name=f"{name}_cnt", reset_less=True)
    last = Signal(name=f"{name}_last", reset_less=True)
    if isinstance(n, int):
        pen, one = Const((n - 2) % (1 << width), width), Const(n == 1, 1)
        n_one: Value = one
    else:
        pen = Signal(width, name=f"{name}_pen", reset_less=True)       # n - 2
        one = Signal(name=f"{name}_one", reset_less=True)              # n == 1
        n_one = n == 1
        m.d.sync += [pen.eq(n - 2), one.eq(n_one)]
    with m.If(load & step):                   # the step of the load cycle counts
        m.d.sync += [cnt.eq(Mux(n_one, 0, 1)), last.eq(n_one | (n == 2))]
    with m.Elif(load):
        m.d.sync += [cnt.eq(0), last.eq(n_one)]
    with m.Elif(step):
        with m.If(last):
            m.d.sync += [cnt.eq(0), last.eq(one)]
        with m.Else():
            m.d.sync += [cnt.eq(cnt + 1), last.eq(cnt == pen)]
    return cnt, last
