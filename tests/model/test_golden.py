"""Golden vectors (tests/data/golden_model.npz, written by tests/data/make_golden.py):
recompute every stored case with the current model and compare with ``==``.

A failure means the integer model's output changed. If that was intended (a spec change in
docs/numerics.md), commit the model change, regenerate with ``python tests/data/make_golden.py``
from the clean tree and commit the data (tests/data/README.md); otherwise it is a regression.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ivita.model as m

DATA = Path(__file__).resolve().parent.parent / "data"
NPZ = DATA / "golden_model.npz"
META = json.loads((DATA / "golden_model.json").read_text())

with np.load(NPZ, allow_pickle=False) as _z:
    GOLDEN = {k: _z[k] for k in _z.files}


def _group(case: str, part: str) -> dict[str, Any]:
    pre = f"{case}.{part}."
    out: dict[str, Any] = {}
    for k, v in GOLDEN.items():
        if k.startswith(pre):
            out[k[len(pre):]] = v.item() if v.ndim == 0 and v.dtype.kind in "iub" else v
    return out


def test_provenance_matches_the_file() -> None:
    assert hashlib.sha256(NPZ.read_bytes()).hexdigest() == META["npz_sha256"]
    cases = sorted({k.split(".")[0] for k in GOLDEN})
    assert cases == sorted(META["cases"])
    assert NPZ.stat().st_size < 200_000


def test_every_public_integer_op_is_covered() -> None:
    fns = {str(GOLDEN[f"{c}.fn"]) for c in META["cases"]}
    assert fns >= {"saturate", "round_shift", "isqrt", "dyadic", "requantize", "residual_add",
                   "linear_acc", "shift_exp", "recip_div", "shiftmax", "shift_gelu",
                   "int_layernorm", "attention_block_trace"}


@pytest.mark.parametrize("case", META["cases"])
def test_golden_case(case: str) -> None:
    fn = str(GOLDEN[f"{case}.fn"])
    args = _group(case, "arg")
    want = _group(case, "out")
    if fn == "attention_block_trace":
        cfg = m.AttentionConfig.from_dict(json.loads(str(GOLDEN[f"{case}.config"])))
        params = m.AttentionParams.from_arrays(cfg, _group(case, "param"))
        got = m.attention_block_trace(args["x_int"], params)
        got = {k: v for k, v in got.items() if k in want}
    elif fn == "dyadic":
        b, c = m.dyadic(**args)
        got = {"b": b, "c": c}
    else:
        got = {"y": getattr(m, fn)(**args)}
    assert sorted(got) == sorted(want)
    for k in want:
        g = np.asarray(got[k])
        assert g.dtype == np.int64 and g.shape == np.shape(want[k]), k
        assert np.array_equal(g, want[k]), f"{case}: output {k!r} drifted from the golden vector"
