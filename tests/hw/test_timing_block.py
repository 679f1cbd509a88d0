# amaranth: UnusedElaboratable=no
"""The attention block's components with non-stream ports: declared ``timing(n)``
(hw/timing.py) against the Amaranth simulator.

The sibling of ``tests/hw/test_timing_hostif.py`` for the block: each case drives its
component cycle by cycle -- a one-cycle ``start`` strobe (the input "beat" of the units that
read their operands from memory: cycle 0), memories modelled as one-cycle read ports, a
program in the controller's program memory -- records the cycle of every input and output
(a stream transfer, a ``w_en`` write, a ``go`` dispatch, ``r_data`` after ``r_en``, ``done``),
checks that the outputs are right, and returns the measured latency (from the beat named by
``latency_from``) and the steady-state interval (between the first outputs of items over the
second half of the run). ``tests/hw/test_timing.py`` runs ``BLOCK_CASES`` (both numbers must
equal the declaration exactly) and counts them in its coverage test. The stream-to-stream
units of the block (``TileEpilogue``, ``RowAffine``, the per-beat ``Requantizer``) are plain
``CASES`` of ``tests/hw/test_timing.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from amaranth import signed

from ivita.firmware.isa import MEMS, MODES, Op, encode
from ivita.firmware.memory_map import memory_map, pack_lanes, unpack_lanes
from ivita.hw.attention import AttentionBlock
from ivita.hw.block_bus import BlockBus
from ivita.hw.block_controller import DECIDE_INTERVAL, GO_DELAY, BlockController
from ivita.hw.lane_writer import LaneWriter
from ivita.hw.row_serializer import RowSerializer
from ivita.hw.tile_sequencer import TileSequencer
from ivita.hw.tile_writeback import WB_LATENCY, TileWriteBack
from ivita.model.block_config import BlockConfig
from ivita.sim.block_bus_run import run_block
from ivita.sim.timing_probe import Measured, PortCase, period, simulate_cycles

CFG = BlockConfig(rows=2, cols=2, max_tokens=16, max_dim=16, max_heads=1, prog_depth=16)
ITEMS = 8       # items per run; the interval is measured over the last half


def _matmul(k: int, **kw: int) -> int:
    """A one-tile MATMUL (``ROW`` into S-mem) that passes the controller's checks."""
    return encode(Op.MATMUL, a_base=0, a_stride=16, b_base=0, b_stride=16, row_blocks=1,
                  col_blocks=1, k=k, const_base=0, mode=MODES["ROW"], dst_mem=MEMS["S"],
                  dst_base=0, s_row=1, s_col=1, sat_bits=8, **kw)


# --- memory-reading sources: start -> o_stream ----------------------------------------------

def measure_sequencer(dut: TileSequencer, n: int | None) -> Measured:
    """``ITEMS`` tiles (2 row blocks x 4 column blocks) of ``K = n`` beats; A-/B-mem word ``w``
    holds lanes ``(w, -w)``."""
    K = int(n)                                            # type: ignore[arg-type]
    lanes = {"a": (CFG.rows, CFG.pe_a_bits), "b": (CFG.cols, CFG.pe_b_bits)}
    word = {x: (lambda w, x=x: pack_lanes([w % 50, -(w % 50)] + [0] * (lanes[x][0] - 2),
                                           lanes[x][1])) for x in lanes}
    data = {"a": 0, "b": 0}
    beats: list[tuple[int, int, int, int]] = []

    def step(ctx: Any, k: int) -> None:
        ctx.set(dut.start, int(k == 0))
        for name, val in (("a_base", 3), ("a_stride", K), ("b_base", 5), ("b_stride", K),
                          ("row_blocks", 2), ("col_blocks", ITEMS // 2), ("k", K)):
            ctx.set(getattr(dut, name), val)
        ctx.set(dut.a_data, data["a"])
        ctx.set(dut.b_data, data["b"])
        ctx.set(dut.o_stream.ready, 1)
        if ctx.get(dut.o_stream.valid):
            p = dut.o_stream.payload
            beats.append((k, ctx.get(p.a[0]), ctx.get(p.b[0]), ctx.get(p.last)))
        if ctx.get(dut.rd_en):
            data["a"], data["b"] = word["a"](ctx.get(dut.a_addr)), word["b"](ctx.get(dut.b_addr))

    simulate_cycles(dut, ITEMS * K + 8, step)
    want = [(3 + rb * K + j, 5 + cb * K + j, int(j == K - 1))
            for cb in range(ITEMS // 2) for rb in range(2) for j in range(K)]
    assert [(a, b, last) for _, a, b, last in beats] == [(a % 50, b % 50, last)
                                                        for a, b, last in want]
    cycles = [c for c, *_ in beats]
    return Measured(cycles[0] - 0, period(cycles[::K]))


def measure_serializer(dut: RowSerializer, n: int | None) -> Measured:
    """``ITEMS`` rows of ``n`` elements; word ``w`` holds lanes ``(2w, 2w+1)``."""
    N = int(n)                                            # type: ignore[arg-type]
    stride, rd = -(-N // 2) + 1, [0]
    got: list[tuple[int, int, int]] = []

    def step(ctx: Any, k: int) -> None:
        ctx.set(dut.start, int(k == 0))
        for name, val in (("base", 4), ("stride", stride), ("n_rows", ITEMS), ("n_elems", N)):
            ctx.set(getattr(dut, name), val)
        ctx.set(dut.rd_data.as_value(), rd[0])
        ctx.set(dut.o_stream.ready, 1)
        if ctx.get(dut.o_stream.valid):
            got.append((k, ctx.get(dut.o_stream.payload.x), ctx.get(dut.o_stream.payload.last)))
        if ctx.get(dut.rd_en):
            w = ctx.get(dut.rd_addr)
            rd[0] = pack_lanes([(2 * w) % 100, (2 * w + 1) % 100], 8)

    simulate_cycles(dut, ITEMS * N + 8, step)
    want = [((2 * (4 + t * stride + e // 2) + e % 2) % 100, int(e == N - 1))
            for t in range(ITEMS) for e in range(N)]
    assert [(x, last) for _, x, last in got] == want
    cycles = [c for c, *_ in got]
    return Measured(cycles[0] - 0, period(cycles[::N]))


# --- stream -> memory writes ----------------------------------------------------------------

def measure_lane_writer(dut: LaneWriter, n: int | None) -> Measured:
    """``ITEMS`` elements of rows of 3, offered back to back; one lane write per element."""
    ins: list[int] = []
    writes: list[tuple[int, int, int, int]] = []

    def step(ctx: Any, k: int) -> None:
        i = len(ins)
        ctx.set(dut.start, 0)
        for name, val in (("dst", 1), ("dst_stride", 5), ("n_rows", 99), ("n_cols", 3)):
            ctx.set(getattr(dut, name), val)
        ctx.set(dut.i_stream.valid, int(1 <= k and i < ITEMS))
        ctx.set(dut.i_stream.payload.y, i - 4)
        ctx.set(dut.i_stream.payload.last, 0)
        if ctx.get(dut.w_en):
            writes.append((k, ctx.get(dut.w_addr), ctx.get(dut.w_lanes), ctx.get(dut.w_data[0])))
        if 1 <= k and i < ITEMS and ctx.get(dut.i_stream.ready):
            ins.append(k)

    simulate_cycles(dut, ITEMS + 6, step)
    want = [(1 + (e // 3 // 2) * 5 + e % 3, 1 << (e // 3 % 2), e - 4) for e in range(ITEMS)]
    assert [w[1:] for w in writes] == want
    return Measured(writes[0][0] - ins[0], period([w[0] for w in writes]))


def measure_writeback(dut: TileWriteBack, n: int | None) -> Measured:
    """``ROW`` mode: ``ITEMS`` tile rows offered back to back, one word write per row; the
    words cross ``a_split`` and ``w_hi`` is their A-mem bank."""
    base = CFG.a_split - 4
    ins: list[int] = []
    writes: list[tuple[int, int, list[int]]] = []

    def step(ctx: Any, k: int) -> None:
        i = len(ins)
        ctx.set(dut.start, int(k == 0))
        for name, val in (("mode", MODES["ROW"]), ("row_blocks", ITEMS // CFG.rows),
                          ("col_blocks", 1), ("dst_base", base), ("s_row", 3), ("s_col", 1),
                          ("sat_bits", 6)):
            ctx.set(getattr(dut, name), val)
        ctx.set(dut.i_stream.valid, int(1 <= k and i < ITEMS))
        for j in range(CFG.cols):
            ctx.set(dut.i_stream.payload.q[j], 10 * i - 30 + j)
        ctx.set(dut.i_stream.payload.last, 0)
        if ctx.get(dut.w_en):
            writes.append((k, ctx.get(dut.w_addr),
                           [ctx.get(dut.w_data[j]) for j in range(CFG.cols)]))
            assert ctx.get(dut.w_hi) == (ctx.get(dut.w_addr) >= CFG.a_split)
        if 1 <= k and i < ITEMS and ctx.get(dut.i_stream.ready):
            ins.append(k)

    simulate_cycles(dut, ITEMS + WB_LATENCY + 5, step)
    sat = [max(-32, min(31, 10 * i - 30 + j)) for i in range(ITEMS) for j in range(CFG.cols)]
    want = [(base + 3 * i, sat[i * CFG.cols:(i + 1) * CFG.cols]) for i in range(ITEMS)]
    assert want[0][0] < CFG.a_split <= want[-1][0]
    assert [w[1:] for w in writes] == want
    return Measured(writes[0][0] - ins[0], period([w[0] for w in writes]))


# --- bus, controller, block -----------------------------------------------------------------

def measure_bus(dut: BlockBus, n: int | None) -> Measured:
    """``ITEMS`` reads of S-mem words on consecutive cycles (``r_en`` in cycle ``t``, the word
    on ``r_data`` in cycle ``t + latency``) against a one-cycle S-mem model."""
    s = dut._mmap["S"]
    mem = {w: pack_lanes([w % 50 + 1, -(w % 50) - 1], s.lane_bits) for w in range(s.depth)}
    rdata, issued, seen = [0], [], []

    def step(ctx: Any, k: int) -> None:
        i = len(issued)
        ctx.set(dut.S_rdata, rdata[0])
        ctx.set(dut.r_en, int(i < ITEMS))
        ctx.set(dut.addr, s.bus_address(i % s.depth) if i < ITEMS else 0)
        if 0 < k <= ITEMS:
            seen.append((k, ctx.get(dut.r_data)))
        if ctx.get(dut.S_re):
            rdata[0] = mem[ctx.get(dut.S_raddr)]
        if i < ITEMS:
            issued.append(k)

    simulate_cycles(dut, ITEMS + 2, step)
    got = [unpack_lanes(v, 2, s.lane_bits) for _, v in seen]
    assert got == [[w + 1, -w - 1] for w in range(ITEMS)]
    return Measured(seen[0][0] - issued[0], period([c for c, _ in seen]))


def measure_controller(dut: BlockController, n: int | None) -> Measured:
    """A program of ``ITEMS`` MATMULs and HALT in a one-cycle program memory; the units
    finish in the cycle after their dispatch (``finished`` all high)."""
    prog = {i: _matmul(4) for i in range(ITEMS)} | {ITEMS: encode(Op.HALT)}
    pdata, gos, done, err = [0], [], [], []

    def step(ctx: Any, k: int) -> None:
        ctx.set(dut.start, int(k == 0))
        ctx.set(dut.prog_data, pdata[0])
        ctx.set(dut.finished, 0b1111)
        if ctx.get(dut.go):
            gos.append((k, ctx.get(dut.go)))
        if ctx.get(dut.done):
            done.append(k)
        err.append(ctx.get(dut.error))
        if ctx.get(dut.prog_en):
            pdata[0] = prog.get(ctx.get(dut.prog_addr), 0)

    simulate_cycles(dut, (DECIDE_INTERVAL + 1) * ITEMS + 2 * DECIDE_INTERVAL, step)
    assert [g for _, g in gos] == [1] * ITEMS and done and not any(err)
    return Measured(gos[0][0] - 0, period([c for c, _ in gos]))


def measure_block(dut: AttentionBlock, n: int | None) -> Measured:
    """Latency: ``start`` (cycle 0) to ``done`` of the program one MATMUL (one tile, ``K = n``)
    and HALT; interval: cycles between the dispatches of ``ITEMS`` such MATMULs (``pc``
    advances one cycle after each)."""
    k = int(n)                                            # type: ignore[arg-type]
    one = run_block(dut, {"prog": {0: _matmul(k), 1: encode(Op.HALT)}})
    many = run_block(dut, {"prog": {i: _matmul(k) for i in range(ITEMS)}
                           | {ITEMS: encode(Op.HALT)}})
    assert (one.done, one.error, many.done, many.error) == (1, 0, 1, 0)
    # run_block counts ``wall`` from the cycle after ``start``: done is seen in cycle wall + 1
    return Measured(one.wall + 1, period(many.pc_cycles[1:ITEMS + 1]))


BLOCK_CASES = {
    **{f"TileSequencer-K{k}": PortCase(TileSequencer, lambda: TileSequencer(CFG),
                                        measure_sequencer, k) for k in (1, 5)},
    **{f"RowSerializer-N{k}": PortCase(RowSerializer,
                                        lambda: RowSerializer(lanes=2, lane_bits=8),
                                        measure_serializer, k) for k in (1, 5)},
    "LaneWriter": PortCase(LaneWriter, lambda: LaneWriter(lanes=2, lane_bits=8,
                                                           in_shape=signed(8)),
                            measure_lane_writer),
    "TileWriteBack": PortCase(TileWriteBack, lambda: TileWriteBack(CFG), measure_writeback),
    "BlockBus": PortCase(BlockBus, lambda: BlockBus(memory_map(CFG)), measure_bus),
    "BlockController": PortCase(BlockController,
                                 lambda: BlockController(CFG, memory_map(CFG)),
                                 measure_controller),
    **{f"AttentionBlock-K{k}": PortCase(AttentionBlock, lambda: AttentionBlock(CFG),
                                         measure_block, k) for k in (4, 7)},
}


def test_block_timing_arguments() -> None:
    """``AttentionBlock.timing(n)`` is exact only for ``K >= rows + cols``; it says so."""
    dut = AttentionBlock(CFG)
    assert dut.timing() == dut.timing(CFG.k_max)
    # the busy bit clears a cycle after the unit finishes; go is registered (GO_DELAY)
    assert dut.timing(6).interval == dut.matmul_cycles(1, 1, 6) + 1 + GO_DELAY
    with pytest.raises(ValueError, match=r"^n=3 is out of range; it must be at least 4$"):
        dut.timing(3)
