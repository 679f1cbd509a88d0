"""Request frame parser of the host link: bytes -> checked frame + payload words in a buffer."""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.protocol import CRC_BYTES, HEADER_BYTES, MAX_PAYLOAD, MAX_WORDS, SYNC, Status
from ivita.model.checks import check_int

from .crc16 import CRC16
from .timing import Timing

__all__ = ["FrameParser", "frame_layout", "BUF_WORDS", "MIN_TIMEOUT", "MAX_TIMEOUT",
           "check_timeout", "write_words", "request_bytes"]

BUF_WORDS = (MAX_PAYLOAD + 3) // 4       # payload buffer depth in 32-bit words
MIN_TIMEOUT = 2
MAX_TIMEOUT = 1 << 28


def frame_layout() -> data.StructLayout:
    """A parsed frame: ``cmd``, ``length`` (payload bytes), parse ``status`` (OK, BAD_CRC,
    BAD_LENGTH or TRUNCATED)."""
    return data.StructLayout({"cmd": 8, "length": range(MAX_PAYLOAD + 1),
                              "status": range(max(Status) + 1)})


def check_timeout(timeout: int) -> int:
    if not isinstance(timeout, int) or isinstance(timeout, bool):
        raise TypeError(f"timeout must be an int, not {type(timeout).__name__} ({timeout!r})")
    if not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout={timeout} is out of range; it must be in "
                         f"{MIN_TIMEOUT}..{MAX_TIMEOUT} cycles")
    return timeout


def write_words(n: int | None) -> int:
    """The ``n`` of the host-link components' ``timing(n)``: the words a request writes (a
    WRITE of ``n`` words, ``1..MAX_WORDS``); ``None`` or 0: a request without payload (PING,
    STATUS, START)."""
    return 0 if n is None else check_int(n, "n", 0, MAX_WORDS)


def request_bytes(n: int | None) -> int:
    """Bytes of the request frame :func:`write_words` ``(n)`` stands for: 6 without payload,
    ``10 + 4 n`` for a WRITE (address + ``n`` words)."""
    w = write_words(n)
    return HEADER_BYTES + CRC_BYTES + (4 + 4 * w if w else 0)


class FrameParser(wiring.Component):
    """Parse ``SYNC | LEN | CMD | PAYLOAD | CRC`` (:mod:`ivita.firmware.protocol`).

    Bytes before ``SYNC`` are skipped. Payload byte ``k`` goes to buffer word ``k // 4``, byte
    lane ``k % 4`` (little-endian); a word is written (``buf_en``, ``buf_addr``, ``buf_data``)
    when its 4th byte arrives. The frame is then offered on ``o_frame`` (``cmd``, ``length``,
    ``status``) and held until taken; ``i_stream.ready`` is low from then until the cycle
    after ``o_frame`` is taken, so the buffer is stable while the frame is executed.

    Errors (always ending in one ``o_frame``, so every request gets exactly one response):

    - ``LEN > MAX_PAYLOAD`` -> BAD_LENGTH, CRC mismatch -> BAD_CRC: the frame boundary is
      not trustworthy, so the following bytes are dropped until the line has been idle for
      ``timeout`` cycles; then the frame is offered;
    - no byte for ``timeout`` cycles inside a frame -> TRUNCATED, offered at once.

    Timing (:meth:`timing`): one byte per cycle; a good frame is offered the cycle after its
    last CRC byte. ``i_stream.ready`` depends only on the parser's state, never on
    ``i_stream.valid``.
    """

    def __init__(self, *, timeout: int) -> None:
        self._timeout = check_timeout(timeout)
        super().__init__({
            "i_stream": In(stream.Signature(8)),
            "o_frame": Out(stream.Signature(frame_layout())),
            "buf_addr": Out(range(BUF_WORDS)),
            "buf_data": Out(32),
            "buf_en": Out(1),
        })

    @property
    def timeout(self) -> int:
        return self._timeout

    def timing(self, n: int | None = None) -> Timing:
        """Request frames of :func:`request_bytes` ``(n)`` bytes (a WRITE of ``n`` words; 0 or
        ``None``: no payload): ``o_frame`` is valid 1 cycle after the frame's last byte; one
        frame per ``request_bytes(n) + 1`` cycles (one byte per cycle, then ``i_stream.ready``
        is low for the cycle ``o_frame`` is offered), ``o_frame`` always ready."""
        return Timing(latency=1, latency_from="last", interval=request_bytes(n) + 1,
                      per="frame")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.crc = crc = CRC16()
        i, o = self.i_stream, self.o_frame
        byte = i.payload
        take = Signal()
        m.d.comb += [i.ready.eq(~o.valid), take.eq(i.valid & i.ready)]
        with m.If(o.ready):
            m.d.sync += o.valid.eq(0)

        timer = Signal(range(self._timeout))
        expired = Signal()
        m.d.comb += expired.eq((timer == self._timeout - 1) & ~take)
        with m.If(take):
            m.d.sync += timer.eq(0)
        with m.Elif(~expired):
            m.d.sync += timer.eq(timer + 1)

        length, count = o.payload.length, Signal(range(MAX_PAYLOAD + 1))
        word, crc_lo = Signal(32), Signal(8)
        new_len = Cat(length[:8], byte)
        m.d.comb += [crc.data.eq(byte), self.buf_data.eq(Cat(word[8:], byte)),
                     self.buf_addr.eq(count >> 2)]

        def finish(status: Status) -> None:
            m.d.sync += [o.payload.status.eq(status), o.valid.eq(1)]
            m.next = "HUNT"

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += crc.clear.eq(1)
                with m.If(take & (byte == SYNC)):
                    m.next = "LEN0"
            for state, nxt in [("LEN0", "LEN1"), ("LEN1", "CMD"), ("CMD", "PAYLOAD"),
                               ("PAYLOAD", "CRC0"), ("CRC0", "CRC1"), ("CRC1", "HUNT")]:
                with m.State(state):
                    if state in ("LEN0", "LEN1", "CMD", "PAYLOAD"):
                        m.d.comb += crc.en.eq(take)
                    with m.If(expired):
                        finish(Status.TRUNCATED)
                    with m.Elif(take):
                        self._byte(m, state, nxt, byte, new_len, count, word, crc_lo,
                                   crc.crc, finish)
            with m.State("FLUSH"):
                with m.If(expired):
                    m.d.sync += o.valid.eq(1)
                    m.next = "HUNT"
        return m

    def _byte(self, m, state, nxt, byte, new_len, count, word, crc_lo, crc, finish) -> None:
        """What one accepted byte does in a mid-frame ``state``."""
        o = self.o_frame.payload
        if state == "LEN0":
            m.d.sync += o.length.eq(byte)
            m.next = nxt
        elif state == "LEN1":
            m.d.sync += [o.length.eq(new_len), count.eq(0)]
            m.next = nxt
            with m.If(new_len > MAX_PAYLOAD):
                m.d.sync += o.status.eq(Status.BAD_LENGTH)
                m.next = "FLUSH"
        elif state == "CMD":
            m.d.sync += o.cmd.eq(byte)
            m.next = nxt
            with m.If(o.length == 0):
                m.next = "CRC0"
        elif state == "PAYLOAD":
            m.d.sync += [word.eq(Cat(word[8:], byte)), count.eq(count + 1)]
            m.d.comb += self.buf_en.eq(count[:2] == 3)
            with m.If(count == o.length - 1):
                m.next = nxt
        elif state == "CRC0":
            m.d.sync += crc_lo.eq(byte)
            m.next = nxt
        else:
            with m.If(Cat(crc_lo, byte) == crc):
                finish(Status.OK)
            with m.Else():
                m.d.sync += o.status.eq(Status.BAD_CRC)
                m.next = "FLUSH"
