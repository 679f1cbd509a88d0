"""8N1 UART receiver and transmitter with ``lib.stream`` byte streams (the host link's PHY)."""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .timing import Timing

__all__ = ["UARTRx", "UARTTx", "MIN_DIVISOR", "MAX_DIVISOR", "check_divisor"]

MIN_DIVISOR = 4
MAX_DIVISOR = 1 << 16


def check_divisor(divisor: int) -> int:
    """Validate clocks per bit: an int in ``MIN_DIVISOR..MAX_DIVISOR``."""
    if not isinstance(divisor, int) or isinstance(divisor, bool):
        raise TypeError(f"divisor must be an int, not {type(divisor).__name__} ({divisor!r})")
    if not MIN_DIVISOR <= divisor <= MAX_DIVISOR:
        raise ValueError(f"divisor={divisor} is out of range; it must be in "
                         f"{MIN_DIVISOR}..{MAX_DIVISOR} clocks per bit")
    return divisor


class UARTRx(wiring.Component):
    """8N1 receiver: ``rx`` pin -> ``o_stream`` of bytes.

    Parameters: ``divisor`` clocks per bit (``4..65536``; e.g. 100 MHz / 115200 baud -> 868).

    ``rx`` passes a 2-flip-flop synchronizer (reset high, the idle level). A start bit is the
    first low synchronized sample; it is checked again ``divisor // 2`` cycles later (a glitch
    shorter than that is ignored) and the 8 data bits (LSB first) and the stop bit are sampled
    every ``divisor`` cycles from there, i.e. in the middle of each bit.

    Timing (:meth:`timing`): ``o_stream.valid`` rises ``3 + divisor // 2 + 9 * divisor``
    cycles after the first cycle ``rx`` is low (start bit). A new start bit is recognised from the
    cycle after the stop-bit sample, so back-to-back bytes (10 bit times each) and a sender up
    to ~5 % faster or slower are received. Throughput: one byte per 10 bit times.

    Back-pressure: ``o_stream`` holds a byte until it is taken; the line cannot be stopped, so
    a byte completed while the previous one is still waiting is dropped and sets the sticky
    ``overrun`` flag. A stop bit sampled low drops the byte, sets the sticky
    ``framing_error`` and waits for the line to return high (a break) before the next start
    bit. ``clear`` high resets both flags; an error in the same cycle as ``clear`` stays set.
    """

    def __init__(self, *, divisor: int) -> None:
        self._divisor = check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "o_stream": Out(stream.Signature(8)),
            "framing_error": Out(1),
            "overrun": Out(1),
            "clear": In(1),
        })

    @property
    def divisor(self) -> int:
        return self._divisor

    def timing(self, n: int | None = None) -> Timing:
        """Latency ``3 + divisor // 2 + 9 * divisor`` from the first cycle of a byte's start
        bit on ``rx`` to ``o_stream.valid`` (2 synchronizer cycles, the half-bit start check,
        9 bit times to the stop-bit sample, the output register); one byte per
        ``10 * divisor`` cycles (the line rate). ``n`` is ignored."""
        d = self._divisor
        return Timing(latency=3 + d // 2 + 9 * d, latency_from="first", interval=10 * d,
                      per="byte")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        d = self._divisor
        s1, line = Signal(init=1), Signal(init=1)
        m.d.sync += [s1.eq(self.rx), line.eq(s1)]
        cnt = Signal(range(d))
        bit = Signal(range(8))
        sr = Signal(8)
        o = self.o_stream
        bad_stop, lost = Signal(), Signal()

        with m.If(o.ready):
            m.d.sync += o.valid.eq(0)
        m.d.sync += cnt.eq(cnt - 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += cnt.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(cnt == 0):
                    m.d.sync += [cnt.eq(d - 1), bit.eq(0)]
                    with m.If(line):
                        m.next = "IDLE"          # a glitch, not a start bit
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(cnt == 0):
                    m.d.sync += [sr.eq(Cat(sr[1:], line)), cnt.eq(d - 1), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(cnt == 0):
                    with m.If(~line):
                        m.d.comb += bad_stop.eq(1)
                        m.next = "BREAK"
                    with m.Elif(o.valid & ~o.ready):
                        m.d.comb += lost.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [o.payload.eq(sr), o.valid.eq(1)]
                        m.next = "IDLE"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"

        with m.If(self.clear):
            m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]
        with m.If(bad_stop):
            m.d.sync += self.framing_error.eq(1)
        with m.If(lost):
            m.d.sync += self.overrun.eq(1)
        return m


class UARTTx(wiring.Component):
    """8N1 transmitter: ``i_stream`` of bytes -> ``tx`` pin.

    Parameters: ``divisor`` clocks per bit (``4..65536``).

    Timing (:meth:`timing`): a byte accepted in cycle ``t`` drives its start bit on ``tx`` (a
    register, idle high) in cycles ``t + 1 .. t + divisor``, data bit ``k`` (LSB first)
    ``divisor`` cycles per bit after it, and the stop bit in ``t + 1 + 9 * divisor .. t + 10 *
    divisor``. Throughput: one byte per ``10 * divisor`` cycles, back to back without an idle
    bit.

    Back-pressure: ``i_stream.ready`` is high while idle and in the last cycle of a stop bit
    (so the next byte's start bit follows without a gap), low otherwise; it depends only on
    the transmitter's state, never on ``i_stream.valid``.
    """

    def __init__(self, *, divisor: int) -> None:
        self._divisor = check_divisor(divisor)
        super().__init__({
            "i_stream": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    @property
    def divisor(self) -> int:
        return self._divisor

    def timing(self, n: int | None = None) -> Timing:
        """Latency 1 from a byte's transfer on ``i_stream`` to the first cycle of its start bit
        on ``tx``; one byte per ``10 * divisor`` cycles (10 bit times). ``n`` is ignored."""
        return Timing(latency=1, latency_from="first", interval=10 * self._divisor, per="byte")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        d = self._divisor
        busy = Signal()
        cnt = Signal(range(d))
        bit = Signal(range(10))          # 0 start, 1..8 data, 9 stop
        sr = Signal(9)                   # data bits then the stop bit, shifted out LSB first
        i = self.i_stream
        last = Signal()
        m.d.comb += [last.eq((bit == 9) & (cnt == 0)),
                     i.ready.eq(~busy | last)]

        with m.If(busy):
            m.d.sync += cnt.eq(cnt - 1)
            with m.If(cnt == 0):
                with m.If(bit == 9):
                    m.d.sync += busy.eq(0)
                with m.Else():
                    m.d.sync += [self.tx.eq(sr[0]), sr.eq(Cat(sr[1:], 1)),
                                 bit.eq(bit + 1), cnt.eq(d - 1)]
        with m.If(i.valid & i.ready):
            m.d.sync += [busy.eq(1), self.tx.eq(0), sr.eq(Cat(i.payload, 1)),
                         bit.eq(0), cnt.eq(d - 1)]
        return m
