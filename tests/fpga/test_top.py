"""The board top (fpga/top.py): UART divisor choice, a PING through the UART pins of the
simulated top (host test device core, small divisor), the LEDs following the core's status,
the reset button, and the default core."""


import pytest
from amaranth import Module
from amaranth.hdl import Fragment
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ivita.firmware import protocol as p
from ivita.firmware.driver import HostDriver
from ivita.firmware.transport import SimTransport
from ivita.fpga.board import write_board_plan
from ivita.fpga.top import (DEFAULT_BLOCK, LED_ORDER, BoardTop, accelerator_core,
                            host_timeout, hostdevice_core, uart_divisor)


@pytest.mark.parametrize("clk_hz, baud, divisor", [
    (100e6, 115200, 868), (12e6, 115200, 104), (12e6, 3_000_000, 4), (100e6, 9600, 10417)])
def test_uart_divisor(clk_hz, baud, divisor):
    assert uart_divisor(clk_hz, baud) == divisor


@pytest.mark.parametrize("clk_hz, baud, message", [
    (12e6, 5_000_000, r"baud=5000000 at 12 MHz needs divisor=2 clocks per bit, out of range "
                      r"4\.\.65536; use a baud rate in 183\.\.3000000"),
    (100e6, 1200, r"needs divisor=83333 clocks per bit, out of range 4\.\.65536"),
    (1e6, 105000, r"divisor 10 gives 100000 baud, 4\.8 % off \(the limit is 2 %\)"),
    (1e6, 0, r"baud=0 must be a positive int"),
])
def test_uart_divisor_errors(clk_hz, baud, message):
    with pytest.raises(ValueError, match=message):
        uart_divisor(clk_hz, baud)


def test_heartbeat_is_1_hz_on_the_boards():
    for clk_hz in (100e6, 12e6):
        top = BoardTop(hostdevice_core(), clk_hz=clk_hz)
        assert top.heartbeat_half == clk_hz / 2            # a toggle every half second
        Fragment.get(top, None)


def test_host_timeout_is_a_tenth_of_a_second_within_range():
    assert host_timeout(100e6) == 10_000_000 and host_timeout(12e6) == 1_200_000
    assert host_timeout(10.0) == 2 and host_timeout(1e10) == 1 << 28


def test_ping_and_memory_through_the_uart_pins():
    top = BoardTop(hostdevice_core(addr_limit=16), clk_hz=1e6, divisor=8, heartbeat_hz=1000)
    t = SimTransport(top, clk_hz=1e6)
    drv = HostDriver(t, timeout=0.2)
    info = drv.ping()
    assert (info.version, info.addr_limit) == (p.PROTOCOL_VERSION, 16)
    drv.write_words(3, [0x12345678, 0xCAFEF00D])
    assert drv.read_words(3, 2) == [0x12345678, 0xCAFEF00D]
    assert t.framing_errors == 0


class _StubCore(wiring.Component):
    """A core whose status the test drives."""

    def __init__(self) -> None:
        self.divisor = 8
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1),
                          "done": Out(1), "error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.tx.eq(self.rx)
        return m


def test_leds_follow_status_and_heartbeat_and_reset():
    core = _StubCore()
    top = BoardTop(core, clk_hz=1e6, divisor=8, heartbeat_hz=1e6 / 20)   # toggle every 10
    sim = Simulator(top)
    sim.add_clock(1e-6)
    led = {name: i for i, name in enumerate(LED_ORDER)}

    async def bench(ctx):
        beats = []
        for _ in range(45):
            await ctx.tick()
            beats.append(ctx.get(top.leds[led["heartbeat"]]))
        flips = [i for i in range(1, len(beats)) if beats[i] != beats[i - 1]]
        assert [b - a for a, b in zip(flips, flips[1:])] == [10] * (len(flips) - 1)
        assert len(flips) >= 3
        for name in ("busy", "done", "error"):
            ctx.set(getattr(core, name), 1)
            assert ctx.get(top.leds[led[name]]) == 0     # registered: after the next edge
            await ctx.tick()
            assert ctx.get(top.leds) & ~(1 << led["heartbeat"]) == 1 << led[name]
            ctx.set(getattr(core, name), 0)
            await ctx.tick()
            assert ctx.get(top.leds[led[name]]) == 0
        ctx.set(core.busy, 1)
        ctx.set(top.rst_button, 1)                # held in reset: LEDs cleared, no heartbeat
        await ctx.delay(4e-6)                     # (tick() raises DomainReset in reset)
        held = []
        for _ in range(25):
            await ctx.delay(1e-6)
            held.append(ctx.get(top.leds))
        assert set(held) == {0}
        ctx.set(top.rst_button, 0)
        await ctx.delay(4e-6)
        assert ctx.get(top.leds[led["busy"]]) == 1

    sim.add_testbench(bench)
    sim.run()


def test_core_checks():
    stub = _StubCore()
    with pytest.raises(ValueError, match="the core's divisor 8 differs from the top's 868"):
        BoardTop(stub, clk_hz=100e6)
    Fragment.get(stub, None)                      # used, so Amaranth does not warn
    with pytest.raises(TypeError, match="has no port 'busy'"):
        BoardTop(lambda d, t: _NoStatus(), clk_hz=1e6, divisor=8)
    with pytest.raises(ValueError, match=r"divisor=2 is out of range"):
        BoardTop(hostdevice_core(), clk_hz=1e6, divisor=2)


class _NoStatus(wiring.Component):
    def __init__(self) -> None:
        super().__init__({"rx": In(1), "tx": Out(1)})

    def elaborate(self, platform):
        return Module()


def test_default_core_is_the_accelerator(tmp_path):
    """The default top holds an AcceleratorUART of DEFAULT_BLOCK at the board's divisor, and
    the smallest board's project is written with it."""
    from ivita.hw.accel import AcceleratorUART
    from ivita.model.block_config import BlockConfig
    assert BlockConfig(**DEFAULT_BLOCK).rows == 4
    top = BoardTop(clk_hz=12e6)
    assert isinstance(top.core, AcceleratorUART) and top.divisor == 104
    Fragment.get(top, None)                               # elaborates without a platform
    write_board_plan("cmod-s7", tmp_path)                 # elaborates for the smallest part
    assert "AcceleratorUART" in (tmp_path / "top.v").read_text() or \
        (tmp_path / "top.v").stat().st_size > 100_000