"""The simulator-independent bench loop and agents, against a Python model of a design.

``FakeIncrementer`` plays the design: a one-register stream stage ``s = a + 1`` with proper
back-pressure, or with a chosen defect. It also checks that the *driver* keeps the stream
rules (valid held and payload stable until accepted). No simulator is involved.
"""

from __future__ import annotations

import numpy as np
import pytest

from ivita.sim.loop import BenchLoop, StreamDriver, XValue
from ivita.sim.sidecar import Sidecar


def _int(width: int, signed: bool) -> dict:
    return {"kind": "int", "width": width, "signed": signed}


SIDECAR = {
    "schema": 1, "name": "fake", "config": None, "latency": 1, "clock": "clk", "reset": "rst",
    "ports": {p: {"direction": d, "width": w} for p, d, w in [
        ("clk", "input", 1), ("rst", "input", 1),
        ("i_stream__valid", "input", 1), ("i_stream__ready", "output", 1),
        ("i_stream__payload", "input", 5), ("o_stream__valid", "output", 1),
        ("o_stream__ready", "input", 1), ("o_stream__payload", "output", 6),
        ("err", "output", 1)]},
    "streams": {
        "i_stream": {"direction": "in", "valid": "i_stream__valid", "ready": "i_stream__ready",
                     "payload": "i_stream__payload",
                     "layout": {"kind": "struct", "width": 5, "fields": {
                         "a": {"offset": 0, "shape": _int(4, True)},
                         "last": {"offset": 4, "shape": _int(1, False)}}}},
        "o_stream": {"direction": "out", "valid": "o_stream__valid",
                     "ready": "o_stream__ready", "payload": "o_stream__payload",
                     "layout": {"kind": "struct", "width": 6, "fields": {
                         "s": {"offset": 0, "shape": _int(5, True)},
                         "last": {"offset": 5, "shape": _int(1, False)}}}}},
    "signals": {"err": {"port": "err", "direction": "output", "width": 1,
                        "layout": _int(1, False)}},
}


class FakeIncrementer:
    """``s = a + 1`` through one register; ``defect`` in {None, "off_by_one", "drop_valid",
    "change_payload", "hang", "extra", "x_payload"}."""

    def __init__(self, defect: str | None = None, n: int = 40):
        self.defect = defect
        self.n = n
        self._duplicated = False
        self.inp = {"i_stream__valid": 0, "i_stream__payload": 0, "o_stream__ready": 0}
        self.o_valid, self.o_payload, self.err = 0, 0, 0
        self.cycle = 0
        self.driver_violations: list[str] = []
        self._offered: int | None = None   # input payload offered but not taken last cycle
        self.sent = 0

    def ready(self) -> int:
        return int(not self.o_valid or self.inp["o_stream__ready"])

    def get(self, port: str) -> int:
        if port == "i_stream__ready":
            return 0 if self.defect == "hang" else self.ready()
        if port == "o_stream__valid":
            return self.o_valid
        if port == "o_stream__payload":
            if self.defect == "x_payload" and self.sent == 2:
                raise XValue(port, "xxxxxx")
            return self.o_payload
        if port == "err":
            return self.err
        raise KeyError(port)

    def set(self, port: str, value: int) -> None:
        assert port in self.inp, port
        self.inp[port] = value

    def tick(self) -> None:
        iv, ip, ordy = (self.inp["i_stream__valid"], self.inp["i_stream__payload"],
                        self.inp["o_stream__ready"])
        if self._offered is not None and (not iv or ip != self._offered):
            self.driver_violations.append(f"cycle {self.cycle}: driver broke the stream rules")
        take = iv and self.get("i_stream__ready")
        self._offered = ip if iv and not take else None
        if take:
            a = ip & 0xF
            a = a - 16 if a & 8 else a
            s = a + 1 + (1 if self.defect == "off_by_one" and a == -8 else 0)
            self.o_payload = (s & 0x1F) | ((ip >> 4) << 5)
            self.o_valid = 1
            self.sent += 1
        elif ordy or self.defect == "drop_valid":
            self.o_valid = 0
        if self.defect == "extra" and self.sent == self.n and not self.o_valid \
                and not self._duplicated:
            self.o_valid, self._duplicated = 1, True   # the last beat comes out twice
        if self.defect == "change_payload" and self.o_valid and not ordy:
            self.o_payload ^= 1
        self.cycle += 1


def run(defect: str | None = None, *, n: int = 40, stall_in: float = 0.4,
        stall_out: float = 0.4, seed: int = 7,
        end_values: dict | None = None) -> tuple[dict, FakeIncrementer]:
    side = Sidecar(SIDECAR)
    rng = np.random.default_rng(seed)
    a = rng.integers(-8, 8, n)
    a[:2] = -8
    last = (np.arange(n) % 4 == 3).astype(np.int64)
    inputs = {"i_stream": side.stream("i_stream").codec.pack_beats({"a": a, "last": last})}
    expected = {"o_stream": {"s": a + 1, "last": last}}
    loop = BenchLoop(side, inputs=inputs, expected=expected, seed=seed, stall_in=stall_in,
                     stall_out=stall_out, end_values=end_values,
                     describe=lambda b, g, i: {"tile": b // 4, "row": b % 4})
    dut = FakeIncrementer(defect, n)
    loop.start(dut)
    while not loop.done:
        loop.sample(dut)
        dut.tick()
        loop.drive(dut)
    return loop.finish(dut), dut


@pytest.mark.parametrize("stall_in, stall_out", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.6, 0.6)])
def test_correct_design_passes_and_driver_keeps_stream_rules(stall_in: float,
                                                             stall_out: float) -> None:
    res, dut = run(stall_in=stall_in, stall_out=stall_out)
    assert res["passed"], res
    assert dut.driver_violations == []
    assert res["beats_in"] == res["beats_out"] == 40
    assert res["elements_checked"] == 80
    if stall_out == 0:
        assert res["latency_measured"] == 1
    if stall_in == stall_out == 0:
        assert res["stream_cycles"] == 41   # one beat per cycle plus the register


def test_same_seed_same_run_and_different_seed_different_stalls() -> None:
    a, _ = run(seed=3)
    b, _ = run(seed=3)
    c, _ = run(seed=4)
    strip = ("wall_s", "cycles_per_s")
    assert {k: v for k, v in a.items() if k not in strip} == \
        {k: v for k, v in b.items() if k not in strip}
    assert a["cycles"] != c["cycles"]


def test_wrong_design_fails_with_coordinates_and_seed() -> None:
    res, _ = run("off_by_one", seed=11)
    assert not res["passed"]
    fm = res["first_mismatch"]
    assert fm["beat"] == 0 and fm["coords"] == {"tile": 0, "row": 0}
    assert (fm["expected"], fm["got"], fm["seed"]) == (-7, -6, 11)
    assert "seed 11" in fm["message"]


@pytest.mark.parametrize("defect, message", [
    ("drop_valid", "valid dropped"),
    ("change_payload", "payload changed"),
    ("hang", "timeout after"),
    ("extra", "unexpected extra beats"),
    ("x_payload", "X/Z"),
])
def test_protocol_defects_are_reported(defect: str, message: str) -> None:
    res, _ = run(defect, stall_out=0.5)
    assert not res["passed"]
    text = " ".join(res["errors"]) + " " + str(res["first_mismatch"])
    assert message in text, res


def test_end_values_are_checked() -> None:
    res, _ = run(end_values={"err": 0})
    assert res["passed"] and res["end_values"] == {"err": 0}
    res, _ = run(end_values={"err": 1})
    assert not res["passed"] and "err is 0 at the end of the run, expected 1" in res["errors"]


def test_stall_probability_is_validated() -> None:
    info = Sidecar(SIDECAR).stream("i_stream")
    with pytest.raises(ValueError, match=r"idle=1.0 is out of range; it must be in \[0, 1\)"):
        StreamDriver(info, [], idle=1.0)
