"""Response frame builder of the host link: header + words -> framed, checksummed bytes."""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.protocol import MAX_WORDS, SYNC
from ivita.model.checks import check_int

from .crc16 import CRC16
from .hostif_exec import head_layout
from .timing import Timing

__all__ = ["ResponseBuilder"]


class ResponseBuilder(wiring.Component):
    """Serialize ``SYNC | LEN | CMD | STATUS | words (LE) | CRC`` with ``LEN = 1 + 4 * n``
    (= :func:`ivita.firmware.protocol.encode_response`).

    ``i_head`` (:func:`~ivita.hw.hostif_exec.head_layout`) is taken while idle; then
    ``n_words`` words are taken from ``i_words`` as they are needed (one at a time, when the
    previous word's 4 bytes are gone).

    Timing (:meth:`timing`): the SYNC byte is offered the cycle after ``i_head`` is taken.
    Throughput: one byte per cycle while ``o_stream.ready`` is high, plus one cycle per data
    word (taking it); a frame of ``n`` words takes ``7 + 5 n`` cycles at full speed, then one
    idle cycle before the next header. Back-pressure: ``o_stream.ready`` low holds the
    current byte; ``i_head.ready``, ``i_words.ready`` and ``o_stream.valid`` depend only on
    the builder's state.
    """

    def __init__(self) -> None:
        super().__init__({
            "i_head": In(stream.Signature(head_layout())),
            "i_words": In(stream.Signature(32)),
            "o_stream": Out(stream.Signature(8)),
        })

    def timing(self, n: int | None = None) -> Timing:
        """Response frames of ``n`` data words (``0..MAX_WORDS``, default 0): latency 1 from
        the transfer of ``i_head`` to the first byte on ``o_stream``; one frame per ``8 + 5 n``
        cycles with ``o_stream`` always ready and headers and words always offered."""
        w = 0 if n is None else check_int(n, "n", 0, MAX_WORDS)
        return Timing(latency=1, latency_from="first", interval=8 + 5 * w, per="frame")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.crc = crc = CRC16()
        o, head = self.o_stream, self.i_head
        cmd, status = Signal(8), Signal(8)
        left = Signal(range(MAX_WORDS + 1))
        length = Signal(16)
        word, lane = Signal(32), Signal(2)
        sent = Signal()
        m.d.comb += [sent.eq(o.valid & o.ready), crc.data.eq(o.payload)]

        sequence = [("SYNC", SYNC), ("LEN0", length[:8]), ("LEN1", length[8:]),
                    ("CMD", cmd), ("STATUS", status)]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += head.ready.eq(1)
                with m.If(head.valid):
                    m.d.sync += [cmd.eq(head.payload.cmd), status.eq(head.payload.status),
                                 left.eq(head.payload.n_words),
                                 length.eq(1 + 4 * head.payload.n_words)]
                    m.next = "SYNC"
            for k, (state, value) in enumerate(sequence):
                with m.State(state):
                    m.d.comb += [o.valid.eq(1), o.payload.eq(value),
                                 crc.clear.eq(int(k == 0)), crc.en.eq(sent if k else 0)]
                    with m.If(sent):
                        if state == "STATUS":
                            m.next = "CRC0"
                            with m.If(left != 0):
                                m.next = "LOAD"
                        else:
                            m.next = sequence[k + 1][0]
            with m.State("LOAD"):
                m.d.comb += self.i_words.ready.eq(1)
                with m.If(self.i_words.valid):
                    m.d.sync += [word.eq(self.i_words.payload), lane.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [o.valid.eq(1), o.payload.eq(word[:8]), crc.en.eq(sent)]
                with m.If(sent):
                    m.d.sync += [word.eq(word >> 8), lane.eq(lane + 1)]
                    with m.If(lane == 3):
                        m.d.sync += left.eq(left - 1)
                        m.next = "LOAD"
                        with m.If(left == 1):
                            m.next = "CRC0"
            with m.State("CRC0"):
                m.d.comb += [o.valid.eq(1), o.payload.eq(crc.crc[:8])]
                with m.If(sent):
                    m.next = "CRC1"
            with m.State("CRC1"):
                m.d.comb += [o.valid.eq(1), o.payload.eq(crc.crc[8:])]
                with m.If(sent):
                    m.next = "IDLE"
        return m
