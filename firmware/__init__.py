"""ivita.firmware (see docs/architecture.md)."""
