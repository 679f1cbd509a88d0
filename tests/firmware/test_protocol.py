"""Frame format, CRC and request/response encoding of ``ivita.firmware.protocol``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from ivita.firmware import protocol as p


def test_crc_reference_values() -> None:
    # CRC-16/CCITT-FALSE check value from the CRC catalogue
    assert p.crc16(b"123456789") == 0x29B1
    assert p.crc16(b"") == 0xFFFF
    assert p.crc16(b"56789", p.crc16(b"1234")) == 0x29B1
    assert p.crc16(b"\x00") == 0xE1F0


def test_frame_layout_by_hand() -> None:
    frame = p.encode_frame(0x02, b"\x10\x20\x30")
    assert frame[:4] == bytes([0xA5, 3, 0, 0x02])
    assert frame[4:7] == b"\x10\x20\x30"
    crc = p.crc16(bytes([3, 0, 0x02, 0x10, 0x20, 0x30]))   # LEN .. PAYLOAD, SYNC excluded
    assert frame[7:] == bytes([crc & 0xFF, crc >> 8])
    assert p.decode_frame(frame) == p.Frame(0x02, b"\x10\x20\x30")


def test_constants_are_consistent() -> None:
    assert p.MAX_PAYLOAD == 4 + 4 * p.MAX_WORDS
    assert len(p.write_request(0, [0] * p.MAX_WORDS)) == 1 + 2 + 1 + p.MAX_PAYLOAD + 2
    assert p.MAX_RESPONSE_PAYLOAD == len(p.encode_response(3, 0, [0] * p.MAX_WORDS)) - 6
    assert p.PROTOCOL_MAGIC.to_bytes(4, "little") == b"IVTA"
    assert {c.value for c in p.Command}.isdisjoint({p.ERROR_CMD})


def test_requests() -> None:
    assert p.decode_frame(p.ping_request()) == p.Frame(1, b"")
    assert p.decode_frame(p.write_request(0x1234, [1, 0xFFFFFFFF])) == p.Frame(
        2, bytes.fromhex("34120000" "01000000" "ffffffff"))
    assert p.decode_frame(p.read_request(7, 64)).payload == bytes.fromhex("07000000" "40000000")
    assert p.decode_frame(p.start_request()) == p.Frame(4, b"")
    assert p.decode_frame(p.status_request()) == p.Frame(5, b"")


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: p.write_request(0, []), ValueError,
     r"^count=0 is out of range; it must be in 1\.\.64 words per frame$"),
    (lambda: p.write_request(0, [0] * 65), ValueError, r"^count=65 is out of range"),
    (lambda: p.read_request(1 << 32, 1), ValueError,
     r"^address=4294967296 is out of range; it must be in 0\.\.4294967295$"),
    (lambda: p.read_request(-1, 1), ValueError, r"^address=-1 is out of range"),
    (lambda: p.write_request(0, [1, 1 << 32]), ValueError,
     r"^words\[1\]=4294967296 is out of range; it must be in 0\.\.4294967295$"),
    (lambda: p.write_request(0, [1.5]), TypeError, r"^words\[0\] must be an int, not float"),
    (lambda: p.encode_frame(256), ValueError, r"^cmd=256 is out of range; it must be in 0\.\.255$"),
    (lambda: p.encode_frame(1, bytes(261)), ValueError,
     r"^payload of 261 bytes is too long; at most MAX_PAYLOAD=260 bytes fit a frame$"),
])
def test_encoding_errors_name_value_and_limit(call, exc, msg) -> None:
    with pytest.raises(exc, match=msg):
        call()


GOOD = p.encode_frame(3, b"\x01\x02\x03\x04")


@pytest.mark.parametrize("data, msg", [
    (b"\xa5\x00", r"^a frame header needs 3 bytes, got 2$"),
    (b"\x5a" + GOOD[1:], r"^frame starts with 0x5A, expected SYNC 0xA5$"),
    (GOOD[:-1], r"^frame with LEN=4 has 10 bytes, got 9$"),
    (GOOD + b"\x00", r"^frame with LEN=4 has 10 bytes, got 11$"),
    (GOOD[:-1] + bytes([GOOD[-1] ^ 1]), r"^CRC mismatch: frame carries 0x[0-9A-F]{4}, computed"),
    (GOOD[:4] + bytes([GOOD[4] ^ 0x80]) + GOOD[5:], r"^CRC mismatch"),
    (b"\xa5\x05\x01" + bytes(264), r"^LEN=261 is too long; at most 260 payload bytes$"),
])
def test_decode_frame_errors(data: bytes, msg: str) -> None:
    with pytest.raises(p.FrameError, match=msg):
        p.decode_frame(data)


def test_response_round_trip() -> None:
    frame = p.encode_response(p.Command.READ, p.Status.OK, [5, 6])
    assert frame[3] == 0x83 and frame[4] == 0
    assert p.decode_response(p.decode_frame(frame)) == p.Response(3, p.Status.OK, (5, 6))
    err = p.encode_response(None, p.Status.BAD_CRC)
    assert err[3] == p.ERROR_CMD
    assert p.decode_response(p.decode_frame(err)) == p.Response(None, p.Status.BAD_CRC, ())


@pytest.mark.parametrize("frame, msg", [
    (p.Frame(0x03, b"\x00"), r"^CMD=0x03 is not a response \(bit 7 clear\)$"),
    (p.Frame(0x83, b""), r"^response payload is empty"),
    (p.Frame(0x83, b"\x00\x01\x02"), r"^response payload of 3 bytes is not a status byte"),
    (p.Frame(0x83, b"\x09"), r"^unknown status code 9$"),
])
def test_decode_response_errors(frame: p.Frame, msg: str) -> None:
    with pytest.raises(p.FrameError, match=msg):
        p.decode_response(frame)


def test_status_words_round_trip() -> None:
    words = p.status_words(True, False, 0x7F, 123456)
    assert words == [0x7F01, 123456]
    assert p.DeviceStatus.from_words(words) == p.DeviceStatus(True, False, 0x7F, 123456)
    assert p.DeviceStatus.from_words(p.status_words(False, True, 0, 0)).done
    with pytest.raises(p.FrameError, match=r"^STATUS returns 2 words, got 1$"):
        p.DeviceStatus.from_words([0])


BLOCKER = textwrap.dedent("""
    import importlib, importlib.abc, json, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("amaranth", "numpy", "serial", "cocotb"):
                raise ImportError(f"{name} is blocked for this test")
            return None

    sys.meta_path.insert(0, Block())
    for m in ("ivita.firmware.protocol", "ivita.firmware.uart_line", "ivita.firmware.transport",
              "ivita.firmware.driver"):
        importlib.import_module(m)
    from ivita.firmware.transport import SerialTransport
    try:
        SerialTransport("loop://")
    except ImportError as exc:
        print(json.dumps(str(exc)))
""")


def test_host_side_imports_without_amaranth_numpy_or_pyserial() -> None:
    proc = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    msg = json.loads(proc.stdout.strip().splitlines()[-1])
    assert msg == "SerialTransport needs pyserial (pip install pyserial==3.5, a dependency of ivita)"
