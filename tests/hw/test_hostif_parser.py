# amaranth: UnusedElaboratable=no
"""FrameParser alone: payload words land in the buffer little-endian at word k // 4, the frame
fields, input held off while a frame waits, and the status of malformed frames."""

from __future__ import annotations

import pytest
from amaranth.sim import Simulator

from ivita.firmware import protocol as p
from ivita.firmware.protocol import Status as S
from ivita.hw.hostif_parser import FrameParser, frame_layout

TIMEOUT = 10


def parse(data: bytes, *, hold: int = 0, tail: int = 3 * TIMEOUT):
    """Present ``data`` back to back; take each frame ``hold`` cycles after it is offered.
    Returns (frames as dicts, buffer writes {addr: word}, cycles where ready was low while
    a frame was offered)."""
    dut = FrameParser(timeout=TIMEOUT)
    frames, writes, blocked = [], {}, []

    async def bench(ctx):
        k, waited = 0, 0
        for cycle in range(len(data) + tail + 10 * hold + 40):
            ctx.set(dut.i_stream.valid, k < len(data))
            ctx.set(dut.i_stream.payload, data[k] if k < len(data) else 0)
            offered = ctx.get(dut.o_frame.valid)
            take = offered and waited >= hold
            ctx.set(dut.o_frame.ready, take)
            if offered and ctx.get(dut.i_stream.ready):
                blocked.append(cycle)
            if ctx.get(dut.buf_en):
                writes[ctx.get(dut.buf_addr)] = ctx.get(dut.buf_data)
            if take:
                f = ctx.get(dut.o_frame.payload)
                frames.append({"cmd": f.cmd, "length": f.length, "status": S(f.status)})
            waited = waited + 1 if offered and not take else 0
            if k < len(data) and ctx.get(dut.i_stream.ready):
                k += 1
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return frames, writes, blocked


def test_payload_words_and_frame_fields() -> None:
    words = [0x04030201, 0xFFFFFFFF, 0x00000000, 0x89ABCDEF]
    frames, writes, blocked = parse(p.encode_request(0x02, words), hold=5)
    assert frames == [{"cmd": 2, "length": 16, "status": S.OK}]
    assert writes == dict(enumerate(words))
    assert blocked == []                              # no byte taken while the frame waits


def test_back_to_back_frames_wait_for_the_consumer() -> None:
    data = p.encode_request(0x05) + p.encode_request(0x03, [7, 1])
    frames, writes, blocked = parse(data, hold=7)
    assert [f["cmd"] for f in frames] == [5, 3] and writes == {0: 7, 1: 1}
    assert blocked == []


@pytest.mark.parametrize("data, status", [
    (p.encode_frame(1)[:-1] + b"\x00", S.BAD_CRC),
    (p.encode_frame(1)[:-1], S.TRUNCATED),
    (bytes([p.SYNC, 0x05, 0x01]), S.BAD_LENGTH),            # 261
    (bytes([p.SYNC, 0x04, 0x01]) + bytes(5), S.TRUNCATED),  # 260 is allowed, then truncated
])
def test_malformed_frames(data: bytes, status: S) -> None:
    frames, _, _ = parse(data)
    assert [f["status"] for f in frames] == [status]


def test_frame_layout_fits_the_protocol() -> None:
    layout = frame_layout()
    assert layout.size == 8 + (p.MAX_PAYLOAD).bit_length() + max(S).bit_length()
