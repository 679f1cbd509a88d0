"""A small device behind the host interface, for tests and for trying the host driver.

:class:`HostTestDevice` = :class:`~ivita.hw.hostif.HostInterface` in front of a
``lib.memory`` RAM of ``addr_limit`` 32-bit words, plus a stand-in for the block's control:
after a ``start`` pulse in cycle ``t`` it is ``busy`` in cycles ``t + 1 .. t + busy_cycles``,
``cycles`` counts those cycles (reset by ``start``), ``done`` rises with the end of ``busy``
and stays high until the next ``start``, and ``error_code`` reads ``error_code`` while
``done`` (0 otherwise). With ``divisor`` set the device talks through
:class:`~ivita.hw.uart.UARTRx` / :class:`~ivita.hw.uart.UARTTx` on ``rx`` / ``tx`` pins;
without it, the host interface's byte streams are the ports (``i_stream`` / ``o_stream``).
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import memory, wiring

from .host_front import HostFront
from .hostif import HostInterface
from .timing import Timing

__all__ = ["HostTestDevice"]


class HostTestDevice(wiring.Component):
    """RAM + fake busy/done behind the host interface (see the module docstring)."""

    def __init__(self, *, addr_limit: int = 256, busy_cycles: int = 20, error_code: int = 0,
                 timeout: int = 64, divisor: int | None = None) -> None:
        if not isinstance(busy_cycles, int) or not 1 <= busy_cycles < (1 << 32):
            raise ValueError(f"busy_cycles={busy_cycles!r} is out of range; "
                             "it must be in 1..2^32-1")
        if not isinstance(error_code, int) or not 0 <= error_code <= 255:
            raise ValueError(f"error_code={error_code!r} is out of range; it must be in 0..255")
        self._front = HostFront(divisor)
        self.host = HostInterface(addr_limit=addr_limit, timeout=timeout)
        self._busy_cycles, self._error_code = busy_cycles, error_code
        super().__init__(self._front.ports())

    @property
    def divisor(self) -> int | None:
        """Clocks per UART bit, or ``None`` for the byte-stream ports."""
        return self._front.divisor

    @property
    def addr_limit(self) -> int:
        return self.host.addr_limit

    def timing(self, n: int | None = None) -> Timing:
        """Byte-stream ports: :meth:`HostInterface.timing` (requests that write ``n`` words).
        UART pins (:meth:`HostFront.timing`): latency ``UARTRx.timing().latency + host latency +
        UARTTx.timing().latency`` from the first cycle
        of the last request byte's start bit on ``rx`` to the first cycle of the response's
        start bit on ``tx``, and one byte per ``10 * divisor`` cycles on either pin (the
        protocol is request/response: a transaction takes its request and response bytes
        times ``10 * divisor`` cycles plus a fraction of a byte)."""
        return self._front.timing(self.host, n)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.host = host = self.host
        self._front.connect(m, self, host)

        m.submodules.ram = ram = memory.Memory(shape=32, depth=host.addr_limit, init=[])
        wp, rp = ram.write_port(), ram.read_port()
        bus, ctrl = host.bus, host.ctrl
        m.d.comb += [wp.addr.eq(bus.addr), wp.data.eq(bus.w_data), wp.en.eq(bus.w_en),
                     rp.addr.eq(bus.addr), rp.en.eq(bus.r_en), bus.r_data.eq(rp.data)]

        left = Signal(range(self._busy_cycles + 1))
        done, cycles = Signal(), Signal(32)
        m.d.comb += [ctrl.busy.eq(left != 0), ctrl.done.eq(done), ctrl.cycles.eq(cycles),
                     ctrl.error_code.eq(done * self._error_code)]
        with m.If(ctrl.start):
            m.d.sync += [left.eq(self._busy_cycles), done.eq(0), cycles.eq(0)]
        with m.Elif(left != 0):
            m.d.sync += [left.eq(left - 1), cycles.eq(cycles + 1), done.eq(left == 1)]
        return m
