#!/usr/bin/env python3
"""Write the golden vectors of the integer reference model: tests/data/golden_model.npz + .json.

Run from the repository root, only when the model's arithmetic is changed *on purpose* (with
the matching change to docs/numerics.md), after committing that change (so the provenance
records a clean ``model/``):

    python tests/data/make_golden.py

tests/model/test_golden.py recomputes every case from the stored inputs and compares with
``==``, so any drift of the integer model (an "innocent" refactor that changes one rounding)
fails. Inputs come from ``numpy.random.default_rng(SEED)``; the attention parameters are
produced once by ``quantize_block`` (floats, BLAS) and stored as integers, so the test replays
only the exact integer path and does not depend on the float library.

Layout of the .npz: for every case ``<case>``, ``<case>.fn`` (the model function name),
``<case>.arg.<name>`` (keyword arguments; 0-d arrays are ints) and ``<case>.out.<name>``.
The attention cases also hold ``<case>.config`` (AttentionConfig as JSON) and
``<case>.param.<name>`` (AttentionParams.arrays()).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NPZ = HERE / "golden_model.npz"
META = HERE / "golden_model.json"
SEED = 20240601
WIDTHS = (2, 3, 4, 5, 6, 7, 8, 16)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build() -> tuple[dict[str, np.ndarray], list[str]]:
    """All cases as npz arrays, and the case names."""
    import ivita.model as m

    rng = np.random.default_rng(SEED)
    arrays: dict[str, np.ndarray] = {}
    names: list[str] = []

    def case(name: str, fn: str, **kwargs: Any) -> None:
        out = getattr(m, fn)(**kwargs)
        outs = {"b": out[0], "c": out[1]} if fn == "dyadic" else {"y": out}
        arrays[f"{name}.fn"] = np.array(fn)
        for k, v in kwargs.items():
            arrays[f"{name}.arg.{k}"] = np.asarray(v)
        for k, v in outs.items():
            arrays[f"{name}.out.{k}"] = np.asarray(v, dtype=np.int64)
        names.append(name)

    i64 = np.iinfo(np.int64)
    wide = rng.integers(i64.min, i64.max, size=64, endpoint=True)
    for bits in WIDTHS:
        case(f"saturate_{bits}", "saturate", v=wide >> (62 - 2 * bits), bits=bits)
    case("saturate_unsigned_8", "saturate", v=wide >> 50, bits=8, signed=False)
    case("round_shift", "round_shift", v=rng.integers(-(1 << 40), 1 << 40, size=(8, 8)),
         s=rng.integers(0, 41, size=8))
    sq = rng.integers(0, i64.max, size=64, endpoint=True) >> rng.integers(0, 63, size=64)
    case("isqrt", "isqrt", v=np.concatenate([sq, [0, 1, 2, 3, 4, (1 << 62), i64.max]]))
    ms = np.exp2(rng.uniform(-30, 7.5, size=32))
    case("dyadic_16", "dyadic", m=ms, mult_bits=16)
    case("dyadic_8", "dyadic", m=ms, mult_bits=8)
    b, c = m.dyadic(np.exp2(rng.uniform(-12, -4, size=6)))
    acc = rng.integers(-(1 << 20), 1 << 20, size=(10, 6))
    for bits in WIDTHS:
        case(f"requantize_{bits}", "requantize", acc=acc, b=b, c=c, out_bits=bits)
    case("residual_add", "residual_add", x=rng.integers(-(1 << 15), 1 << 15, size=(4, 6)),
         bx=b, cx=c, y=rng.integers(-(1 << 15), 1 << 15, size=(4, 6)), by=b[::-1], cy=c[::-1],
         out_bits=16)
    case("linear_acc", "linear_acc", x=rng.integers(-8, 8, size=(5, 12)),
         w=rng.integers(-8, 8, size=(6, 12)), bias=rng.integers(-1000, 1000, size=6),
         x_zero_point=3)
    case("shift_exp", "shift_exp", z=-rng.integers(0, 2000, size=64), x0=-13, n=15)
    s = rng.integers(1, 1 << 40, size=32)
    num = (s * rng.uniform(0, 1, size=32)).astype(np.int64)
    for bits in (2, 8, 16):
        case(f"recip_div_{bits}", "recip_div", num=num, s=s, out_bits=bits)
    for bits in WIDTHS:
        S = 8.0 / (1 << (bits - 1))
        x = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(4, 16))
        case(f"shiftmax_{bits}", "shiftmax", x=x, x0=m.softmax_x0(S), n=15, out_bits=8)
        case(f"shift_gelu_{bits}", "shift_gelu", x=x, x0=m.gelu_x0(S), n=15, sig_bits=8)
        case(f"int_layernorm_{bits}", "int_layernorm", x=x)

    for bits in (4, 8):
        name = f"attention_{bits}"
        cfg = m.AttentionConfig(tokens=8, dim=16, heads=2, a_bits=bits, w_bits=bits)
        block = m.make_float_block(cfg, SEED % 1000)
        params = m.quantize_block(block, cfg, m.make_block_input(cfg, 1, 8))
        x_int = m.quantize(m.make_block_input(cfg, 2, 2), params.scales.x, cfg.resid_bits)
        tr = m.attention_block_trace(x_int, params)
        arrays[f"{name}.fn"] = np.array("attention_block_trace")
        arrays[f"{name}.config"] = np.array(json.dumps(cfg.as_dict(), sort_keys=True))
        for k, v in params.arrays().items():
            arrays[f"{name}.param.{k}"] = v
        arrays[f"{name}.arg.x_int"] = x_int
        for k, v in tr.items():
            if k != "x":                      # the input itself is stored once, as the arg
                arrays[f"{name}.out.{k}"] = v
        names.append(name)
    return arrays, names


def main() -> int:
    import ivita.model  # noqa: F401  (fail early if the package is not installed)

    arrays, names = build()
    np.savez_compressed(NPZ, **arrays)
    digest = hashlib.sha256(NPZ.read_bytes()).hexdigest()
    dirty = _git("status", "--porcelain", "--", "model")
    meta = {
        "generator": "tests/data/make_golden.py",
        "seed": SEED,
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "git_revision": _git("rev-parse", "HEAD"),
        "model_tree_dirty": bool(dirty) if dirty != "unknown" else None,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cases": names,
        "npz_sha256": digest,
        "npz_bytes": NPZ.stat().st_size,
    }
    META.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {NPZ.relative_to(ROOT)} ({meta['npz_bytes']} bytes, {len(names)} cases) "
          f"and {META.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
