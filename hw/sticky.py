"""Sticky error flags with a clear input (shared by the nonlinear units; private to ``ivita.hw``).

A unit's ``error_flags`` port (a struct of one-bit fields, one per cause), its ``error`` port
(the OR of the flags) and its ``error_clear`` input. A flag is set in the cycle after its
cause is raised and stays set until a cycle with ``error_clear`` high; a cause raised in the
same cycle as ``error_clear`` wins, so an error is never lost to a clear. Flags reset to 0.

Normative model: none (status, not arithmetic). Tests: every unit's ``test_*_error_clear``.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.hdl import Value

__all__ = ["StickyFlags"]


class StickyFlags:
    """Drive ``flags`` (an ``error_flags`` view), ``error`` and obey ``clear``.

    ``raise_on(m, name, cond)`` connects the cause of flag ``name``: a plain expression,
    high in the cycle the error is detected (at most one driver per flag).
    """

    def __init__(self, m: Module, *, flags, error: Value, clear: Value, name: str = "err"):
        self._raise: dict[str, Signal] = {}
        for fname, _field in flags.shape():
            cause = Signal(name=f"{name}_{fname}")
            bit = getattr(flags, fname)
            m.d.sync += bit.eq((bit & ~clear) | cause)      # the error wins over the clear
            self._raise[fname] = cause
        m.d.comb += error.eq(flags.as_value().any())

    def raise_on(self, m: Module, name: str, cond: Value) -> None:
        """Set flag ``name`` in the cycle after ``cond`` is high."""
        m.d.comb += self._raise[name].eq(cond)
