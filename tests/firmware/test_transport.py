# amaranth: UnusedElaboratable=no
"""SerialTransport on pyserial's loopback, SimTransport's cycle budget and clock."""

from __future__ import annotations

import serial

from ivita.firmware import protocol as p
from ivita.firmware.transport import SerialTransport, SimTransport, Transport
from ivita.hw.hostif_testdevice import HostTestDevice


def test_serial_loopback_round_trip_and_short_read_on_timeout() -> None:
    with SerialTransport("loop://", baudrate=115200) as t:
        assert isinstance(t, Transport)
        t.write(b"\xa5hello")
        assert t.read(6, 0.5) == b"\xa5hello"
        before = t.now()
        assert t.read(3, 0.05) == b""                 # nothing more: timeout, no exception
        assert t.now() - before >= 0.05


def test_serial_wraps_an_open_port() -> None:
    port = serial.serial_for_url("loop://", timeout=0)
    t = SerialTransport(serial=port)
    t.write(b"\x01\x02")
    assert t.read(2, 0.5) == b"\x01\x02"
    t.close()
    assert not port.is_open


def test_sim_read_stops_at_n_bytes_and_keeps_the_rest() -> None:
    t = SimTransport(HostTestDevice(addr_limit=16), clk_hz=1e6)
    assert isinstance(t, Transport)
    t.write(p.ping_request())
    frame_len = 6 + 1 + 12
    first = t.read(3, 0.001)
    assert first[0] == p.SYNC and len(first) == 3
    rest = t.read(100, 0.001)                         # only what the device sent
    assert len(rest) == frame_len - 3
    assert p.decode_response(p.decode_frame(first + rest)).status == p.Status.OK


def test_sim_silent_device_uses_exactly_the_cycle_budget() -> None:
    t = SimTransport(HostTestDevice(addr_limit=16), clk_hz=2e5)
    start = t.cycle
    assert t.read(1, 0.001) == b""                    # 0.001 s * 2e5 Hz = 200 cycles
    assert t.cycle - start == 200
    assert t.now() == t.cycle / 2e5


def test_sim_gap_between_injected_bytes_triggers_the_device_timeout() -> None:
    # a gap longer than the device's timeout truncates every frame
    dev = HostTestDevice(addr_limit=16, timeout=8)
    t = SimTransport(dev, clk_hz=1e6, gap=10)
    t.write(p.ping_request())
    got = p.decode_response(p.decode_frame(t.read(7, 0.001)))
    assert got == p.Response(None, p.Status.TRUNCATED, ())


def test_sim_record_lists_every_byte_with_its_cycle() -> None:
    t = SimTransport(HostTestDevice(addr_limit=16), clk_hz=1e6, record=True)
    t.write(p.status_request())
    got = t.read(15, 0.001)
    ins = [(c, b) for c, k, b in t.events if k == "in"]
    outs = [(c, b) for c, k, b in t.events if k == "out"]
    assert bytes(b for _, b in ins) == p.status_request()
    assert bytes(b for _, b in outs) == got
    assert [c for c, _ in ins] == list(range(ins[0][0], ins[0][0] + 6))   # one per cycle
    assert outs[0][0] > ins[-1][0]
