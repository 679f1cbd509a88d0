"""``ivita accuracy``: integer-only vs float accuracy.

``ivita accuracy --block`` measures one pre-norm multi-head self-attention block: for every
operand width (``a_bits = w_bits``) it builds the same deterministic random float block,
calibrates it, runs the integer block of the reference model and compares the dequantized
output with the float block (:func:`ivita.model.block_accuracy`). A thin wrapper: all numbers
come from the library function.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ivita.model import AttentionConfig, BlockAccuracy, block_accuracy
from ivita.model.config import ACT_CALIBRATIONS, W_CALIBRATIONS

__all__ = ["register", "parse_bits", "run_block", "format_block_table", "main"]

DEFAULT_BITS = (2, 3, 4, 5, 6, 7, 8)


def parse_bits(text: str) -> tuple[int, ...]:
    """``"2,3,4"`` or ``"2-8"`` (or a mix) -> sorted unique widths, each in 2..16."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo_s, hi_s = part.split("-", 1)
                lo, hi = int(lo_s), int(hi_s)
                if lo > hi:
                    raise argparse.ArgumentTypeError(f"empty width range {part!r}")
                vals = range(lo, hi + 1)
            else:
                vals = range(int(part), int(part) + 1)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a width or range: {part!r}") from None
        for v in vals:
            if not 2 <= v <= 16:
                raise argparse.ArgumentTypeError(f"width {v} is out of range; it must be in 2..16")
            out.add(v)
    if not out:
        raise argparse.ArgumentTypeError("no widths given")
    return tuple(sorted(out))


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be at least 1")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"seed {v} must be non-negative")
    return v


def register(subparsers: Any) -> None:
    """Add the ``accuracy`` subcommand to the ``ivita`` CLI."""
    p = subparsers.add_parser(
        "accuracy", help="integer-only vs float accuracy",
        description="Integer-only vs float accuracy. --block: one pre-norm multi-head "
                    "self-attention block on deterministic random data, per operand width.")
    p.add_argument("--block", action="store_true",
                   help="measure one attention block (the only mode so far)")
    p.add_argument("--bits", type=parse_bits, default=DEFAULT_BITS, metavar="LIST",
                   help="operand widths a_bits = w_bits, e.g. 2,3,4 or 2-8 (default 2-8)")
    p.add_argument("--tokens", type=_positive, default=16, help="tokens per sequence (16)")
    p.add_argument("--dim", type=_positive, default=64, help="embedding width (64)")
    p.add_argument("--heads", type=_positive, default=4, help="attention heads (4)")
    p.add_argument("--attn-bits", type=_positive, default=8,
                   help="width of the scores fed to Shiftmax (8)")
    p.add_argument("--prob-bits", type=_positive, default=8,
                   help="width of the Shiftmax output, the P operand of P@V (8)")
    p.add_argument("--act-calibration", choices=ACT_CALIBRATIONS, default="mse",
                   help="activation scales (default mse)")
    p.add_argument("--w-calibration", choices=W_CALIBRATIONS, default="mse",
                   help="per-channel weight scales (default mse)")
    p.add_argument("--calib-samples", type=_positive, default=32,
                   help="calibration sequences (32)")
    p.add_argument("--eval-samples", type=_positive, default=8,
                   help="evaluation sequences (8)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=main)


def run_block(args: argparse.Namespace) -> list[BlockAccuracy]:
    """One :func:`block_accuracy` per width in ``args.bits`` (ValueError on a bad config)."""
    results = []
    for bits in args.bits:
        cfg = AttentionConfig(
            tokens=args.tokens, dim=args.dim, heads=args.heads, a_bits=bits, w_bits=bits,
            attn_bits=args.attn_bits, prob_bits=args.prob_bits,
            act_calibration=args.act_calibration, w_calibration=args.w_calibration)
        results.append(block_accuracy(cfg, seed=args.seed, calib_samples=args.calib_samples,
                                      eval_samples=args.eval_samples))
    return results


def format_block_table(args: argparse.Namespace, results: list[BlockAccuracy]) -> str:
    """The human summary of ``ivita accuracy --block``."""
    c = results[0].config
    lines = [
        "ivita accuracy --block: integer attention block vs float reference",
        "  source : ivita.model.block_accuracy (numpy reference model). A random float block",
        f"           (seed {args.seed}) is calibrated on {args.calib_samples} random sequences "
        f"(seed {args.seed + 1}) and",
        f"           measured on {args.eval_samples} other sequences (seed {args.seed + 2}): "
        "integer output, dequantized,",
        "           against the float64 block on the same inputs",
        f"  block  : tokens={c.tokens} dim={c.dim} heads={c.heads} (head_dim={c.head_dim})",
        "  widths : a_bits = w_bits = the row's width (X, W, Q, K, V, O codes); fixed:",
        f"           attn_bits={c.attn_bits} prob_bits={c.prob_bits} resid_bits={c.resid_bits} "
        f"mult_bits={c.mult_bits} n={c.n}",
        f"  calib  : activations {c.act_calibration}, weights {c.w_calibration} per channel, "
        f"LayerNorm output {'asymmetric' if c.asymmetric else 'symmetric'}",
        "",
        "           block output  x + attn(x)         attention branch  out - x",
        "  a=w bits   rel L2    max abs    cosine       rel L2    max abs    cosine",
    ]
    for r in results:
        o, b = r.output, r.branch
        lines.append(f"  {r.config.a_bits:>8d}  {o.rel_l2:7.4f}  {o.max_abs:8.4f}  {o.cosine:8.5f}"
                     f"     {b.rel_l2:7.4f}  {b.max_abs:8.4f}  {b.cosine:8.5f}")
    r0 = results[0]
    lines += [
        "",
        "  rel L2 = ||int - float|| / ||float||; max abs in real units",
        f"  (float rms: block output {r0.output.ref_rms:.3f}, attention branch "
        f"{r0.branch.ref_rms:.3f})",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Entry point set by :func:`register`; returns the exit code."""
    if not args.block:
        print("ivita accuracy: error: only --block is implemented so far "
              "(try: ivita accuracy --block)", file=sys.stderr)
        return 2
    try:
        results = run_block(args)
    except (TypeError, ValueError) as exc:
        print(f"ivita accuracy: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        obj = {
            "command": "accuracy", "mode": "block", "seed": args.seed,
            "source": "ivita.model.block_accuracy (numpy reference model vs float64 block)",
            "bits": list(args.bits),
            "results": [{"bits": r.config.a_bits, **r.as_dict()} for r in results],
        }
        print(json.dumps(obj, sort_keys=True))
    else:
        print(format_block_table(args, results))
    return 0
