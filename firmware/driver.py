"""Host driver: the requests of :mod:`ivita.firmware.protocol` over a :class:`Transport`.

The same code talks to a board (:class:`~ivita.firmware.transport.SerialTransport`) and to
simulated gateware (:class:`~ivita.firmware.transport.SimTransport`).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import protocol as p
from .transport import Transport

__all__ = ["HostDriver", "DeviceError", "DeviceTimeout", "ProtocolError", "BlockError"]


class DeviceError(RuntimeError):
    """The device answered with a status other than OK (``status`` names it)."""

    def __init__(self, command: str, status: p.Status, detail: str = "") -> None:
        self.command, self.status = command, status
        super().__init__(f"{command} failed: device answered {status.name} "
                         f"(status {int(status)}){detail}")


class DeviceTimeout(TimeoutError):
    """The device did not answer (completely) within the timeout."""


class ProtocolError(RuntimeError):
    """The device answered with a malformed or unexpected frame."""


class BlockError(RuntimeError):
    """The block finished with a non-zero error code (``status`` is its STATUS)."""

    def __init__(self, status: p.DeviceStatus) -> None:
        self.status = status
        super().__init__(f"the block finished with error code {status.error_code} "
                         f"after {status.cycles} cycles")


class HostDriver:
    """Requests to one device over ``transport``; every call waits for its response.

    ``timeout`` (seconds on the transport's clock) bounds each response. A non-OK response
    raises :class:`DeviceError`; no or a partial response raises :class:`DeviceTimeout`; a
    malformed one raises :class:`ProtocolError`.
    """

    def __init__(self, transport: Transport, *, timeout: float = 1.0) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout={timeout} must be positive (seconds)")
        self.transport, self.timeout = transport, timeout

    # ---------------------------------------------------------------- one transaction
    def _read_exact(self, n: int, what: str, deadline: float, *, have: int = 0,
                    frame: int | None = None) -> bytes:
        """``n`` bytes or :class:`DeviceTimeout`; ``have`` bytes of a ``frame``-byte frame
        were read before (for the message)."""
        data = self.transport.read(n, max(0.0, deadline - self.transport.now()))
        if len(data) < n:
            if not have and not data:
                raise DeviceTimeout(f"{what}: no response within {self.timeout} s")
            got = f"{have + len(data)} of {frame} bytes" if frame else f"{have + len(data)} bytes"
            raise DeviceTimeout(f"{what}: incomplete response within {self.timeout} s "
                                f"(got {got} of the frame)")
        return data

    def transact(self, request: bytes, what: str) -> p.Response:
        """Send one request frame, return its decoded response (any status)."""
        if len(request) < p.HEADER_BYTES:
            raise ValueError(f"a request frame has at least {p.HEADER_BYTES} bytes before its "
                             f"payload, got {len(request)}")
        self.transport.write(request)
        deadline = self.transport.now() + self.timeout
        while (b := self._read_exact(1, what, deadline)[0]) != p.SYNC:
            pass                                  # noise before the frame: resynchronize
        rest = self._read_exact(2, what, deadline, have=1)
        n = rest[0] | rest[1] << 8
        if n > p.MAX_RESPONSE_PAYLOAD:
            raise ProtocolError(f"{what}: response LEN={n} exceeds "
                                f"{p.MAX_RESPONSE_PAYLOAD} bytes")
        body = self._read_exact(n + 3, what, deadline, have=3, frame=n + 6)
        try:
            resp = p.decode_response(p.decode_frame(bytes([b]) + rest + body))
        except p.FrameError as exc:
            raise ProtocolError(f"{what}: {exc}") from None
        want = request[3]
        if resp.cmd is not None and resp.cmd != want:
            raise ProtocolError(f"{what}: response is for command 0x{resp.cmd:02X}, "
                                f"expected 0x{want:02X}")
        return resp

    def _ok(self, request: bytes, what: str, n_words: int) -> tuple[int, ...]:
        resp = self.transact(request, what)
        if resp.status != p.Status.OK:
            raise DeviceError(what, resp.status)
        if len(resp.words) != n_words:
            raise ProtocolError(f"{what}: {len(resp.words)} response words, expected {n_words}")
        return resp.words

    # ---------------------------------------------------------------- commands
    def ping(self) -> p.DeviceInfo:
        """Check the link; returns the protocol version and the device's ``addr_limit``."""
        magic, version, limit = self._ok(p.ping_request(), "PING", 3)
        if magic != p.PROTOCOL_MAGIC:
            raise ProtocolError(f"PING: magic 0x{magic:08X}, expected 0x{p.PROTOCOL_MAGIC:08X}")
        if version != p.PROTOCOL_VERSION:
            raise ProtocolError(f"PING: protocol version {version}, "
                                f"this driver speaks {p.PROTOCOL_VERSION}")
        return p.DeviceInfo(version, limit)

    def write_words(self, address: int, words: Sequence[int]) -> None:
        """Write ``words`` from word ``address`` on, ``MAX_WORDS`` per frame."""
        words = list(words)
        for k in range(0, len(words), p.MAX_WORDS):
            chunk = words[k:k + p.MAX_WORDS]
            self._ok(p.write_request(address + k, chunk),
                     f"WRITE of {len(chunk)} words at 0x{address + k:X}", 0)

    def read_words(self, address: int, count: int) -> list[int]:
        """Read ``count`` words from word ``address`` on, ``MAX_WORDS`` per frame."""
        if count < 0:
            raise ValueError(f"count={count} must be at least 0")
        out: list[int] = []
        for k in range(0, count, p.MAX_WORDS):
            n = min(p.MAX_WORDS, count - k)
            out += self._ok(p.read_request(address + k, n),
                            f"READ of {n} words at 0x{address + k:X}", n)
        return out

    def start(self) -> None:
        """Pulse the block's ``start`` (DeviceError BUSY while it runs)."""
        self._ok(p.start_request(), "START", 0)

    def status(self) -> p.DeviceStatus:
        return p.DeviceStatus.from_words(self._ok(p.status_request(), "STATUS", 2))

    def wait_done(self, timeout: float) -> p.DeviceStatus:
        """Poll STATUS until ``done`` (and not ``busy``); :class:`BlockError` when the block
        reports an error code, :class:`DeviceTimeout` after ``timeout`` seconds."""
        deadline = self.transport.now() + timeout
        while True:
            st = self.status()
            if st.done and not st.busy:
                if st.error_code:
                    raise BlockError(st)
                return st
            if self.transport.now() >= deadline:
                raise DeviceTimeout(f"the block is not done after {timeout} s "
                                    f"(busy={st.busy}, cycles={st.cycles})")
