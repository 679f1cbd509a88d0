# amaranth: UnusedElaboratable=no
"""CRC16 unit vs ``ivita.firmware.protocol.crc16`` (the CRC catalogue's check value)."""

from __future__ import annotations

import random

from amaranth.sim import Simulator

from ivita.firmware.protocol import crc16
from ivita.hw.crc16 import CRC16, crc16_byte_matrix


def test_byte_matrix_equals_the_table_crc() -> None:
    rng = random.Random(16)
    matrix = crc16_byte_matrix()
    for _ in range(500):
        c, d = rng.randrange(1 << 16), rng.randrange(256)
        bits = [(sum(c >> j & 1 for j in cs) + sum(d >> j & 1 for j in ds)) & 1
                for cs, ds in matrix]
        assert sum(b << i for i, b in enumerate(bits)) == crc16([d], c), (c, d)


def run(steps: list[tuple[int, int, int]]) -> list[int]:
    """Per cycle (en, clear, data); returns ``crc`` seen in each cycle and after the last."""
    dut = CRC16()
    seen = []

    async def bench(ctx):
        for en, clear, data in steps:
            ctx.set(dut.en, en)
            ctx.set(dut.clear, clear)
            ctx.set(dut.data, data)
            seen.append(ctx.get(dut.crc))
            await ctx.tick()
        seen.append(ctx.get(dut.crc))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


def test_check_value_with_idle_cycles_and_latency_1() -> None:
    steps = []
    for b in b"123456789":
        steps += [(1, 0, b), (0, 0, 0xFF)]          # idle cycles do not change the CRC
    seen = run(steps)
    assert seen[0] == 0xFFFF                        # reset value
    assert seen[1] == crc16(b"1")                   # one cycle after the first byte
    assert seen[-1] == 0x29B1


def test_clear_with_en_starts_a_new_crc_with_that_byte() -> None:
    seen = run([(1, 0, 0x11), (1, 0, 0x22), (1, 1, ord("1"))] +
               [(1, 0, b) for b in b"23456789"] + [(0, 1, 0)])
    assert seen[3] == crc16(b"1")
    assert seen[-2] == 0x29B1
    assert seen[-1] == 0xFFFF                       # clear alone restarts at 0xFFFF
