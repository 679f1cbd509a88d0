"""``ivita accuracy``: integer-only vs float accuracy.

``ivita accuracy`` (the default, model mode) measures a whole ViT: the shipped tiny ViT trained
on the 8x8 digits (or ``--model PATH``, a timm-named checkpoint for the same data), float top-1
against integer-only top-1 on the fixed test split, for every width (``a_bits = w_bits =
prob_bits``), calibrated by min/max and by the PTQ search, with the chosen attention-probability
modes (:func:`ivita.model.vit_accuracy`).

``ivita accuracy --block`` measures one pre-norm multi-head self-attention block: for every
operand width (``a_bits = w_bits``) it builds the same deterministic random float block,
calibrates it, runs the integer block of the reference model and compares the dequantized
output with the float block (:func:`ivita.model.block_accuracy`). Thin wrappers: all numbers
come from the library functions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ivita.model import (
    PROB_MODES, AttentionConfig, BlockAccuracy, FloatViT, ViTAccuracy, block_accuracy,
    load_digits_split, load_timm_vit, load_tiny_vit, vit_accuracy,
)
from ivita.model.config import ACT_CALIBRATIONS, W_CALIBRATIONS
from ivita.model.digits import TINY_VIT
from ivita.model.vit_accuracy import float_top1

from ._common import EXIT_USAGE, add_int, add_progress_options, add_seed, name_flags, \
    progress_wanted

__all__ = ["register", "parse_bits", "run_block", "format_block_table", "run_model",
           "format_model_table", "main", "ADOPTED_PROB_MODE"]

DEFAULT_BITS = (2, 3, 4, 5, 6, 7, 8)
MODEL_BITS = (8, 6, 5, 4, 3, 2)
METHODS = ("minmax", "ptq")
ADOPTED_PROB_MODE = "split"   #: the attention-probability option adopted (docs/accuracy.md)


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


class _BitsList(argparse.Action):
    """``--bits LIST`` through :func:`parse_bits`; the error names the flag as typed and the
    range (``--bits 1: width 1 is out of range; it must be in 2..16``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        try:
            setattr(namespace, self.dest, parse_bits(values))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(None, f"{option_string} {values}: {exc}") from None


#: config fields of ``--block`` and the flags that set them (for config errors)
BLOCK_FLAGS = {"tokens": "--tokens", "dim": "--dim", "heads": "--heads",
               "attn_bits": "--attn-bits", "prob_bits": "--prob-bits"}


def parse_prob_modes(text: str) -> tuple[str, ...]:
    """``"direct,split"`` or ``"all"`` -> the modes in :data:`ivita.model.PROB_MODES` order."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if parts == ["all"]:
        return PROB_MODES
    for p in parts:
        if p not in PROB_MODES:
            raise argparse.ArgumentTypeError(
                f"unknown mode {p!r}; choose from {', '.join(PROB_MODES)} or all")
    if not parts:
        raise argparse.ArgumentTypeError("no modes given")
    return tuple(m for m in PROB_MODES if m in parts)


def register(subparsers: Any) -> None:
    """Add the ``accuracy`` subcommand to the ``ivita`` CLI."""
    p = subparsers.add_parser(
        "accuracy", help="integer-only vs float accuracy",
        description="Integer-only vs float accuracy. Default: a whole ViT (the shipped tiny "
                    "ViT on 8x8 digits, or --model), float vs integer-only top-1 per width. "
                    "--block: one pre-norm multi-head self-attention block on deterministic "
                    "random data, per operand width.")
    p.add_argument("--block", action="store_true",
                   help="measure one attention block instead of the whole model")
    p.add_argument("--bits", action=_BitsList, default=None, metavar="LIST",
                   help="operand widths a_bits = w_bits (= prob_bits in model mode), e.g. "
                        "2,3,4 or 2-8, each in 2..16 (default 8,6,5,4,3,2; with --block 2-8)")
    p.add_argument("--method", choices=(*METHODS, "both"), default=None,
                   help="model mode: calibration, min/max or the PTQ search (default both)")
    p.add_argument("--prob-mode", type=parse_prob_modes, default=None, metavar="LIST",
                   help="model mode: attention-probability modes, from direct, split, log2 or "
                        f"all (default direct,{ADOPTED_PROB_MODE})")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="model mode: a timm-named ViT checkpoint (.npz or .safetensors) for "
                        "1x8x8 digits and 10 classes (default: the shipped tiny ViT)")

    add_int(p, "--tokens", lo=1, hi=4096, default=16, help="--block: tokens per sequence")
    add_int(p, "--dim", lo=1, hi=4096, default=64, help="--block: embedding width")
    add_int(p, "--heads", lo=1, hi=64, default=None, default_text="4 with --block",
            help="attention heads: of the --block block, or of --model if the checkpoint "
                 "does not store ivita.heads")
    add_int(p, "--attn-bits", lo=2, hi=16, default=8,
            help="--block: width of the scores fed to Shiftmax")
    add_int(p, "--prob-bits", lo=2, hi=16, default=8,
            help="--block: width of the Shiftmax output, the P operand of P@V")
    p.add_argument("--act-calibration", choices=ACT_CALIBRATIONS, default="mse",
                   help="--block: activation scales (default mse)")
    p.add_argument("--w-calibration", choices=W_CALIBRATIONS, default="mse",
                   help="--block: per-channel weight scales (default mse)")
    add_int(p, "--calib-samples", lo=1, hi=100_000, default=32,
            help="--block: calibration sequences")
    add_int(p, "--eval-samples", lo=1, hi=100_000, default=8,
            help="--block: evaluation sequences")
    add_seed(p, default=0, help="--block: random seed")
    add_progress_options(p)
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


def _load_model(args: argparse.Namespace) -> FloatViT:
    if args.model is None:
        return load_tiny_vit()
    try:
        vit = load_timm_vit(args.model, heads=args.heads)
    except (KeyError, ValueError, OSError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ValueError(f"--model {args.model}: {msg}") from None
    if (vit.channels, vit.image, vit.classes) != (1, 8, 10):
        raise ValueError(f"--model {args.model}: the digits data needs 1x8x8 images and 10 "
                         f"classes; the checkpoint has {vit.channels}x{vit.image}x{vit.image} "
                         f"and {vit.classes}")
    return vit


def run_model(args: argparse.Namespace) -> tuple[FloatViT, list[ViTAccuracy]]:
    """One :func:`ivita.model.vit_accuracy` per (width, method, mode) asked for."""
    vit = _load_model(args)
    data = load_digits_split()
    fc = float_top1(vit, data.test_x, data.test_y)
    methods = METHODS if args.method in (None, "both") else (args.method,)
    modes = args.prob_mode or ("direct", ADOPTED_PROB_MODE)
    points = [(bits, method, mode) for bits in sorted(args.bits or MODEL_BITS, reverse=True)
              for method in methods for mode in modes]
    show = progress_wanted(getattr(args, "progress", None))
    out = []
    t0 = time.perf_counter()
    for i, (bits, method, mode) in enumerate(points):
        if show:
            print(f"ivita accuracy: [{i + 1}/{len(points)}] {bits} bits, {method}, {mode} "
                  f"({time.perf_counter() - t0:.0f} s so far)", file=sys.stderr, flush=True)
        out.append(vit_accuracy(vit, data, bits, method, mode, float_correct=fc))
    return vit, out


def format_model_table(args: argparse.Namespace, vit: FloatViT,
                       results: list[ViTAccuracy]) -> str:
    """The human summary of ``ivita accuracy`` (model mode)."""
    r0 = results[0]
    cols = list(dict.fromkeys((r.method, r.prob_mode) for r in results))
    src = args.model or f"{TINY_VIT.name} (shipped; scripts/train_tiny_vit.py)"
    lines = [
        "ivita accuracy: integer-only ViT vs float, top-1 on the digits test split",
        "  source : ivita.model.vit_accuracy (numpy reference model); calibration on the "
        "100-image",
        "           calibration split only; the integer path runs from the quantized pixels to "
        "the logits",
        f"  model  : {src}",
        f"           {vit.tokens} tokens, dim {vit.dim}, {vit.heads} heads, {vit.depth} "
        f"blocks, MLP {vit.mlp[0].hidden}",
        "  widths : a_bits = w_bits = prob_bits = the row's width; fixed: Shiftmax and "
        "ShiftGELU inputs 8,",
        "           residual stream 16, logits 16, mult_bits 16",
        f"  float  : {r0.float_top1:.2f} % ({r0.float_correct}/{r0.total})",
        "",
        "  bits" + "".join(f"{m + '/' + p:>18s}" for m, p in cols) + "   (top-1 %, "
        "delta to float)",
    ]
    by = {(r.bits, r.method, r.prob_mode): r for r in results}
    for bits in dict.fromkeys(r.bits for r in results):
        cells = []
        for m, p in cols:
            r = by[(bits, m, p)]
            cells.append(f"{r.top1:7.2f} ({r.top1 - r.float_top1:+6.2f})")
        lines.append(f"  {bits:4d}" + "".join(f"{c:>18s}" for c in cells))
    lines += ["", "  method/mode: minmax = symmetric min/max scales; ptq = channel equalization, "
              "sym/asym choice,", "  loss-aware clipping search and, at <= 4 bits, "
              "sequential up/down weight rounding", "  (docs/accuracy.md); "
              "direct/split/log2 = attention-probability mode"]
    return "\n".join(lines)


def _check_mode_flags(args: argparse.Namespace) -> str | None:
    if args.block:
        for flag, v in (("--method", args.method), ("--prob-mode", args.prob_mode),
                        ("--model", args.model)):
            if v is not None:
                return f"{flag} applies to the model mode, not to --block"
    return None


def main(args: argparse.Namespace) -> int:
    """Entry point set by :func:`register`; returns the exit code."""
    bad = _check_mode_flags(args)
    if bad:
        print(f"ivita accuracy: error: {bad}", file=sys.stderr)
        return EXIT_USAGE
    if not args.block:
        try:
            vit, res = run_model(args)
        except (TypeError, ValueError) as exc:
            print(f"ivita accuracy: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if args.json:
            obj = {"command": "accuracy", "mode": "model",
                   "source": "ivita.model.vit_accuracy (numpy reference model vs float64 "
                             "model, digits test split)",
                   "model": args.model or TINY_VIT.name,
                   "results": [r.as_dict() for r in res]}
            print(json.dumps(obj, sort_keys=True))
        else:
            print(format_model_table(args, vit, res))
        return 0
    if args.bits is None:
        args.bits = DEFAULT_BITS
    if args.heads is None:
        args.heads = 4
    try:
        results = run_block(args)
    except (TypeError, ValueError) as exc:
        print(f"ivita accuracy: error: {name_flags(str(exc), BLOCK_FLAGS)}", file=sys.stderr)
        return EXIT_USAGE
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
