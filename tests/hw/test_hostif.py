# amaranth: UnusedElaboratable=no
"""HostInterface (command decoder) in the Amaranth simulator, byte streams in and out, with a
Python bus model: exact response frames from ``ivita.firmware.protocol``, bus timing,
error handling and recovery, the timeout, back-pressure."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from amaranth.sim import Simulator

from ivita.firmware import protocol as p
from ivita.firmware.protocol import Command as C
from ivita.firmware.protocol import Status as S
from ivita.hw.hostif import HostInterface

LIMIT = 48
TIMEOUT = 12


@dataclass
class Run:
    out: bytes
    writes: list[tuple[int, int, int]] = field(default_factory=list)   # (cycle, addr, data)
    reads: list[tuple[int, int]] = field(default_factory=list)         # (cycle, addr)
    starts: list[int] = field(default_factory=list)
    cycles: int = 0
    ready_depends_on_valid: bool = False
    mem: dict[int, int] = field(default_factory=dict)
    in_cycles: list[int] = field(default_factory=list)      # cycle of every byte taken
    out_cycles: list[int] = field(default_factory=list)     # cycle of every byte sent

    def responses(self) -> list[p.Response]:
        """Split the output into frames (they must be well-formed and back to back)."""
        out, res = self.out, []
        while out:
            n = p.payload_length(out[:3])
            res.append(p.decode_response(p.decode_frame(out[:n + 6])))
            out = out[n + 6:]
        return res


def run_host(items: list[bytes | int], *, addr_limit: int = LIMIT, timeout: int = TIMEOUT,
             mem: dict[int, int] | None = None, busy=lambda cycle: False,
             status: tuple[int, int, int] = (0, 0, 0), p_ready: float = 1.0, seed: int = 0,
             tail: int | None = None, max_cycles: int = 20000) -> Run:
    """``items``: bytes to present back to back, or an int = that many idle cycles. The bus
    model writes into ``mem`` and answers reads one cycle after ``r_en`` (random garbage on
    ``r_data`` in every other cycle). ``status`` = (done, error_code, cycles)."""
    dut = HostInterface(addr_limit=addr_limit, timeout=timeout)
    rng = random.Random(seed)
    seq: list[int | None] = []
    for it in items:
        seq += [None] * it if isinstance(it, int) else list(it)
    tail = 4 * timeout + 40 if tail is None else tail
    run = Run(b"", mem=dict(mem or {}))
    out = bytearray()

    async def bench(ctx):
        i_s, o_s, bus, ctrl = dut.i_stream, dut.o_stream, dut.bus, dut.ctrl
        k, cycle, last_activity, read_addr = 0, 0, 0, None
        while cycle < max_cycles:
            item = seq[k] if k < len(seq) else None
            ctx.set(i_s.payload, item or 0)
            ctx.set(i_s.valid, 0)
            r0 = ctx.get(i_s.ready)
            ctx.set(i_s.valid, 1)
            r1 = ctx.get(i_s.ready)
            run.ready_depends_on_valid |= r0 != r1
            ctx.set(i_s.valid, item is not None)
            ctx.set(bus.r_data, run.mem.get(read_addr, 0) if read_addr is not None
                    else rng.randrange(1 << 32))
            ctx.set(ctrl.busy, busy(cycle))
            ctx.set(ctrl.done, status[0])
            ctx.set(ctrl.error_code, status[1])
            ctx.set(ctrl.cycles, status[2])
            ready = rng.random() < p_ready
            ctx.set(o_s.ready, ready)
            w_en, r_en, addr = ctx.get(bus.w_en), ctx.get(bus.r_en), ctx.get(bus.addr)
            assert not (w_en and r_en), f"cycle {cycle}: w_en and r_en together"
            # the attention block registers writes: never one in the cycle of start
            assert not (w_en and ctx.get(ctrl.start)), f"cycle {cycle}: w_en with start"
            assert not (w_en or r_en) or addr < addr_limit, f"cycle {cycle}: addr {addr}"
            if w_en:
                run.writes.append((cycle, addr, ctx.get(bus.w_data)))
                run.mem[addr] = ctx.get(bus.w_data)
            read_addr = addr if r_en else None
            if r_en:
                run.reads.append((cycle, addr))
            if ctx.get(ctrl.start):
                run.starts.append(cycle)
            o_valid, o_data, i_ready = ctx.get(o_s.valid), ctx.get(o_s.payload), r1
            await ctx.tick()
            if item is None and k < len(seq):
                k += 1
            elif item is not None and i_ready:
                k += 1
                run.in_cycles.append(cycle)
            if o_valid and ready:
                out.append(o_data)
                run.out_cycles.append(cycle)
                last_activity = cycle
            cycle += 1
            if k >= len(seq) and cycle - max(last_activity, len(seq)) > tail:
                break
        run.cycles = cycle

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    run.out = bytes(out)
    return run


def resp(cmd, status, words=()) -> p.Response:
    return p.Response(None if cmd is None else int(cmd), S(status), tuple(words))


# ---------------------------------------------------------------- construction

@pytest.mark.parametrize("kwargs, exc, msg", [
    ({"addr_limit": 0, "timeout": 8}, ValueError,
     r"^addr_limit=0 is out of range; it must be in 1\.\.4294967295 words$"),
    ({"addr_limit": 1 << 32, "timeout": 8}, ValueError, r"^addr_limit=4294967296 is out"),
    ({"addr_limit": 8, "timeout": 1}, ValueError,
     r"^timeout=1 is out of range; it must be in 2\.\.268435456 cycles$"),
    ({"addr_limit": "8", "timeout": 8}, TypeError, r"^addr_limit must be an int, not str"),
])
def test_parameters_validated(kwargs, exc, msg) -> None:
    with pytest.raises(exc, match=msg):
        HostInterface(**kwargs)


def test_bus_width_follows_addr_limit() -> None:
    assert HostInterface(addr_limit=48, timeout=8).bus.addr.shape().width == 6
    assert HostInterface(addr_limit=64, timeout=8).bus.addr.shape().width == 6
    assert HostInterface(addr_limit=65, timeout=8).bus.addr.shape().width == 7
    assert HostInterface(addr_limit=1, timeout=8).bus.addr.shape().width == 1


# ---------------------------------------------------------------- commands

def test_ping_write_read_status_exact_frames() -> None:
    words = [0xDEADBEEF, 0, 0xFFFFFFFF, 0x01234567]
    run = run_host([p.ping_request(), p.write_request(5, words), p.read_request(4, 6),
                    p.status_request()], status=(1, 0x5C, 777), busy=lambda c: True)
    assert run.out == b"".join([
        p.encode_response(C.PING, S.OK, [p.PROTOCOL_MAGIC, p.PROTOCOL_VERSION, LIMIT]),
        p.encode_response(C.WRITE, S.OK),
        p.encode_response(C.READ, S.OK, [0, *words, 0]),
        p.encode_response(C.STATUS, S.OK, p.status_words(True, True, 0x5C, 777))])
    # writes: one per cycle, in order, at consecutive addresses
    assert [(a, d) for _, a, d in run.writes] == list(zip(range(5, 9), words))
    cycles = [c for c, _, _ in run.writes]
    assert cycles == list(range(cycles[0], cycles[0] + 4))
    assert [a for _, a in run.reads] == list(range(4, 10))
    assert not run.starts and not run.ready_depends_on_valid


@pytest.mark.parametrize("request_, turnaround, written", [
    (p.ping_request(), 6, 0), (p.status_request(), 6, 0), (p.start_request(), 6, 0),
    (p.read_request(0, 5), 6, 0), (p.write_request(0, [1]), 7, 1),
    (p.write_request(0, [1] * 20), 26, 20),
])
def test_turnaround_as_documented(request_: bytes, turnaround: int, written: int) -> None:
    """``timing(n).latency`` (n = words written) holds for every command, not only the START
    and WRITE requests of tests/hw/test_timing_hostif.py."""
    run = run_host([request_])
    assert run.out_cycles[0] - run.in_cycles[-1] == turnaround
    dut = HostInterface(addr_limit=LIMIT, timeout=8)
    dut._MustUse__silence = True         # built only to ask for the timing
    assert dut.timing(written).latency == turnaround


def test_read_uses_r_data_exactly_one_cycle_after_r_en() -> None:
    # the bus model drives garbage on r_data except in the cycle after r_en
    mem = {a: 0x1000 + a for a in range(LIMIT)}
    run = run_host([p.read_request(0, 64 if LIMIT >= 64 else LIMIT)], mem=mem, seed=3)
    assert run.responses() == [resp(C.READ, S.OK, [0x1000 + a for a in range(LIMIT)])]


def test_start_pulses_once_and_busy_refuses() -> None:
    run = run_host([p.start_request(), p.status_request()])
    assert run.responses() == [resp(C.START, S.OK), resp(C.STATUS, S.OK, [0, 0])]
    assert len(run.starts) == 1                         # exactly one cycle high
    run = run_host([p.start_request()], busy=lambda c: True)
    assert run.responses() == [resp(C.START, S.BUSY)] and not run.starts


def test_status_samples_the_inputs() -> None:
    run = run_host([p.status_request()], status=(1, 0xFF, 0xFFFFFFFF))
    assert run.responses() == [resp(C.STATUS, S.OK, p.status_words(False, True, 0xFF,
                                                                   0xFFFFFFFF))]


# ---------------------------------------------------------------- errors and recovery

def corrupt_crc(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 0x40])


@pytest.mark.parametrize("bad, expected", [
    (corrupt_crc(p.write_request(0, [1, 2])), resp(None, S.BAD_CRC)),
    (p.write_request(0, [1, 2])[:5] + b"\xee" + p.write_request(0, [1, 2])[6:],
     resp(None, S.BAD_CRC)),
    (p.write_request(0, [1, 2])[:-3], resp(None, S.TRUNCATED)),
    (p.write_request(0, [1, 2])[:2], resp(None, S.TRUNCATED)),
    (bytes([p.SYNC, 5, 1]) + bytes(40), resp(None, S.BAD_LENGTH)),        # LEN = 261
    (bytes([p.SYNC, 0xFF, 0xFF, 2]) + bytes(20), resp(None, S.BAD_LENGTH)),
    (p.encode_frame(0x42), resp(0x42, S.UNKNOWN_CMD)),
    (p.encode_frame(0x00), resp(0x00, S.UNKNOWN_CMD)),
    (p.encode_frame(0x85, bytes(4)), resp(0x05, S.UNKNOWN_CMD)),
    (p.encode_frame(C.PING, bytes(4)), resp(C.PING, S.BAD_LENGTH)),
    (p.encode_frame(C.WRITE, bytes(4)), resp(C.WRITE, S.BAD_LENGTH)),      # no data word
    (p.encode_frame(C.WRITE, bytes(10)), resp(C.WRITE, S.BAD_LENGTH)),     # not whole words
    (p.encode_request(C.READ, [0, 0]), resp(C.READ, S.BAD_LENGTH)),        # count 0
    (p.encode_request(C.READ, [0, 65]), resp(C.READ, S.BAD_LENGTH)),       # count > MAX
    (p.encode_request(C.READ, [0, 1, 0]), resp(C.READ, S.BAD_LENGTH)),
    (p.encode_frame(C.STATUS, bytes(4)), resp(C.STATUS, S.BAD_LENGTH)),
    (p.write_request(LIMIT - 1, [1, 2]), resp(C.WRITE, S.BAD_ADDRESS)),
    (p.write_request(LIMIT, [1]), resp(C.WRITE, S.BAD_ADDRESS)),
    (p.read_request(LIMIT - 3, 4), resp(C.READ, S.BAD_ADDRESS)),
    (p.read_request(0xFFFFFFFF, 2), resp(C.READ, S.BAD_ADDRESS)),          # sum wraps 32 bits
    (p.write_request(0xFFFFFFF0, [7] * 16), resp(C.WRITE, S.BAD_ADDRESS)),
])
def test_error_response_then_next_good_frame_is_served(bad: bytes, expected) -> None:
    run = run_host([bad, 3 * TIMEOUT, p.write_request(2, [9]), p.read_request(0, 4)])
    assert run.responses() == [expected, resp(C.WRITE, S.OK), resp(C.READ, S.OK, [0, 0, 9, 0])]
    assert [(a, d) for _, a, d in run.writes] == [(2, 9)]    # the bad frame wrote nothing
    assert not run.starts and not run.ready_depends_on_valid


def test_address_span_boundary_is_accepted() -> None:
    run = run_host([p.write_request(LIMIT - 2, [1, 2]), p.read_request(LIMIT - 4, 4)])
    assert run.responses() == [resp(C.WRITE, S.OK), resp(C.READ, S.OK, [0, 0, 1, 2])]


def test_noise_before_sync_is_skipped() -> None:
    run = run_host([b"\x00\x13\xff\x5a", p.ping_request()])
    assert [r.status for r in run.responses()] == [S.OK]


def test_bad_crc_answer_waits_for_an_idle_line() -> None:
    # bytes following a bad frame (a corrupted LEN's "payload") are dropped until idle
    run = run_host([corrupt_crc(p.ping_request()), p.ping_request(), 2 * TIMEOUT,
                    p.status_request()])
    assert run.responses() == [resp(None, S.BAD_CRC), resp(C.STATUS, S.OK, [0, 0])]


@pytest.mark.parametrize("gap, expected", [
    (TIMEOUT - 1, [resp(C.WRITE, S.OK)]),
    (TIMEOUT, [resp(None, S.TRUNCATED)]),
])
def test_timeout_is_exact(gap: int, expected) -> None:
    frame = p.write_request(1, [5, 6])
    run = run_host([frame[:7], gap, frame[7:]])
    got = run.responses()
    assert got[:1] == expected
    assert len(got) == 1          # the rest of a truncated frame has no SYNC at its start


def test_random_garbage_never_hangs() -> None:
    rng = random.Random(2024)
    for trial in range(6):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
        if rng.random() < 0.5:
            junk = bytes([p.SYNC]) + junk
        run = run_host([junk, 4 * TIMEOUT, p.ping_request()], seed=trial)
        got = run.responses()
        assert got[-1] == resp(C.PING, S.OK, [p.PROTOCOL_MAGIC, p.PROTOCOL_VERSION, LIMIT]), \
            (trial, junk.hex())
        assert all(r.status != S.OK for r in got[:-1]), (trial, junk.hex())


def test_output_back_pressure_keeps_every_byte() -> None:
    words = list(range(1, 21))
    items = [p.write_request(3, words), p.read_request(3, 20), p.status_request()]
    fast = run_host(items)
    slow = run_host(items, p_ready=0.3, seed=11)
    assert slow.out == fast.out and slow.cycles > fast.cycles
    assert slow.responses()[1] == resp(C.READ, S.OK, words)


def test_converts_to_verilog_with_the_documented_ports() -> None:
    from amaranth.back import verilog

    text = verilog.convert(HostInterface(addr_limit=1000, timeout=100), name="hostif")
    for port in ("i_stream__valid", "i_stream__ready", "o_stream__payload", "bus__addr",
                 "bus__w_data", "bus__w_en", "bus__r_en", "bus__r_data", "ctrl__start",
                 "ctrl__busy", "ctrl__done", "ctrl__error_code", "ctrl__cycles"):
        assert f" {port}" in text, port
    assert "[9:0] bus__addr" in text


def random_request(rng: random.Random) -> bytes:
    kind = rng.randrange(8)
    if kind == 0:
        return p.ping_request()
    if kind == 1:
        n = rng.choice([1, 2, rng.randrange(1, 65)])
        return p.write_request(rng.randrange(LIMIT + 4 - min(n, LIMIT)),
                               [rng.randrange(1 << 32) for _ in range(n)])
    if kind == 2:
        n = rng.choice([1, 3, rng.randrange(1, 65)])
        return p.read_request(rng.randrange(LIMIT + 4 - min(n, LIMIT)), n)
    if kind == 3:
        return p.encode_request(C.READ, [rng.randrange(LIMIT), rng.choice([0, 65, 1 << 31])])
    if kind == 4:
        return rng.choice([p.start_request(), p.status_request()])
    if kind == 5:
        return p.encode_frame(rng.randrange(256), bytes(4 * rng.randrange(3)))
    return p.encode_frame(rng.choice([C.WRITE, C.PING]), bytes(rng.randrange(12)))


def mutate(frame: bytes, rng: random.Random) -> bytes:
    k = rng.randrange(len(frame))
    how = rng.randrange(4)
    if how == 0:
        return frame[:k] + bytes([frame[k] ^ (1 << rng.randrange(8))]) + frame[k + 1:]
    if how == 1:
        return frame[:k]                                       # truncated
    if how == 2:
        return frame[:k] + frame[k + 1:]                       # a byte lost
    return frame[:k] + bytes([rng.randrange(256)]) + frame[k:]  # a byte inserted


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_sessions_equal_the_reference_device(seed: int) -> None:
    """Random good, failing and corrupted requests, several per idle-separated segment:
    response bytes, RAM contents and start pulses == ``ReferenceDevice``."""
    from ivita.firmware.refdevice import ReferenceDevice

    rng = random.Random(seed)
    segments = []
    for _ in range(6):
        seg = b""
        for _ in range(rng.randrange(1, 4)):
            frame = random_request(rng)
            seg += mutate(frame, rng) if rng.random() < 0.3 else frame
        segments.append(seg)
    ref = ReferenceDevice(LIMIT, busy=bool(seed % 2), done=True, error_code=seed, cycles=99)
    want = ref.run(segments)
    items: list[bytes | int] = []
    for seg in segments:
        items += [seg, TIMEOUT + rng.randrange(3)]
    run = run_host(items, busy=lambda c: bool(seed % 2), status=(1, seed, 99), seed=seed)
    assert run.out == want, f"seed={seed}"
    assert {a: d for a, d in run.mem.items()} == ref.mem, f"seed={seed}"
    assert len(run.starts) == ref.starts, f"seed={seed}"
