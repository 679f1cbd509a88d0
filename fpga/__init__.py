"""ivita.fpga (see docs/architecture.md)."""
