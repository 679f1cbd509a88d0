"""Banked row buffers of the row units (private to ``ivita.hw``).

:class:`RowBuffer`: ``banks`` buffers of ``2^ceil(log2 depth)`` words in one ``lib.memory``
(one write port, ``read_ports`` read ports), the :class:`~ivita.hw.bank_ring.BankRing` that
hands them A -> B -> C, and per-bank row descriptors (scalars a stage leaves for the next one:
a row's length, maximum, mean, gain ...). Used by :class:`~ivita.hw.softmax.Shiftmax` and
:class:`~ivita.hw.layernorm.IntLayerNorm`.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.hdl import ShapeLike, Value
from amaranth.lib.memory import Memory

from ivita.model.core import ceil_log2

from .bank_ring import BankRing

__all__ = ["RowBuffer"]


class RowBuffer:
    """Row storage of a three-stage row unit; ``wp`` / ``rp[i]`` are the memory ports."""

    def __init__(self, m: Module, *, banks: int, depth: int, shape: ShapeLike,
                 read_ports: int):
        self.banks = banks
        self.addr_bits = ceil_log2(depth)          # address bits within a bank
        m.submodules.mem = mem = Memory(shape=shape, depth=banks << self.addr_bits, init=[])
        self.wp = mem.write_port()
        self.rp = [mem.read_port() for _ in range(read_ports)]
        self.ring = BankRing(m, banks)

    def addr(self, bank: Value, idx: Value) -> Value:
        """Memory address of element ``idx`` of bank ``bank``."""
        return Cat(idx[:self.addr_bits], bank) if self.addr_bits else bank

    def descriptor(self, shape: ShapeLike, name: str) -> list[Signal]:
        """One register per bank (a per-row scalar), named ``d{bank}_{name}``."""
        return [Signal(shape, name=f"d{i}_{name}") for i in range(self.banks)]

    def store(self, m: Module, ptr: Value, pairs: list[tuple[list[Signal], Value]]) -> None:
        """``desc[ptr] <= value`` for each ``(desc, value)`` (call inside the enabling ``If``)."""
        for i in range(self.banks):
            with m.If(ptr == i):
                m.d.sync += [desc[i].eq(value) for desc, value in pairs]

    def load(self, ptr: Value, desc: list[Signal]) -> Value:
        """``desc[ptr]`` (a mux over the banks)."""
        return self.ring.select(ptr, desc)
