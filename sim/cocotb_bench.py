"""The cocotb side of a bench: port access, clock/reset and the per-cycle loop.

Runs inside the simulator process started by :func:`ivita.sim.runner.run_cocotb`. Everything
about the design comes from the sidecar named in the parameter file (``$IVITA_SIM_PARAMS``);
the stimulus and the model's expected outputs come from the ``.npz`` written by the parent.

Per clock cycle: ``await ReadOnly()`` -> ``loop.sample`` (settled values: handshakes of this
cycle) -> ``await RisingEdge(clk)`` -> ``loop.drive`` (inputs of the next cycle). The result
JSON is written before the test asserts, so the parent sees the verdict even when cocotb
reports the failure. About every half second the loop's progress goes to the heartbeat file
named in the parameters (:class:`ivita.sim.progress.Heartbeat`), which the parent polls.
"""

from __future__ import annotations

import json
import os
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from .bench import Stimulus, TB, json_default, load_tb
from .loop import XValue
from .progress import Heartbeat
from .runner import PARAMS_ENV
from .sidecar import Sidecar

__all__ = ["CocotbIO", "cocotb_test", "run_cocotb_bench"]


class CocotbIO:
    """``get``/``set`` of raw port values by Verilog port name (handles cached)."""

    def __init__(self, dut: Any):
        self.dut = dut
        self._handles: dict[str, Any] = {}

    def _h(self, port: str) -> Any:
        h = self._handles.get(port)
        if h is None:
            h = self._handles[port] = getattr(self.dut, port)
        return h

    def get(self, port: str) -> int:
        v = self._h(port).value
        try:
            return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)
        except ValueError:
            raise XValue(port, str(v)) from None

    def set(self, port: str, value: int) -> None:
        self._h(port).value = value


async def run_cocotb_bench(dut: Any, tb_cls: type[TB] | None = None) -> dict[str, Any]:
    """Run the bench described by ``$IVITA_SIM_PARAMS`` on ``dut``; return the result dict."""
    with open(os.environ[PARAMS_ENV]) as f:
        params = json.load(f)
    sidecar = Sidecar.load(params["sidecar"])
    cls = tb_cls or load_tb(params["tb"])
    tb = cls.from_sidecar(sidecar, params["tb_params"])
    stim = Stimulus.load(params["vectors"])
    seed = int(params["seed"])
    loop = tb.make_loop(sidecar, stim, seed=seed, stall_in=params["stall_in"],
                        stall_out=params["stall_out"], max_cycles=params.get("max_cycles"))
    io = CocotbIO(dut)
    if sidecar.clock is None:
        raise RuntimeError(f"{sidecar.name} has no clock port; the bench needs a sync domain")
    clk = io._h(sidecar.clock)
    Clock(clk, 10, unit="ns", impl="gpi").start(start_high=False)
    edge, settled = RisingEdge(clk), ReadOnly()
    for port in sidecar.inputs():
        io.set(port, 0)
    if sidecar.reset:
        io.set(sidecar.reset, 1)
        for _ in range(3):
            await edge
        io.set(sidecar.reset, 0)
    await edge
    beat = Heartbeat(params.get("heartbeat"))     # progress for the parent (heartbeat.json)
    loop.start(io)
    while not loop.done:
        await settled
        loop.sample(io)
        await edge
        loop.drive(io)
        if loop.cycle >= beat.next_cycle:
            beat(loop)
    beat.close(loop)
    await settled
    result = loop.finish(io)
    result["simulator"] = params.get("simulator")
    with open(params["result"], "w") as f:
        json.dump(result, f, indent=1, default=json_default)
    if not result["passed"]:
        msg = result["first_mismatch"]["message"] if result["first_mismatch"] else ""
        raise AssertionError("; ".join(filter(None, [msg, *result["errors"]])))
    return result


def cocotb_test(tb_cls: type[TB]) -> Any:
    """The cocotb test of a unit: put ``test_<unit> = cocotb_test(<TB>)`` in its module."""

    async def bench(dut: Any) -> None:
        await run_cocotb_bench(dut, tb_cls)

    bench.__name__ = bench.__qualname__ = f"test_{tb_cls.unit or tb_cls.__name__}"
    bench.__module__ = tb_cls.__module__
    return cocotb.test(bench)
