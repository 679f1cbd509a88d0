"""The ``ivita`` command line: thin wrappers over library functions.

Each subcommand lives in ``ivita/commands/<name>.py`` and exposes
``register(subparsers) -> None``; the parser it adds sets ``func(args) -> int`` (the exit code).
Every subcommand prints a human summary, or with ``--json`` one JSON object on stdout.

:func:`main` applies the conventions of :mod:`ivita.commands._common` to every subcommand:
Ctrl-C prints one line and exits 130 (no traceback); an unexpected exception is an internal
error: its traceback is printed and the exit status is 1; usage errors exit 2 (argparse); a
closed stdout pipe (``ivita ... | head``) ends quietly with 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from . import __version__
from .commands._common import EXIT_FAIL, EXIT_INTERRUPTED, interrupted_message

#: subcommand modules under ivita.commands, in help order (only commands that exist)
COMMANDS = ("sim", "accuracy", "synth", "build", "power", "sweep", "results")

EPILOG = ("exit status: 0 success; 1 a check failed (e.g. a bench mismatch) or an internal "
          "error (traceback printed); 2 invalid options; 3 a simulator is not installed; "
          "130 interrupted (Ctrl-C)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivita",
        description="Integer-only ViT accelerator: bit-exact unit benches against the "
                    "reference model, integer-vs-float accuracy, open synthesis for Spartan-7 "
                    "and Vivado build plans.",
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"ivita {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"ivita.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ivita ARGS``; returns the exit status (argparse usage errors raise SystemExit 2)."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `ivita ... | head`: the reader left; not a bug
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_FAIL
    except KeyboardInterrupt as e:
        sys.stdout.flush()
        print(interrupted_message(e), file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except Exception:  # a bug, not a usage error: show where it happened
        traceback.print_exc()
        print("ivita: internal error (the traceback above); exit status 1", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
