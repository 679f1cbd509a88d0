"""Pack/unpack of stream payloads from sidecar offsets (pure Python), cross-checked against
Amaranth's own packing of the same layouts."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth import signed, unsigned
from amaranth.lib import data
from hypothesis import given, settings
from hypothesis import strategies as st

from ivita.sim.emit import layout_node
from ivita.sim.payload import PayloadCodec, check_node, to_signed, to_unsigned

ARRAY_LIKE = data.StructLayout({
    "a": data.ArrayLayout(signed(4), 3), "b": data.ArrayLayout(signed(5), 2), "last": 1})
NESTED = data.StructLayout({
    "hdr": data.StructLayout({"tag": unsigned(3), "neg": signed(2)}),
    "m": data.ArrayLayout(data.ArrayLayout(signed(3), 2), 2),
    "last": 1})


def test_to_signed_and_back() -> None:
    assert to_signed(0b1111, 4) == -1
    assert to_signed(0b0111, 4) == 7
    assert to_signed(0b1000, 4) == -8
    assert to_unsigned(-8, 4) == 0b1000
    assert to_unsigned(15, 4) == 15
    with pytest.raises(ValueError, match="does not fit 4 bits"):
        to_unsigned(16, 4)


def test_groups_of_a_struct_with_arrays() -> None:
    codec = PayloadCodec(layout_node(ARRAY_LIKE))
    assert codec.width == 3 * 4 + 2 * 5 + 1
    assert list(codec.groups) == ["a", "b", "last"]
    assert codec.groups["a"].dims == (3,)
    assert [leaf.offset for leaf in codec.groups["b"].leaves] == [12, 17]
    assert codec.groups["last"].dims == () and codec.groups["last"].leaves[0].offset == 22


@pytest.mark.parametrize("layout, value", [
    (ARRAY_LIKE, {"a": [-8, 7, -1], "b": [-16, 15], "last": 1}),
    (ARRAY_LIKE, {"a": [0, 0, 0], "b": [0, -1], "last": 0}),
    (NESTED, {"hdr.tag": 5, "hdr.neg": -2, "m": [[-4, 3], [-1, 0]], "last": 1}),
])
def test_pack_matches_amaranth(layout: data.Layout, value: dict) -> None:
    codec = PayloadCodec(layout_node(layout))
    raw = codec.pack(value)
    nested = dict(value)
    if "hdr.tag" in nested:
        nested["hdr"] = {"tag": nested.pop("hdr.tag"), "neg": nested.pop("hdr.neg")}
    assert raw == layout.const(nested).as_value().value
    assert codec.unpack(raw) == value


def test_pack_rejects_out_of_range_and_missing_fields() -> None:
    codec = PayloadCodec(layout_node(ARRAY_LIKE))
    with pytest.raises(ValueError, match=r"a\[1\]=8 is out of range \[-8, 7\] for 4 signed bits"):
        codec.pack({"a": [0, 8, 0], "b": [0, 0], "last": 0})
    with pytest.raises(ValueError, match="do not match the payload groups"):
        codec.pack({"a": [0, 0, 0], "last": 0})
    with pytest.raises(ValueError, match=r"shape \(2,\) does not match \(3,\)"):
        codec.pack({"a": [0, 0], "b": [0, 0], "last": 0})
    with pytest.raises(ValueError, match=r"last: values \[0, 2\] are out of range \[0, 1\]"):
        codec.pack_beats({"a": np.zeros((2, 3), int), "b": np.zeros((2, 2), int),
                          "last": np.array([0, 2])})


def test_pack_beats_and_unpack_beats_round_trip() -> None:
    rng = np.random.default_rng(0)
    codec = PayloadCodec(layout_node(ARRAY_LIKE))
    beats = {"a": rng.integers(-8, 8, (50, 3)), "b": rng.integers(-16, 16, (50, 2)),
             "last": rng.integers(0, 2, 50)}
    raws = codec.pack_beats(beats)
    assert raws[7] == codec.pack({g: beats[g][7] for g in beats})
    back = codec.unpack_beats(raws)
    for g in beats:
        assert back[g].dtype == np.int64
        assert np.array_equal(back[g], beats[g])


def test_wide_groups_come_back_exact() -> None:
    layout = data.StructLayout({"c": data.ArrayLayout(signed(48), 2), "last": 1})
    codec = PayloadCodec(layout_node(layout))
    v = {"c": [-(1 << 47), (1 << 47) - 1], "last": 1}
    raw = codec.pack(v)
    assert raw == layout.const(v).as_value().value
    back = codec.unpack_beats([raw])
    assert back["c"].tolist() == [v["c"]]


@settings(max_examples=60, deadline=None)
@given(widths=st.lists(st.tuples(st.integers(1, 12), st.booleans(), st.integers(1, 4)),
                       min_size=1, max_size=4),
       seed=st.integers(0, 2**32 - 1))
def test_random_layouts_round_trip_against_amaranth(widths: list, seed: int) -> None:
    fields = {f"f{i}": data.ArrayLayout(signed(w) if s else unsigned(w), n)
              for i, (w, s, n) in enumerate(widths)}
    layout = data.StructLayout(fields)
    codec = PayloadCodec(layout_node(layout))
    rng = np.random.default_rng(seed)
    value = {}
    for name, g in codec.groups.items():
        lo, hi = g.value_range()
        value[name] = [int(v) for v in rng.integers(lo, hi + 1, g.dims[0])]
    raw = codec.pack(value)
    assert raw == layout.const(value).as_value().value
    assert codec.unpack(raw) == value


def test_check_node_names_the_bad_field() -> None:
    bad = {"kind": "struct", "width": 4, "fields": {
        "x": {"offset": 2, "shape": {"kind": "int", "width": 3, "signed": False}}}}
    with pytest.raises(ValueError, match=r"payload\.x: field \[2 \+: 3\] exceeds width 4"):
        check_node(bad)
    with pytest.raises(ValueError, match="unknown node kind 'union'"):
        check_node({"kind": "union", "width": 1})


def test_union_layouts_are_rejected_at_emission() -> None:
    with pytest.raises(NotImplementedError, match="UnionLayout"):
        layout_node(data.UnionLayout({"a": 4, "b": 3}))
