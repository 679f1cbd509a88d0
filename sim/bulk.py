"""Bulk bit-exact checks: many vectors through a unit with no Python in the simulation loop.

:func:`bulk_check` (and :func:`bulk_check_tb` for a ready-made bench) generate vectors and the
model's expected outputs with the unit's bench (``ivita.sim.tb_<unit>``, i.e.
:mod:`ivita.model`), write them as ``$readmemh`` files together with a seeded stall pattern
(:mod:`ivita.sim.bulk_files`), run ``sim/bulk_tb.v`` around the design on Verilator (a C++
main, no cocotb) or Icarus (:mod:`ivita.sim.bulk_build`), and compare the captured outputs
with the model's afterwards with ``==`` (:class:`ivita.sim.scoreboard.Scoreboard`).

- Stalls: in every stream cycle the input idles between beats where the input pattern has a
  1 and ``ready`` is low where the output pattern has a 1 (probabilities ``stall_in`` and
  ``stall_out``, 65 536-cycle patterns used cyclically, seeded). The bench counts the cycles
  either pattern actually held back (``stalls``), and checks the stream rules on the design's
  output (a beat offered without ``ready`` stays valid and unchanged).
- Large counts are split into chunks of at most :data:`ivita.sim.bulk_units.MAX_CHUNK_BEATS`
  input beats (what a vector is per unit: :mod:`ivita.sim.bulk_units`); chunk 0 uses
  ``seed``, chunk ``c`` the seed ``(seed + c * 0x9E3779B1) mod 2^32`` (named in a mismatch).
  Every chunk runs the same build (cached by the design's hash, the parameters and the tools).
- A run that does not finish within its cycle budget (``max_cycles``, by default from the
  beat counts and the unit's schedule, as the cocotb benches compute it) ends with a timeout
  error naming the beats received; a wall-clock limit behind it catches a stuck simulator.

Throughput: ``cycles_per_s`` is simulated cycles over the simulator processes' wall time
(file loading included); ``cycles_per_cpu_s`` over their CPU time, which does not depend on
how busy the machine is. ``wall_s`` is the whole call (vectors, files, build, comparison).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bench import Stimulus, TB
from .bulk_files import pack_hex, pattern_hex, unpack_hex
from .bulk_units import plan_of
from .scoreboard import Scoreboard
from .sidecar import Sidecar

__all__ = ["BulkResult", "ChunkResult", "bulk_check", "bulk_check_tb", "make_tb", "chunk_seed",
           "BULK_SIMULATORS", "PAT_BITS"]

BULK_SIMULATORS = ("verilator", "icarus")
PAT_BITS = 16
TAIL = 16
_NONE64 = (1 << 64) - 1
#: simulated cycles per wall second below which the simulator process is considered stuck
_MIN_RATE = {"verilator": 2_000, "icarus": 50}


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of chunk ``chunk`` of a bulk check seeded with ``seed``."""
    return (seed + chunk * 0x9E3779B1) % (1 << 32)


@dataclass
class ChunkResult:
    """One simulator run of a bulk check."""

    chunk: int
    seed: int
    vectors: int
    cycles: int
    sim_s: float
    cpu_s: float
    elements_checked: int
    mismatches: int
    first_mismatch: dict[str, Any] | None
    stalls: dict[str, int]
    errors: list[str]


@dataclass
class BulkResult:
    """What :func:`bulk_check` returns; :meth:`as_dict` is the ``--json`` object."""

    unit: str
    vectors: int
    cycles: int
    mismatches: int
    wall_s: float
    cycles_per_s: float
    first_mismatch: dict[str, Any] | None
    simulator: str
    seed: int = 0
    elements_checked: int = 0
    sim_s: float = 0.0
    cpu_s: float = 0.0
    build_s: float = 0.0
    build_cached: bool = True
    chunks: int = 0
    stall_in: float = 0.0
    stall_out: float = 0.0
    stalls: dict[str, int] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: what Verilator simulated of the PEs (:class:`ivita.sim.bulk_view.PEView` as a dict;
    #: ``{"form": "exact"}`` on Icarus or with ``exact_pe``)
    pe_view: dict[str, Any] = field(default_factory=lambda: {"form": "exact"})

    @property
    def passed(self) -> bool:
        """Every element matched, the run ended in time and no rule or status check failed."""
        return self.mismatches == 0 and not self.errors and self.elements_checked > 0

    @property
    def cycles_per_cpu_s(self) -> float | None:
        return self.cycles / self.cpu_s if self.cpu_s > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "simulator": self.simulator, "seed": self.seed,
                "passed": self.passed, "vectors": self.vectors, "cycles": self.cycles,
                "elements_checked": self.elements_checked, "mismatches": self.mismatches,
                "first_mismatch": self.first_mismatch, "errors": self.errors,
                "wall_s": self.wall_s, "sim_s": self.sim_s, "cpu_s": self.cpu_s,
                "cycles_per_s": self.cycles_per_s, "cycles_per_cpu_s": self.cycles_per_cpu_s,
                "build_s": self.build_s, "build_cached": self.build_cached,
                "chunks": self.chunks, "stall_in": self.stall_in, "stall_out": self.stall_out,
                "stalls": self.stalls, "config": self.config, "options": self.options,
                "timings": self.timings, "pe_view": self.pe_view}

    def summary_text(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        cpu = self.cycles_per_cpu_s
        lines = [
            f"{verdict}: bulk {self.unit} on {self.simulator}, seed {self.seed}, stall in "
            f"{self.stall_in} / out {self.stall_out}",
            f"  config: {json.dumps(self.config)}",
            f"  vectors: {self.vectors:,} in {self.chunks} chunk(s); elements checked: "
            f"{self.elements_checked:,}; mismatches: {self.mismatches}",
            f"  cycles: {self.cycles:,}; stalls: " + ", ".join(
                f"{k} {v:,}" for k, v in self.stalls.items()),
            f"  speed: {self.cycles_per_s:,.0f} cycles/s over {self.sim_s:.2f} s of simulation"
            + (f" ({cpu:,.0f} cycles per CPU second)" if cpu else "")
            + f"; wall {self.wall_s:.2f} s in all (build {self.build_s:.1f} s, "
              f"{'cached' if self.build_cached else 'fresh'})",
            f"  PEs simulated: {self.pe_view.get('form', 'exact')}"
            + (f" ({self.pe_view['substituted']} word-level, proven equal to Booth)"
               if self.pe_view.get("substituted") else ""),
        ]
        lines.extend(f"  note: {m}" for m in self.pe_view.get("messages", []))
        if self.first_mismatch:
            lines.append(f"  first mismatch: {self.first_mismatch['message']}")
        lines.extend(f"  error: {e}" for e in self.errors)
        return "\n".join(lines)


def make_tb(unit: str, **unit_config: Any) -> TB:
    """The bench of ``unit`` configured like ``ivita sim UNIT`` with these options.

    Keys are the unit's option names with ``_`` for ``-`` (``bits=4``, ``rows=8``,
    ``k_max=32``, ``corners=False``); invalid values raise ``ValueError`` naming the flag.
    """
    from .registry import get_tb

    cls = get_tb(unit)
    parser = argparse.ArgumentParser(prog=f"bulk {unit}", add_help=False, exit_on_error=False)
    cls.add_arguments(parser)
    known = {a.dest: a for a in parser._actions}
    argv: list[str] = []
    for key, value in unit_config.items():
        action = known.get(key)
        if action is None or not action.option_strings:
            raise ValueError(f"{unit} has no option {key!r}; options: "
                             f"{', '.join(sorted(d for d in known if d != 'help'))}")
        flag = action.option_strings[0]
        if isinstance(value, bool):
            if isinstance(action, argparse.BooleanOptionalAction):
                argv.append(flag if value else f"--no-{flag[2:]}")
            elif value:
                argv.append(flag)
        else:
            argv += [flag, str(value)]
    try:
        ns = parser.parse_args(argv)
    except (argparse.ArgumentError, SystemExit) as e:
        raise ValueError(f"{unit}: invalid options {argv}: {e}") from None
    return cls.from_args(ns)


def bulk_check(unit: str, *, n_vectors: int, seed: int, simulator: str = "verilator",
               stall_in: float = 0.25, stall_out: float = 0.25,
               max_cycles: int | None = None, build_root: str | Path | None = None,
               work_dir: str | Path | None = None, corrupt_expected: bool = False,
               on_progress: Callable[[str], None] | None = None, exact_pe: bool = False,
               **unit_config: Any) -> BulkResult:
    """Check ``n_vectors`` random vectors of ``unit`` bit-exact against ``ivita.model``.

    ``unit_config``: the unit's options as for :func:`make_tb` (e.g. ``bits=4, rows=8,
    cols=8`` for the array). See :func:`bulk_check_tb` for the rest.
    """
    return bulk_check_tb(make_tb(unit, **unit_config), n_vectors=n_vectors, seed=seed,
                         simulator=simulator, stall_in=stall_in, stall_out=stall_out,
                         max_cycles=max_cycles, build_root=build_root, work_dir=work_dir,
                         corrupt_expected=corrupt_expected, on_progress=on_progress,
                         exact_pe=exact_pe)


def _check_args(n_vectors: int, seed: int, simulator: str, stall_in: float,
                stall_out: float) -> None:
    if isinstance(n_vectors, bool) or not isinstance(n_vectors, int) or n_vectors < 1:
        raise ValueError(f"n_vectors={n_vectors!r} is out of range; it must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 32:
        raise ValueError(f"seed={seed!r} is out of range; it must be in 0..{(1 << 32) - 1}")
    if simulator not in BULK_SIMULATORS:
        raise ValueError(f"simulator={simulator!r} is not one of {', '.join(BULK_SIMULATORS)} "
                         f"(bulk checks run compiled simulators only)")
    for name, p in (("stall_in", stall_in), ("stall_out", stall_out)):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"{name}={p!r} is out of range; it must be in [0, 1)")


def _pow2(n: int, lo: int) -> int:
    return max(lo, 1 << max(0, int(n) - 1).bit_length())


def bulk_check_tb(tb: TB, *, n_vectors: int | None = None, seed: int,
                  simulator: str = "verilator", stall_in: float = 0.25, stall_out: float = 0.25,
                  max_cycles: int | None = None, build_root: str | Path | None = None,
                  work_dir: str | Path | None = None, corrupt_expected: bool = False,
                  on_progress: Callable[[str], None] | None = None,
                  exact_pe: bool = False) -> BulkResult:
    """Bulk-check the bench ``tb`` (its unit, configuration and options).

    ``n_vectors``: vectors to check, split into chunks (see :mod:`ivita.sim.bulk_units`);
    ``None`` runs ``tb`` as it is, in one chunk (any :class:`ivita.sim.bench.TB`, also one
    outside the registry). ``max_cycles``: cycle budget per chunk (default from the beat
    counts). ``work_dir``: keep the files of the last chunk there (default: a temporary folder,
    removed). ``corrupt_expected``: change one expected value of chunk 0 on purpose; the check
    must then fail (a self-test of the comparison). ``on_progress``: told a line per phase.
    ``exact_pe``: on Verilator, simulate the Booth PEs as they are instead of their proven
    word-level form (:func:`ivita.sim.bulk_view.word_level_design`; Icarus always simulates
    the design as emitted, with :mod:`ivita.sim.icarus_init`'s time-0 event).
    """
    from .bulk_build import build, bulk_ports, wrapper_verilog
    from .emit import emit

    t_start = time.perf_counter()
    _check_args(n_vectors if n_vectors is not None else 1, seed, simulator, stall_in, stall_out)
    say = on_progress or (lambda text: None)
    if n_vectors is None:
        chunk_tbs, per_chunk = [tb], [None]
    else:
        plan = plan_of(tb)
        counts = plan.counts(tb, n_vectors)
        chunk_tbs = [plan.chunk_tb(tb, c) for c in counts]
        per_chunk = [c * plan.vectors_per_count(tb) for c in counts]
    temp = work_dir is None
    run_dir = Path(tempfile.mkdtemp(prefix="ivita-bulk-")) if temp else Path(work_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    timings = {"vectors_s": 0.0, "files_s": 0.0, "compare_s": 0.0}
    try:
        say("elaborating the design")
        t0 = time.perf_counter()
        em = emit(chunk_tbs[0].build_component(), tb.module_name, run_dir / "design",
                  config=tb.config, n=chunk_tbs[0].timing_n())
        sidecar = em.sidecar
        ports = bulk_ports(sidecar)
        timings["emit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        stim0 = chunk_tbs[0].stimulus(seed)
        timings["vectors_s"] += time.perf_counter() - t0
        sizes = [t.planned_size() for t in {id(t): t for t in (chunk_tbs[0], chunk_tbs[-1])
                                            }.values()]
        if any(s is None for s in sizes):
            n_in = max(len(a) for g in stim0.inputs.values() for a in g.values())
            n_out = max(len(a) for g in stim0.expected.values() for a in g.values())
        else:
            n_in = max(s.beats_in for s in sizes if s is not None)
            n_out = max(s.beats_out for s in sizes if s is not None)
        params = {"IN_W": ports.in_width, "OUT_W": ports.out_width,
                  "SET_W": ports.setup_width, "STAT_W": ports.status_width,
                  "IN_DEPTH": _pow2(n_in, 4096), "OUT_DEPTH": _pow2(n_out + TAIL, 4096),
                  "SET_DEPTH": _pow2(len(stim0.setup), 64), "PAT_BITS": PAT_BITS,
                  "TAIL": TAIL}
        view_text, pe_view = None, {"form": "exact"}
        if simulator == "verilator" and not exact_pe:
            from .bulk_view import word_level_design
            from .runner import default_build_root

            t0 = time.perf_counter()
            root = Path(build_root) if build_root is not None else default_build_root()
            view_text, view = word_level_design(
                chunk_tbs[0].build_component, tb.module_name, em.verilog.read_text(),
                cache_dir=root / "pe-equiv", say=say)
            pe_view = view.as_dict()
            timings["pe_view_s"] = time.perf_counter() - t0
        say(f"building on {simulator}")
        b = build(simulator, em.verilog, wrapper_verilog(sidecar), params, top=sidecar.name,
                  build_root=build_root, verilator_design=view_text,
                  rewrite=pe_view.get("form") != "word-level")
        chunks: list[ChunkResult] = []
        for c, (ctb, nvec) in enumerate(zip(chunk_tbs, per_chunk)):
            cseed = chunk_seed(seed, c)
            say(f"chunk {c + 1}/{len(chunk_tbs)}: {ctb.params()}")
            if c == 0:
                stim = stim0
            else:
                t0 = time.perf_counter()
                stim = ctb.stimulus(cseed)
                timings["vectors_s"] += time.perf_counter() - t0
            if corrupt_expected and c == 0:
                stim.corrupt(cseed)
            chunks.append(_run_chunk(ctb, stim, sidecar, b, params, run_dir, chunk=c,
                                     seed=cseed, vectors=nvec, stall_in=stall_in,
                                     stall_out=stall_out, max_cycles=max_cycles,
                                     timings=timings))
    finally:
        if temp:
            shutil.rmtree(run_dir, ignore_errors=True)
    options = tb.params()
    if n_vectors is not None:             # the count option over all chunks, not the template's
        options[plan.count_field] = sum(getattr(t, plan.count_field) for t in chunk_tbs)
    res = _combine(tb, chunks, options, simulator=simulator, seed=seed, stall_in=stall_in,
                   stall_out=stall_out, build_s=b.seconds, build_cached=b.cached,
                   wall_s=time.perf_counter() - t_start, timings=timings)
    res.pe_view = pe_view
    return res


def _vectors_of(tb: TB, stim: Stimulus) -> int:
    try:
        plan = plan_of(tb)
    except KeyError:
        return int(next(iter(np.shape(a)[0] for g in stim.expected.values()
                             for a in g.values()), 0))
    return int(getattr(tb, plan.count_field)) * plan.vectors_per_count(tb)


def _max_cycles(tb: TB, stim: Stimulus, sidecar: Sidecar, n_in: int, n_out: int,
                stall_in: float, stall_out: float, seed: int) -> int:
    """The cocotb benches' cycle budget for this run (their formula, or the unit's own)."""
    slack = 1.0 / max(1e-3, (1.0 - stall_in) * (1.0 - stall_out))
    lat = sidecar.latency or 0
    generic = int(200 + len(stim.setup) + 4 * lat + 4 * (n_in + n_out) * slack)
    loop = tb.make_loop(sidecar, Stimulus({}, {}), seed=seed, stall_in=stall_in,
                        stall_out=stall_out)
    return max(generic, loop.max_cycles) + 16


def _setup_hex(stim: Stimulus, sidecar: Sidecar, ports: Any) -> bytes:
    offsets, lo = {}, 0
    for member, port, w in ports.setup:
        offsets[member] = offsets[port] = (lo, w)
        lo += w
    lines = []
    for step in stim.setup:
        word = 0
        for member, v in step.items():
            if member not in offsets:
                raise ValueError(f"set-up member {member!r} is not an input of {sidecar.name}")
            off, w = offsets[member]
            if not 0 <= int(v) < 1 << w:
                raise ValueError(f"set-up {member}={v} does not fit its {w} bits")
            word |= int(v) << off
        lines.append(f"{word:x}\n")
    return "".join(lines).encode()


def _run_chunk(tb: TB, stim: Stimulus, sidecar: Sidecar, b: Any, params: dict[str, int],
               run_dir: Path, *, chunk: int, seed: int, vectors: int | None,
               stall_in: float, stall_out: float, max_cycles: int | None,
               timings: dict[str, float]) -> ChunkResult:
    from .bulk_build import bulk_ports, run

    ports = bulk_ports(sidecar)
    (s_in,) = stim.inputs
    (s_out,) = stim.expected
    if s_in != ports.in_stream or s_out != ports.out_stream:
        raise ValueError(f"the stimulus drives {s_in} -> {s_out}; the design has "
                         f"{ports.in_stream} -> {ports.out_stream}")
    c_in, c_out = sidecar.stream(s_in).codec, sidecar.stream(s_out).codec
    t0 = time.perf_counter()
    in_bytes = pack_hex(c_in, stim.inputs[s_in])
    n_in = c_in.beat_count(stim.inputs[s_in])
    n_out = c_out.beat_count(stim.expected[s_out]) if stim.expected[s_out] else 0
    if n_in > params["IN_DEPTH"] or len(stim.setup) > params["SET_DEPTH"]:
        raise ValueError(f"chunk {chunk}: {n_in} input beats and {len(stim.setup)} set-up "
                         f"steps exceed the bench's IN_DEPTH={params['IN_DEPTH']} / "
                         f"SET_DEPTH={params['SET_DEPTH']}")
    (run_dir / "in.hex").write_bytes(in_bytes)
    (run_dir / "setup.hex").write_bytes(_setup_hex(stim, sidecar, ports) or b"0\n")
    rng = np.random.default_rng([seed, 0xB011C])
    in_pat, _ = pattern_hex(rng, 1 << PAT_BITS, stall_in)
    out_pat, _ = pattern_hex(rng, 1 << PAT_BITS, stall_out)
    (run_dir / "inpat.hex").write_bytes(in_pat)
    (run_dir / "outpat.hex").write_bytes(out_pat)
    (run_dir / "out.hex").unlink(missing_ok=True)
    budget = max_cycles if max_cycles is not None else _max_cycles(
        tb, stim, sidecar, n_in, n_out, stall_in, stall_out, seed)
    timings["files_s"] += time.perf_counter() - t0
    status, sim_s, cpu_s, _ = run(b, run_dir, {"n_in": n_in, "n_out": n_out,
                                               "n_set": len(stim.setup), "max_cycles": budget},
                                  wall_limit_s=60 + budget / _MIN_RATE[b.simulator])
    t0 = time.perf_counter()
    out_path = run_dir / "out.hex"
    got_bytes = out_path.read_bytes() if out_path.exists() else b""
    result = score(tb, stim, sidecar, got_bytes, status, chunk=chunk, seed=seed,
                   max_cycles=budget)
    timings["compare_s"] += time.perf_counter() - t0
    result.sim_s, result.cpu_s = sim_s, cpu_s
    result.vectors = vectors if vectors is not None else _vectors_of(tb, stim)
    return result


def score(tb: TB, stim: Stimulus, sidecar: Sidecar, out_hex: bytes, status: dict[str, str], *,
          chunk: int = 0, seed: int = 0, max_cycles: int | None = None) -> ChunkResult:
    """Compare one run's ``out.hex`` and ``status.txt`` with the model (``==``).

    Mismatches, missing or extra beats, X/Z outputs, a timeout, stream-rule violations and
    end-of-run status values other than ``tb.end_values`` are reported.
    """
    from .bulk_build import bulk_ports

    ports = bulk_ports(sidecar)
    (s_out,) = stim.expected
    expected = stim.expected[s_out]
    codec = sidecar.stream(s_out).codec
    received, xz = unpack_hex(codec, out_hex)
    received = {g: received[g] for g in expected}
    sb = Scoreboard(s_out, expected, describe=tb.describe, seed=seed)
    errors: list[str] = []
    beats_out = int(status.get("beats_out", "0"))
    n_lines = len(next(iter(received.values()))) if received else 0
    if beats_out != n_lines and beats_out <= int(
            next(iter(np.shape(a)[0] for a in expected.values()), 0)):
        errors.append(f"the bench counted {beats_out} output beats but out.hex holds {n_lines}")
    sb.check(received, xz)
    cycles = int(status.get("cycles", "0"))
    if status.get("timeout") == "1":
        errors.append(f"timeout: the run reached its cycle limit of {max_cycles} cycles with "
                      f"{beats_out} of {sb.expected_beats} output beats received and "
                      f"{status.get('beats_in')} input beats accepted (chunk {chunk}, seed "
                      f"{seed})")
    if int(status.get("rule_errors", "0")):
        errors.append(f"{status['rule_errors']} stream-rule violations on {s_out} (valid "
                      f"dropped or payload changed before ready), the first in cycle "
                      f"{status.get('first_rule_error')}")
    raw = int(status.get("status", "0"), 16) if "x" not in status.get("status", "0").lower() \
        else None
    lo, values = 0, {}
    for member, _, w in ports.status:
        values[member] = None if raw is None else (raw >> lo) & ((1 << w) - 1)
        lo += w
    for member, want in tb.end_values.items():
        if member in values and values[member] != want:
            errors.append(f"{member} is {values[member]} at the end of the run, expected {want}")
    errors.extend(sb.errors)
    fm = sb.first.as_dict() if sb.first else None
    if fm is not None:
        fm["chunk"] = chunk
        try:
            fm["vector"] = plan_of(tb).vector_of(tb, fm["coords"])
        except (KeyError, TypeError):
            pass
    stalls = {k: int(status.get(k, "0")) for k in ("in_idle_cycles", "out_stall_cycles",
                                                   "in_wait_cycles")}
    return ChunkResult(chunk, seed, 0, cycles, 0.0, 0.0, sb.checked, sb.mismatches, fm, stalls,
                       errors)


def _combine(tb: TB, chunks: list[ChunkResult], options: dict[str, Any], *, simulator: str, seed: int, stall_in: float,
             stall_out: float, build_s: float, build_cached: bool, wall_s: float,
             timings: dict[str, float]) -> BulkResult:
    vectors = sum(c.vectors for c in chunks)
    cycles = sum(c.cycles for c in chunks)
    sim_s = sum(c.sim_s for c in chunks)
    first = None
    start = 0
    for c in chunks:
        if c.first_mismatch is not None and first is None:
            first = dict(c.first_mismatch)
            if "vector" in first:
                first["vector"] += start           # global index over all chunks
            first["message"] = (f"{first['message']}; chunk {c.chunk} (seed {c.seed})"
                                + (f", vector {first['vector']}" if "vector" in first else ""))
        start += c.vectors
    stalls: dict[str, int] = {}
    for c in chunks:
        for k, v in c.stalls.items():
            stalls[k] = stalls.get(k, 0) + v
    errors = [f"chunk {c.chunk}: {e}" if len(chunks) > 1 else e for c in chunks
              for e in c.errors]
    config = tb.config.as_dict() if hasattr(tb.config, "as_dict") else None
    return BulkResult(tb.unit, vectors, cycles, sum(c.mismatches for c in chunks), wall_s,
                      cycles / sim_s if sim_s > 0 else 0.0, first, simulator, seed,
                      sum(c.elements_checked for c in chunks), sim_s,
                      sum(c.cpu_s for c in chunks), build_s, build_cached, len(chunks),
                      float(stall_in), float(stall_out), stalls, config, options, timings,
                      errors)
