# amaranth: UnusedElaboratable=no
"""The unit-test front end of the harness (``ivita.sim.unit_run``) tests itself on toy designs:
values and cycles come back, back-pressure really holds beats, and a design that breaks the
stream rules, makes ``ready`` depend on ``valid`` or hangs fails with the matching message."""

from __future__ import annotations

import random

import pytest
from toy_streams import (ChangesHeldBeat, DropsHeldBeat, NeverReady, ReadyFromValid, ToyStage,
                         ToyTable)

from ivita.sim.unit_run import (StreamRuleError, StreamTimeout, default_max_cycles, run_lanes,
                                run_stream)


def beats(n: int = 40, seed: int = 5) -> list[dict[str, int]]:
    rng = random.Random(seed)
    return [{"x": rng.randint(-128, 127), "last": int(i % 4 == 3)} for i in range(n)]


def expected(bs: list[dict[str, int]]) -> list[dict[str, int]]:
    return [{"y": b["x"] + 1, "last": b["last"]} for b in bs]


def test_correct_stage_values_and_full_rate_cycles() -> None:
    bs = beats()
    res = run_lanes(ToyStage(), bs, n_out=len(bs))
    assert res.outputs == expected(bs)
    assert res.in_cycles == list(range(len(bs)))                # beat 0 in cycle 0, no gaps
    assert res.out_cycles == [c + 1 for c in res.in_cycles]     # latency 1
    assert res.stall_cycles == 0
    assert res.ready_checks == res.cycles + 1 > len(bs)          # every cycle checked


@pytest.mark.parametrize("p_ready", [1.0, 0.5, 0.2])
def test_stall_cycles_are_counted_when_asked_and_only_then(p_ready: float) -> None:
    """A run asked to stall the output shows cycles with valid & ~ready; without stall none."""
    bs = beats(60)
    res = run_lanes(ToyStage(), bs, n_out=len(bs), seed=3, p_valid=0.8, p_ready=p_ready)
    assert res.outputs == expected(bs)
    if p_ready < 1.0:
        assert res.stall_cycles > 0
        # a stalled beat is taken later: the output span grows with the stall
        assert res.out_cycles[-1] - res.in_cycles[0] > len(bs)
    else:
        assert res.stall_cycles == 0


def test_same_seed_same_cycles_other_seed_other_cycles() -> None:
    bs = beats()
    a = run_lanes(ToyStage(), bs, n_out=len(bs), seed=1, p_valid=0.6, p_ready=0.6)
    b = run_lanes(ToyStage(), bs, n_out=len(bs), seed=1, p_valid=0.6, p_ready=0.6)
    c = run_lanes(ToyStage(), bs, n_out=len(bs), seed=2, p_valid=0.6, p_ready=0.6)
    assert (a.in_cycles, a.out_cycles) == (b.in_cycles, b.out_cycles)
    assert (a.in_cycles, a.out_cycles) != (c.in_cycles, c.out_cycles)


@pytest.mark.parametrize("toy, message", [
    (DropsHeldBeat, r"o_stream: valid dropped in cycle \d+ before the beat offered in cycle \d+ "
                    r"was accepted \(stream rule\)"),
    (ChangesHeldBeat, r"o_stream: payload changed in cycle \d+ while valid was held without "
                      r"ready \(stream rule\)"),
])
def test_design_that_ignores_ready_fails(toy: type, message: str) -> None:
    bs = beats()
    with pytest.raises(StreamRuleError, match=message):
        run_lanes(toy(), bs, n_out=len(bs), seed=4, p_valid=0.7, p_ready=0.5)
    # without back-pressure the same design delivers every beat: the stall is what exposes it
    if toy is DropsHeldBeat:
        assert run_lanes(toy(), bs, n_out=len(bs)).outputs == expected(bs)


def test_ready_that_depends_on_valid_fails() -> None:
    bs = beats()
    with pytest.raises(StreamRuleError, match=r"i_stream\.ready depends on i_stream\.valid in "
                       r"cycle \d+: ready=0 with valid=0, ready=1 with valid=1"):
        run_lanes(ReadyFromValid(), bs, n_out=len(bs), seed=4, p_valid=0.7, p_ready=0.5)
    # the values are right: only the ready/valid check sees the defect
    res = run_lanes(ReadyFromValid(), bs, n_out=len(bs), seed=4, p_valid=0.7, p_ready=0.5,
                    check_ready=False)
    assert res.outputs == expected(bs) and res.ready_checks == 0


def test_hang_times_out_and_extra_beats_come_back() -> None:
    with pytest.raises(StreamTimeout, match=r"no progress after 300 cycles: 0/40 beats "
                       r"accepted, 0/40 outputs \(seed=0\)"):
        run_lanes(NeverReady(), beats(), n_out=40, max_cycles=300)
    with pytest.raises(StreamTimeout, match="no progress"):
        run_lanes(ToyStage(), beats(), n_out=41, max_cycles=300)
    bs = beats()
    res = run_lanes(ToyStage(), bs, n_out=len(bs) - 3)       # the tail catches the extra beats
    assert len(res.outputs) == len(bs)
    assert default_max_cycles(10, 10, 0, 1.0, 0.5) == 500 + 50 * 2 * 20


def test_writes_side_ports_watch_and_setup() -> None:
    """Writes happen before their beat with the input idle, side ports travel with the beat."""
    dut = ToyTable()
    bs = [{"x": 10 * i, "last": 0} for i in range(4)]
    side = [{"k": k} for k in (0, 1, -2, 3)]
    writes = {0: [{"we": 1}, {"we": 1}], 2: [{"we": 1}], 4: [{"we": 1}]}
    res = run_lanes(dut, bs, n_out=4, writes=writes, side=side, watch={"count": dut.count},
                    p_ready=0.6, seed=9)
    assert [o["y"] for o in res.outputs] == [0 + 0 + 2, 10 + 1 + 2, 20 - 2 + 3, 30 + 3 + 3]
    assert res.final == {"count": 4}
    assert res.in_cycles[0] == 2                              # after the two writes
    res = run_stream(ToyTable(), [{"x": 5, "last": 1, "k": 2}], n_out=1, ports=("k",),
                     out_fields=("y",))
    assert res.outputs == [{"y": 5 + 2}]
    res = run_lanes(ToyTable(), [{"x": 5, "last": 1}], n_out=1, setup={"k": -3})
    assert res.outputs == [{"y": 5 - 3, "last": 1}]            # k set once before the start
    with pytest.raises(ValueError, match=r"writes before beats \[6\]: there are 4 beats"):
        run_lanes(ToyTable(), bs, n_out=4, writes={6: [{"we": 1}]})
    with pytest.raises(ValueError, match=r"p_ready=0 is out of range; it must be in \(0, 1\]"):
        run_lanes(ToyStage(), bs, n_out=4, p_ready=0)


def test_bad_beat_fields_and_values_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"beat 0: fields \['x'\] do not match"):
        run_lanes(ToyStage(), [{"x": 1}], n_out=1)
    with pytest.raises(ValueError, match=r"x: values \[200, 200\] are out of range \[-128, 127\]"):
        run_lanes(ToyStage(), [{"x": 200, "last": 0}], n_out=1)
