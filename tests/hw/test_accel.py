# amaranth: UnusedElaboratable=no
"""The Accelerator (host link + attention block) through its byte streams and its UART pins:
construction, the LED flags, the decoder's answers to bad frames and addresses with the block
behind it, and bad programs stopping with an error code (never a hang). Whole layers run
through it in tests/firmware/test_block_run.py."""

from __future__ import annotations

from typing import Any

import pytest

from ivita.firmware import protocol as p
from ivita.firmware.driver import BlockError, DeviceError, HostDriver
from ivita.firmware.isa import ERRORS, MEMS, MODES, Op, encode
from ivita.firmware.memory_map import memory_map
from ivita.firmware.program_check import instruction_error
from ivita.firmware.transport import SimTransport
from ivita.hw.accel import Accelerator, AcceleratorUART
from ivita.hw.block_controller import DECIDE_INTERVAL
from ivita.model.block_config import BlockConfig
from ivita.sim.timing_probe import simulate_cycles

CFG = BlockConfig(rows=2, cols=2, max_tokens=8, max_dim=8, max_heads=1, prog_depth=8)
MM = memory_map(CFG)
PROG = MM["prog"]
#: a legal MATMUL of 16 tiles x k=8 (about 150 cycles); seven of them keep the block busy
LONG_MM = dict(a_base=0, a_stride=8, b_base=0, b_stride=8, row_blocks=4, col_blocks=4, k=8,
               const_base=0, mode=MODES["ROW"], dst_mem=MEMS["S"], dst_base=0, s_row=4,
               s_col=1, sat_bits=8)


def make(**kw: Any) -> tuple[HostDriver, SimTransport]:
    dev = Accelerator(CFG, timeout=32, **kw)
    t = SimTransport(dev, clk_hz=1e6)
    return HostDriver(t, timeout=0.005), t


def prog_words(*instrs: int) -> list[int]:
    """Bus words of program words ``instrs`` from address 0 (8 sub-words each)."""
    out = []
    for w in instrs:
        out += [(w >> (32 * s)) & 0xFFFFFFFF for s in range(PROG.sub_words)]
    return out


def _silence(acc: Accelerator) -> None:
    """``acc`` and its parts are built only to be inspected."""
    for part in (acc, acc.block, acc.host, *(acc._front.uart or ())):
        part._MustUse__silence = True


def test_ports_address_limit_and_parameters() -> None:
    acc = Accelerator(CFG, timeout=40)
    _silence(acc)
    assert set(acc.signature.members) == {"i_stream", "o_stream", "busy", "done", "error"}
    assert (acc.addr_limit, acc.timeout, acc.divisor, acc.config) == (MM.limit, 40, None, CFG)
    assert MM.limit == MM["C"].base + MM["C"].depth * MM["C"].sub_words
    uart = AcceleratorUART(CFG, divisor=5, timeout=400)
    _silence(uart)
    assert set(uart.signature.members) == {"rx", "tx", "busy", "done", "error"}
    assert uart.divisor == 5 and uart.addr_limit == MM.limit
    with pytest.raises(ValueError, match=r"^divisor=2 is out of range"):
        AcceleratorUART(CFG, divisor=2, timeout=400)
    with pytest.raises(ValueError, match=r"^timeout=1 is out of range; it must be in 2\.\."):
        Accelerator(CFG, timeout=1)
    with pytest.raises(TypeError, match=r"^cfg must be a BlockConfig, not dict$"):
        Accelerator({}, timeout=40)  # type: ignore[arg-type]


def corrupt(frame: bytes, k: int) -> bytes:
    return frame[:k] + bytes([frame[k] ^ 0x10]) + frame[k + 1:]


def test_bad_frames_and_addresses_get_error_responses_and_the_next_frame_is_served() -> None:
    drv, _ = make()
    r = MM["R"].base
    bad = [
        (corrupt(p.write_request(r, [7, 8]), -1), p.Response(None, p.Status.BAD_CRC, ())),
        (p.write_request(r, [7, 8])[:-4], p.Response(None, p.Status.TRUNCATED, ())),
        (bytes([p.SYNC, 0x10, 0x01, 0x02]) + bytes(8), p.Response(None, p.Status.BAD_LENGTH, ())),
        (p.encode_frame(0x66), p.Response(0x66, p.Status.UNKNOWN_CMD, ())),
        (p.read_request(MM.limit, 1), p.Response(p.Command.READ, p.Status.BAD_ADDRESS, ())),
        (p.write_request(MM.limit - 1, [1, 2]),
         p.Response(p.Command.WRITE, p.Status.BAD_ADDRESS, ())),
    ]
    assert drv.ping() == p.DeviceInfo(p.PROTOCOL_VERSION, MM.limit)
    for k, (raw, want) in enumerate(bad):
        assert drv.transact(raw, "raw") == want, k
        drv.write_words(r, [k, 0x1234 + k])                 # R-mem word 0 (2 lanes x 16 bits)
        assert drv.read_words(r, 2) == [k, 0x1234 + k]      # the bad frame wrote nothing
    assert drv.read_words(MM.limit - 1, 1) == [0]           # the last address is mapped


def test_bad_programs_stop_with_their_error_code_and_the_block_recovers() -> None:
    drv, _ = make()
    cases = [
        (prog_words(0x0F, encode(Op.HALT)), ERRORS["BAD_OPCODE"]),
        (prog_words(encode(Op.MATMUL, **dict(LONG_MM, a_base=MM["A"].depth - 7)),
                    encode(Op.HALT)), ERRORS["ADDRESS"]),
        (prog_words(encode(Op.SYNC)), ERRORS["PC"]),            # runs past the program memory
    ]
    for words, code in cases:
        drv.write_words(PROG.base, prog_words(*[encode(Op.SYNC)] * CFG.prog_depth))
        drv.write_words(PROG.base, words)
        drv.start()
        with pytest.raises(BlockError, match=rf"^the block finished with error code {code} "):
            drv.wait_done(0.002)
        st = drv.status()
        assert (st.busy, st.done, st.error_code) == (False, True, code)
    drv.write_words(PROG.base, prog_words(encode(Op.HALT)))
    drv.start()
    # a HALT-only program: fetch, load, the checks, decide, finish (units idle)
    assert drv.wait_done(0.002) == p.DeviceStatus(False, True, 0, DECIDE_INTERVAL + 1)


def test_while_running_start_is_busy_and_host_writes_are_dropped() -> None:
    assert instruction_error(CFG, Op.MATMUL, LONG_MM) == (0, "")
    drv, _ = make()
    r = MM["R"].base                                    # R-mem: not touched by the program
    drv.write_words(r, [0x11])
    drv.write_words(PROG.base, prog_words(*[encode(Op.MATMUL, **LONG_MM)] * 7,
                                          encode(Op.HALT)))
    drv.start()
    assert drv.status().busy
    with pytest.raises(DeviceError, match=r"^START failed: device answered BUSY \(status 6\)$"):
        drv.start()
    drv.write_words(r, [0x22])                          # answered OK, but dropped
    assert drv.status().busy
    st = drv.wait_done(0.005)
    assert (st.done, st.error_code) == (True, 0) and st.cycles > 7 * 140
    assert drv.read_words(r, 1) == [0x11]


def _feed(dut: Accelerator, requests: list[bytes], cycles: int) -> list[tuple[int, int, int]]:
    """Offer ``requests`` on ``i_stream`` one after the other, each once the previous one's
    response has started; returns ``(busy, done, error)`` of every cycle."""
    data = b"".join(requests)
    pos, flags = [0], []

    def step(ctx: Any, k: int) -> None:
        ctx.set(dut.o_stream.ready, 1)
        ctx.set(dut.i_stream.valid, int(pos[0] < len(data)))
        if pos[0] < len(data):
            ctx.set(dut.i_stream.payload, data[pos[0]])
            if ctx.get(dut.i_stream.ready):
                pos[0] += 1
        flags.append((ctx.get(dut.busy), ctx.get(dut.done), ctx.get(dut.error)))

    simulate_cycles(dut, cycles, step)
    assert pos[0] == len(data)
    return flags


@pytest.mark.parametrize(("first", "end"), [
    pytest.param(encode(Op.HALT), (0, 1, 0), id="halt"),
    pytest.param(0x0F, (0, 0, 1), id="bad-opcode"),
])
def test_led_flags_follow_the_run(first: int, end: tuple[int, int, int]) -> None:
    """``busy`` high while the program runs, then ``done`` (HALT) or ``error``, held."""
    dut = Accelerator(CFG, timeout=32)
    flags = _feed(dut, [p.write_request(PROG.base, prog_words(first)), p.start_request()], 300)
    assert flags[0] == (0, 0, 0)
    k = flags.index((1, 0, 0))                          # the run
    assert flags[k:].index(end) > 0 and flags[-1] == end
    assert set(flags[k + flags[k:].index(end):]) == {end}


def test_through_the_uart_pins() -> None:
    """PING, a WRITE/READ round trip, STATUS and a run of a HALT program through UARTRx/UARTTx
    on the accelerator's ``rx``/``tx`` pins."""
    dev = AcceleratorUART(CFG, divisor=4, timeout=400)
    t = SimTransport(dev, clk_hz=1e6)
    drv = HostDriver(t, timeout=0.02)
    assert drv.ping().addr_limit == MM.limit
    r = MM["R"].base
    drv.write_words(r, [0x89ABCDEF, 0x76543210])
    assert drv.read_words(r, 2) == [0x89ABCDEF, 0x76543210]
    assert drv.status() == p.DeviceStatus(False, False, 0, 0)
    drv.write_words(PROG.base, prog_words(encode(Op.HALT)))
    drv.start()
    assert drv.wait_done(0.01) == p.DeviceStatus(False, True, 0, DECIDE_INTERVAL + 1)
    assert t.framing_errors == 0
