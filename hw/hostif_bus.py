"""The signatures behind the host link: a generic word bus and the block's start/status.

Everything the host interface (:class:`ivita.hw.hostif.HostInterface`) needs from the block it
serves. Members are named from the host interface's side (``Out`` = driven by it); the block
takes ``In(HostBusSignature(addr_bits))`` and ``In(HostControlSignature())``, i.e. the flipped
signatures, and :func:`amaranth.lib.wiring.connect` joins the two.
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["HostBusSignature", "HostControlSignature", "WORD_BITS", "ERROR_CODE_BITS",
           "addr_bits_for"]

WORD_BITS = 32
ERROR_CODE_BITS = 8
MAX_ADDR_LIMIT = (1 << 32) - 1


def addr_bits_for(addr_limit: int) -> int:
    """Bus address width for word addresses ``0 .. addr_limit - 1`` (at least 1 bit)."""
    if not isinstance(addr_limit, int) or isinstance(addr_limit, bool):
        raise TypeError(f"addr_limit must be an int, not {type(addr_limit).__name__} "
                        f"({addr_limit!r})")
    if not 1 <= addr_limit <= MAX_ADDR_LIMIT:
        raise ValueError(f"addr_limit={addr_limit} is out of range; it must be in "
                         f"1..{MAX_ADDR_LIMIT} words")
    return max(1, (addr_limit - 1).bit_length())


class HostBusSignature(wiring.Signature):
    """Word bus, one access per cycle, single initiator.

    - write: ``w_en`` high in cycle ``t`` writes ``w_data`` to word ``addr`` at the end of
      cycle ``t``;
    - read: ``r_en`` high in cycle ``t`` with ``addr``; the target drives ``r_data`` with that
      word in cycle ``t + 1`` (read latency 1, like a synchronous block-RAM port); ``r_data``
      is don't-care in other cycles;
    - ``w_en`` and ``r_en`` are never high in the same cycle; ``addr`` is always below the
      host interface's ``addr_limit`` when either is high;
    - ``w_en`` is never high in the cycle of the control's ``start`` pulse (the attention
      block registers a write: it lands in the next cycle, see
      :class:`ivita.hw.block_bus.BlockBus`).
    """

    def __init__(self, addr_bits: int) -> None:
        self._addr_bits = addr_bits
        super().__init__({
            "addr": Out(addr_bits),
            "w_data": Out(WORD_BITS),
            "w_en": Out(1),
            "r_en": Out(1),
            "r_data": In(WORD_BITS),
        })

    @property
    def addr_bits(self) -> int:
        return self._addr_bits

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HostBusSignature) and other.addr_bits == self.addr_bits

    def __repr__(self) -> str:
        return f"HostBusSignature({self._addr_bits})"


class HostControlSignature(wiring.Signature):
    """Start and status of the block.

    - ``start``: one-cycle pulse from the host interface (START request, only while ``busy``
      is low);
    - ``busy``, ``done``, ``error_code`` (8 bits, 0 = no error), ``cycles`` (32 bits): the
      block's status, sampled together when a STATUS request is executed.
    """

    def __init__(self) -> None:
        super().__init__({
            "start": Out(1),
            "busy": In(1),
            "done": In(1),
            "error_code": In(ERROR_CODE_BITS),
            "cycles": In(32),
        })

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HostControlSignature)

    def __repr__(self) -> str:
        return "HostControlSignature()"
