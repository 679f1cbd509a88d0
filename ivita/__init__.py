"""ivita: an integer-only Vision Transformer accelerator.

Subpackages (one distribution, mapped from top-level folders):

- :mod:`ivita.model`    numpy integer reference model, the bit-exact spec (numpy + stdlib only)
- :mod:`ivita.hw`       Amaranth components
- :mod:`ivita.sim`      verification infrastructure (Verilog emission, cocotb benches)
- :mod:`ivita.firmware` ISA, assembler, compiler, host driver
- :mod:`ivita.fpga`     Spartan-7 synthesis, build plans, power, sweeps
"""

__version__ = "0.1.0"
