"""CRC-16/CCITT-FALSE, one byte per cycle (the host link's frame checksum)."""

from __future__ import annotations

from functools import reduce
from operator import xor

from amaranth import Cat, Module, Signal
from amaranth.hdl import Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.protocol import CRC_INIT, CRC_POLY

from .timing import Timing

__all__ = ["CRC16", "crc16_byte_matrix"]


def crc16_byte_matrix() -> list[tuple[list[int], list[int]]]:
    """For each bit ``i`` of the next CRC: the CRC bits and data bits whose XOR it is.

    Obtained by running the bit-serial CRC (MSB first, poly 0x1021) symbolically over GF(2),
    so the byte-parallel update is exactly eight serial steps.
    """
    crc = [frozenset({("c", i)}) for i in range(16)]
    for k in range(8):
        fb = crc[15] ^ frozenset({("d", 7 - k)})
        shifted = [frozenset()] + crc[:15]
        crc = [shifted[i] ^ fb if CRC_POLY >> i & 1 else shifted[i] for i in range(16)]
    return [(sorted(j for s, j in bit if s == "c"), sorted(j for s, j in bit if s == "d"))
            for bit in crc]


def crc16_update(crc: Value, data: Value) -> Value:
    """The CRC after one more byte ``data`` (pure XOR logic)."""
    bits = [reduce(xor, [crc[j] for j in cs] + [data[j] for j in ds])
            for cs, ds in crc16_byte_matrix()]
    return Cat(*bits)


class CRC16(wiring.Component):
    """Running CRC-16/CCITT-FALSE (= :func:`ivita.firmware.protocol.crc16`).

    Ports: ``en`` (absorb ``data`` this cycle), ``data`` (8 bits), ``clear`` (restart from
    0xFFFF), ``crc`` (16 bits, registered).

    Timing (:meth:`timing`): ``crc`` in cycle ``t + 1`` includes a byte absorbed in cycle ``t``
    (latency 1, one byte per cycle). ``clear`` and ``en`` in the same cycle start a new CRC
    with that byte: ``crc <- crc16([data])``. Reset value 0xFFFF.
    """

    def __init__(self) -> None:
        super().__init__({"en": In(1), "data": In(8), "clear": In(1),
                          "crc": Out(16, init=CRC_INIT)})

    def timing(self, n: int | None = None) -> Timing:
        """Latency 1 from a cycle with ``en`` high to ``crc`` including that byte; one byte per
        cycle. ``n`` is ignored."""
        return Timing(latency=1, latency_from="first", interval=1, per="byte")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        base = Signal(16)
        m.d.comb += base.eq(self.crc)
        with m.If(self.clear):
            m.d.comb += base.eq(CRC_INIT)
        with m.If(self.en):
            m.d.sync += self.crc.eq(crc16_update(base, self.data))
        with m.Elif(self.clear):
            m.d.sync += self.crc.eq(CRC_INIT)
        return m
