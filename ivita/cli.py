"""The ``ivita`` command line: thin wrappers over library functions.

Each subcommand lives in ``ivita/commands/<name>.py`` and exposes
``register(subparsers) -> None``; the parser it adds sets ``func(args) -> int`` (the exit code).
Every subcommand prints a human summary, or with ``--json`` one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__

#: subcommand modules under ivita.commands, in help order
COMMANDS = ("sim", "accuracy", "synth", "build")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivita", description="Integer-only ViT accelerator: benches, synthesis, sweeps.")
    parser.add_argument("--version", action="version", version=f"ivita {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"ivita.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
