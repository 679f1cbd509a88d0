"""estimate_power rejects bad options before any synthesis, naming the value and the limit."""

from __future__ import annotations

import pytest

from ivita.power import estimate_power


@pytest.mark.parametrize("kw, msg", [
    (dict(rows=0), "rows=0"),
    (dict(cols=33), "cols=33"),
    (dict(a_bits=1), "a_bits=1"),
    (dict(w_bits=17), "w_bits=17"),
    (dict(freq_hz=0.5e6), r"freq_hz=500000.0 is out of range; it must be in \[1e6, 1e9\]"),
    (dict(data="images"), "data='images' is not one of attention, random"),
    (dict(max_beats=8), "max_beats=8"),
])
def test_bad_options(kw, msg):
    args = dict(rows=2, cols=2, a_bits=4, w_bits=4)
    args.update(kw)
    with pytest.raises(ValueError, match=msg):
        estimate_power(**args)


def test_bad_part_and_model(tmp_path):
    with pytest.raises(ValueError):
        estimate_power(rows=2, cols=2, a_bits=4, w_bits=4, part="xc7a35t")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        estimate_power(rows=2, cols=2, a_bits=4, w_bits=4, model=tmp_path / "missing.json")
