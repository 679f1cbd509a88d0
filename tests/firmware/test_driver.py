# amaranth: UnusedElaboratable=no
"""HostDriver end to end against simulated gateware (HostTestDevice through SimTransport),
plus its behaviour on silent and malformed links."""

from __future__ import annotations

import random

import pytest

from ivita.firmware import protocol as p
from ivita.firmware.driver import (BlockError, DeviceError, DeviceTimeout, HostDriver,
                                   ProtocolError)
from ivita.firmware.transport import SerialTransport, SimTransport
from ivita.hw.hostif_testdevice import HostTestDevice

LIMIT = 200


def make(**kwargs) -> tuple[HostDriver, SimTransport]:
    dev = HostTestDevice(**{"addr_limit": LIMIT, "timeout": 32, **kwargs})
    t = SimTransport(dev, clk_hz=1e6)
    return HostDriver(t, timeout=0.005), t           # 5000 cycles per response


def test_writes_then_reads_equal_across_frames() -> None:
    drv, _ = make()
    assert drv.ping() == p.DeviceInfo(p.PROTOCOL_VERSION, LIMIT)
    rng = random.Random(5)
    words = [rng.randrange(1 << 32) for _ in range(150)]        # 3 frames each way
    drv.write_words(17, words)
    drv.write_words(0, [0xAAAA5555])
    assert drv.read_words(17, 150) == words
    assert drv.read_words(0, 1) == [0xAAAA5555]
    assert drv.read_words(LIMIT - 1, 1) == [0]
    assert drv.read_words(5, 0) == []


def test_start_status_wait_done_and_busy() -> None:
    drv, t = make(busy_cycles=3000)
    assert drv.status() == p.DeviceStatus(False, False, 0, 0)
    drv.start()
    st = drv.status()
    assert st.busy and not st.done and 0 < st.cycles < 3000
    with pytest.raises(DeviceError, match=r"^START failed: device answered BUSY \(status 6\)$"):
        drv.start()
    assert drv.wait_done(0.01) == p.DeviceStatus(False, True, 0, 3000)


def test_wait_done_times_out_and_reports_block_errors() -> None:
    drv, _ = make(busy_cycles=100000)
    drv.start()
    with pytest.raises(DeviceTimeout, match=r"^the block is not done after 0\.002 s "
                                            r"\(busy=True, cycles=\d+\)$"):
        drv.wait_done(0.002)
    drv, _ = make(busy_cycles=10, error_code=0x2A)
    drv.start()
    with pytest.raises(BlockError, match=r"^the block finished with error code 42 after 10 "):
        drv.wait_done(0.01)


@pytest.mark.parametrize("call, status", [
    (lambda d: d.write_words(LIMIT - 2, [1, 2, 3]), p.Status.BAD_ADDRESS),
    (lambda d: d.read_words(LIMIT, 1), p.Status.BAD_ADDRESS),
    (lambda d: d.read_words(LIMIT - 10, 70), p.Status.BAD_ADDRESS),   # second frame fails
])
def test_out_of_range_raises_bad_address(call, status) -> None:
    drv, _ = make()
    with pytest.raises(DeviceError) as info:
        call(drv)
    assert info.value.status == status
    assert "device answered BAD_ADDRESS (status 4)" in str(info.value)
    drv.write_words(LIMIT - 3, [1, 2, 3])                            # the link still works
    assert drv.read_words(LIMIT - 3, 3) == [1, 2, 3]


def corrupt(frame: bytes, k: int) -> bytes:
    return frame[:k] + bytes([frame[k] ^ 0x10]) + frame[k + 1:]


@pytest.mark.parametrize("raw, status, cmd", [
    (corrupt(p.write_request(3, [7, 8]), -1), p.Status.BAD_CRC, None),
    (corrupt(p.write_request(3, [7, 8]), 6), p.Status.BAD_CRC, None),
    (p.write_request(3, [7, 8])[:-4], p.Status.TRUNCATED, None),
    (bytes([p.SYNC, 0x10, 0x01, 0x02]) + bytes(8), p.Status.BAD_LENGTH, None),   # LEN 272
    (p.encode_frame(0x66), p.Status.UNKNOWN_CMD, 0x66),
])
def test_corrupted_frames_get_an_error_and_the_next_good_frame_is_served(raw, status,
                                                                          cmd) -> None:
    drv, _ = make()
    assert drv.transact(raw, "raw") == p.Response(cmd, status, ())
    drv.write_words(3, [1, 2])
    assert drv.read_words(2, 3) == [0, 1, 2]            # the bad frame wrote nothing


def test_through_the_uart_receiver_and_transmitter() -> None:
    dev = HostTestDevice(addr_limit=32, timeout=400, divisor=4)
    t = SimTransport(dev, clk_hz=1e6)
    drv = HostDriver(t, timeout=0.01)
    assert drv.ping().addr_limit == 32
    drv.write_words(30, [0x89ABCDEF, 0x76543210])
    assert drv.read_words(29, 3) == [0, 0x89ABCDEF, 0x76543210]
    assert drv.transact(p.encode_frame(0x77), "raw") == p.Response(0x77, p.Status.UNKNOWN_CMD, ())
    assert t.framing_errors == 0


class Silent:
    """A transport that never answers."""

    def __init__(self) -> None:
        self.t, self.sent = 0.0, b""

    def write(self, data: bytes) -> None:
        self.sent += data

    def read(self, n: int, timeout: float) -> bytes:
        self.t += timeout
        return b""

    def now(self) -> float:
        return self.t


class Scripted(Silent):
    """Answers every read from a fixed byte string."""

    def __init__(self, answer: bytes) -> None:
        super().__init__()
        self.answer = answer

    def read(self, n: int, timeout: float) -> bytes:
        out, self.answer = self.answer[:n], self.answer[n:]
        if len(out) < n:
            self.t += timeout
        return out


def test_silent_device_times_out_with_a_clear_message() -> None:
    t = Silent()
    drv = HostDriver(t, timeout=0.25)
    with pytest.raises(DeviceTimeout, match=r"^PING: no response within 0\.25 s$"):
        drv.ping()
    assert t.sent == p.ping_request() and t.t == pytest.approx(0.25)


def test_partial_response_times_out() -> None:
    full = p.encode_response(p.Command.STATUS, p.Status.OK, [0, 0])
    drv = HostDriver(Scripted(full[:-2]), timeout=0.1)
    with pytest.raises(DeviceTimeout, match=r"^STATUS: incomplete response within 0\.1 s "
                                            r"\(got 13 of 15 bytes of the frame\)$"):
        drv.status()


@pytest.mark.parametrize("answer, msg", [
    (p.encode_response(p.Command.READ, p.Status.OK, [1]),
     r"^STATUS: response is for command 0x03, expected 0x05$"),
    (p.encode_response(p.Command.STATUS, p.Status.OK, [1]),
     r"^STATUS: 1 response words, expected 2$"),
    (corrupt(p.encode_response(p.Command.STATUS, p.Status.OK, [1, 2]), 5),
     r"^STATUS: CRC mismatch"),
    (bytes([p.SYNC, 0xFF, 0x01]), r"^STATUS: response LEN=511 exceeds 257 bytes$"),
])
def test_malformed_responses_raise_protocol_error(answer: bytes, msg: str) -> None:
    with pytest.raises(ProtocolError, match=msg):
        HostDriver(Scripted(answer), timeout=0.1).status()


def test_noise_before_a_response_is_skipped() -> None:
    answer = b"\x00\x13" + p.encode_response(p.Command.STATUS, p.Status.OK, [3, 9])
    assert HostDriver(Scripted(answer)).status() == p.DeviceStatus(True, True, 0, 9)


def test_serial_loopback_echo_is_not_a_response() -> None:
    # on a loopback the driver reads its own request back: it must refuse it
    with SerialTransport("loop://") as t:
        with pytest.raises(ProtocolError, match=r"^PING: CMD=0x01 is not a response"):
            HostDriver(t, timeout=0.5).ping()


def test_driver_rejects_bad_timeout() -> None:
    with pytest.raises(ValueError, match=r"^timeout=0 must be positive \(seconds\)$"):
        HostDriver(Silent(), timeout=0)


def test_transact_rejects_a_fragment() -> None:
    with pytest.raises(ValueError, match=r"^a request frame has at least 4 bytes before its "
                                         r"payload, got 2$"):
        HostDriver(Silent()).transact(b"\xa5\x00", "raw")


def test_header_only_response_times_out_with_byte_count() -> None:
    drv = HostDriver(Scripted(bytes([p.SYNC])), timeout=0.1)
    with pytest.raises(DeviceTimeout, match=r"^PING: incomplete response within 0\.1 s "
                                            r"\(got 1 bytes of the frame\)$"):
        drv.ping()
