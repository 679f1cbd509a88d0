"""Conventions shared by every ``ivita`` subcommand (docs/architecture.md).

- Exit codes: :data:`EXIT_OK` 0, :data:`EXIT_FAIL` 1 (a check failed, e.g. a bench mismatch,
  or an internal error, which also prints its traceback), :data:`EXIT_USAGE` 2 (invalid
  options: argparse's message or one naming the flag the user typed and its whole range),
  :data:`EXIT_NO_TOOL` 3 (a simulator or tool is not installed), :data:`EXIT_INTERRUPTED` 130
  (Ctrl-C: one line on stderr, no traceback). :func:`ivita.cli.main` applies the last two and
  the internal-error rule to every subcommand.
- Options with a range: :func:`add_int` / :func:`add_prob` add an option whose ``--help``
  shows the range and whose errors read ``--bits 1: must be in 2..16`` (the flag as typed,
  also an alias such as ``--cols`` for ``--lanes``).
- Errors that involve several options (``--k 300`` over ``--k-max 256``) are raised by a
  command as :class:`UsageError` (or a ``ValueError`` from a config, whose ``name=value``
  mentions :func:`name_flags` rewrites to the flags) and reported with exit 2.
- Progress goes to stderr (never stdout, so ``--json`` output stays one object): shown when
  stderr is a terminal, or when ``--progress`` is given; ``--no-progress`` silences it
  (:func:`add_progress_options`, :func:`progress_wanted`).

Standard library only: imported by every subcommand and by the benches' ``add_arguments``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = ["EXIT_OK", "EXIT_FAIL", "EXIT_USAGE", "EXIT_NO_TOOL", "EXIT_INTERRUPTED",
           "UsageError", "IntRange", "ProbRange", "add_int", "add_prob", "SEED_RANGE",
           "add_seed", "name_flags", "add_progress_options", "progress_wanted",
           "interrupted_message", "available_memory"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_NO_TOOL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

#: seeds every command accepts (numpy's default_rng and random.Random take any of them)
SEED_RANGE = (0, 2**32 - 1)


class UsageError(ValueError):
    """Invalid options; the message names the flags. The command exits with 2."""


def _range_text(lo: float, hi: float) -> str:
    return f"{lo}..{hi}"


class IntRange(argparse.Action):
    """``type=int`` with a closed range; the error names the flag as the user typed it."""

    def __init__(self, option_strings: list[str], dest: str, *, lo: int, hi: int,
                 **kwargs: Any) -> None:
        if lo > hi:
            raise ValueError(f"empty range {lo}..{hi} for {option_strings}")
        self.lo, self.hi = lo, hi
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        flag = option_string or self.dest
        try:
            v = int(values, 10)
        except (TypeError, ValueError):
            raise argparse.ArgumentError(
                None, f"{flag} {values!r}: not an integer; must be in "
                      f"{_range_text(self.lo, self.hi)}") from None
        if not self.lo <= v <= self.hi:
            raise argparse.ArgumentError(
                None, f"{flag} {v}: must be in {_range_text(self.lo, self.hi)}")
        setattr(namespace, self.dest, v)


class ProbRange(argparse.Action):
    """A probability in ``[0, 1)``; the error names the flag as typed."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        flag = option_string or self.dest
        try:
            v = float(values)
        except (TypeError, ValueError):
            raise argparse.ArgumentError(
                None, f"{flag} {values!r}: not a number; must be in [0, 1)") from None
        if not 0.0 <= v < 1.0:
            raise argparse.ArgumentError(None, f"{flag} {values}: must be in [0, 1)")
        setattr(namespace, self.dest, v)


def _help(text: str, range_text: str, default: Any, default_text: str | None) -> str:
    d = default_text if default_text is not None else (None if default is None else default)
    return f"{text}; {range_text}" + ("" if d is None else f" (default {d})")


def add_int(parser: Any, *flags: str, lo: int, hi: int, default: int | None = None,
            help: str, default_text: str | None = None, metavar: str = "N",
            dest: str | None = None) -> argparse.Action:
    """Add an integer option in ``lo..hi``; ``--help`` shows ``help; lo..hi (default d)``."""
    kw: dict[str, Any] = {"dest": dest} if dest else {}
    return parser.add_argument(*flags, action=IntRange, lo=lo, hi=hi, default=default,
                               metavar=metavar, help=_help(help, _range_text(lo, hi), default,
                                                           default_text), **kw)


def add_prob(parser: Any, *flags: str, default: float | None = None, help: str,
             default_text: str | None = None) -> argparse.Action:
    """Add a probability option in ``[0, 1)``."""
    return parser.add_argument(*flags, action=ProbRange, default=default, metavar="P",
                               help=_help(help, "[0, 1)", default, default_text))


def add_seed(parser: Any, default: int, help: str = "random seed") -> argparse.Action:
    """``--seed N`` in :data:`SEED_RANGE`."""
    return add_int(parser, "--seed", lo=SEED_RANGE[0], hi=SEED_RANGE[1], default=default,
                   help=help)


def name_flags(message: str, flags: Mapping[str, str]) -> str:
    """Rewrite ``field=value`` mentions of a config error into ``--flag value``.

    ``flags`` maps config field names to the options that set them, e.g.
    ``{"x0_bits": "--x0-bits"}``: ``"x0_bits=16, n=15 ... need 66 bits"`` becomes
    ``"--x0-bits 16, --n 15 ... need 66 bits"``. Unmapped names are left alone.
    """
    def sub(m: re.Match[str]) -> str:
        flag = flags.get(m.group(1))
        return f"{flag} {m.group(2)}" if flag else m.group(0)
    return re.sub(r"\b([a-z][a-z0-9_]*)=([^\s,;)]+)", sub, message)


def add_progress_options(parser: Any) -> None:
    """``--progress`` / ``--no-progress`` (default: shown when stderr is a terminal)."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress on stderr: the size of the run before it starts, then a "
                             "counter (default: only when stderr is a terminal; --json does not "
                             "change it, JSON goes to stdout)")


def progress_wanted(flag: bool | None, stream: TextIO | None = None) -> bool:
    """The ``--progress`` decision: the flag if given, else whether ``stream`` is a TTY."""
    if flag is not None:
        return bool(flag)
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def interrupted_message(exc: BaseException, prog: str = "ivita") -> str:
    """The one line printed on Ctrl-C (names a run directory that was kept, if any)."""
    kept = getattr(exc, "kept_dir", None)
    return f"{prog}: interrupted" + (f"; run directory kept: {kept}" if kept else "")


def available_memory() -> int | None:
    """Bytes of memory available for a new run (``MemAvailable`` of ``/proc/meminfo``, else
    free physical pages), or ``None`` when the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None
