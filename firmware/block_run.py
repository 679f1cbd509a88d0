"""Run a compiled layer on the accelerator through the host driver: load, start, read back.

The same code drives a board (``HostDriver(SerialTransport(...))``) and simulated gateware
(``HostDriver(SimTransport(Accelerator(cfg, timeout=...)))``); the memory images and tensor
layouts are the compiler's (:class:`~ivita.firmware.compiler.CompiledBlock`), the bus addresses
:func:`~ivita.firmware.memory_map.memory_map`'s. See docs/firmware.md.

- :func:`bus_words`: a ``{region: {word: value}}`` image as ``{bus address: 32-bit word}``
  (sub-words LSB first; the last sub-word of a memory word commits it).
- :func:`load`: check the program (:func:`~ivita.firmware.program_check.check_program`: a
  program that overruns a buffer never reaches the device; the ``prog`` image must be the
  program's words), PING (the device's ``addr_limit`` must be this configuration's
  :attr:`~ivita.firmware.memory_map.MemoryMap.limit`), then WRITE every image word, grouped
  into runs of consecutive addresses (64 words per frame).
- :func:`run`: START, then poll STATUS until the run ends (:class:`~ivita.firmware.driver.
  BlockError` with the error code if it stopped with one; ``DeviceTimeout`` if it is still
  busy after ``timeout`` seconds).
- :func:`read_tensor`: READ a tensor's memory words and unpack them to its integer codes.
- :func:`run_layer`: all of the above; returns the requested tensors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from . import protocol as p
from .compiler import CompiledBlock
from .driver import HostDriver, ProtocolError
from .memory_map import BUS_BITS, MemoryMap, memory_map
from .program_check import check_program

__all__ = ["bus_words", "address_runs", "load", "run", "read_words_of", "read_tensor",
           "run_layer"]

_MASK = (1 << BUS_BITS) - 1


def bus_words(mmap: MemoryMap, images: Mapping[str, Mapping[int, int]]) -> dict[int, int]:
    """``{bus address: 32-bit word}`` of ``images`` (``{region: {memory word: value}}``)."""
    out: dict[int, int] = {}
    for name, words in images.items():
        reg = mmap[name]
        for word, value in words.items():
            if not 0 <= value < 1 << reg.word_bits:
                raise ValueError(f"{name}-mem word {word}: value does not fit its "
                                 f"{reg.word_bits} bits")
            for sub in range(reg.sub_words):
                out[reg.bus_address(word, sub)] = (value >> (BUS_BITS * sub)) & _MASK
    return out


def address_runs(addresses: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted distinct ``addresses`` as ``(first, count)`` runs of consecutive addresses."""
    runs: list[list[int]] = []
    for a in sorted(set(addresses)):
        if runs and runs[-1][0] + runs[-1][1] == a:
            runs[-1][1] += 1
        else:
            runs.append([a, 1])
    return [(a, n) for a, n in runs]


def load(driver: HostDriver, compiled: CompiledBlock) -> int:
    """Check the device (PING) and write every memory image of ``compiled`` (program
    included). Returns the number of bus words written. Nothing is sent when the program
    fails :func:`check_program` (``ProgramError``) or the ``prog`` image is not its words
    (``ValueError``)."""
    check_program(compiled.config, compiled.program)
    if compiled.images.get("prog") != compiled.program_words():
        raise ValueError("the prog image is not the program's instruction words "
                         "(CompiledBlock.program_words())")
    mmap = memory_map(compiled.config)
    info = driver.ping()
    if info.addr_limit != mmap.limit:
        raise ProtocolError(f"the device has addr_limit={info.addr_limit} words, this "
                            f"BlockConfig's memory map needs {mmap.limit}: a different "
                            "accelerator build")
    words = bus_words(mmap, compiled.images)
    for first, count in address_runs(words):
        driver.write_words(first, [words[a] for a in range(first, first + count)])
    return len(words)


def run(driver: HostDriver, timeout: float) -> p.DeviceStatus:
    """START the loaded program and wait (``timeout`` seconds on the transport's clock) until
    it ends; returns its STATUS (``cycles`` = the run's length)."""
    driver.start()
    return driver.wait_done(timeout)


def read_words_of(driver: HostDriver, mmap: MemoryMap, region: str,
                  words: Sequence[int]) -> dict[int, int]:
    """Memory words ``words`` of ``region`` read through the bus: ``{word: value}``."""
    reg = mmap[region]
    addrs = {reg.bus_address(w, s): (w, s) for w in words for s in range(reg.sub_words)}
    got: dict[int, int] = {}
    for first, count in address_runs(addrs):
        got.update(zip(range(first, first + count), driver.read_words(first, count)))
    out = {w: 0 for w in words}
    for a, (w, s) in addrs.items():
        out[w] |= got[a] << (BUS_BITS * s)
    return {w: v & ((1 << reg.word_bits) - 1) for w, v in out.items()}


def read_tensor(driver: HostDriver, compiled: CompiledBlock, name: str) -> np.ndarray:
    """Tensor ``name`` of ``compiled`` (e.g. ``"out"``) as integer codes, read from the
    device."""
    if name not in compiled.tensors:
        raise KeyError(f"no tensor {name!r}; this program has {sorted(compiled.tensors)}")
    t = compiled.tensors[name]
    words = read_words_of(driver, memory_map(compiled.config), t.mem, compiled.words_of(name))
    return compiled.unpack(name, words)


def run_layer(driver: HostDriver, compiled: CompiledBlock, outputs: Sequence[str] = ("out",),
              *, timeout: float = 1.0) -> dict[str, np.ndarray]:
    """:func:`load`, :func:`run` (``timeout`` seconds), then :func:`read_tensor` of every name
    in ``outputs``: ``{name: codes}``."""
    load(driver, compiled)
    run(driver, timeout)
    return {name: read_tensor(driver, compiled, name) for name in outputs}
