"""ivita.sim (see docs/architecture.md)."""
