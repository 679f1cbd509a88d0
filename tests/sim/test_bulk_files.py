"""ivita.sim.bulk_files: the vectorised hex files equal the codec's packing, both ways."""

from __future__ import annotations

import numpy as np
import pytest

from ivita.sim.bulk_files import hex_digits, pack_hex, pattern_hex, unpack_hex
from ivita.sim.payload import PayloadCodec

NODE = {"kind": "struct", "width": 200, "fields": {
    "a": {"offset": 0, "shape": {"kind": "array", "width": 140, "length": 7, "stride": 20,
                                 "elem": {"kind": "int", "width": 20, "signed": True}}},
    "u": {"offset": 140, "shape": {"kind": "int", "width": 59, "signed": False}},
    "last": {"offset": 199, "shape": {"kind": "int", "width": 1, "signed": False}}}}


def beats(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {"a": rng.integers(-2**19, 2**19, size=(n, 7)), "u": rng.integers(0, 2**59, size=n),
           "last": rng.integers(0, 2, size=n)}
    out["a"][0] = -2**19          # extremes, a field straddling two 64-bit words (u: 140..198)
    out["u"][0] = 2**59 - 1
    return out


def test_pack_hex_equals_the_codec() -> None:
    codec = PayloadCodec(NODE)
    b = beats(300)
    want = b"".join(format(r, f"0{hex_digits(200)}x").encode() + b"\n"
                    for r in codec.pack_beats(b))
    assert pack_hex(codec, b) == want


def test_unpack_hex_round_trip_and_x() -> None:
    codec = PayloadCodec(NODE)
    b = beats(300, seed=1)
    text = pack_hex(codec, b)
    got, xz = unpack_hex(codec, text)
    assert xz == []
    for k in b:
        assert np.array_equal(got[k], b[k]), k
    lines = text.split(b"\n")
    lines[5] = b"x" + lines[5][1:]                   # a 4-state simulator's unknown digit
    got, xz = unpack_hex(codec, b"\n".join(lines))
    assert xz == [5]


def test_unpack_hex_reads_comments_and_short_lines() -> None:
    node = {"kind": "struct", "width": 13, "fields": {
        "v": {"offset": 0, "shape": {"kind": "int", "width": 12, "signed": True}},
        "last": {"offset": 12, "shape": {"kind": "int", "width": 1, "signed": False}}}}
    codec = PayloadCodec(node)
    # Icarus's $writememh writes address comments; a comment line as long as a value line
    text = b"// 0x0\n1fff\n// 0x1\n800\n7\n"
    got, xz = unpack_hex(codec, text)
    assert got["v"].tolist() == [-1, -2048, 7] and got["last"].tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="5 hex digits; a 13-bit payload has at most 4"):
        unpack_hex(codec, b"1ffff\n")


def test_pack_hex_errors() -> None:
    codec = PayloadCodec(NODE)
    b = beats(3)
    b["a"][1, 2] = 2**19
    with pytest.raises(ValueError, match=r"a: values \[-524288, 524288\] are out of range"):
        pack_hex(codec, b)
    with pytest.raises(ValueError, match="do not match the payload groups"):
        pack_hex(codec, {"a": b["a"]})
    wide = PayloadCodec({"kind": "int", "width": 64, "signed": False})
    with pytest.raises(ValueError, match="at most 62 bits; value \\(64 bits\\)"):
        pack_hex(wide, {"value": np.zeros(1, dtype=np.int64)})


def test_pattern_hex() -> None:
    text, ones = pattern_hex(np.random.default_rng(3), 10_000, 0.25)
    bits = text.split()
    assert len(bits) == 10_000 and set(bits) == {b"0", b"1"} and bits.count(b"1") == ones
    assert 2_200 < ones < 2_800
    assert pattern_hex(np.random.default_rng(3), 100, 0.0)[1] == 0
    with pytest.raises(ValueError, match=r"probability=1.0 is out of range; it must be in \[0, 1\)"):
        pattern_hex(np.random.default_rng(3), 10, 1.0)
