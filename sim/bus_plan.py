"""Memory images <-> host-bus transfers of an attention block, for every simulator.

The one description of "images in, outputs out" shared by the Amaranth path
(:func:`ivita.sim.block_bus_run.run_block`) and the cocotb path
(:mod:`ivita.sim.cocotb_block`): :func:`bus_writes` turns ``{region: {word: value}}`` images
into ``(bus address, 32-bit data)`` writes in order (every sub-word of a word, the last one
committing it, docs/attention.md "Host bus"); :func:`bus_reads` lists the bus addresses of the
words to read back; :func:`assemble` puts the read 32-bit values back together into
``{region: {word: value}}``. Plain integers only (JSON-friendly: the cocotb process receives the
plan as JSON). Standard library only (plus the memory map).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ivita.firmware.memory_map import BUS_BITS, MemoryMap

__all__ = ["bus_writes", "bus_reads", "assemble"]

_MASK = (1 << BUS_BITS) - 1


def bus_writes(mmap: MemoryMap, images: Mapping[str, Mapping[int, int]]
               ) -> list[tuple[int, int]]:
    """``(address, data)`` bus writes that load ``images``, region by region, word by word,
    sub-word 0 first (the write of the last sub-word commits the word)."""
    out: list[tuple[int, int]] = []
    for name, words in images.items():
        reg = mmap[name]
        for word, value in words.items():
            for sub in range(reg.sub_words):
                out.append((reg.bus_address(word, sub), (value >> (BUS_BITS * sub)) & _MASK))
    return out


def bus_reads(mmap: MemoryMap, reads: Mapping[str, Iterable[int]]) -> list[tuple[str, int, int]]:
    """``(region, word, address)`` of every bus read that reads ``reads`` (``{region:
    words}``) back, sub-word 0 first."""
    out: list[tuple[str, int, int]] = []
    for name, words in dict(reads).items():
        reg = mmap[name]
        for word in words:
            for sub in range(reg.sub_words):
                out.append((name, int(word), reg.bus_address(word, sub)))
    return out


def assemble(mmap: MemoryMap, reads: Sequence[tuple[str, int, int]],
             values: Sequence[int]) -> dict[str, dict[int, int]]:
    """The words read back: ``values[i]`` is ``r_data`` of ``reads[i]`` (:func:`bus_reads`);
    sub-words are concatenated and the word is cut to its region's ``word_bits``."""
    if len(values) != len(reads):
        raise ValueError(f"{len(values)} values read for {len(reads)} bus reads")
    out: dict[str, dict[int, int]] = {}
    acc: dict[tuple[str, int], int] = {}
    for (name, word, addr), value in zip(reads, values):
        reg = mmap[name]
        sub = addr - reg.bus_address(word, 0)
        acc[name, word] = acc.get((name, word), 0) | ((int(value) & _MASK) << (BUS_BITS * sub))
    for (name, word), value in acc.items():
        out.setdefault(name, {})[word] = value & ((1 << mmap[name].word_bits) - 1)
    return out
