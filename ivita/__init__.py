"""ivita: an integer-only Vision Transformer accelerator.

Subpackages (one distribution, mapped from top-level folders):

- :mod:`ivita.model`    numpy integer reference model, the bit-exact spec (numpy + stdlib only)
- :mod:`ivita.hw`       Amaranth components
- :mod:`ivita.sim`      verification infrastructure (Verilog emission, cocotb and amaranth.sim
  benches, run progress)
- :mod:`ivita.firmware` ISA, assembler, compiler, host driver (not built yet)
- :mod:`ivita.fpga`     Spartan-7 flows: open-synthesis cell counts today; build plans, power and
  sweeps later

The command line is :mod:`ivita.cli` (console script ``ivita``); the conventions every
subcommand shares (exit codes, option ranges, progress, Ctrl-C) are in
:mod:`ivita.commands._common`.
"""

__version__ = "0.1.0"
