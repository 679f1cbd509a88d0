# amaranth: UnusedElaboratable=no
"""HostTestDevice's stand-in control (busy exactly N cycles after start) and its parameters;
the bus signatures plug into a target with ``wiring.connect``."""

from __future__ import annotations

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.sim import Simulator

from ivita.firmware.protocol import start_request
from ivita.hw.hostif_bus import HostBusSignature, HostControlSignature
from ivita.hw.hostif_testdevice import HostTestDevice


def test_busy_for_exactly_n_cycles_after_start() -> None:
    n = 5
    dev = HostTestDevice(addr_limit=4, busy_cycles=n, error_code=9)
    trace = []

    async def bench(ctx):
        ctrl = dev.host.ctrl
        ctx.set(dev.o_stream.ready, 1)
        request = list(start_request())
        for cycle in range(60):
            ctx.set(dev.i_stream.valid, bool(request))
            ctx.set(dev.i_stream.payload, request[0] if request else 0)
            trace.append((ctx.get(ctrl.start), ctx.get(ctrl.busy), ctx.get(ctrl.done),
                          ctx.get(ctrl.error_code), ctx.get(ctrl.cycles)))
            if request and ctx.get(dev.i_stream.ready):
                request.pop(0)
            await ctx.tick()

    sim = Simulator(dev)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    starts = [c for c, t in enumerate(trace) if t[0]]
    assert len(starts) == 1
    s = starts[0]
    assert [c for c, t in enumerate(trace) if t[1]] == list(range(s + 1, s + 1 + n))
    assert [t[2] for t in trace] == [0] * (s + 1 + n) + [1] * (60 - s - 1 - n)
    assert trace[s + n][3] == 0 and trace[-1][1:] == (0, 1, 9, n)   # error code once done


@pytest.mark.parametrize("kwargs, msg", [
    ({"busy_cycles": 0}, r"^busy_cycles=0 is out of range; it must be in 1\.\.2\^32-1$"),
    ({"error_code": 256}, r"^error_code=256 is out of range; it must be in 0\.\.255$"),
    ({"divisor": 2}, r"^divisor=2 is out of range"),
])
def test_parameters_validated(kwargs, msg) -> None:
    with pytest.raises(ValueError, match=msg):
        HostTestDevice(**kwargs)


def test_signatures_connect_to_a_block() -> None:
    class Block(wiring.Component):
        def __init__(self):
            super().__init__({"bus": In(HostBusSignature(10)), "ctrl": In(HostControlSignature())})

        def elaborate(self, platform):
            return Module()

    from ivita.hw.hostif import HostInterface
    host, block = HostInterface(addr_limit=1024, timeout=8), Block()
    m = Module()
    wiring.connect(m, host.bus, block.bus)
    wiring.connect(m, host.ctrl, block.ctrl)
    assert host.bus.signature == HostBusSignature(10) != HostBusSignature(11)
    assert repr(HostBusSignature(10)) == "HostBusSignature(10)"
