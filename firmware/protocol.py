"""The host link's frame format and command codes: the one definition for gateware and host.

Pure Python (stdlib only). The gateware command decoder (``ivita.hw.hostif``) takes its
constants from here and the host driver (:mod:`ivita.firmware.driver`) encodes and decodes
with the functions below, so the two sides cannot drift apart. (Layering: ``ivita.hw`` may
import this module; it imports nothing from ``ivita``.)

Frame (both directions), all multi-byte fields little-endian::

    SYNC (0xA5) | LEN (u16, payload bytes) | CMD (u8) | PAYLOAD (LEN bytes) | CRC (u16)

``CRC`` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, no final xor) over
``LEN .. PAYLOAD`` (the bytes after SYNC and before the CRC). ``LEN`` is at most
:data:`MAX_PAYLOAD`. Request payloads are whole 32-bit words.

Responses carry ``CMD = request CMD | 0x80`` (:data:`RESPONSE_FLAG`), or :data:`ERROR_CMD`
when the request could not be parsed (bad CRC, oversize length, truncated), and a payload of
one status byte (:class:`Status`) followed by 32-bit data words.

See docs/host.md for the command table, the status codes and the timing.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "SYNC", "RESPONSE_FLAG", "ERROR_CMD", "MAX_WORDS", "MAX_PAYLOAD", "MAX_RESPONSE_PAYLOAD",
    "HEADER_BYTES", "CRC_BYTES", "PROTOCOL_MAGIC", "PROTOCOL_VERSION", "CRC_INIT", "CRC_POLY",
    "Command", "Status", "FrameError", "Frame", "Response", "DeviceInfo", "DeviceStatus",
    "crc16", "encode_frame", "decode_frame", "payload_length", "encode_request",
    "ping_request", "write_request", "read_request", "start_request", "status_request",
    "encode_response", "decode_response", "status_words", "words_to_bytes", "bytes_to_words",
]

SYNC = 0xA5
RESPONSE_FLAG = 0x80
ERROR_CMD = 0xFF            # CMD of the response to a frame that could not be parsed
MAX_WORDS = 64              # data words per WRITE request / READ response
MAX_PAYLOAD = 4 + 4 * MAX_WORDS            # 260: a full WRITE (address + 64 words)
MAX_RESPONSE_PAYLOAD = 1 + 4 * MAX_WORDS   # 257: status + 64 words
HEADER_BYTES = 4            # SYNC, LEN lo, LEN hi, CMD
CRC_BYTES = 2
CRC_POLY = 0x1021
CRC_INIT = 0xFFFF
PROTOCOL_MAGIC = 0x41545649  # b"IVTA" read as a little-endian u32
PROTOCOL_VERSION = 1


class Command(enum.IntEnum):
    """Request command codes (the ``CMD`` byte of a request)."""

    PING = 0x01     # -> [PROTOCOL_MAGIC, PROTOCOL_VERSION, addr_limit]
    WRITE = 0x02    # address u32, 1..MAX_WORDS words -> []
    READ = 0x03     # address u32, count u32 (1..MAX_WORDS) -> count words
    START = 0x04    # -> [] (BUSY while the block is busy)
    STATUS = 0x05   # -> [flags (bit 0 busy, bit 1 done, bits 8..15 error code), cycles]


class Status(enum.IntEnum):
    """Status byte of a response (first payload byte)."""

    OK = 0
    BAD_CRC = 1        # CRC mismatch (sent after the line has been idle for the timeout)
    BAD_LENGTH = 2     # LEN > MAX_PAYLOAD, or LEN / count wrong for the command
    UNKNOWN_CMD = 3    # CMD is not a Command
    BAD_ADDRESS = 4    # an accessed word address is >= the device's addr_limit
    TRUNCATED = 5      # the line went idle for the timeout in the middle of a frame
    BUSY = 6           # START while the block is busy


class FrameError(ValueError):
    """A byte string is not a well-formed frame (the message names the bad field)."""


_CRC_TABLE: list[int] = []
for _i in range(256):
    _c = _i << 8
    for _ in range(8):
        _c = ((_c << 1) ^ CRC_POLY) if _c & 0x8000 else (_c << 1)
    _CRC_TABLE.append(_c & 0xFFFF)


def crc16(data: bytes | bytearray | Iterable[int], crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (``crc16(b"123456789") == 0x29B1``); ``crc`` continues
    a running value."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def _check_u(name: str, value: int, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__} ({value!r})")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{name}={value} is out of range; it must be in 0..{(1 << bits) - 1}")
    return value


@dataclass(frozen=True)
class Frame:
    """A decoded frame: the ``CMD`` byte and the payload bytes."""

    cmd: int
    payload: bytes


def encode_frame(cmd: int, payload: bytes = b"") -> bytes:
    """``SYNC | LEN | CMD | payload | CRC``; ``cmd`` 0..255, ``len(payload) <= MAX_PAYLOAD``."""
    _check_u("cmd", cmd, 8)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes is too long; "
                         f"at most MAX_PAYLOAD={MAX_PAYLOAD} bytes fit a frame")
    body = struct.pack("<HB", len(payload), cmd) + bytes(payload)
    return bytes([SYNC]) + body + struct.pack("<H", crc16(body))


def payload_length(header: bytes) -> int:
    """``LEN`` from the first 3 bytes of a frame (``SYNC``, ``LEN`` lo, ``LEN`` hi)."""
    if len(header) < 3:
        raise FrameError(f"a frame header needs 3 bytes, got {len(header)}")
    if header[0] != SYNC:
        raise FrameError(f"frame starts with 0x{header[0]:02X}, expected SYNC 0x{SYNC:02X}")
    return header[1] | header[2] << 8


def decode_frame(data: bytes, *, max_payload: int = MAX_PAYLOAD) -> Frame:
    """Decode exactly one frame; :class:`FrameError` names the first bad field."""
    data = bytes(data)
    n = payload_length(data)
    if n > max_payload:
        raise FrameError(f"LEN={n} is too long; at most {max_payload} payload bytes")
    want = 1 + 2 + 1 + n + CRC_BYTES
    if len(data) != want:
        raise FrameError(f"frame with LEN={n} has {want} bytes, got {len(data)}")
    body = data[1:-CRC_BYTES]
    got_crc = data[-2] | data[-1] << 8
    if crc16(body) != got_crc:
        raise FrameError(f"CRC mismatch: frame carries 0x{got_crc:04X}, "
                         f"computed 0x{crc16(body):04X}")
    return Frame(cmd=data[3], payload=data[4:-CRC_BYTES])


def words_to_bytes(words: Iterable[int]) -> bytes:
    """32-bit words, little-endian; each must be in 0..2^32-1."""
    ws = [_check_u(f"words[{i}]", w, 32) for i, w in enumerate(words)]
    return struct.pack(f"<{len(ws)}I", *ws)


def bytes_to_words(data: bytes) -> list[int]:
    if len(data) % 4:
        raise FrameError(f"{len(data)} bytes are not a whole number of 32-bit words")
    return list(struct.unpack(f"<{len(data) // 4}I", data))


def encode_request(cmd: Command, words: Sequence[int] = ()) -> bytes:
    """A request frame whose payload is ``words`` (32-bit, little-endian)."""
    return encode_frame(int(cmd), words_to_bytes(words))


def _check_span(address: int, count: int) -> None:
    _check_u("address", address, 32)
    if not 1 <= count <= MAX_WORDS:
        raise ValueError(f"count={count} is out of range; it must be in 1..{MAX_WORDS} "
                         "words per frame")


def ping_request() -> bytes:
    return encode_request(Command.PING)


def write_request(address: int, words: Sequence[int]) -> bytes:
    """WRITE of ``1..MAX_WORDS`` words at word ``address`` (u32)."""
    _check_span(address, len(words))
    return encode_frame(Command.WRITE, words_to_bytes([address]) + words_to_bytes(words))


def read_request(address: int, count: int) -> bytes:
    """READ of ``count`` (1..MAX_WORDS) words from word ``address`` (u32)."""
    _check_span(address, count)
    return encode_request(Command.READ, [address, count])


def start_request() -> bytes:
    return encode_request(Command.START)


def status_request() -> bytes:
    return encode_request(Command.STATUS)


@dataclass(frozen=True)
class Response:
    """A decoded response: the request command it answers (``None`` for :data:`ERROR_CMD`),
    the status and the data words."""

    cmd: int | None
    status: Status
    words: tuple[int, ...]


def encode_response(cmd: int | None, status: Status | int, words: Sequence[int] = ()) -> bytes:
    """The frame a device sends: ``CMD = cmd | 0x80`` (``ERROR_CMD`` for ``cmd=None``)."""
    if len(words) > MAX_WORDS:
        raise ValueError(f"{len(words)} response words; at most MAX_WORDS={MAX_WORDS}")
    code = ERROR_CMD if cmd is None else (_check_u("cmd", cmd, 8) | RESPONSE_FLAG)
    return encode_frame(code, bytes([Status(status)]) + words_to_bytes(words))


def decode_response(frame: Frame) -> Response:
    """Check and split a response frame; :class:`FrameError` names what is wrong."""
    if frame.cmd != ERROR_CMD and not frame.cmd & RESPONSE_FLAG:
        raise FrameError(f"CMD=0x{frame.cmd:02X} is not a response (bit 7 clear)")
    if not frame.payload:
        raise FrameError("response payload is empty; it must start with a status byte")
    if (len(frame.payload) - 1) % 4:
        raise FrameError(f"response payload of {len(frame.payload)} bytes is not "
                         "a status byte plus whole 32-bit words")
    try:
        status = Status(frame.payload[0])
    except ValueError:
        raise FrameError(f"unknown status code {frame.payload[0]}") from None
    cmd = None if frame.cmd == ERROR_CMD else frame.cmd & ~RESPONSE_FLAG & 0xFF
    return Response(cmd, status, tuple(bytes_to_words(frame.payload[1:])))


@dataclass(frozen=True)
class DeviceInfo:
    """PING answer: protocol version and the number of addressable words."""

    version: int
    addr_limit: int


@dataclass(frozen=True)
class DeviceStatus:
    """STATUS answer: the block's ``busy``/``done`` flags, error code and cycle counter."""

    busy: bool
    done: bool
    error_code: int
    cycles: int

    @classmethod
    def from_words(cls, words: Sequence[int]) -> DeviceStatus:
        if len(words) != 2:
            raise FrameError(f"STATUS returns 2 words, got {len(words)}")
        flags, cycles = words
        return cls(bool(flags & 1), bool(flags & 2), (flags >> 8) & 0xFF, cycles)


def status_words(busy: bool, done: bool, error_code: int, cycles: int) -> list[int]:
    """The two STATUS words (inverse of :meth:`DeviceStatus.from_words`)."""
    _check_u("error_code", error_code, 8)
    _check_u("cycles", cycles, 32)
    return [int(bool(busy)) | int(bool(done)) << 1 | error_code << 8, cycles]
