"""The scoreboard: ``==`` against the model, first mismatch with coordinates and seed."""

from __future__ import annotations

import numpy as np

from ivita.sim.scoreboard import Scoreboard


def describe(beat: int, group: str, index: tuple[int, ...]) -> dict[str, int]:
    d = {"tile": beat // 2, "row": beat % 2}
    if index:
        d["col"] = index[0]
    return d


def expected() -> dict[str, np.ndarray]:
    return {"c": np.arange(12).reshape(4, 3), "last": np.array([0, 1, 0, 1])}


def test_all_equal_passes() -> None:
    sb = Scoreboard("o_stream", expected(), describe, seed=5)
    assert sb.check(expected())
    assert sb.checked == 4 * 3 + 4 and sb.mismatches == 0 and sb.first is None
    assert sb.summary()["passed"]


def test_first_mismatch_in_beat_order_with_coordinates_and_seed() -> None:
    got = expected()
    got["c"] = got["c"].copy()
    got["c"][3, 0] += 1         # later beat
    got["c"][2, 2] -= 1         # earlier beat -> reported first
    got["last"] = got["last"].copy()
    got["last"][3] = 0
    sb = Scoreboard("o_stream", expected(), describe, seed=42)
    assert not sb.check(got)
    assert sb.mismatches == 3
    m = sb.first
    assert m is not None
    assert (m.beat, m.group, m.index, m.expected, m.got, m.seed) == (2, "c", (2,), 8, 7, 42)
    assert m.coords == {"tile": 1, "row": 0, "col": 2}
    assert m.message() == ("o_stream.c[2] at tile 1, row 0, col 2 (beat 2): expected 8, got 7 "
                           "(seed 42)")


def test_off_by_one_in_a_large_value_is_caught() -> None:
    exp = {"c": np.array([[(1 << 46) - 1]], dtype=np.int64)}
    got = {"c": np.array([[(1 << 46) - 2]], dtype=np.int64)}
    sb = Scoreboard("o", exp)
    assert not sb.check(got) and sb.first is not None and sb.first.got == (1 << 46) - 2


def test_missing_and_extra_beats() -> None:
    exp = expected()
    short = {g: v[:3] for g, v in exp.items()}
    sb = Scoreboard("o_stream", exp, describe, seed=1)
    assert not sb.check(short)
    assert sb.errors == ["o_stream: received 3 of 4 expected beats"]
    assert sb.first is not None and sb.first.beat == 3 and sb.first.got is None
    long = {g: np.concatenate([v, v[:1]]) for g, v in exp.items()}
    sb = Scoreboard("o_stream", exp, describe)
    assert not sb.check(long)
    assert sb.errors == ["o_stream: 1 unexpected extra beats after the 4 expected"]
    assert sb.mismatches == 0


def test_xz_beats_are_mismatches() -> None:
    sb = Scoreboard("o_stream", expected(), describe, seed=3)
    assert not sb.check(expected(), xz=[1])
    assert sb.first is not None and sb.first.beat == 1 and sb.first.got == "X/Z"
