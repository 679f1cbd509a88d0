"""Executable specification of a device behind the host link (pure Python).

:class:`ReferenceDevice` answers request bytes exactly as ``ivita.hw.hostif.HostInterface``
in front of a word RAM must (docs/host.md): the gateware tests compare the simulated
decoder's response bytes and RAM contents with it using ``==``.

Input is a list of *segments*: bytes sent back to back, each followed by an idle line of at
least the decoder's ``timeout`` (the only timing the protocol depends on).
"""

from __future__ import annotations

from collections.abc import Sequence

from .protocol import (CRC_BYTES, MAX_PAYLOAD, MAX_WORDS, PROTOCOL_MAGIC, PROTOCOL_VERSION,
                       SYNC, Command, Status, bytes_to_words, crc16, encode_response,
                       status_words)

__all__ = ["ReferenceDevice"]


class ReferenceDevice:
    """RAM of ``addr_limit`` words (``mem``, absent = 0) and constant block status inputs."""

    def __init__(self, addr_limit: int, *, busy: bool = False, done: bool = False,
                 error_code: int = 0, cycles: int = 0) -> None:
        self.addr_limit = addr_limit
        self.busy, self.done, self.error_code, self.cycles = busy, done, error_code, cycles
        self.mem: dict[int, int] = {}
        self.starts = 0

    def run(self, segments: Sequence[bytes]) -> bytes:
        """All response bytes for ``segments``."""
        return b"".join(self._segment(bytes(s)) for s in segments)

    def _segment(self, seg: bytes) -> bytes:
        out, i = b"", 0
        while i < len(seg):
            if seg[i] != SYNC:
                i += 1                                   # hunting for SYNC
                continue
            if i + 3 > len(seg):
                return out + encode_response(None, Status.TRUNCATED)
            n = seg[i + 1] | seg[i + 2] << 8
            if n > MAX_PAYLOAD:                          # the rest of the segment is dropped
                return out + encode_response(None, Status.BAD_LENGTH)
            end = i + 4 + n + CRC_BYTES
            if end > len(seg):
                return out + encode_response(None, Status.TRUNCATED)
            body = seg[i + 1:end - CRC_BYTES]
            if crc16(body) != seg[end - 2] | seg[end - 1] << 8:
                return out + encode_response(None, Status.BAD_CRC)
            out += self.execute(body[2], body[3:])
            i = end
        return out

    def execute(self, cmd: int, payload: bytes) -> bytes:
        """The response to one well-formed frame (checks in the documented order)."""
        n = len(payload)
        words = bytes_to_words(payload[:n - n % 4])
        if cmd not in {c.value for c in Command}:
            return encode_response(cmd & 0x7F, Status.UNKNOWN_CMD)
        if cmd == Command.WRITE:
            ok, count = n >= 8 and n % 4 == 0, n // 4 - 1
        elif cmd == Command.READ:
            ok = n == 8 and 1 <= words[1] <= MAX_WORDS
            count = words[1] if ok else 0
        else:
            ok, count = n == 0, 0
        if not ok:
            return encode_response(cmd, Status.BAD_LENGTH)
        if cmd in (Command.WRITE, Command.READ) and words[0] + count > self.addr_limit:
            return encode_response(cmd, Status.BAD_ADDRESS)
        if cmd == Command.START and self.busy:
            return encode_response(cmd, Status.BUSY)
        data: list[int] = []
        if cmd == Command.PING:
            data = [PROTOCOL_MAGIC, PROTOCOL_VERSION, self.addr_limit]
        elif cmd == Command.WRITE:
            for k, w in enumerate(words[1:]):
                self.mem[words[0] + k] = w
        elif cmd == Command.READ:
            data = [self.mem.get(words[0] + k, 0) for k in range(count)]
        elif cmd == Command.START:
            self.starts += 1
        else:
            data = status_words(self.busy, self.done, self.error_code, self.cycles)
        return encode_response(cmd, Status.OK, data)
