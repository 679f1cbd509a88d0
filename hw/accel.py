"""The accelerator: the host link's command decoder in front of the attention block.

:class:`Accelerator` = :class:`~ivita.hw.hostif.HostInterface` (frames of
:mod:`ivita.firmware.protocol`) whose word bus and start/status are wired to one
:class:`~ivita.hw.attention.AttentionBlock`; :class:`AcceleratorUART` adds the
:class:`~ivita.hw.uart.UARTRx` / :class:`~ivita.hw.uart.UARTTx` pair (``rx`` / ``tx`` pins),
which is what a board top wraps. The host runs a layer with
:mod:`ivita.firmware.block_run` over :class:`~ivita.firmware.driver.HostDriver`
(docs/firmware.md).

Wiring (combinational, no extra latency):

- bus: the decoder's word address is the block's bus address
  (:func:`~ivita.firmware.memory_map.memory_map`); ``addr_limit`` is
  :attr:`~ivita.firmware.memory_map.MemoryMap.limit`, so an access past the last region's words
  is answered ``BAD_ADDRESS`` without a bus cycle (holes between regions read 0, ignore
  writes). Reads have the block bus's latency 1. While the block is ``busy`` its memories
  belong to the datapath: host writes are dropped and reads return whatever the datapath's
  port addresses (the driver loads and reads only while idle).
- ctrl: ``start`` -> the block's ``start`` (the decoder answers START with ``BUSY`` while
  ``busy``); STATUS reports ``busy``, ``done`` = the run ended (``done`` or ``error`` of the
  block: set when a run ends, cleared by ``start``, the host link's contract),
  ``error_code`` (:data:`ivita.firmware.isa.ERRORS`, 0 = none) and ``cycles`` of the run.
- LEDs: ``busy``, ``done`` (the run ended with HALT) and ``error`` (it stopped with an error
  code) are the block's own flags.
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ivita.model.block_config import BlockConfig

from .attention import AttentionBlock
from .host_front import HostFront
from .hostif import HostInterface
from .hostif_parser import check_timeout
from .timing import Timing

__all__ = ["Accelerator", "AcceleratorUART"]


class Accelerator(wiring.Component):
    """:class:`HostInterface` + :class:`AttentionBlock` built from ``cfg`` (see the module
    docstring for the wiring).

    Parameters: ``cfg`` (:class:`~ivita.model.block_config.BlockConfig`), ``timeout``
    (keyword, 2..2^28 cycles; the decoder's frame timeout, see :class:`HostInterface`).

    Ports: ``i_stream`` / ``o_stream`` (``stream.Signature(8)``: request bytes in, response
    bytes out, back-pressure as :class:`HostInterface`), ``busy``, ``done``, ``error``
    (``Out(1)`` each, for LEDs). Normative model of a run: the program's
    (:mod:`ivita.firmware.compiler`), i.e. :func:`ivita.model.attention_block_trace` /
    :func:`ivita.model.mlp_block_trace` / :func:`ivita.model.encoder_block_trace`.
    """

    def __init__(self, cfg: BlockConfig, *, timeout: int, divisor: int | None = None) -> None:
        if not isinstance(cfg, BlockConfig):     # every check before any part is built
            raise TypeError(f"cfg must be a BlockConfig, not {type(cfg).__name__}")
        self._front = HostFront(divisor)
        check_timeout(timeout)
        self.block = AttentionBlock(cfg)
        self.host = HostInterface(addr_limit=self.block.memory_map.limit, timeout=timeout)
        super().__init__({**self._front.ports(), "busy": Out(1), "done": Out(1),
                          "error": Out(1)})

    @property
    def config(self) -> BlockConfig:
        return self.block.config

    @property
    def divisor(self) -> int | None:
        """Clocks per UART bit (:class:`AcceleratorUART`), or ``None`` for the byte streams."""
        return self._front.divisor

    @property
    def addr_limit(self) -> int:
        """Word addresses ``0 .. addr_limit - 1`` exist (what PING reports)."""
        return self.host.addr_limit

    @property
    def timeout(self) -> int:
        return self.host.timeout

    def timing(self, n: int | None = None) -> Timing:
        """The host link's, for requests that write ``n`` words (a START returns at once; the
        run's own timing is :meth:`AttentionBlock.timing`). Byte streams:
        :meth:`HostInterface.timing`. UART pins (:class:`AcceleratorUART`): latency
        ``UARTRx.timing().latency + host latency + UARTTx.timing().latency`` from the first
        cycle of the last request byte's start bit on ``rx`` to the first cycle of the
        response's start bit on ``tx``; one byte per ``10 * divisor`` cycles on either pin."""
        return self._front.timing(self.host, n)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.host = host = self.host
        m.submodules.block = block = self.block
        self._front.connect(m, self, host)
        bus, ctrl = host.bus, host.ctrl
        m.d.comb += [block.addr.eq(bus.addr), block.w_data.eq(bus.w_data),
                     block.w_en.eq(bus.w_en), block.r_en.eq(bus.r_en),
                     bus.r_data.eq(block.r_data),
                     block.start.eq(ctrl.start),
                     ctrl.busy.eq(block.busy), ctrl.done.eq(block.done | block.error),
                     ctrl.error_code.eq(block.error_code), ctrl.cycles.eq(block.cycles),
                     self.busy.eq(block.busy), self.done.eq(block.done),
                     self.error.eq(block.error)]
        return m


class AcceleratorUART(Accelerator):
    """:class:`Accelerator` talking 8N1 through :class:`UARTRx` / :class:`UARTTx`.

    ``AcceleratorUART(cfg, divisor=..., timeout=...)``: ``divisor`` clocks per bit (4..65536,
    e.g. 100 MHz / 115200 baud -> 868), ``timeout`` in cycles (several byte times, i.e. more
    than ``10 * divisor``, plus the host's jitter). Ports: ``rx`` (``In(1)``, idle high),
    ``tx`` (``Out(1)``, idle high), ``busy``, ``done``, ``error`` (``Out(1)``). A board top
    instantiates it and connects the pins and LEDs.
    """

    def __init__(self, cfg: BlockConfig, *, divisor: int, timeout: int) -> None:
        if divisor is None:
            raise TypeError("AcceleratorUART needs divisor= (clocks per UART bit)")
        super().__init__(cfg, timeout=timeout, divisor=divisor)
