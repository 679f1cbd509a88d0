"""ivita.hw (see docs/architecture.md)."""
