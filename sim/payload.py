"""Pack and unpack stream payloads from the field offsets recorded in a JSON sidecar.

Pure Python (stdlib + numpy): no Amaranth, no cocotb. The sidecar written by
:func:`ivita.sim.emit.emit` describes each payload as a tree of nodes:

- ``{"kind": "int", "width": W, "signed": bool}``
- ``{"kind": "array", "width": W, "length": N, "stride": S, "elem": node}``
  (element ``i`` starts at bit ``i * S``)
- ``{"kind": "struct", "width": W, "fields": {name: {"offset": O, "shape": node}, ...}}``

Offsets are relative to the enclosing node, counted from the least significant bit, exactly
as Amaranth lays out ``data.StructLayout``/``data.ArrayLayout`` in the packed Verilog port.

A :class:`PayloadCodec` flattens the tree into *groups*: every struct field path whose shape is
an integer or a (nested) array of integers becomes one group, named by its dotted path
(``"c"``, ``"last"``, ``"hdr.tag"``). A beat is a ``dict`` group -> integer (scalar group) or
nested list / numpy array (array group); many beats are a ``dict`` group -> numpy array with
a leading beat axis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Leaf", "Group", "PayloadCodec", "check_node", "to_signed", "to_unsigned"]


def to_signed(raw: int, width: int) -> int:
    """Interpret the low ``width`` bits of ``raw`` as two's complement."""
    raw &= (1 << width) - 1
    return raw - (1 << width) if width and raw >> (width - 1) else raw


def to_unsigned(value: int, width: int) -> int:
    """The ``width``-bit two's-complement encoding of ``value`` (must be in range)."""
    lo, hi = -(1 << (width - 1)), (1 << width) - 1
    if not lo <= value <= hi:
        raise ValueError(f"value {value} does not fit {width} bits")
    return value & ((1 << width) - 1)


def check_node(node: Mapping[str, Any], where: str = "payload") -> None:
    """Validate one sidecar layout node (recursively); raise ``ValueError`` naming the path."""
    kind = node.get("kind")
    width = node.get("width")
    if not isinstance(width, int) or width < 0:
        raise ValueError(f"{where}: width must be a non-negative integer, got {width!r}")
    if kind == "int":
        if not isinstance(node.get("signed"), bool):
            raise ValueError(f"{where}: int node needs a bool 'signed'")
    elif kind == "array":
        length, stride = node.get("length"), node.get("stride")
        if not isinstance(length, int) or length < 0 or not isinstance(stride, int) or stride < 0:
            raise ValueError(f"{where}: array node needs non-negative 'length' and 'stride'")
        check_node(node["elem"], f"{where}[]")
        if length and (length - 1) * stride + node["elem"]["width"] > width:
            raise ValueError(f"{where}: {length} elements of stride {stride} exceed width {width}")
    elif kind == "struct":
        fields = node.get("fields")
        if not isinstance(fields, Mapping):
            raise ValueError(f"{where}: struct node needs 'fields'")
        for name, f in fields.items():
            off = f.get("offset")
            if not isinstance(off, int) or off < 0:
                raise ValueError(f"{where}.{name}: offset must be a non-negative integer")
            check_node(f["shape"], f"{where}.{name}")
            if off + f["shape"]["width"] > width:
                raise ValueError(f"{where}.{name}: field [{off} +: {f['shape']['width']}] "
                                 f"exceeds width {width}")
    else:
        raise ValueError(f"{where}: unknown node kind {kind!r}")


@dataclass(frozen=True)
class Leaf:
    """One integer element of a group: absolute bit ``offset``, ``width`` and signedness."""

    index: tuple[int, ...]
    offset: int
    width: int
    signed: bool


@dataclass(frozen=True)
class Group:
    """A struct field (dotted ``name``) holding an integer or an array of integers."""

    name: str
    dims: tuple[int, ...]          # () for a scalar, (n,) for ArrayLayout, (n, m) for nested
    width: int                     # element width
    signed: bool
    leaves: tuple[Leaf, ...]       # row-major over dims

    def value_range(self) -> tuple[int, int]:
        """Inclusive range of one element."""
        if self.signed:
            return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
        return 0, (1 << self.width) - 1


def _array_groupable(node: Mapping[str, Any]) -> tuple[tuple[int, ...], Mapping[str, Any]] | None:
    """``(dims, int_node)`` if ``node`` is an int or a (nested) array of ints, else ``None``."""
    dims: list[int] = []
    while node["kind"] == "array":
        dims.append(node["length"])
        node = node["elem"]
    if node["kind"] != "int":
        return None
    return tuple(dims), node


def _leaves(node: Mapping[str, Any], base: int, index: tuple[int, ...]) -> Iterable[Leaf]:
    if node["kind"] == "int":
        yield Leaf(index, base, node["width"], node["signed"])
        return
    for i in range(node["length"]):
        yield from _leaves(node["elem"], base + i * node["stride"], (*index, i))


class PayloadCodec:
    """Packs/unpacks one stream payload described by a sidecar layout node.

    >>> node = {"kind": "struct", "width": 9, "fields": {
    ...     "a": {"offset": 0, "shape": {"kind": "array", "width": 8, "length": 2, "stride": 4,
    ...            "elem": {"kind": "int", "width": 4, "signed": True}}},
    ...     "last": {"offset": 8, "shape": {"kind": "int", "width": 1, "signed": False}}}}
    >>> codec = PayloadCodec(node)
    >>> hex(codec.pack({"a": [-1, 2], "last": 1}))
    '0x12f'
    >>> codec.unpack(0x12f)
    {'a': [-1, 2], 'last': 1}
    """

    def __init__(self, node: Mapping[str, Any]):
        check_node(node)
        self.node = node
        self.width: int = node["width"]
        groups: list[Group] = []
        self._collect(node, 0, "", groups)
        self.groups: dict[str, Group] = {g.name: g for g in groups}

    def _collect(self, node: Mapping[str, Any], base: int, path: str, out: list[Group]) -> None:
        arr = _array_groupable(node)
        if arr is not None:
            dims, elem = arr
            out.append(Group(path or "value", dims, elem["width"], elem["signed"],
                             tuple(_leaves(node, base, ()))))
            return
        if node["kind"] == "struct":
            for name, f in node["fields"].items():
                self._collect(f["shape"], base + f["offset"], f"{path}.{name}" if path else name,
                              out)
            return
        raise NotImplementedError(
            f"payload field {path or '<root>'!r}: arrays of structs are not supported by the "
            f"bench codec")

    # -- one beat -------------------------------------------------------------------------------

    def pack(self, beat: Mapping[str, Any]) -> int:
        """Pack one beat (``group -> int | nested sequence``) into the raw payload integer.

        Every group must be given; values out of range raise ``ValueError`` naming the group.
        """
        missing = set(self.groups) - set(beat)
        extra = set(beat) - set(self.groups)
        if missing or extra:
            raise ValueError(f"beat fields {sorted(beat)} do not match the payload groups "
                             f"{sorted(self.groups)}")
        raw = 0
        for name, g in self.groups.items():
            arr = np.asarray(beat[name], dtype=object)
            if arr.shape != g.dims:
                raise ValueError(f"{name}: shape {arr.shape} does not match {g.dims}")
            lo, hi = g.value_range()
            for leaf in g.leaves:
                v = int(arr[leaf.index]) if leaf.index else int(arr[()])
                if not lo <= v <= hi:
                    raise ValueError(f"{name}{list(leaf.index) if leaf.index else ''}={v} is out "
                                     f"of range [{lo}, {hi}] for {g.width} "
                                     f"{'signed' if g.signed else 'unsigned'} bits")
                raw |= (v & ((1 << leaf.width) - 1)) << leaf.offset
        return raw

    def unpack(self, raw: int) -> dict[str, Any]:
        """Unpack a raw payload integer into ``group -> int | nested list``."""
        out: dict[str, Any] = {}
        for name, g in self.groups.items():
            vals = [self._leaf(raw, leaf) for leaf in g.leaves]
            out[name] = vals[0] if not g.dims else np.array(vals, dtype=object).reshape(
                g.dims).tolist()
        return out

    @staticmethod
    def _leaf(raw: int, leaf: Leaf) -> int:
        v = (raw >> leaf.offset) & ((1 << leaf.width) - 1)
        if leaf.signed and leaf.width and v >> (leaf.width - 1):
            v -= 1 << leaf.width
        return v

    # -- many beats -----------------------------------------------------------------------------

    def beat_count(self, beats: Mapping[str, np.ndarray]) -> int:
        """Number of beats in ``group -> array`` (the common leading axis)."""
        counts = {name: np.shape(v)[0] for name, v in beats.items()}
        if len(set(counts.values())) > 1:
            raise ValueError(f"groups have different beat counts: {counts}")
        return next(iter(counts.values()), 0)

    def pack_beats(self, beats: Mapping[str, np.ndarray]) -> list[int]:
        """Pack ``group -> array (beats, *dims)`` into a list of raw payload integers."""
        n = self.beat_count(beats)
        if set(beats) != set(self.groups):
            raise ValueError(f"beat fields {sorted(beats)} do not match the payload groups "
                             f"{sorted(self.groups)}")
        raws = [0] * n
        for name, g in self.groups.items():
            arr = np.asarray(beats[name])
            if arr.shape[1:] != g.dims:
                raise ValueError(f"{name}: element shape {arr.shape[1:]} does not match {g.dims}")
            lo, hi = g.value_range()
            if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
                raise ValueError(f"{name}: values [{int(arr.min())}, {int(arr.max())}] are out "
                                 f"of range [{lo}, {hi}] for {g.width} "
                                 f"{'signed' if g.signed else 'unsigned'} bits")
            flat = arr.reshape(n, -1).tolist() if g.dims else [[v] for v in arr.tolist()]
            for leaf_i, leaf in enumerate(g.leaves):
                mask, off = (1 << leaf.width) - 1, leaf.offset
                for b in range(n):
                    raws[b] |= (int(flat[b][leaf_i]) & mask) << off
        return raws

    def unpack_beats(self, raws: Sequence[int]) -> dict[str, np.ndarray]:
        """Unpack raw payload integers into ``group -> int64 array (beats, *dims)``.

        Groups wider than 63 bits come back as ``object`` arrays of Python ints.
        """
        out: dict[str, np.ndarray] = {}
        n = len(raws)
        for name, g in self.groups.items():
            dtype: Any = np.int64 if g.width <= 63 else object
            arr = np.empty((n, len(g.leaves)), dtype=dtype)
            for leaf_i, leaf in enumerate(g.leaves):
                for b, raw in enumerate(raws):
                    arr[b, leaf_i] = self._leaf(raw, leaf)
            out[name] = arr.reshape((n, *g.dims))
        return out
