"""Request executor of the host link: a parsed frame -> bus accesses, start, a response."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.protocol import (ERROR_CMD, MAX_WORDS, PROTOCOL_MAGIC, PROTOCOL_VERSION,
                                     RESPONSE_FLAG, Command, Status)

from .hostif_bus import HostBusSignature, HostControlSignature, addr_bits_for
from .hostif_parser import BUF_WORDS, frame_layout, write_words
from .timing import Timing

__all__ = ["Executor", "head_layout"]


def head_layout() -> data.StructLayout:
    """A response header: ``cmd`` byte, ``status``, ``n_words`` data words to follow."""
    return data.StructLayout({"cmd": 8, "status": range(max(Status) + 1),
                              "n_words": range(MAX_WORDS + 1)})


class Executor(wiring.Component):
    """Check and execute one parsed frame (:func:`~ivita.hw.hostif_parser.frame_layout`).

    Reads the payload words from the parser's buffer (``buf_addr`` -> ``buf_data`` one cycle
    later), checks in this order: parse status, command, length (and READ count 1..MAX_WORDS),
    address span (``address + count <= addr_limit``), BUSY (START while ``ctrl.busy``); then

    - WRITE: one bus write per cycle, words in order;
    - START: one-cycle ``ctrl.start`` pulse;
    - STATUS: ``busy``, ``done``, ``error_code`` and ``cycles`` sampled in one cycle;

    and hands a response header to ``o_head`` and the response words, one by one, to
    ``o_words`` (READ words are read from the bus as the response needs them, 3 cycles per
    word plus the consumer's stalls). A request that fails a check touches neither the bus
    nor ``start``. ``i_frame`` is taken (``ready``) after the last response word, which
    releases the parser.

    Timing (:meth:`timing`): ``o_head`` is valid ``4 + n`` cycles after ``i_frame`` is first
    offered (3 cycles to fetch the address and argument words and check, one bus write per
    word of a WRITE of ``n`` words, then the header).
    """

    def __init__(self, *, addr_limit: int) -> None:
        self._addr_bits = addr_bits_for(addr_limit)
        self._addr_limit = addr_limit
        super().__init__({
            "i_frame": In(stream.Signature(frame_layout())),
            "buf_addr": Out(range(BUF_WORDS)),
            "buf_data": In(32),
            "bus": Out(HostBusSignature(self._addr_bits)),
            "ctrl": Out(HostControlSignature()),
            "o_head": Out(stream.Signature(head_layout())),
            "o_words": Out(stream.Signature(32)),
        })

    @property
    def addr_limit(self) -> int:
        return self._addr_limit

    def timing(self, n: int | None = None) -> Timing:
        """A request that writes ``n`` words (a WRITE; 0 or ``None``: a request without
        payload): latency ``4 + n`` from the first cycle ``i_frame`` is offered to
        ``o_head.valid``; one frame per ``6 + n`` cycles with ``o_head`` always ready and the
        next frame offered as soon as the previous one is taken (requests answered without
        data words)."""
        w = write_words(n)
        return Timing(latency=4 + w, latency_from="first", interval=6 + w, per="frame")

    def _check(self, m: Module, base: Signal, arg: Signal) -> tuple[Signal, Signal]:
        """Combinational status of the held frame, and its word count (WRITE/READ)."""
        f = self.i_frame.payload
        code, count = Signal(range(max(Status) + 1)), Signal(range(MAX_WORDS + 1))
        is_ = {c: f.cmd == c for c in Command}
        write_ok = (f.length >= 8) & (f.length[:2] == 0)
        read_ok = (f.length == 8) & (arg >= 1) & (arg <= MAX_WORDS)
        no_payload = f.length == 0
        len_ok = Mux(is_[Command.WRITE], write_ok,
                     Mux(is_[Command.READ], read_ok, no_payload))
        m.d.comb += count.eq(Mux(is_[Command.WRITE], (f.length >> 2) - 1, arg))
        span_ok = (base + count) <= self._addr_limit
        with m.If(f.status != Status.OK):
            m.d.comb += code.eq(f.status)
        with m.Elif(~(f.cmd >= min(Command)) | ~(f.cmd <= max(Command))):
            m.d.comb += code.eq(Status.UNKNOWN_CMD)
        with m.Elif(~len_ok):
            m.d.comb += code.eq(Status.BAD_LENGTH)
        with m.Elif((is_[Command.WRITE] | is_[Command.READ]) & ~span_ok):
            m.d.comb += code.eq(Status.BAD_ADDRESS)
        with m.Elif(is_[Command.START] & self.ctrl.busy):
            m.d.comb += code.eq(Status.BUSY)
        with m.Else():
            m.d.comb += code.eq(Status.OK)
        return code, count

    def elaborate(self, platform: object) -> Module:
        m = Module()
        f, head, words, bus = self.i_frame.payload, self.o_head, self.o_words, self.bus
        base, arg, word = Signal(32), Signal(32), Signal(32)
        idx = Signal(range(MAX_WORDS + 1))
        flags, cycles = Signal(32), Signal(32)
        wpend, waddr = Signal(), Signal(self._addr_bits)
        code, count = self._check(m, base, arg)
        is_read = f.cmd == Command.READ
        consts = [Mux(idx == 0, flags, cycles),
                  Mux(idx == 0, PROTOCOL_MAGIC, Mux(idx == 1, PROTOCOL_VERSION,
                                                    self._addr_limit))]
        m.d.sync += [wpend.eq(0), self.ctrl.start.eq(0)]
        m.d.comb += [bus.w_en.eq(wpend), bus.w_data.eq(self.buf_data),
                     bus.addr.eq(Mux(wpend, waddr, base + idx)),
                     head.payload.cmd.eq(Mux(f.status == Status.OK, f.cmd | RESPONSE_FLAG,
                                             ERROR_CMD)),
                     words.payload.eq(word)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.i_frame.valid):
                    m.next = "ADDR"
            with m.State("ADDR"):
                m.d.comb += self.buf_addr.eq(1)
                m.d.sync += base.eq(self.buf_data)
                m.next = "ARG"
            with m.State("ARG"):
                m.d.sync += [arg.eq(self.buf_data), idx.eq(0)]
                m.next = "CHECK"
            with m.State("CHECK"):
                ok = code == Status.OK
                n_words = Mux(is_read, count, Mux(f.cmd == Command.PING, 3,
                                                  Mux(f.cmd == Command.STATUS, 2, 0)))
                m.d.sync += [head.payload.status.eq(code),
                             head.payload.n_words.eq(Mux(ok, n_words, 0)),
                             flags.eq(self.ctrl.busy | (self.ctrl.done << 1) |
                                      (self.ctrl.error_code << 8)),
                             cycles.eq(self.ctrl.cycles),
                             self.ctrl.start.eq(ok & (f.cmd == Command.START))]
                m.next = "HEAD"
                with m.If(ok & (f.cmd == Command.WRITE)):
                    m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += self.buf_addr.eq(idx + 1)
                m.d.sync += [idx.eq(idx + 1), wpend.eq(1), waddr.eq(base + idx)]
                with m.If(idx == count - 1):
                    m.next = "HEAD"
            with m.State("HEAD"):
                m.d.comb += head.valid.eq(1)
                m.d.sync += idx.eq(0)
                with m.If(head.ready):
                    m.next = "FETCH"
                    with m.If(head.payload.n_words == 0):
                        m.next = "DONE"
            with m.State("FETCH"):
                m.d.comb += bus.r_en.eq(is_read)
                m.next = "LATCH"
            with m.State("LATCH"):
                m.d.sync += word.eq(Mux(is_read, bus.r_data,
                                        Mux(f.cmd == Command.STATUS, *consts)))
                m.next = "HOLD"
            with m.State("HOLD"):
                m.d.comb += words.valid.eq(1)
                with m.If(words.ready):
                    m.d.sync += idx.eq(idx + 1)
                    m.next = "FETCH"
                    with m.If(idx == head.payload.n_words - 1):
                        m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.i_frame.ready.eq(1)
                m.next = "IDLE"
        return m
