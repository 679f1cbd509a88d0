"""The board top: clock, reset synchroniser, the core on the USB-UART pins, status LEDs.

:class:`BoardTop` puts a *core* (a component with ports ``rx`` (In 1), ``tx`` (Out 1),
``busy``, ``done``, ``error`` (Out 1), made for a UART ``divisor``) on a board:

- clock: the platform's default clock (100 MHz ``clk100`` on the Arty S7, 12 MHz ``clk12``
  on the Cmod S7), driving the ``sync`` domain; its period constraint comes from the
  amaranth-boards resource;
- reset: :class:`amaranth.lib.cdc.ResetSynchronizer` (2 stages, asserted at power-up) from
  the board's reset button (:data:`RESET_BUTTONS`: ``rst`` = ``CK_RST`` on the Arty S7,
  ``button`` 0 = ``BTN0`` on the Cmod S7) ORed, on the FPGA, with the end of configuration
  (``STARTUPE2.EOS`` low), so no flip-flop leaves reset before the global write enable;
- UART: ``platform.request("uart")`` (the board's FTDI USB-UART), 8N1 at ``baud`` with
  ``divisor = round(clk_hz / baud)`` clocks per bit (:func:`uart_divisor`);
- LEDs ``led`` 0..3 (:data:`LED_ORDER`): heartbeat (toggles every ``clk_hz / 2`` cycles:
  1 Hz, shows the clock runs and reset is released), ``busy``, ``done``, ``error`` of the core,
  registered (one cycle behind the core).

Without a platform (``elaborate(None)``, simulation) the pins are the attributes ``rx``,
``tx``, ``leds``, ``rst_button`` of the top, and the simulator's clock drives ``sync``;
``divisor`` is then exposed so :class:`ivita.firmware.transport.SimTransport` can talk to the
top. Latency and throughput are the core's (plus nothing: ``rx``/``tx`` are wired straight
to the core); the LEDs follow the core one cycle later.

The default core is :func:`accelerator_core`: ``ivita.hw.accel.AcceleratorUART`` with
:data:`DEFAULT_BLOCK`, imported only when used. :func:`hostdevice_core` puts
:class:`~ivita.hw.hostif_testdevice.HostTestDevice` on the pins instead (tests, bring-up).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amaranth import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import Out

__all__ = ["BoardTop", "CoreFactory", "uart_divisor", "host_timeout", "hostdevice_core",
           "accelerator_core", "DEFAULT_BLOCK", "LED_ORDER", "RESET_BUTTONS", "MAX_BAUD_ERROR"]

#: a core factory: UART clocks per bit, frame timeout (cycles) -> the core component
CoreFactory = Callable[[int, int], Any]

#: which LED shows what, ``led`` 0 first
LED_ORDER = ("heartbeat", "busy", "done", "error")

#: the reset button of each platform: (resource name, number); by default ``("button", 0)``
RESET_BUTTONS = {"ArtyS7_50Platform": ("rst", 0), "ArtyS7_25Platform": ("rst", 0),
                 "CmodS7_Platform": ("button", 0)}

#: the largest accepted mismatch of the actual baud rate (``clk_hz / divisor``) against the
#: requested one: both ends of an 8N1 link sample the stop bit 9.5 bit times after the start
#: edge, so a total mismatch under about 5 % is tolerated; 2 % leaves the rest to the host.
MAX_BAUD_ERROR = 0.02

#: the accelerator's default block configuration (see :func:`accelerator_core`): 4 x 4 at 4
#: bits fits the xc7s25 (62.5 % of its LUT sites by ``ivita synth --unit attention --rows 4
#: --cols 4 --bits 4 --tokens 16 --dim 16``), 8 x 8 does not (120 %); docs/fpga.md
DEFAULT_BLOCK: dict[str, int] = {"rows": 4, "cols": 4, "a_bits": 4, "w_bits": 4,
                                 "attn_bits": 4, "prob_bits": 4, "max_tokens": 16,
                                 "max_dim": 16}


def uart_divisor(clk_hz: float, baud: int) -> int:
    """Clocks per UART bit ``round(clk_hz / baud)``; ValueError naming the values when the
    divisor is outside ``MIN_DIVISOR..MAX_DIVISOR`` of :mod:`ivita.hw.uart` or the actual baud
    rate misses ``baud`` by more than :data:`MAX_BAUD_ERROR`."""
    from ivita.hw.uart import MAX_DIVISOR, MIN_DIVISOR

    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise ValueError(f"baud={baud!r} must be a positive int")
    if not clk_hz > 0:
        raise ValueError(f"clk_hz={clk_hz!r} must be positive")
    divisor = round(clk_hz / baud)
    if not MIN_DIVISOR <= divisor <= MAX_DIVISOR:
        raise ValueError(f"baud={baud} at {clk_hz / 1e6:g} MHz needs divisor={divisor} clocks "
                         f"per bit, out of range {MIN_DIVISOR}..{MAX_DIVISOR}; use a baud rate "
                         f"in {clk_hz / MAX_DIVISOR:.0f}..{clk_hz / MIN_DIVISOR:.0f}")
    error = abs(clk_hz / divisor - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(f"baud={baud} at {clk_hz / 1e6:g} MHz: divisor {divisor} gives "
                         f"{clk_hz / divisor:.0f} baud, {100 * error:.1f} % off (the limit is "
                         f"{100 * MAX_BAUD_ERROR:g} %)")
    return divisor


def host_timeout(clk_hz: float, seconds: float = 0.1) -> int:
    """The host interface's frame timeout in cycles: ``seconds`` of clock (default 0.1 s, long
    against the gaps a USB-UART leaves inside a frame), clamped to the interface's range."""
    from ivita.hw.hostif_parser import MAX_TIMEOUT, MIN_TIMEOUT
    return max(MIN_TIMEOUT, min(MAX_TIMEOUT, round(clk_hz * seconds)))


class _TestDeviceCore(wiring.Component):
    """:class:`~ivita.hw.hostif_testdevice.HostTestDevice` on UART pins with its ``busy``,
    ``done`` and ``error`` (``done`` with a non-zero error code) as ports."""

    def __init__(self, divisor: int, timeout: int, **kwargs: Any) -> None:
        from amaranth.lib.wiring import In

        from ivita.hw.hostif_testdevice import HostTestDevice
        self.device = HostTestDevice(divisor=divisor, timeout=timeout, **kwargs)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1),
                          "done": Out(1), "error": Out(1)})

    @property
    def divisor(self) -> int | None:
        return self.device.divisor

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.device = dev = self.device
        ctrl = dev.host.ctrl
        m.d.comb += [dev.rx.eq(self.rx), self.tx.eq(dev.tx), self.busy.eq(ctrl.busy),
                     self.done.eq(ctrl.done), self.error.eq(ctrl.done & (ctrl.error_code != 0))]
        return m


def hostdevice_core(**kwargs: Any) -> CoreFactory:
    """A factory of the host test device on the UART pins (``kwargs``: ``addr_limit``,
    ``busy_cycles``, ``error_code`` of :class:`~ivita.hw.hostif_testdevice.HostTestDevice`)."""
    return lambda divisor, timeout: _TestDeviceCore(divisor, timeout, **kwargs)


def accelerator_core(divisor: int, timeout: int, cfg: Any = None) -> Any:
    """``ivita.hw.accel.AcceleratorUART(cfg, divisor=, timeout=)``, ``cfg`` by default
    ``BlockConfig(**DEFAULT_BLOCK)``."""
    from ivita.hw.accel import AcceleratorUART
    from ivita.model.block_config import BlockConfig
    return AcceleratorUART(cfg if cfg is not None else BlockConfig(**DEFAULT_BLOCK),
                           divisor=divisor, timeout=timeout)


class BoardTop(Elaboratable):
    """A core on a board: see the module docstring.

    ``core``: a :data:`CoreFactory` ``(divisor, timeout) -> component`` or a built component
    (whose ``divisor``, when it has one, must equal the top's). ``clk_hz``: the clock the
    divisor and heartbeat are computed for (the platform's default clock frequency when built
    for a board; :meth:`for_platform`). ``divisor`` overrides ``round(clk_hz / baud)`` (short
    simulations). ``timeout``: the core's frame timeout in cycles (default
    :func:`host_timeout`)."""

    def __init__(self, core: CoreFactory | Any = accelerator_core, *, clk_hz: float,
                 baud: int = 115200, divisor: int | None = None, timeout: int | None = None,
                 heartbeat_hz: float = 1.0) -> None:
        try:
            self._setup(core, clk_hz, baud, divisor, timeout, heartbeat_hz)
        except Exception:
            self._MustUse__silence = True      # not built: no "created but never used" warning
            raise

    def _setup(self, core: CoreFactory | Any, clk_hz: float, baud: int, divisor: int | None,
               timeout: int | None, heartbeat_hz: float) -> None:
        from ivita.hw.uart import check_divisor

        if not clk_hz > 0:
            raise ValueError(f"clk_hz={clk_hz!r} must be positive")
        self.clk_hz = float(clk_hz)
        self.divisor = (uart_divisor(clk_hz, baud) if divisor is None
                        else check_divisor(divisor))
        self.baud = baud
        self.timeout = host_timeout(clk_hz) if timeout is None else timeout
        half = round(clk_hz / (2 * heartbeat_hz)) if heartbeat_hz > 0 else 0
        if half < 1:
            raise ValueError(f"heartbeat_hz={heartbeat_hz!r} must be in (0, clk_hz / 2]")
        self.heartbeat_half = half
        if isinstance(core, Elaboratable):
            d = getattr(core, "divisor", self.divisor)
            if d != self.divisor:
                raise ValueError(f"the core's divisor {d} differs from the top's "
                                 f"{self.divisor}")
            self.core = core
        elif callable(core):
            self.core = core(self.divisor, self.timeout)
        else:
            raise TypeError(f"core must be a component or a factory, not {type(core).__name__}")
        for name in ("rx", "tx", "busy", "done", "error"):
            if not hasattr(self.core, name):
                self.core._MustUse__silence = True     # rejected, so never elaborated
                raise TypeError(f"the core {type(self.core).__name__} has no port {name!r}")
        self.rx = Signal(init=1)
        self.tx = Signal(init=1)
        self.rst_button = Signal()
        self.leds = Signal(len(LED_ORDER))

    @classmethod
    def for_platform(cls, platform: Any, core: CoreFactory | Any = accelerator_core,
                     **kwargs: Any) -> BoardTop:
        """A top clocked at ``platform.default_clk_frequency``."""
        return cls(core, clk_hz=platform.default_clk_frequency, **kwargs)

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.domains.sync = ClockDomain("sync")
        arst = self.rst_button if platform is None else self._connect_pins(m, platform)
        m.submodules.reset_sync = ResetSynchronizer(arst, domain="sync")
        m.submodules.core = core = self.core
        m.d.comb += [core.rx.eq(self.rx), self.tx.eq(core.tx)]

        count = Signal(range(self.heartbeat_half))
        beat = Signal()
        with m.If(count == self.heartbeat_half - 1):
            m.d.sync += [count.eq(0), beat.eq(~beat)]
        with m.Else():
            m.d.sync += count.eq(count + 1)
        status = {"heartbeat": beat, "busy": core.busy, "done": core.done, "error": core.error}
        for i, name in enumerate(LED_ORDER):
            if name == "heartbeat":
                m.d.comb += self.leds[i].eq(beat)
            else:
                m.d.sync += self.leds[i].eq(status[name])
        return m

    def _connect_pins(self, m: Module, platform: Any) -> Any:
        """Clock, UART and LED pins; returns the asynchronous reset (button or configuring)."""
        def buf(direction: str, port: Any, name: str) -> Any:
            m.submodules[name] = b = io.Buffer(direction, port)
            return b

        clk = buf("i", platform.request(platform.default_clk, dir="-"), "clk_buf")
        m.d.comb += ClockSignal("sync").eq(clk.i)
        name, number = RESET_BUTTONS.get(type(platform).__name__, ("button", 0))
        button = buf("i", platform.request(name, number, dir="-"), "rst_buf")
        eos = Signal()
        m.submodules.startup = Instance("STARTUPE2", o_EOS=eos)
        uart = platform.request("uart", 0, dir="-")
        rx, tx = buf("i", uart.rx, "uart_rx_buf"), buf("o", uart.tx, "uart_tx_buf")
        m.d.comb += [self.rx.eq(rx.i), tx.o.eq(self.tx)]
        for i in range(len(LED_ORDER)):
            led = buf("o", platform.request("led", i, dir="-"), f"led{i}_buf")
            m.d.comb += led.o.eq(self.leds[i])
        return button.i | ~eos
