"""The host link's front end, shared by every device behind a :class:`HostInterface`.

A device talks either through the host interface's byte streams (``i_stream`` / ``o_stream``)
or, with a ``divisor``, through a :class:`~ivita.hw.uart.UARTRx` / :class:`~ivita.hw.uart.UARTTx`
pair on ``rx`` / ``tx`` pins. :class:`HostFront` holds that choice: the ports to declare, the
wiring and the timing. Used by :class:`~ivita.hw.accel.Accelerator` and
:class:`~ivita.hw.hostif_testdevice.HostTestDevice`.
"""

from __future__ import annotations

from typing import Any

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .hostif import HostInterface
from .timing import Timing
from .uart import UARTRx, UARTTx, check_divisor

__all__ = ["HostFront"]


class HostFront:
    """Byte streams (``divisor=None``) or UART pins (``divisor`` clocks per bit, 4..65536)."""

    def __init__(self, divisor: int | None) -> None:
        self.divisor = None if divisor is None else check_divisor(divisor)
        self.uart = (None if self.divisor is None else
                     (UARTRx(divisor=self.divisor), UARTTx(divisor=self.divisor)))

    def ports(self) -> dict[str, Any]:
        """The device's host-side ports: ``rx``/``tx`` (idle high) or ``i_stream``/``o_stream``."""
        if self.uart is not None:
            return {"rx": In(1, init=1), "tx": Out(1, init=1)}
        return {"i_stream": In(stream.Signature(8)), "o_stream": Out(stream.Signature(8))}

    def timing(self, host: HostInterface, n: int | None = None) -> Timing:
        """Byte streams: :meth:`HostInterface.timing`. UART pins: latency
        ``UARTRx.timing().latency + host latency + UARTTx.timing().latency`` from the first
        cycle of the last request byte's start bit on ``rx`` to the first cycle of the
        response's start bit on ``tx``; one byte per ``10 * divisor`` cycles on either pin."""
        t = host.timing(n)
        if self.uart is None:
            return t
        rx, tx = self.uart
        return Timing(latency=rx.timing().latency + t.latency + tx.timing().latency,
                      latency_from="last", interval=10 * self.divisor, per="byte")

    def connect(self, m: Module, device: wiring.Component, host: HostInterface) -> None:
        """Wire ``device``'s host-side ports to ``host`` (through the UART pair if any)."""
        if self.uart is None:
            wiring.connect(m, wiring.flipped(device.i_stream), host.i_stream)
            wiring.connect(m, host.o_stream, wiring.flipped(device.o_stream))
            return
        m.submodules.uart_rx, m.submodules.uart_tx = rx, tx = self.uart
        m.d.comb += [rx.rx.eq(device.rx), device.tx.eq(tx.tx)]
        wiring.connect(m, rx.o_stream, host.i_stream)
        wiring.connect(m, host.o_stream, tx.i_stream)
