# amaranth: UnusedElaboratable=no
"""ResponseBuilder alone: bytes == ``encode_response`` under output back-pressure, the stated
cycle count, words taken one at a time."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from ivita.firmware import protocol as p
from ivita.hw.hostif_response import ResponseBuilder


def build(heads: list[tuple[int, int, list[int]]], *, p_ready: float, seed: int):
    dut = ResponseBuilder()
    rng = random.Random(seed)
    out, taken_at, sent_at = bytearray(), [], []

    async def bench(ctx):
        h, w, cycle = 0, 0, 0
        pending = [x for _, _, ws in heads for x in ws]
        while cycle < 5000 and (h < len(heads) or w < len(pending) or not ctx.get(dut.i_head.ready)):
            if h < len(heads):
                cmd, status, ws = heads[h]
                ctx.set(dut.i_head.valid, 1)
                ctx.set(dut.i_head.payload, {"cmd": cmd, "status": status, "n_words": len(ws)})
            else:
                ctx.set(dut.i_head.valid, 0)
            ctx.set(dut.i_words.valid, w < len(pending))
            ctx.set(dut.i_words.payload, pending[w] if w < len(pending) else 0)
            ready = rng.random() < p_ready
            ctx.set(dut.o_stream.ready, ready)
            _, _, hr, wr, ov, od = await ctx.tick().sample(
                dut.i_head.ready, dut.i_words.ready, dut.o_stream.valid, dut.o_stream.payload)
            if hr and h < len(heads):
                h += 1
            if wr and w < len(pending):
                taken_at.append(len(out))
                w += 1
            if ov and ready:
                out.append(od)
                sent_at.append(cycle)
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return bytes(out), taken_at, sent_at


HEADS = [(0x83, 0, [0x01020304, 0xFFFFFFFF, 0]), (p.ERROR_CMD, 1, []), (0x81, 0, [7])]


@pytest.mark.parametrize("p_ready, seed", [(1.0, 0), (0.4, 1), (0.1, 2)])
def test_bytes_equal_encode_response(p_ready: float, seed: int) -> None:
    out, _, _ = build(HEADS, p_ready=p_ready, seed=seed)
    want = b"".join(p.encode_response(None if c == p.ERROR_CMD else c & 0x7F, s, ws)
                    for c, s, ws in HEADS)
    assert out == want


def test_full_speed_cycle_count_and_one_word_at_a_time() -> None:
    n = 3
    out, taken_at, sent_at = build(HEADS[:1], p_ready=1.0, seed=0)
    assert len(out) == 7 + 4 * n
    assert sent_at[-1] - sent_at[0] + 1 == 7 + 5 * n      # one extra cycle per word taken
    assert taken_at == [5, 9, 13]                         # each word after the previous 4 bytes
