"""ReferenceDevice (the executable spec the gateware decoder is compared with), by hand."""

from __future__ import annotations

from ivita.firmware import protocol as p
from ivita.firmware.protocol import Command as C
from ivita.firmware.protocol import Status as S
from ivita.firmware.refdevice import ReferenceDevice


def responses(out: bytes) -> list[p.Response]:
    res = []
    while out:
        n = p.payload_length(out[:3])
        res.append(p.decode_response(p.decode_frame(out[:n + 6])))
        out = out[n + 6:]
    return res


def test_write_read_in_one_segment_and_noise() -> None:
    dev = ReferenceDevice(16)
    out = dev.run([b"\x00\x11" + p.write_request(14, [5, 6]) + b"\x42" + p.read_request(13, 3)])
    assert responses(out) == [p.Response(2, S.OK, ()), p.Response(3, S.OK, (0, 5, 6))]
    assert dev.mem == {14: 5, 15: 6}


def test_errors_drop_the_rest_of_their_segment_only() -> None:
    dev = ReferenceDevice(16, busy=True)
    bad_crc = p.ping_request()[:-1] + b"\x00"
    out = dev.run([bad_crc + p.write_request(0, [1]),
                   bytes([p.SYNC, 0x05, 0x01]) + p.ping_request(),
                   p.write_request(0, [1])[:-1],
                   bytes([p.SYNC]),
                   p.start_request() + p.write_request(15, [1, 2]) + p.encode_frame(0xC4),
                   p.status_request()])
    assert responses(out) == [
        p.Response(None, S.BAD_CRC, ()), p.Response(None, S.BAD_LENGTH, ()),
        p.Response(None, S.TRUNCATED, ()), p.Response(None, S.TRUNCATED, ()),
        p.Response(4, S.BUSY, ()), p.Response(2, S.BAD_ADDRESS, ()),
        p.Response(0x44, S.UNKNOWN_CMD, ()), p.Response(5, S.OK, (1, 0))]
    assert dev.mem == {} and dev.starts == 0


def test_ping_start_and_length_checks() -> None:
    dev = ReferenceDevice(300, done=True, error_code=3, cycles=12)
    out = dev.run([p.ping_request() + p.start_request() + p.status_request() +
                   p.encode_request(C.READ, [0, 65]) + p.encode_frame(C.WRITE, bytes(6))])
    assert responses(out) == [
        p.Response(1, S.OK, (p.PROTOCOL_MAGIC, p.PROTOCOL_VERSION, 300)),
        p.Response(4, S.OK, ()), p.Response(5, S.OK, (0x302, 12)),
        p.Response(3, S.BAD_LENGTH, ()), p.Response(2, S.BAD_LENGTH, ())]
    assert dev.starts == 1
