"""Byte transports for the host driver: a serial port, or a simulated device.

:class:`Transport` is what :class:`ivita.firmware.driver.HostDriver` needs: ``write`` bytes,
``read`` up to ``n`` bytes within a timeout, and ``now()`` on the transport's clock (wall clock
for a port, simulated time for a simulation, so timeouts mean the same thing on both).

Layering: this module imports neither ``ivita.hw`` nor Amaranth at import time.
:class:`SerialTransport` imports pyserial when it is created; :class:`SimTransport` imports
``amaranth.sim`` when it is created and takes the device (an Amaranth component such as
:class:`ivita.hw.hostif_testdevice.HostTestDevice`) from its caller.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any, Protocol, runtime_checkable

from .uart_line import UartLineReceiver, uart_levels

__all__ = ["Transport", "SerialTransport", "SimTransport"]


@runtime_checkable
class Transport(Protocol):
    def write(self, data: bytes) -> None:
        """Send ``data`` (queued or written; never blocks for long)."""

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes; fewer (possibly none) only when ``timeout`` seconds passed."""

    def now(self) -> float:
        """Seconds on the transport's clock (monotonic)."""


def _import_serial() -> Any:
    try:
        import serial
    except ImportError as exc:            # pragma: no cover - exercised by a subprocess test
        raise ImportError("SerialTransport needs pyserial (pip install pyserial==3.5, "
                          "a dependency of ivita)") from exc
    return serial


class SerialTransport:
    """A serial port through pyserial, 8N1.

    ``SerialTransport("/dev/ttyUSB1", baudrate=115200)`` opens a port; any pyserial URL works
    (``"loop://"`` is a loopback, used by the tests). ``port=None`` with ``serial=obj`` wraps
    an already opened ``serial.Serial``-like object.
    """

    def __init__(self, port: str | None = None, *, baudrate: int = 115200,
                 serial: Any = None) -> None:
        if serial is None:
            if port is None:
                raise ValueError("SerialTransport needs a port name/URL or an open serial object")
            mod = _import_serial()
            serial = mod.serial_for_url(port, baudrate=baudrate, bytesize=8, parity="N",
                                        stopbits=1, timeout=0)
        self._ser = serial

    def write(self, data: bytes) -> None:
        self._ser.write(bytes(data))
        self._ser.flush()

    def read(self, n: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        out = bytearray()
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._ser.timeout = left
            out += self._ser.read(n - len(out))
        return bytes(out)

    def now(self) -> float:
        return time.monotonic()

    def close(self) -> None:
        self._ser.close()

    def __enter__(self) -> SerialTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimTransport:
    """The Amaranth simulator of a device, advanced only as far as the host needs.

    ``device``: a component with either ``i_stream``/``o_stream`` byte streams (bytes are
    injected at the decoder, one per cycle: fast) or, when ``device.divisor`` is an int,
    ``rx``/``tx`` pins driven and sampled at ``divisor`` cycles per bit by a cycle-level UART
    line model (:mod:`ivita.firmware.uart_line`). ``clk_hz`` sets the simulated clock: a
    ``read`` with ``timeout`` seconds simulates at most ``ceil(timeout * clk_hz)`` cycles
    (the cycle budget) and stops as soon as ``n`` bytes have arrived. ``now()`` is simulated
    time. ``gap`` idle cycles are inserted between injected bytes. With ``record=True``,
    :attr:`events` lists ``(cycle, "in" | "out", byte)`` for every byte the device took (stream
    mode) or sent, for measurements.
    """

    def __init__(self, device: Any, *, clk_hz: float = 1e6, gap: int = 0,
                 record: bool = False) -> None:
        from amaranth.sim import Simulator

        if not clk_hz > 0:
            raise ValueError(f"clk_hz={clk_hz} must be positive")
        self._device, self._clk_hz, self._gap = device, float(clk_hz), gap
        self._divisor = getattr(device, "divisor", None)
        self._to_dev: deque[int] = deque()
        self._from_dev = bytearray()
        self.cycle = 0
        self.framing_errors = 0
        self.events: list[tuple[int, str, int]] = []
        self._record = record
        self._sim = Simulator(device)
        self._sim.add_clock(1.0 / self._clk_hz)
        bench = self._stream_bench if self._divisor is None else self._uart_bench
        self._sim.add_testbench(bench, background=True)

    async def _stream_bench(self, ctx: Any) -> None:
        i_s, o_s = self._device.i_stream, self._device.o_stream
        ctx.set(o_s.ready, 1)
        wait = 0
        while True:
            if not ctx.get(i_s.valid) and self._to_dev and wait == 0:
                ctx.set(i_s.payload, self._to_dev.popleft())
                ctx.set(i_s.valid, 1)
            _, _, i_ready, i_valid, o_valid, o_data = await ctx.tick().sample(
                i_s.ready, i_s.valid, o_s.valid, o_s.payload)
            wait = max(0, wait - 1)
            if i_valid and i_ready:
                ctx.set(i_s.valid, 0)
                wait = self._gap
                if self._record:
                    self.events.append((self.cycle, "in", ctx.get(i_s.payload)))
            if o_valid:
                self._from_dev.append(o_data)
                if self._record:
                    self.events.append((self.cycle, "out", o_data))
            self.cycle += 1

    async def _uart_bench(self, ctx: Any) -> None:
        dev, d = self._device, self._divisor
        line: deque[int] = deque()
        rx = UartLineReceiver(d)
        while True:
            if not line and self._to_dev:
                line.extend(uart_levels([self._to_dev.popleft()], d) + [1] * self._gap)
            ctx.set(dev.rx, line.popleft() if line else 1)
            _, _, level = await ctx.tick().sample(dev.tx)
            byte = rx.feed(level)
            if byte is not None:
                self._from_dev.append(byte)
                if self._record:
                    self.events.append((self.cycle, "out", byte))
            self.framing_errors = rx.framing_errors
            self.cycle += 1

    def _run(self, cycles: int) -> None:
        target = self.cycle + cycles
        while self.cycle < target:
            self._sim.advance()

    def write(self, data: bytes) -> None:
        self._to_dev.extend(bytes(data))

    def read(self, n: int, timeout: float) -> bytes:
        budget = max(1, math.ceil(timeout * self._clk_hz))
        end = self.cycle + budget
        while len(self._from_dev) < n and self.cycle < end:
            self._run(min(64, end - self.cycle))
        out = bytes(self._from_dev[:n])
        del self._from_dev[:n]
        return out

    def run(self, cycles: int) -> None:
        """Advance the simulation by ``cycles`` without reading."""
        self._run(cycles)

    def now(self) -> float:
        return self.cycle / self._clk_hz
