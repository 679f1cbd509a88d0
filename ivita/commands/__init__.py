"""Subcommands of the ``ivita`` CLI; each module has ``register(subparsers)``."""
