"""Cycle-level model of an 8N1 UART line (pure Python): the host side of simulated links.

Used by :class:`ivita.firmware.transport.SimTransport` to talk to a simulated device through
its ``rx``/``tx`` pins, and by the UART tests as the independent reference.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["uart_levels", "UartLineReceiver"]


def uart_levels(data: Iterable[int], bit_cycles: int) -> list[int]:
    """Line level per cycle for ``data`` sent back to back: start bit 0, 8 data bits LSB
    first, stop bit 1, each bit ``bit_cycles`` cycles long."""
    if bit_cycles < 1:
        raise ValueError(f"bit_cycles={bit_cycles} must be at least 1")
    out: list[int] = []
    for byte in data:
        if not 0 <= byte <= 255:
            raise ValueError(f"byte {byte} is out of range 0..255")
        for bit in [0, *((byte >> k) & 1 for k in range(8)), 1]:
            out += [bit] * bit_cycles
    return out


class UartLineReceiver:
    """Decode a line sampled once per cycle (:meth:`feed`): mid-bit sampling from the first
    low sample; a low stop bit counts in :attr:`framing_errors` and drops the byte."""

    def __init__(self, divisor: int) -> None:
        self.divisor = divisor
        self.framing_errors = 0
        self._wait = -1           # cycles until the next sample; -1 = idle
        self._bits: list[int] = []

    @property
    def idle(self) -> bool:
        """No byte is being received."""
        return self._wait < 0

    def feed(self, level: int) -> int | None:
        """One cycle's line level; returns a byte when its stop bit was sampled."""
        if self._wait < 0:
            if not level:
                self._wait, self._bits = self.divisor // 2, []
            return None
        self._wait -= 1
        if self._wait:
            return None
        self._bits.append(level)
        if len(self._bits) == 1 and level:       # glitch: not a start bit
            self._wait = -1
            return None
        if len(self._bits) < 10:
            self._wait = self.divisor
            return None
        self._wait = -1
        if not level:
            self.framing_errors += 1
            return None
        return sum(b << k for k, b in enumerate(self._bits[1:9]))
