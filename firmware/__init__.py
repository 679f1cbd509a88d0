"""ivita.firmware (see docs/architecture.md and docs/host.md).

- :mod:`ivita.firmware.protocol` the host link's frame format and command codes (pure Python;
  the one definition, also imported by the gateware decoder ``ivita.hw.hostif``)
- :mod:`ivita.firmware.transport` ``Transport``, ``SerialTransport`` (pyserial),
  ``SimTransport`` (Amaranth simulator of a device)
- :mod:`ivita.firmware.driver` ``HostDriver``: ping, write/read words, start, status, wait
- :mod:`ivita.firmware.uart_line` cycle-level 8N1 line model (simulated links)
- :mod:`ivita.firmware.refdevice` ``ReferenceDevice``: executable spec of the decoder + RAM
- :mod:`ivita.firmware.block_run` load / run / read back a compiled layer through the
  driver (docs/firmware.md)
"""
