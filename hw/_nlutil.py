"""Small building blocks shared by the nonlinear units (private to ``ivita.hw``).

- :class:`StallPipe`: bookkeeping for a *global-stall* pipeline ending in an output skid buffer:
  every stage advances together on one flip-flop enable, ``i_ready`` is that flip-flop (never
  combinational in ``i_valid`` or the downstream ``ready``), so the stream rules of
  :mod:`amaranth.lib.stream` hold and chained units have no combinational ready chain. Data
  registers load only when the stage before them holds a
  valid element (no toggling on bubbles: this matters for the activity-based power model).
- :func:`quiet_on_error`, :func:`check_shape`, :func:`check_config`: argument checks of the
  component constructors (``check_int``/``check_bool`` are :mod:`ivita.model.checks`).
- :func:`const_mul`: a constant multiple as shifts and adds.
"""

from __future__ import annotations

import functools
from typing import Any

from amaranth import Module, Signal, signed, unsigned
from amaranth.hdl import ShapeLike, Value

__all__ = ["StallPipe", "quiet_on_error", "check_shape", "check_config", "const_mul"]


def quiet_on_error(init):
    """Decorate a component's ``__init__``: when validation raises, the half-built object is
    marked so that Amaranth's "created but never used" warning does not fire when it is
    garbage collected (the exception is the report)."""
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except BaseException:
            self._MustUse__silence = True
            raise
    return wrapper


def check_shape(v: Any, name: str) -> ShapeLike:
    """A shape-like object (an int width, ``unsigned(..)``, a layout, ...)."""
    try:
        from amaranth.hdl import Shape
        Shape.cast(v)
    except TypeError as exc:
        raise TypeError(f"{name} must be a shape-like object, not {v!r}") from exc
    return v


def check_config(config: Any, cls: type, name: str = "config") -> Any:
    if not isinstance(config, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, not {type(config).__name__} "
                        f"({config!r})")
    return config


def const_mul(v: Value, k: int) -> Value:
    """``v * k`` for a constant ``k >= 0`` as shifts and adds/subtracts (non-adjacent form), so
    synthesis uses carry chains instead of a DSP slice for a small constant."""
    assert k >= 0
    terms: list[tuple[int, int]] = []       # (sign, shift)
    shift = 0
    while k:
        if k & 1:
            digit = 2 - (k & 3)             # +1 or -1
            terms.append((digit, shift))
            k -= digit
        k >>= 1
        shift += 1
    if not terms:
        return v * 0
    out = None
    for sign, sh in sorted(terms, key=lambda t: -t[0]):    # start with a positive term
        t = v << sh
        out = t if out is None else (out + t if sign > 0 else out - t)
    return out


class StallPipe:
    """Valid bits and enable of a ``stages``-deep global-stall pipeline that ends in an output
    skid buffer (:func:`~ivita.hw._skid.output_skid`).

    Stage ``stages - 1`` is ``o_stream``'s payload register, the head of the skid buffer: the
    caller drives :attr:`nxt` (a signal of ``o_stream.payload``'s shape) combinationally from
    stage ``stages - 2`` (from the input when ``stages == 1``) and does not drive
    ``o_stream.valid``/``payload``. Every other stage advances on :attr:`adv`, which is a
    flip-flop (high while the skid's spare entry is free): connect ``i_ready`` to :attr:`ready`,
    a flip-flop copy of ``adv`` (:class:`~ivita.hw._skid.EnableCopy`, so the producer's logic
    is not on the high-fanout enable net); then no combinational path runs from
    ``o_stream.ready`` to ``i_ready`` or to any stage's enable, so a chain of such pipelines
    has no ready chain. Stage ``k < stages - 1`` registers load under
    ``load(k)`` (``adv`` and the stage before it holds an element; stage 0 loads from the input
    under ``adv & i_valid``). Latency ``stages`` (the head is the output register the pipeline
    had), one element per cycle while ``o_stream.ready`` is high.
    """

    def __init__(self, m: Module, *, stages: int, i_valid: Value, o_stream: Any, name: str):
        from ._skid import EnableCopy, output_skid
        assert stages >= 1
        self.stages = stages
        self.i_valid = i_valid
        self.valid = [Signal(name=f"{name}_v{k}") for k in range(stages - 1)]
        self.nxt = Signal(o_stream.payload.shape(), name=f"{name}_next")
        nxt_valid = self.valid[-1] if self.valid else i_valid
        en, en_next = output_skid(m, o_stream, self.nxt, nxt_valid, name=f"{name}_skid")
        self.adv = Signal(name=f"{name}_adv")
        m.d.comb += self.adv.eq(en)
        copy = m.submodules[f"{name}_ready"] = EnableCopy()
        m.d.comb += copy.d.eq(en_next)
        self.ready = copy.q
        if self.valid:
            with m.If(self.adv):
                m.d.sync += self.valid[0].eq(i_valid)
                for k in range(1, stages - 1):
                    m.d.sync += self.valid[k].eq(self.valid[k - 1])

    def load(self, k: int) -> Value:
        """Clock enable of the data registers of stage ``k < stages - 1``."""
        assert 0 <= k < self.stages - 1
        return self.adv & (self.i_valid if k == 0 else self.valid[k - 1])


def split_product(m: Module, a: Value, b: Value, *, loads: tuple[Value, Value], name: str,
                  chunk: int = 17) -> Signal:
    """``a * b`` in two registered stages: the partial products of ``a`` with the ``chunk``-bit
    pieces of ``b`` (each fits one DSP48E1 without a cascade), then their shifted sum (a carry
    chain). ``loads`` enables the two stages; returns the stage-2 register (no reset).

    A product wider than one DSP48E1 would otherwise be a cascade whose first slice has no
    register between its inputs and the cascade (a Yosys mapping limit), which the 250 MHz
    timing estimate does not allow. ``b`` must be unsigned when it is split."""
    a, b = Value.cast(a), Value.cast(b)
    width = len(a) + len(b)
    pieces = [b[i:i + chunk] for i in range(0, len(b), chunk)] if len(b) > chunk else [b]
    parts = []
    for k, piece in enumerate(pieces):
        sgn = a.shape().signed or Value.cast(piece).shape().signed
        part = Signal(signed(len(a) + len(piece) + 1) if sgn else
                      unsigned(len(a) + len(piece)), name=f"{name}_pp{k}", reset_less=True)
        with m.If(loads[0]):
            m.d.sync += part.eq(a * piece)
        parts.append(part)
    out = Signal(signed(width) if a.shape().signed or b.shape().signed else unsigned(width),
                 name=name, reset_less=True)
    total = parts[0]
    for k in range(1, len(parts)):
        total = total + (parts[k] << (k * chunk))
    with m.If(loads[1]):
        m.d.sync += out.eq(total)
    return out
