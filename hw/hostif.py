"""Host interface: the command decoder between a UART byte stream and a word bus.

``i_stream`` bytes -> :class:`~ivita.hw.hostif_parser.FrameParser` (CRC check, timeout,
payload buffer in ``lib.memory``) -> :class:`~ivita.hw.hostif_exec.Executor` (checks, bus,
start, status) -> :class:`~ivita.hw.hostif_response.ResponseBuilder` -> ``o_stream`` bytes.
The frame format and the command codes are :mod:`ivita.firmware.protocol`; docs/host.md.
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .hostif_bus import HostBusSignature, HostControlSignature, addr_bits_for
from .hostif_exec import Executor
from .hostif_parser import BUF_WORDS, FrameParser, check_timeout, request_bytes, write_words
from .hostif_response import ResponseBuilder
from .timing import Timing

__all__ = ["HostInterface"]


class HostInterface(wiring.Component):
    """Serve host requests (PING, WRITE, READ, START, STATUS) on a generic word bus.

    Parameters (keyword-only): ``addr_limit`` (1..2^32-1): word addresses ``0 ..
    addr_limit - 1`` exist, any access reaching beyond gets BAD_ADDRESS and no bus cycle;
    ``timeout`` (2..2^28 cycles): a frame with no byte for ``timeout`` cycles is abandoned
    (TRUNCATED), and after a BAD_CRC / oversize LEN the input is dropped until it has been
    idle that long. On a board choose several byte times plus the host's jitter (e.g. 10 ms).

    Ports: ``i_stream`` / ``o_stream`` (bytes, e.g. from :class:`~ivita.hw.uart.UARTRx` /
    to :class:`~ivita.hw.uart.UARTTx`), ``bus`` (:class:`~ivita.hw.hostif_bus.HostBusSignature`,
    read latency 1), ``ctrl`` (:class:`~ivita.hw.hostif_bus.HostControlSignature`).

    Every request frame gets exactly one response frame, errors included, and the decoder
    then serves the next frame; no byte sequence can hang it (a partial frame ends by the
    timeout). It serves one request at a time: ``i_stream.ready`` is low from the end of a
    request until its last response word is handed to the response builder (a UARTRx holds
    one byte meanwhile and drops further ones: the protocol is strictly request/response).
    ``i_stream.ready`` never depends on ``i_stream.valid``.

    Timing (:meth:`timing`): the first response byte is offered 6 cycles after the last
    request byte is taken (``6 + n`` for a WRITE of ``n`` words: one bus write per cycle; the
    same 6 for PING, STATUS, START and READ); response bytes then
    follow one per cycle while ``o_stream.ready`` is high, plus one cycle per data word (READ
    words are read from the bus as the response needs them). The UART, 10 bit times per byte,
    is the bottleneck of every transaction. Details and measured numbers: docs/host.md.
    """

    def __init__(self, *, addr_limit: int, timeout: int) -> None:
        self._addr_bits = addr_bits_for(addr_limit)
        self._addr_limit = addr_limit
        self._timeout = check_timeout(timeout)
        super().__init__({
            "i_stream": In(stream.Signature(8)),
            "o_stream": Out(stream.Signature(8)),
            "bus": Out(HostBusSignature(self._addr_bits)),
            "ctrl": Out(HostControlSignature()),
        })

    @property
    def addr_limit(self) -> int:
        return self._addr_limit

    @property
    def timeout(self) -> int:
        return self._timeout

    def timing(self, n: int | None = None) -> Timing:
        """Requests that write ``n`` words (a WRITE of ``n`` words; 0 or ``None``: a request
        without payload, answered without data words, e.g. START): latency ``6 + n`` from the
        last request byte to the first response byte (also for READ, PING and STATUS, whose
        response then takes 5 cycles per word); one frame per ``request_bytes(n) + 6 + n``
        cycles with requests offered back to back and ``o_stream`` always ready."""
        w = write_words(n)
        return Timing(latency=6 + w, latency_from="last", interval=request_bytes(w) + 6 + w,
                      per="frame")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.parser = parser = FrameParser(timeout=self._timeout)
        m.submodules.executor = executor = Executor(addr_limit=self._addr_limit)
        m.submodules.response = response = ResponseBuilder()
        m.submodules.buffer = buf = memory.Memory(shape=32, depth=BUF_WORDS, init=[])
        wp, rp = buf.write_port(), buf.read_port()
        m.d.comb += [wp.addr.eq(parser.buf_addr), wp.data.eq(parser.buf_data),
                     wp.en.eq(parser.buf_en),
                     rp.addr.eq(executor.buf_addr), executor.buf_data.eq(rp.data)]
        wiring.connect(m, wiring.flipped(self.i_stream), parser.i_stream)
        wiring.connect(m, parser.o_frame, executor.i_frame)
        wiring.connect(m, executor.o_head, response.i_head)
        wiring.connect(m, executor.o_words, response.i_words)
        wiring.connect(m, response.o_stream, wiring.flipped(self.o_stream))
        wiring.connect(m, executor.bus, wiring.flipped(self.bus))
        wiring.connect(m, executor.ctrl, wiring.flipped(self.ctrl))
        return m
