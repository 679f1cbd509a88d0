"""The cocotb side of the attention-block bench: the host bus driven like
:func:`ivita.sim.block_bus_run.run_block` does in the Amaranth simulator.

Runs inside the simulator process started by :func:`ivita.sim.runner.run_cocotb` (Icarus or
Verilator) on the generated Verilog of an :class:`ivita.hw.attention.AttentionBlock`. The
parameter file (``$IVITA_SIM_PARAMS``) carries the bus plan of :mod:`ivita.sim.bus_plan`:
``writes`` (``[address, data]``), ``reads`` (addresses) and ``max_cycles``. Sequence (one bus
transfer per cycle, inputs driven at the falling clock edge, sampled by the next rising edge):
reset 3 cycles; every write (``addr``, ``w_data``, ``w_en``); one cycle of ``start``; wait for
``busy`` to fall, at most ``max_cycles`` cycles after the ``start`` edge (else the run stops
with ``timeout`` set and the test fails: a hang is a clear failure, never a stuck process);
then every read (``r_en``; ``r_data`` sampled one cycle later, reads pipelined one per cycle).

The result JSON (written before the test asserts) holds the status ports after the run
(``done``, ``error``, ``error_code``, ``cycles``: the block's own counter, ``pc``), ``wall``
(cycles from the ``start`` edge until ``busy`` fell, counted like ``BlockRun.wall``),
``timeout`` and ``values`` (``r_data`` of every read, in order). The parent compares the
outputs with the model (:mod:`ivita.sim.attention_run`); ``passed`` here only means that the
program finished with ``done`` and without ``error``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, First, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from .runner import PARAMS_ENV

__all__ = ["PERIOD_NS", "drive_block", "test_attention_block"]

PERIOD_NS = 10
_INPUTS = ("addr", "w_data", "w_en", "r_en", "start")


def _int(handle: Any) -> int:
    v = handle.value
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)


async def drive_block(dut: Any, writes: list[list[int]], reads: list[int],
                      max_cycles: int) -> dict[str, Any]:
    """Load ``writes``, run the program, read ``reads``; return the result dict (above)."""
    clk = dut.clk
    Clock(clk, PERIOD_NS, unit="ns").start(start_high=False)
    fall = FallingEdge(clk)
    for name in _INPUTS:
        getattr(dut, name).value = 0
    dut.rst.value = 1
    await ClockCycles(clk, 3)
    await fall
    dut.rst.value = 0
    await fall
    for addr, data in writes:
        dut.addr.value = int(addr)
        dut.w_data.value = int(data)
        dut.w_en.value = 1
        await fall
    dut.w_en.value = 0
    dut.start.value = 1
    await RisingEdge(clk)                 # the edge that samples start
    t_start = get_sim_time("ns")
    await fall
    dut.start.value = 0
    timeout = False
    if _int(dut.busy):
        fell = FallingEdge(dut.busy)
        done = await First(fell, ClockCycles(clk, max_cycles))
        timeout = done is not fell
        wall = max_cycles if timeout else round((get_sim_time("ns") - t_start) / PERIOD_NS)
        await fall
    else:
        wall = 0
    res: dict[str, Any] = {"timeout": timeout, "wall": wall, "max_cycles": max_cycles}
    for name in ("busy", "done", "error", "error_code", "cycles", "pc"):
        res[name] = _int(getattr(dut, name))
    values: list[int] = []
    if not timeout:
        for addr in reads:
            dut.addr.value = int(addr)
            dut.r_en.value = 1
            await fall
            values.append(_int(dut.r_data))
        dut.r_en.value = 0
        await ReadOnly()
    res["values"] = values
    res["passed"] = not timeout and res["done"] == 1 and res["error"] == 0
    return res


@cocotb.test()
async def test_attention_block(dut: Any) -> None:
    """The bench of ``$IVITA_SIM_PARAMS`` (see the module docstring)."""
    with open(os.environ[PARAMS_ENV]) as f:
        params = json.load(f)
    res = await drive_block(dut, params["writes"], params["reads"], int(params["max_cycles"]))
    res["simulator"] = params.get("simulator")
    with open(params["result"], "w") as f:
        json.dump(res, f)
    if res["timeout"]:
        raise AssertionError(f"busy still high {res['max_cycles']} cycles after start "
                             f"(pc {res['pc']}): the block hangs or the cycle limit is too low")
    if not res["passed"]:
        raise AssertionError(f"the block stopped with done={res['done']} error={res['error']} "
                             f"error_code={res['error_code']} at pc {res['pc']}")
