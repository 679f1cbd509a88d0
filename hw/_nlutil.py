"""Small building blocks shared by the nonlinear units (private to ``ivita.hw``).

- :class:`StallPipe`: bookkeeping for a *global-stall* pipeline: every stage advances together
  when the last stage is empty or its output is being taken. ``i_ready`` depends only on the
  downstream ``ready`` and the pipeline's own state (never on ``i_valid``), so the stream rules of
  :mod:`amaranth.lib.stream` hold. Data registers load only when the stage before them holds a
  valid element (no toggling on bubbles: this matters for the activity-based power model).
- :class:`BankRing`: ownership of ``banks`` row buffers passed along three row stages
  (A: input, B: per-row scalar work, C: output), strictly in row order.
- argument checks: ``check_int``/``check_bool`` come from :mod:`ivita.model._checks`, so the
  messages (``name=value is out of range; ...``) are the same everywhere.
"""

from __future__ import annotations

import enum
import functools
from typing import Any

from amaranth import Module, Mux, Signal
from amaranth.hdl import ShapeLike, Value

from ivita.model._checks import check_bool, check_int  # noqa: F401  (re-exported)

__all__ = ["StallPipe", "BankRing", "quiet_on_error", "check_int", "check_bool", "check_shape",
           "check_config", "const_mul", "ceil_log2", "ring_schedule", "steady_period"]


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


def ceil_log2(v: int) -> int:
    return max(v - 1, 0).bit_length()


class StallPipe:
    """Valid bits and advance logic of a ``stages``-deep global-stall pipeline.

    ``adv`` is high when the pipeline moves this cycle: ``~valid[-1] | o_ready``. Connect
    ``i_ready = adv``. Stage ``k`` registers load under ``load(k)`` (``adv`` and the stage
    before it holds an element; stage 0 loads from the input under ``adv & i_valid``).
    """

    def __init__(self, m: Module, *, stages: int, i_valid: Value, o_ready: Value, name: str):
        assert stages >= 1
        self.stages = stages
        self.i_valid = i_valid
        self.valid = [Signal(name=f"{name}_v{k}") for k in range(stages)]
        self.adv = Signal(name=f"{name}_adv")
        m.d.comb += self.adv.eq(~self.valid[-1] | o_ready)
        with m.If(self.adv):
            m.d.sync += self.valid[0].eq(i_valid)
            for k in range(1, stages):
                m.d.sync += self.valid[k].eq(self.valid[k - 1])

    def load(self, k: int) -> Value:
        """Clock enable of the data registers of stage ``k``."""
        return self.adv & (self.i_valid if k == 0 else self.valid[k - 1])

    @property
    def o_valid(self) -> Value:
        return self.valid[-1]


class BankState(enum.IntEnum):
    FREE = 0     # owned by stage A (being filled, or empty)
    FILLED = 1   # a complete row, waiting for / owned by stage B
    READY = 2    # per-row results known, waiting for / owned by stage C


class BankRing:
    """``banks`` row buffers handed A -> B -> C in row order.

    Each stage owns the bank at its pointer. ``a_room``/``b_avail``/``c_avail`` say whether the
    bank at the stage's pointer is in the state that stage needs; pulsing ``a_commit``,
    ``b_done`` or ``c_done`` passes that bank on and advances the stage's pointer (mod
    ``banks``). The three transitions touch banks in three different states, so they never
    collide.
    """

    def __init__(self, m: Module, banks: int, *, name: str = "bank"):
        self.banks = banks
        pbits = max(banks - 1, 1).bit_length()
        self.state = [Signal(2, name=f"{name}{i}_state") for i in range(banks)]
        self.a_ptr = Signal(pbits, name=f"{name}_a_ptr")
        self.b_ptr = Signal(pbits, name=f"{name}_b_ptr")
        self.c_ptr = Signal(pbits, name=f"{name}_c_ptr")
        self.a_commit = Signal(name=f"{name}_a_commit")
        self.b_done = Signal(name=f"{name}_b_done")
        self.c_done = Signal(name=f"{name}_c_done")
        self.a_room = Signal(name=f"{name}_a_room")
        self.b_avail = Signal(name=f"{name}_b_avail")
        self.c_avail = Signal(name=f"{name}_c_avail")
        m.d.comb += [
            self.a_room.eq(self._state_at(self.a_ptr) == BankState.FREE),
            self.b_avail.eq(self._state_at(self.b_ptr) == BankState.FILLED),
            self.c_avail.eq(self._state_at(self.c_ptr) == BankState.READY),
        ]
        for ptr, strobe, new in ((self.a_ptr, self.a_commit, BankState.FILLED),
                                 (self.b_ptr, self.b_done, BankState.READY),
                                 (self.c_ptr, self.c_done, BankState.FREE)):
            with m.If(strobe):
                m.d.sync += ptr.eq(self.next(ptr))
                for i in range(banks):
                    with m.If(ptr == i):
                        m.d.sync += self.state[i].eq(new)

    def _state_at(self, ptr: Value) -> Value:
        out = self.state[0]
        for i in range(1, self.banks):
            out = Mux(ptr == i, self.state[i], out)
        return out

    def next(self, ptr: Value) -> Value:
        if self.banks == 1:
            return ptr
        return Mux(ptr == self.banks - 1, 0, ptr + 1)[:len(ptr)]

    def select(self, ptr: Value, values: list[Value]) -> Value:
        """``values[ptr]`` as a mux chain (``banks`` is small)."""
        out = values[0]
        for i in range(1, self.banks):
            out = Mux(ptr == i, values[i], out)
        return out


def ring_schedule(lengths: list[int], *, banks: int, b_cycles, c_lead: int
                  ) -> list[tuple[int, int, int, int]]:
    """Exact cycle model of a :class:`BankRing` unit (input back to back, output always ready).

    ``lengths``: row lengths in order. ``b_cycles(N)``: stage B's cycles per row (from the cycle
    it sees the row to the cycle it hands it on, inclusive). ``c_lead``: cycles from stage C
    taking a row to its first output. Returns per row ``(first_in, last_in, first_out,
    last_out)`` cycle numbers, the first input beat being offered in cycle 0.

    Recurrences (row ``r``, bank ``r mod banks``): A starts when its previous row is in and C
    has freed the bank, ``a0 = max(a1[r-1] + 1, c1[r-banks] + 1)``, ``a1 = a0 + N - 1``; B
    ``b0 = max(a1 + 1, b1[r-1] + 1)``, ``b1 = b0 + b_cycles(N) - 1``; C ``c0 = max(b1 + 1,
    c1[r-1] + 1)``, first output ``c0 + c_lead``, ``c1 = c0 + c_lead + N - 1``.
    """
    out: list[tuple[int, int, int, int]] = []
    a1 = b1 = c1 = -1
    c_ends: list[int] = []
    for r, N in enumerate(lengths):
        a0 = max(a1 + 1, c_ends[r - banks] + 1 if r >= banks else 0)
        a1 = a0 + N - 1
        b0 = max(a1 + 1, b1 + 1)
        b1 = b0 + b_cycles(N) - 1
        c0 = max(b1 + 1, c1 + 1)
        c1 = c0 + c_lead + N - 1
        c_ends.append(c1)
        out.append((a0, a1, c0 + c_lead, c1))
    return out


def steady_period(schedule_fn, n: int) -> float:
    """Average cycles per row of length ``n`` in steady state (over the last 12 of 24 rows;
    with fewer banks than stages the pattern repeats every ``banks`` rows)."""
    s = schedule_fn([n] * 24)
    return (s[-1][2] - s[-13][2]) / 12
