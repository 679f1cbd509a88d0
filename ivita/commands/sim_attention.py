"""``ivita sim attention``: the whole attention block, bit-exact, with its cycle count.

Builds a random quantized layer from ``ivita.model`` (deterministic in ``--seed``), compiles it
(:func:`ivita.firmware.compiler.compile_attention`), runs it on the simulated
:class:`ivita.hw.attention.AttentionBlock` through its host bus (``--simulator``: Icarus or
Verilator under cocotb, or amaranth.sim) and compares the tensors read back with
:func:`ivita.model.attention_block_trace` using ``==`` (:mod:`ivita.sim.attention_run`).

Prints the measured cycles (the block's counter, ``start`` to ``done``), the compute bound
``MACs / (rows * cols)`` with ``MACs = 4 T D^2 + 2 T^2 D`` (Q, K, V, output projections;
Q·Kᵀ and P·V of every head) and the ratio ``cycles / bound``, then PASS or FAIL.

Options: ``--tokens``, ``--dim``, ``--heads``, ``--a-bits``, ``--w-bits`` (the layer; the other
widths are the model's defaults), ``--rows``/``--cols`` (the square array),
``--max-tokens``/``--max-heads`` (the block's capacities, default the layer's: a larger block
runs smaller layers and is built once), and the run options of ``ivita sim`` without the
stream stalls. Exit status: 0 every element equal; 1 a mismatch, a timeout (``--max-cycles``),
an error stop of the block or a failed build; 2 invalid options (the message names the flag,
the value and the limit); 3 simulator not installed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ._common import UsageError, add_int, name_flags, progress_wanted

__all__ = ["attention_parser", "case_from_args", "run_attention_cli"]

#: config field -> flag, for errors raised by the model's configs
FLAGS = {"tokens": "--tokens", "dim": "--dim", "heads": "--heads", "a_bits": "--a-bits",
         "w_bits": "--w-bits", "rows": "--rows", "cols": "--cols",
         "max_tokens": "--max-tokens", "max_heads": "--max-heads"}


def attention_parser() -> argparse.ArgumentParser:
    """The options of ``ivita sim attention``, each with its range."""
    from ivita.model.quant import CODE_BITS

    from .sim import add_run_options

    parser = argparse.ArgumentParser(
        prog="ivita sim attention",
        description="The attention block on a random quantized layer: compiled, simulated "
                    "through its host bus, compared with ivita.model.attention_block_trace "
                    "(==); prints cycles, the compute bound MACs/(rows*cols) and their ratio.")
    add_run_options(parser.add_argument_group("run"), stalls=False,
                    max_cycles_default="4 x the compute bound + 200 per token and head "
                                       "+ 20000",
                    seed_help="seed of the layer's weights, calibration data and input")
    g = parser.add_argument_group("layer and block")
    add_int(g, "--tokens", lo=1, hi=4096, default=16, help="tokens T of the layer")
    add_int(g, "--dim", lo=1, hi=4096, default=32, help="channels D (a multiple of --heads)")
    add_int(g, "--heads", lo=1, hi=64, default=2, help="attention heads H")
    add_int(g, "--a-bits", lo=CODE_BITS[0], hi=CODE_BITS[1], default=8,
            help="activation code width (LayerNorm output, Q, K, V, O)")
    add_int(g, "--w-bits", lo=CODE_BITS[0], hi=CODE_BITS[1], default=8,
            help="weight code width")
    add_int(g, "--rows", lo=1, hi=32, default=4, help="array rows")
    add_int(g, "--cols", lo=1, hi=32, default=None, default_text="--rows",
            help="array columns (must equal --rows: the block needs a square array)")
    add_int(g, "--max-tokens", lo=1, hi=4096, default=None, default_text="--tokens",
            help="the block's token capacity")
    add_int(g, "--max-heads", lo=1, hi=64, default=None, default_text="--heads",
            help="the block's head capacity")
    return parser


def case_from_args(ns: argparse.Namespace) -> Any:
    """The :class:`ivita.sim.attention_run.AttentionCase` of the options; ``UsageError``
    naming the flags, the values and the limit when they do not fit together."""
    from ivita.sim.attention_run import make_case

    cols = ns.rows if ns.cols is None else ns.cols
    max_tokens = ns.tokens if ns.max_tokens is None else ns.max_tokens
    max_heads = ns.heads if ns.max_heads is None else ns.max_heads
    if cols != ns.rows:
        raise UsageError(f"--cols {cols} differs from --rows {ns.rows}; the attention block "
                         f"needs a square array")
    if ns.dim % ns.heads:
        raise UsageError(f"--dim {ns.dim} is not a multiple of --heads {ns.heads}")
    if (ns.dim // ns.heads) % cols:
        raise UsageError(f"head_dim = --dim {ns.dim} / --heads {ns.heads} = "
                         f"{ns.dim // ns.heads} is not a multiple of --cols {cols}")
    if ns.tokens > max_tokens:
        raise UsageError(f"--tokens {ns.tokens} exceeds --max-tokens {max_tokens}: --tokens "
                         f"must be in 1..{max_tokens}")
    if ns.heads > max_heads:
        raise UsageError(f"--heads {ns.heads} exceeds --max-heads {max_heads}: --heads must "
                         f"be in 1..{max_heads}")
    try:
        return make_case(tokens=ns.tokens, dim=ns.dim, heads=ns.heads, a_bits=ns.a_bits,
                         w_bits=ns.w_bits, rows=ns.rows, cols=cols, max_tokens=max_tokens,
                         max_heads=max_heads, seed=ns.seed)
    except ValueError as e:
        raise UsageError(name_flags(str(e), FLAGS)) from None


def run_attention_cli(argv: Sequence[str]) -> int:
    """Parse ``argv`` (the options after ``ivita sim attention``), run, print the verdict."""
    from ivita.sim.attention_run import run_attention
    from ivita.sim.progress import Progress

    parser = attention_parser()
    ns = parser.parse_args(list(argv))
    try:
        case = case_from_args(ns)
    except UsageError as e:
        parser.error(str(e))
    progress = Progress(sys.stderr, prog="ivita sim attention") \
        if progress_wanted(ns.progress) else None
    from .sim import run_and_report
    return run_and_report(ns, "attention", lambda: run_attention(
        case, simulator=ns.simulator, max_cycles=ns.max_cycles, waves=ns.waves,
        work_dir=ns.out, build_root=ns.build_dir, keep=ns.keep,
        corrupt_expected=ns.corrupt_expected, progress=progress), {"check": "FAIL"})
