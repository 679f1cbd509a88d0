# amaranth: UnusedElaboratable=no
"""UARTRx / UARTTx in the Amaranth simulator against the pure-Python line model."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from ivita.firmware.uart_line import UartLineReceiver, uart_levels
from ivita.hw.uart import UARTRx, UARTTx


def simulate(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def run_rx(levels: list[int], *, divisor: int, ready=lambda cycle: True,
           clear_at: set[int] = frozenset(), tail: int = 0):
    """Drive ``rx`` with one level per cycle; returns (bytes with their valid cycle,
    framing_error per cycle, overrun at the end)."""
    dut = UARTRx(divisor=divisor)
    got, fe = [], []
    res = {}

    async def bench(ctx):
        for cycle, level in enumerate(list(levels) + [1] * tail):
            ctx.set(dut.rx, level)
            ctx.set(dut.clear, cycle in clear_at)
            r = ready(cycle)
            ctx.set(dut.o_stream.ready, r)
            valid, data = ctx.get(dut.o_stream.valid), ctx.get(dut.o_stream.payload)
            if valid and r:
                got.append((data, cycle))
            fe.append(ctx.get(dut.framing_error))
            await ctx.tick()
        res["overrun"] = ctx.get(dut.overrun)
        res["valid"] = ctx.get(dut.o_stream.valid)

    simulate(dut, bench)
    return got, fe, res


@pytest.mark.parametrize("divisor, exc, msg", [
    (3, ValueError, r"^divisor=3 is out of range; it must be in 4\.\.65536 clocks per bit$"),
    (65537, ValueError, r"^divisor=65537 is out of range; it must be in 4\.\.65536"),
    (8.0, TypeError, r"^divisor must be an int, not float \(8\.0\)$"),
])
@pytest.mark.parametrize("cls", [UARTRx, UARTTx])
def test_divisor_validated(cls, divisor, exc, msg) -> None:
    with pytest.raises(exc, match=msg):
        cls(divisor=divisor)


@pytest.mark.parametrize("divisor", [4, 5, 8])
def test_rx_receives_back_to_back_bytes_with_stated_latency(divisor: int) -> None:
    rng = random.Random(divisor)
    data = [0x00, 0xFF, 0x55, 0xAA, 0xA5] + [rng.randrange(256) for _ in range(5)]
    lead = 3
    got, fe, res = run_rx([1] * lead + uart_levels(data, divisor), divisor=divisor, tail=12)
    assert [b for b, _ in got] == data
    first_valid = got[0][1]
    assert first_valid - lead == UARTRx(divisor=divisor).timing().latency
    # one byte per 10 bit times
    assert [c - first_valid for _, c in got] == [10 * divisor * k for k in range(len(data))]
    assert not any(fe) and not res["overrun"]


@pytest.mark.parametrize("bit_cycles", [24, 26])
def test_rx_tolerates_4_percent_rate_error(bit_cycles: int) -> None:
    data = [0x5A, 0x00, 0xFF, 0x81]
    got, fe, _ = run_rx([1, 1] + uart_levels(data, bit_cycles), divisor=25, tail=30)
    assert [b for b, _ in got] == data and not any(fe)


def test_rx_ignores_a_glitch_shorter_than_half_a_bit() -> None:
    d = 8
    levels = [1] * 4 + [0] * (d // 2 - 1) + [1] * 20 + uart_levels([0x3C], d)
    got, fe, _ = run_rx(levels, divisor=d, tail=10)
    assert [b for b, _ in got] == [0x3C] and not any(fe)


def framing_error_levels(d: int) -> list[int]:
    bad = uart_levels([0x42], d)
    bad[-d:] = [0] * d                       # stop bit low
    return [1] * 2 + bad + [0] * (3 * d) + [1] * (2 * d) + uart_levels([0x24], d)


def test_rx_framing_error_is_sticky_drops_the_byte_and_recovers() -> None:
    d = 6
    got, fe, _ = run_rx(framing_error_levels(d), divisor=d, tail=12)
    assert [b for b, _ in got] == [0x24]      # 0x42 dropped, the break ignored, 0x24 received
    first = fe.index(1)
    # the flag rises the cycle after the stop-bit sample and stays up
    assert first == 2 + UARTRx(divisor=d).timing().latency
    assert all(fe[first:])


def test_rx_error_in_the_same_cycle_as_clear_stays_set() -> None:
    d = 6
    sample = 2 + UARTRx(divisor=d).timing().latency - 1           # cycle of the stop-bit sample
    _, fe, _ = run_rx(framing_error_levels(d), divisor=d, clear_at={sample}, tail=4)
    assert fe[sample + 1] == 1 and fe[-1] == 1
    # a clear after the error clears it (the harness can tell the two apart)
    _, fe, _ = run_rx(framing_error_levels(d), divisor=d, clear_at={sample + 3}, tail=4)
    assert fe[sample + 1] == 1 and fe[sample + 4] == 0 and fe[-1] == 0


def test_rx_holds_a_byte_under_back_pressure_and_flags_overrun() -> None:
    d = 4
    levels = [1] * 2 + uart_levels([0x11, 0x22], d)
    stall = len(levels) + 5
    got, _, res = run_rx(levels, divisor=d, ready=lambda c: c >= stall, tail=10)
    assert got == [(0x11, stall)]          # held until taken; 0x22 arrived while it waited
    assert res["overrun"] == 1 and res["valid"] == 0


def run_tx(data: list[int], *, divisor: int, seed: int, p_valid: float):
    """Present ``data`` with random gaps; return accept cycles, tx levels per cycle, and
    whether ready ever changed with valid within a cycle."""
    dut = UARTTx(divisor=divisor)
    rng = random.Random(seed)
    accepted, levels = [], []
    depends = []

    async def bench(ctx):
        i, cycle, presenting = 0, 0, False
        while i < len(data) or cycle < (accepted[-1] if accepted else 0) + 10 * divisor + 4:
            if not presenting and i < len(data) and rng.random() < p_valid:
                presenting = True
            ctx.set(dut.i_stream.payload, data[i] if i < len(data) else 0)
            ctx.set(dut.i_stream.valid, 0)
            r0 = ctx.get(dut.i_stream.ready)
            ctx.set(dut.i_stream.valid, 1)
            r1 = ctx.get(dut.i_stream.ready)
            depends.append(r0 != r1)
            ctx.set(dut.i_stream.valid, presenting)
            levels.append(ctx.get(dut.tx))
            if presenting and r1:
                accepted.append(cycle)
                i += 1
                presenting = False
            await ctx.tick()
            cycle += 1

    simulate(dut, bench)
    return accepted, levels, depends


@pytest.mark.parametrize("divisor", [4, 7])
def test_tx_bit_timing_and_back_to_back_throughput(divisor: int) -> None:
    data = [0xA5, 0x00, 0xFF, 0x12, 0x80]
    accepted, levels, _ = run_tx(data, divisor=divisor, seed=1, p_valid=1.0)
    assert [c - accepted[0] for c in accepted] == [10 * divisor * k for k in range(len(data))]
    start = accepted[0] + 1
    assert levels[:start] == [1] * start                  # idle high before the start bit
    want = uart_levels(data, divisor)
    assert levels[start:start + len(want)] == want        # every cycle of every bit
    assert set(levels[start + len(want):]) == {1}


def test_tx_with_gaps_is_decoded_by_the_line_model() -> None:
    rng = random.Random(7)
    data = [rng.randrange(256) for _ in range(12)]
    _, levels, _ = run_tx(data, divisor=5, seed=3, p_valid=0.02)
    rx = UartLineReceiver(5)
    got = [b for b in map(rx.feed, levels) if b is not None]
    assert got == data and rx.framing_errors == 0


def test_tx_ready_never_depends_on_valid() -> None:
    _, _, depends = run_tx([0x0F, 0xF0, 0x33], divisor=4, seed=5, p_valid=0.3)
    assert len(depends) > 100 and not any(depends)


def test_tx_rx_loopback() -> None:
    _, levels, _ = run_tx([0xDE, 0xAD, 0xBE, 0xEF], divisor=4, seed=2, p_valid=0.5)
    got, fe, _ = run_rx(levels, divisor=4, tail=4)
    assert [b for b, _ in got] == [0xDE, 0xAD, 0xBE, 0xEF] and not any(fe)


def test_rx_overrun_in_the_same_cycle_as_clear_stays_set() -> None:
    d = 4
    levels = [1] * 2 + uart_levels([0x11, 0x22], d) + [1] * 4
    sample = 2 + 10 * d + UARTRx(divisor=d).timing().latency - 1     # stop-bit sample of byte 2
    for clear_at, want in [(set(), 1), ({sample}, 1), ({sample + 1}, 0)]:
        _, _, res = run_rx(levels, divisor=d, ready=lambda c: False, clear_at=clear_at)
        assert res["overrun"] == want, clear_at
