"""The host-visible memory map of the attention block (one definition for hardware,
compiler and driver). Pure Python.

The block's memories are mapped into one word-addressed space of 32-bit bus words. A memory
word of ``word_bits`` occupies ``2^m = sub_words`` consecutive bus addresses (sub-word ``i``
holds bits ``[32i, 32i + 32)``); a bus write to sub-word ``sub_words - 1`` commits the whole
word (the lower sub-words are staged first). Each region starts at a multiple of its size
(a power of two), in the order of :data:`REGION_ORDER`.

Memory words (lane ``i`` at bits ``[i*lane_bits, (i+1)*lane_bits)``, two's complement):

- ``prog``: one instruction (:data:`ivita.firmware.isa.INSTR_BITS`).
- ``A``: ``rows`` lanes of ``pe_a_bits``; ``B``: ``cols`` lanes of ``pe_b_bits``;
  ``S``: ``cols`` lanes of ``attn_bits``; ``R``: ``cols`` lanes of ``resid_bits``.
- ``C``: ``cols`` lanes of :data:`CONST_FIELDS` (``bias`` signed 40, ``b`` and ``b2`` unsigned
  ``mult_bits``, ``c`` and ``c2`` unsigned 6).
"""

from __future__ import annotations

from dataclasses import dataclass

from ivita.model.block_config import CONST_BIAS_BITS, SHIFT_FIELD_BITS, BlockConfig

from .isa import INSTR_BITS

__all__ = ["Region", "MemoryMap", "memory_map", "REGION_ORDER", "const_fields", "pack_lanes",
           "unpack_lanes", "pack_const", "BUS_BITS"]

BUS_BITS = 32
REGION_ORDER = ("prog", "A", "B", "S", "R", "C")


def _pow2(v: int) -> int:
    return 1 << max(v - 1, 0).bit_length()


def const_fields(cfg: BlockConfig) -> tuple[tuple[str, int, bool], ...]:
    """``(name, width, signed)`` of one C-mem lane, LSB first."""
    mb = cfg.mult_bits
    return (("bias", CONST_BIAS_BITS, True), ("b", mb, False), ("c", SHIFT_FIELD_BITS, False),
            ("b2", mb, False), ("c2", SHIFT_FIELD_BITS, False))


@dataclass(frozen=True)
class Region:
    name: str
    base: int           # first bus address
    depth: int          # memory words
    lanes: int
    lane_bits: int

    @property
    def word_bits(self) -> int:
        return self.lanes * self.lane_bits

    @property
    def sub_words(self) -> int:
        return _pow2(-(-self.word_bits // BUS_BITS))

    @property
    def size(self) -> int:
        """Bus addresses spanned (a power of two)."""
        return _pow2(self.depth * self.sub_words)

    def bus_address(self, word: int, sub: int = 0) -> int:
        if not 0 <= word < self.depth:
            raise ValueError(f"word {word} is outside {self.name}-mem (depth {self.depth})")
        return self.base + word * self.sub_words + sub


@dataclass(frozen=True)
class MemoryMap:
    regions: dict[str, Region]
    addr_bits: int

    def __getitem__(self, name: str) -> Region:
        return self.regions[name]

    @property
    def limit(self) -> int:
        """One past the last bus address of any region's words: the host link's
        ``addr_limit`` (:class:`ivita.hw.accel.Accelerator`); accesses at or above it are
        answered ``BAD_ADDRESS``, holes between regions read 0 and ignore writes."""
        return max(r.base + r.depth * r.sub_words for r in self.regions.values())


def memory_map(cfg: BlockConfig) -> MemoryMap:
    if not isinstance(cfg, BlockConfig):
        raise TypeError(f"cfg must be a BlockConfig, not {type(cfg).__name__}")
    cbits = sum(w for _, w, _ in const_fields(cfg))
    shapes = {
        "prog": (cfg.prog_depth, 1, INSTR_BITS),
        "A": (cfg.a_depth, cfg.rows, cfg.pe_a_bits),
        "B": (cfg.b_depth, cfg.cols, cfg.pe_b_bits),
        "S": (cfg.s_depth, cfg.cols, cfg.attn_bits),
        "R": (cfg.r_depth, cfg.cols, cfg.resid_bits),
        "C": (cfg.c_depth, cfg.cols, cbits),
    }
    regions, addr = {}, 0
    for name in REGION_ORDER:
        depth, lanes, bits = shapes[name]
        r = Region(name, 0, depth, lanes, bits)
        addr = -(-addr // r.size) * r.size
        regions[name] = Region(name, addr, depth, lanes, bits)
        addr += r.size
    return MemoryMap(regions, max(addr - 1, 1).bit_length())


def pack_lanes(values: list[int], lane_bits: int) -> int:
    """Lane values (two's complement, each fitting ``lane_bits``) -> one memory word."""
    word = 0
    lo, hi = -(1 << (lane_bits - 1)), (1 << lane_bits) - 1
    for i, v in enumerate(values):
        v = int(v)
        if not lo <= v <= hi:
            raise ValueError(f"lane value {v} does not fit {lane_bits} bits")
        word |= (v & ((1 << lane_bits) - 1)) << (i * lane_bits)
    return word


def unpack_lanes(word: int, lanes: int, lane_bits: int, signed: bool = True) -> list[int]:
    out = []
    for i in range(lanes):
        v = (word >> (i * lane_bits)) & ((1 << lane_bits) - 1)
        if signed and v >> (lane_bits - 1):
            v -= 1 << lane_bits
        out.append(v)
    return out


def pack_const(cfg: BlockConfig, lanes: list[dict[str, int]]) -> int:
    """C-mem word from per-lane ``{bias, b, c, b2, c2}`` dicts (missing fields are 0)."""
    fields = const_fields(cfg)
    lane_bits = sum(w for _, w, _ in fields)
    word = 0
    for i, lane in enumerate(lanes):
        off = i * lane_bits
        for name, w, sgn in fields:
            v = int(lane.get(name, 0))
            lo, hi = ((-(1 << (w - 1)), (1 << (w - 1)) - 1) if sgn else (0, (1 << w) - 1))
            if not lo <= v <= hi:
                raise ValueError(f"C-mem {name}={v} does not fit {w} bits")
            word |= (v & ((1 << w) - 1)) << off
            off += w
    return word
