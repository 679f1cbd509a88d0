"""The host-link components' declared ``timing(n)`` (hw/timing.py) against the Amaranth simulator.

The sibling of ``tests/hw/test_timing.py`` for components with pins or non-stream ports, which
``run_lanes`` cannot drive: each case here drives its component cycle by cycle, records the
cycle of every input beat and output (stream transfers; on a UART pin the first cycle of a
byte's start bit; the CRC unit's ``en`` strobe; the executor's ``i_frame`` from the cycle it is
first offered -- the reference points of hw/timing.py), checks that the outputs are right, and
returns the measured latency (from the beat named by ``latency_from``) and the steady-state
interval (between the first outputs of items over the second half of the run).
``tests/hw/test_timing.py`` runs ``HOST_CASES`` (both numbers must equal the declaration
exactly) and counts them in its coverage test.
"""

from __future__ import annotations

from typing import Any

import pytest

from ivita.firmware import protocol as p
from ivita.firmware.uart_line import uart_levels
from ivita.hw.accel import Accelerator, AcceleratorUART
from ivita.hw.crc16 import CRC16
from ivita.hw.hostif import HostInterface
from ivita.hw.hostif_exec import Executor
from ivita.hw.hostif_parser import FrameParser, request_bytes, write_words
from ivita.hw.hostif_response import ResponseBuilder
from ivita.hw.hostif_testdevice import HostTestDevice
from ivita.hw.uart import UARTRx, UARTTx
from ivita.model.block_config import BlockConfig
from ivita.sim.timing_probe import Measured, PortCase, period, simulate_cycles

ACCEL_CFG = BlockConfig(rows=2, cols=2, max_tokens=4, max_dim=4, max_heads=1, prog_depth=4)
FRAMES = 8      # items per run of the frame-level units; interval measured over the last half


def _request(n: int | None) -> bytes:
    """The request ``timing(n)`` of the host-link units stands for."""
    w = write_words(n)
    req = p.write_request(0, [0x01020304 * (k + 1) for k in range(w)]) if w else \
        p.start_request()
    assert len(req) == request_bytes(n)
    return req


class _Source:
    """A byte (or payload) stream source offering ``items`` back to back; records the cycle
    of every transfer."""

    def __init__(self, port: Any, items: list[Any]) -> None:
        self.port, self.items, self.cycles = port, items, []

    def step(self, ctx: Any, k: int) -> None:
        i = len(self.cycles)
        ctx.set(self.port.valid, int(i < len(self.items)))
        if i < len(self.items):
            ctx.set(self.port.payload, self.items[i])
            if ctx.get(self.port.ready):
                self.cycles.append(k)


class _Sink:
    """An always-ready stream sink; records every transfer's cycle and payload."""

    def __init__(self, port: Any) -> None:
        self.port, self.cycles, self.data = port, [], []

    def step(self, ctx: Any, k: int) -> None:
        ctx.set(self.port.ready, 1)
        if ctx.get(self.port.valid):
            self.cycles.append(k)
            self.data.append(ctx.get(self.port.payload))


def _tx_bytes(tx: list[int], d: int) -> tuple[list[int], list[int]]:
    """Start-bit cycles and bytes of an 8N1 line sampled once per cycle (sampled mid-bit; the
    scan resumes in the middle of each stop bit, which must be high)."""
    starts, data, k = [], [], 0
    while k < len(tx):
        if tx[k]:
            k += 1
            continue
        assert k + 10 * d <= len(tx), "a byte runs past the end of the run"
        bits = [tx[k + d // 2 + d * b] for b in range(10)]
        assert bits[0] == 0 and bits[9] == 1, f"bad start/stop bit at cycle {k}: {bits}"
        starts.append(k)
        data.append(sum(bit << i for i, bit in enumerate(bits[1:9])))
        k += 9 * d + d // 2
    return starts, data


# --- UART ------------------------------------------------------------------------------

def measure_uart_rx(dut: UARTRx, n: int | None) -> Measured:
    d = dut.divisor
    sent = [0x55, 0xA3, 0x00, 0xFF, 0x12, 0x80, 0x01, 0xFE]
    lead = 5
    line = [1] * lead + uart_levels(sent, d) + [1] * (12 * d)
    sink = _Sink(dut.o_stream)

    def step(ctx: Any, k: int) -> None:
        ctx.set(dut.rx, line[k])
        sink.step(ctx, k)

    simulate_cycles(dut, len(line), step)
    assert sink.data == sent
    return Measured(sink.cycles[0] - line.index(0), period(sink.cycles))


def measure_uart_tx(dut: UARTTx, n: int | None) -> Measured:
    d = dut.divisor
    sent = [0x00, 0xFF, 0x3C, 0xA5, 0x00, 0x81, 0xFF, 0x00]
    src, tx = _Source(dut.i_stream, sent), []

    def step(ctx: Any, k: int) -> None:
        src.step(ctx, k)
        tx.append(ctx.get(dut.tx))

    simulate_cycles(dut, 10 * d * (len(sent) + 2), step)
    starts, got = _tx_bytes(tx, d)
    assert got == sent
    return Measured(starts[0] - src.cycles[0], period(starts))


# --- CRC -------------------------------------------------------------------------------

def measure_crc16(dut: CRC16, n: int | None) -> Measured:
    data = [(37 * k + 11) & 0xFF for k in range(16)]
    crcs: list[int] = []

    def step(ctx: Any, k: int) -> None:
        ctx.set(dut.en, int(k < len(data)))
        ctx.set(dut.data, data[k] if k < len(data) else 0)
        crcs.append(ctx.get(dut.crc))

    simulate_cycles(dut, len(data) + 4, step)
    # the first cycle after the previous byte's in which ``crc`` covers bytes 0..j
    seen, c = [], -1
    for j in range(len(data)):
        ref = p.crc16(bytes(data[:j + 1]))
        c = next(i for i in range(c + 1, len(crcs)) if crcs[i] == ref)
        seen.append(c)
    return Measured(seen[0] - 0, period(seen))          # byte 0 is absorbed in cycle 0


# --- frame level -----------------------------------------------------------------------

def measure_parser(dut: FrameParser, n: int | None) -> Measured:
    req = _request(n)
    src, sink = _Source(dut.i_stream, list(req) * FRAMES), _Sink(dut.o_frame)

    def step(ctx: Any, k: int) -> None:
        src.step(ctx, k)
        sink.step(ctx, k)

    simulate_cycles(dut, (len(req) + 4) * FRAMES + 8, step)
    assert len(sink.cycles) == FRAMES
    assert all(f.status == p.Status.OK and f.length == len(req) - 6 for f in sink.data)
    return Measured(sink.cycles[0] - src.cycles[len(req) - 1], period(sink.cycles))


def measure_executor(dut: Executor, n: int | None) -> Measured:
    w = write_words(n)
    cmd, words = (p.Command.WRITE, [7] + [100 + k for k in range(w)]) if w else \
        (p.Command.START, [0])
    head, offers, takes, writes = _Sink(dut.o_head), [0], [], []
    prev_addr = [0]

    def step(ctx: Any, k: int) -> None:
        ctx.set(dut.i_frame.valid, 1)                 # the next frame as soon as one is taken
        ctx.set(dut.i_frame.payload.cmd, cmd)
        ctx.set(dut.i_frame.payload.length, 4 * len(words) if w else 0)
        ctx.set(dut.i_frame.payload.status, p.Status.OK)
        ctx.set(dut.buf_data, words[prev_addr[0]] if prev_addr[0] < len(words) else 0)
        ctx.set(dut.o_words.ready, 1)
        head.step(ctx, k)
        if ctx.get(dut.bus.w_en):
            writes.append((ctx.get(dut.bus.addr), ctx.get(dut.bus.w_data)))
        prev_addr[0] = ctx.get(dut.buf_addr)       # a read port: data in the next cycle
        if ctx.get(dut.i_frame.ready):
            takes.append(k)
            offers.append(k + 1)

    simulate_cycles(dut, (8 + w) * FRAMES, step)
    assert len(head.cycles) >= FRAMES
    assert all(h.status == p.Status.OK for h in head.data)
    assert writes[:w] == [(7 + k, 100 + k) for k in range(w)]
    return Measured(head.cycles[0] - offers[0], period(head.cycles[:FRAMES]))


def measure_response(dut: ResponseBuilder, n: int | None) -> Measured:
    w = 0 if n is None else n
    word = 0x89ABCDEF
    heads = _Source(dut.i_head, [{"cmd": 0x85, "status": 0, "n_words": w}] * FRAMES)
    words = _Source(dut.i_words, [word] * (w * FRAMES))
    sink = _Sink(dut.o_stream)

    def step(ctx: Any, k: int) -> None:
        heads.step(ctx, k)
        words.step(ctx, k)
        sink.step(ctx, k)

    simulate_cycles(dut, (9 + 5 * w) * FRAMES + 4, step)
    size = 7 + 4 * w
    assert bytes(sink.data) == p.encode_response(0x05, p.Status.OK, [word] * w) * FRAMES
    return Measured(sink.cycles[0] - heads.cycles[0], period(sink.cycles[::size]))


def measure_host_stream(dut: HostInterface | HostTestDevice | Accelerator,
                        n: int | None) -> Measured:
    """A request/response unit on byte streams: requests offered back to back."""
    req = _request(n)
    src, sink = _Source(dut.i_stream, list(req) * FRAMES), _Sink(dut.o_stream)
    cmd = p.Command.WRITE if write_words(n) else p.Command.START

    def step(ctx: Any, k: int) -> None:
        src.step(ctx, k)
        sink.step(ctx, k)

    simulate_cycles(dut, (len(req) + 20 + write_words(n)) * FRAMES, step)
    assert bytes(sink.data) == p.encode_response(cmd, p.Status.OK) * FRAMES
    return Measured(sink.cycles[0] - src.cycles[len(req) - 1], period(sink.cycles[::7]))


def measure_device_uart(dut: HostTestDevice | AcceleratorUART, n: int | None) -> Measured:
    """Through the UART pins: one request on ``rx``, its response decoded from ``tx``."""
    d = dut.divisor
    req = _request(n)
    lead = 3
    line = [1] * lead + uart_levels(req, d)
    tx: list[int] = []
    cycles = len(line) + 10 * d * 9

    def step(ctx: Any, k: int) -> None:
        ctx.set(dut.rx, line[k] if k < len(line) else 1)
        tx.append(ctx.get(dut.tx))

    simulate_cycles(dut, cycles, step)
    starts, got = _tx_bytes(tx, d)
    cmd = p.Command.WRITE if write_words(n) else p.Command.START
    assert bytes(got) == p.encode_response(cmd, p.Status.OK)
    last_start = lead + 10 * d * (len(req) - 1)
    assert line[last_start - 1] == 1 and line[last_start] == 0
    return Measured(starts[0] - last_start, period(starts))


HOST_CASES = {
    **{f"UARTRx-d{d}": PortCase(UARTRx, lambda d=d: UARTRx(divisor=d), measure_uart_rx)
       for d in (4, 7)},
    **{f"UARTTx-d{d}": PortCase(UARTTx, lambda d=d: UARTTx(divisor=d), measure_uart_tx)
       for d in (4, 5)},
    "CRC16": PortCase(CRC16, CRC16, measure_crc16),
    **{f"FrameParser-n{n}": PortCase(FrameParser, lambda: FrameParser(timeout=64),
                                     measure_parser, n) for n in (None, 3)},
    **{f"Executor-n{n}": PortCase(Executor, lambda: Executor(addr_limit=256),
                                  measure_executor, n) for n in (None, 3)},
    **{f"ResponseBuilder-n{n}": PortCase(ResponseBuilder, ResponseBuilder,
                                         measure_response, n) for n in (None, 2)},
    **{f"HostInterface-n{n}": PortCase(
        HostInterface, lambda: HostInterface(addr_limit=256, timeout=64),
        measure_host_stream, n) for n in (0, 1, 4)},
    **{f"HostTestDevice-stream-n{n}": PortCase(
        HostTestDevice, lambda: HostTestDevice(busy_cycles=1), measure_host_stream, n)
       for n in (None, 2)},
    **{f"HostTestDevice-uart-d{d}-n{n}": PortCase(
        HostTestDevice, lambda d=d: HostTestDevice(busy_cycles=1, divisor=d),
        measure_device_uart, n) for d, n in ((4, None), (5, 2))},
    # the accelerator (an empty program memory: every START runs one BAD_OPCODE and ends)
    **{f"Accelerator-stream-n{n}": PortCase(
        Accelerator, lambda: Accelerator(ACCEL_CFG, timeout=64), measure_host_stream, n)
       for n in (None, 2)},
    "AcceleratorUART-d4": PortCase(
        AcceleratorUART, lambda: AcceleratorUART(ACCEL_CFG, divisor=4, timeout=64),
        measure_device_uart),
}


def test_write_words_argument() -> None:
    """``n`` of the request-side units: 0..MAX_WORDS words written, ``None`` = 0."""
    dut = HostInterface(addr_limit=4, timeout=8)
    dut._MustUse__silence = True     # built only to ask for the timing
    assert dut.timing() == dut.timing(0)
    assert dut.timing(p.MAX_WORDS).latency == 6 + p.MAX_WORDS
    with pytest.raises(ValueError, match=r"^n=65 is out of range; it must be at most 64$"):
        dut.timing(p.MAX_WORDS + 1)
    rb = ResponseBuilder()
    rb._MustUse__silence = True
    with pytest.raises(ValueError, match=r"^n=-1 is out of range; it must be at least 0$"):
        rb.timing(-1)
