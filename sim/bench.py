"""Unit benches: the :class:`TB` base class, stimulus files and :func:`run_bench`.

A unit bench is one module ``ivita/sim/tb_<unit>.py`` (see docs/verification.md) holding

- a :class:`TB` subclass: a frozen dataclass of the unit's configuration and run options that
  knows how to build the component, generate a :class:`Stimulus` from a seed (inputs *and* the
  expected outputs, computed with :mod:`ivita.model`), name the coordinates of an output
  element, and parse its command-line options;
- one cocotb test, ``test_<unit> = cocotb_test(<TB subclass>)``, so the module is also the
  cocotb test module the runner loads.

:func:`run_bench` runs a TB on ``icarus`` or ``verilator`` (Verilog + sidecar -> cocotb) or on
``amaranth`` (``amaranth.sim``, same loop, same scoreboard). This module itself imports neither
cocotb nor Amaranth.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .jsonio import json_default
from .loop import BenchLoop
from .progress import HEARTBEAT_FILE, Heartbeat, Progress, RunSize
from .sidecar import Sidecar

__all__ = ["SIMULATORS", "Stimulus", "TB", "BenchResult", "run_bench", "run_size", "size_of",
           "tb_ref", "load_tb", "json_default"]

SIMULATORS = ("icarus", "verilator", "amaranth")


@dataclass
class Stimulus:
    """Everything a run drives and expects, in plain numpy arrays.

    ``inputs``: stream -> group -> array ``(beats, *dims)``; ``expected``: the same for output
    streams, from the reference model; ``setup``: per-cycle writes of non-stream members
    (member name -> value) done before the streams start; ``work``: counters for summaries
    (e.g. ``{"macs": ...}``).
    """

    inputs: dict[str, dict[str, np.ndarray]]
    expected: dict[str, dict[str, np.ndarray]]
    setup: list[dict[str, int]] = field(default_factory=list)
    work: dict[str, int] = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        arrays: dict[str, Any] = {}
        for kind, streams in (("in", self.inputs), ("exp", self.expected)):
            for s, groups in streams.items():
                for g, a in groups.items():
                    arrays[f"{kind}/{s}/{g}"] = np.asarray(a, dtype=np.int64)
        arrays["meta"] = np.array(json.dumps({"setup": self.setup, "work": self.work},
                                             default=json_default))
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "Stimulus":
        inputs: dict[str, dict[str, np.ndarray]] = {}
        expected: dict[str, dict[str, np.ndarray]] = {}
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            for key in z.files:
                if key == "meta":
                    continue
                kind, s, g = key.split("/", 2)
                (inputs if kind == "in" else expected).setdefault(s, {})[g] = z[key]
        return cls(inputs, expected, meta["setup"], meta["work"])

    def corrupt(self, seed: int) -> dict[str, Any]:
        """Change one expected element (chosen from ``seed``) so that a correct design fails.

        Used to prove that a bench can fail. Returns what was changed.
        """
        rng = np.random.default_rng(seed + 7919)
        s = sorted(self.expected)[int(rng.integers(len(self.expected)))]
        groups = self.expected[s]
        g = max(groups, key=lambda k: int(np.prod(np.shape(groups[k])[1:], dtype=np.int64)))
        arr = np.array(groups[g], dtype=np.int64, copy=True)
        pos = tuple(int(rng.integers(n)) for n in arr.shape)
        old = int(arr[pos])
        arr[pos] = old - 1 if old > 0 else old + 1
        groups[g] = arr
        return {"stream": s, "field": g, "beat": pos[0], "index": list(pos[1:]), "was": old,
                "now": int(arr[pos])}


def tb_ref(cls: type) -> str:
    """``"module:QualName"`` of a TB class (how the cocotb process finds it)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def load_tb(ref: str) -> type["TB"]:
    import importlib
    mod, _, name = ref.partition(":")
    obj: Any = importlib.import_module(mod)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, TB)):
        raise TypeError(f"{ref} is not a TB subclass")
    return obj


@dataclass(frozen=True, kw_only=True)
class TB:
    """Base class of the per-unit benches (see the module docstring).

    Subclasses are frozen, keyword-only dataclasses whose first field is ``config`` (an
    ``ivita.model`` config with ``as_dict``/``from_dict``) followed by run options (shapes,
    counts) that must be JSON-serialisable. They set the class attributes below and implement
    :meth:`add_arguments`, :meth:`from_args`, :meth:`build_component`, :meth:`stimulus` and
    :meth:`describe`.
    """

    #: registry name, e.g. ``"array"``
    unit: ClassVar[str] = ""
    #: one-line description for ``ivita sim --help``
    summary: ClassVar[str] = ""
    #: the config class (``config_type.from_dict(sidecar.config)`` rebuilds the config)
    config_type: ClassVar[type]
    #: members that must hold these values at the end of a run (sticky error flags)
    end_values: ClassVar[Mapping[str, int]] = {}

    config: Any

    # -- identity and transport ------------------------------------------------------------------

    @property
    def module_name(self) -> str:
        """Verilog module name of the design under test."""
        return f"ivita_{self.unit}"

    @classmethod
    def test_module(cls) -> str:
        """The cocotb test module (the TB's own module)."""
        return cls.__module__

    def params(self) -> dict[str, Any]:
        """Run options without ``config`` (which travels in the sidecar)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "config"}

    @classmethod
    def from_sidecar(cls, sidecar: Sidecar, params: Mapping[str, Any]) -> "TB":
        """Rebuild the TB in the cocotb process: config from the sidecar, options from params."""
        if sidecar.config is None:
            raise ValueError(f"sidecar {sidecar.path} carries no config")
        return cls(config=cls.config_type.from_dict(sidecar.config), **params)

    # -- to implement ------------------------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        """Add the unit's own options to an ``argparse`` parser."""

    @classmethod
    def from_args(cls, args: Any) -> "TB":
        """Build the TB from parsed options; invalid values raise ``ValueError``/``TypeError``."""
        raise NotImplementedError

    def build_component(self) -> Any:
        """The Amaranth component under test (imports ``ivita.hw`` lazily)."""
        raise NotImplementedError

    def stimulus(self, seed: int) -> Stimulus:
        """Inputs and model outputs for one run, reproducible from ``seed``."""
        raise NotImplementedError

    def describe(self, beat: int, group: str, index: tuple[int, ...]) -> dict[str, int]:
        """Named coordinates of an output element (e.g. tile, row, column)."""
        return {"beat": beat, **{f"i{d}": i for d, i in enumerate(index)}}

    def timing_n(self) -> int | None:
        """The ``n`` of the component's ``timing(n)`` for this run: the length of the first row
        or tile, the one the bench measures the latency on (``None``: not length-dependent)."""
        return None

    def planned_size(self, *, stall_in: float = 0.0, stall_out: float = 0.0) -> RunSize | None:
        """The run's size before its vectors exist (:func:`size_of`), or ``None`` if only the
        stimulus can tell; must equal :func:`run_size` of the stimulus."""
        return None

    # -- shared machinery ----------------------------------------------------------------------

    def make_loop(self, sidecar: Sidecar, stim: Stimulus, *, seed: int, stall_in: float = 0.0,
                  stall_out: float = 0.0, max_cycles: int | None = None) -> BenchLoop:
        """The simulator-independent loop for this run (packs beats with the sidecar codecs)."""
        inputs = {s: sidecar.stream(s).codec.pack_beats(g) for s, g in stim.inputs.items()}
        setup = [{sidecar.port_of(m): int(v) for m, v in step.items()} for step in stim.setup]
        return BenchLoop(sidecar, inputs=inputs, expected=stim.expected, setup=setup, seed=seed,
                         stall_in=stall_in, stall_out=stall_out, max_cycles=max_cycles,
                         describe=self.describe, end_values=self.end_values)


@dataclass
class BenchResult:
    """What :func:`run_bench` returns; :meth:`as_dict` is the ``--json`` object."""

    unit: str
    simulator: str
    seed: int
    passed: bool
    result: dict[str, Any]
    config: dict[str, Any] | None
    options: dict[str, Any]
    stall_in: float
    stall_out: float
    timings: dict[str, float]
    build_cached: bool | None = None
    run_dir: Path | None = None
    waves: Path | None = None
    corrupted: dict[str, Any] | None = None
    work: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def first_mismatch(self) -> dict[str, Any] | None:
        return self.result.get("first_mismatch")

    def failure_message(self) -> str:
        """One paragraph: the first mismatch (coordinates, values, seed) and other errors."""
        lines = []
        fm = self.first_mismatch
        if fm:
            lines.append(f"first mismatch: {fm['message']}; {self.result.get('mismatches')} "
                         f"mismatching elements")
        lines.extend(self.result.get("errors", []))
        lines.extend(self.errors)
        lines.append(f"reproduce with seed {self.seed} on {self.simulator} "
                     f"(stall in {self.stall_in}, out {self.stall_out})")
        if self.run_dir:
            lines.append(f"run directory: {self.run_dir}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "unit": self.unit, "simulator": self.simulator, "seed": self.seed,
            "passed": self.passed, "config": self.config, "options": self.options,
            "stall_in": self.stall_in, "stall_out": self.stall_out,
            "cycles": r.get("cycles"), "stream_cycles": r.get("stream_cycles"),
            "latency": r.get("latency"), "latency_measured": r.get("latency_measured"),
            "latency_from": r.get("latency_from"),
            "beats_in": r.get("beats_in"), "beats_out": r.get("beats_out"),
            "elements_checked": r.get("elements_checked"), "mismatches": r.get("mismatches"),
            "first_mismatch": r.get("first_mismatch"),
            "errors": [*r.get("errors", []), *self.errors],
            "timeout": r.get("timeout"), "end_values": r.get("end_values"),
            "cycles_per_s": r.get("cycles_per_s"), "work": self.work,
            "build_cached": self.build_cached, "timings": self.timings,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "waves": str(self.waves) if self.waves else None,
            "corrupted": self.corrupted,
        }

    def summary_text(self) -> str:
        r = self.result
        verdict = "PASS" if self.passed else "FAIL"
        cps = r.get("cycles_per_s")
        lines = [
            f"{verdict}: {self.unit} on {self.simulator}, seed {self.seed}, "
            f"stall in {self.stall_in} / out {self.stall_out}",
            f"  config: {json.dumps(self.config)}",
            f"  options: {json.dumps(self.options)}",
            f"  cycles: {r.get('cycles')} total, {r.get('stream_cycles')} from first input to "
            f"last output; latency {r.get('latency_measured')} measured"
            + (f" ({r.get('latency')} declared)" if r.get('latency') is not None else "")
            + (" from the first input beat with last set"
               if r.get("latency_from") == "last" else " from the first input beat"),
            f"  beats: {r.get('beats_in')} in, {r.get('beats_out')} out; elements checked: "
            f"{r.get('elements_checked')}, mismatches: {r.get('mismatches')}",
            f"  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items())
            + (f"; {cps:,.0f} cycles/s" if cps else "")
            + ("" if self.build_cached is None else
               f"; build {'cached' if self.build_cached else 'fresh'}"),
        ]
        if self.waves:
            lines.append(f"  waves: {self.waves}")
        if self.corrupted:
            lines.append(f"  corrupted expected value on purpose: {self.corrupted}")
        if not self.passed:
            lines.append(self.failure_message())
        return "\n".join(lines)


def size_of(tb: "TB", *, beats_in: int, in_elements: int, beats_out: int, out_elements: int,
            setup: int = 0, stall_in: float = 0.0, stall_out: float = 0.0) -> RunSize:
    """A :class:`RunSize` from beat and element counts (``*_elements``: int64 values).

    The cycle estimate is the TB's ``ideal_cycles()`` if it has one (the array: one k step per
    cycle), else ``max(beats in, beats out)``; divided by ``(1 - stall_in) * (1 - stall_out)``,
    plus the ``setup`` writes. Units with per-row overhead take more cycles.
    """
    ideal_fn = getattr(tb, "ideal_cycles", None)
    if callable(ideal_fn):
        ideal, model = int(ideal_fn()), f"{type(tb).__name__}.ideal_cycles()"
    else:
        ideal, model = max(beats_in, beats_out), "max(input beats, output beats)"
    slack = 1.0 / max(1e-3, (1.0 - stall_in) * (1.0 - stall_out))
    if slack != 1.0:
        model += " / ((1 - stall_in)(1 - stall_out))"
    return RunSize(beats_in, beats_out, out_elements, int(setup + ideal * slack), model,
                   8 * (in_elements + out_elements))


def run_size(tb: "TB", stim: Stimulus, *, stall_in: float = 0.0,
             stall_out: float = 0.0) -> RunSize:
    """How big a run of ``tb`` on ``stim`` is: exact beats and vector bytes, estimated cycles
    (:func:`size_of`). :meth:`TB.planned_size` must agree with it without the stimulus."""
    def beats(streams: dict[str, dict[str, np.ndarray]]) -> int:
        return sum(max((int(np.shape(a)[0]) for a in g.values()), default=0)
                   for g in streams.values())

    def elements(streams: dict[str, dict[str, np.ndarray]]) -> int:
        return sum(int(np.asarray(a).size) for g in streams.values() for a in g.values())

    return size_of(tb, beats_in=beats(stim.inputs), in_elements=elements(stim.inputs),
                   beats_out=beats(stim.expected), out_elements=elements(stim.expected),
                   setup=len(stim.setup), stall_in=stall_in, stall_out=stall_out)


def run_bench(tb: TB, *, simulator: str = "icarus", seed: int = 1, stall_in: float = 0.0,
              stall_out: float = 0.0, waves: bool | None = None,
              work_dir: str | Path | None = None, build_root: str | Path | None = None,
              corrupt_expected: bool = False, max_cycles: int | None = None,
              python_path: list[str] | None = None, keep: bool = False,
              progress: Progress | None = None) -> BenchResult:
    """Run one bench and score it against the model.

    ``work_dir`` receives the Verilog, sidecar, vectors, logs, waves and the loop's
    ``heartbeat.json``. When it is ``None`` a temporary folder ``ivita-sim-<unit>-*`` is used
    and removed afterwards, unless ``keep`` is set, waves were written or the bench failed (then
    :attr:`BenchResult.run_dir` names it). On an exception -- Ctrl-C (``KeyboardInterrupt``), a
    failed build, a bug -- the temporary folder is removed unless ``keep`` is set; the
    exception then carries the kept folder as ``kept_dir``. ``progress``: a
    :class:`ivita.sim.progress.Progress` told the phases and the :class:`RunSize` before the
    simulation starts, and which follows the heartbeat. Raises
    :class:`ivita.sim.runner.SimulatorMissing` if the simulator is not installed.
    """
    from .runner import waves_requested

    if simulator not in SIMULATORS:
        raise ValueError(f"simulator={simulator!r} is not one of {', '.join(SIMULATORS)}")
    for name, p in (("stall_in", stall_in), ("stall_out", stall_out)):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"{name}={p!r} is out of range; it must be in [0, 1)")
    waves = waves_requested(waves)
    temp = work_dir is None
    run_dir = Path(tempfile.mkdtemp(prefix=f"ivita-sim-{tb.unit}-")) if temp else Path(work_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if progress is not None:
            progress.start(run_dir / HEARTBEAT_FILE)
        res = _run_bench(tb, run_dir, temp, simulator=simulator, seed=seed, stall_in=stall_in,
                         stall_out=stall_out, waves=waves, build_root=build_root,
                         corrupt_expected=corrupt_expected, max_cycles=max_cycles,
                         python_path=python_path, keep=keep, progress=progress)
    except BaseException as e:
        if progress is not None:
            progress.stop()
        if temp and not keep:
            _remove_quietly(run_dir)
        else:
            e.kept_dir = run_dir     # type: ignore[attr-defined]
        raise
    if progress is not None:
        progress.stop()
    return res


def _remove_quietly(path: Path) -> None:
    """``rmtree`` that a second Ctrl-C cannot interrupt (it is ignored while removing)."""
    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        shutil.rmtree(path, ignore_errors=True)
    finally:
        if main:
            signal.signal(signal.SIGINT, old)


def _run_bench(tb: TB, run_dir: Path, temp: bool, *, simulator: str, seed: int,
               stall_in: float, stall_out: float, waves: bool,
               build_root: str | Path | None, corrupt_expected: bool, max_cycles: int | None,
               python_path: list[str] | None, keep: bool,
               progress: Progress | None) -> BenchResult:
    from .runner import run_cocotb

    def phase(text: str) -> None:
        if progress is not None:
            progress.phase(text)

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    heartbeat = run_dir / HEARTBEAT_FILE

    planned = tb.planned_size(stall_in=stall_in, stall_out=stall_out)
    if progress is not None and planned is not None:
        progress.size(planned)
    t0 = time.perf_counter()
    phase("generating vectors")
    stim = tb.stimulus(seed)
    corrupted = stim.corrupt(seed) if corrupt_expected else None
    timings["vectors_s"] = time.perf_counter() - t0
    if progress is not None and planned is None:
        progress.size(run_size(tb, stim, stall_in=stall_in, stall_out=stall_out))
    t0 = time.perf_counter()
    phase("elaborating the design")
    component = tb.build_component()
    config = tb.config.as_dict() if hasattr(tb.config, "as_dict") else None
    errors: list[str] = []
    build_cached: bool | None = None
    waves_path: Path | None = None

    if simulator == "amaranth":
        from .amaranth_bench import run_amaranth
        timings["elaborate_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        phase("simulating on amaranth")
        waves_path = run_dir / f"{tb.module_name}.vcd" if waves else None
        result = run_amaranth(tb, component, stim, seed=seed, stall_in=stall_in,
                              stall_out=stall_out, max_cycles=max_cycles, vcd=waves_path,
                              heartbeat=Heartbeat(heartbeat))
        timings["sim_s"] = time.perf_counter() - t0
    else:
        from .emit import emit
        phase("writing Verilog")
        em = emit(component, tb.module_name, run_dir, config=tb.config, n=tb.timing_n())
        timings["emit_s"] = time.perf_counter() - t0
        vectors = run_dir / "vectors.npz"
        stim.save(vectors)
        params = {"tb": tb_ref(type(tb)), "tb_params": tb.params(), "sidecar": str(em.sidecar_path),
                  "vectors": str(vectors), "seed": seed, "stall_in": stall_in,
                  "stall_out": stall_out, "max_cycles": max_cycles, "simulator": simulator,
                  "heartbeat": str(heartbeat)}
        sr = run_cocotb(verilog=em.verilog, toplevel=em.name, test_module=type(tb).test_module(),
                        simulator=simulator, params=params, run_dir=run_dir, waves=waves,
                        build_root=build_root, python_path=python_path, on_phase=phase)
        result = sr.result
        errors.extend(sr.errors)
        build_cached = sr.build_cached
        timings["build_s"] = sr.build_s
        timings["sim_s"] = sr.sim_s
        waves_path = sr.waves
    timings["total_s"] = time.perf_counter() - t_start
    passed = bool(result.get("passed")) and not errors
    keep_dir = keep or waves or not temp or not passed
    if not keep_dir:
        _remove_quietly(run_dir)
    return BenchResult(tb.unit, simulator, seed, passed, result, config, tb.params(),
                       float(stall_in), float(stall_out), timings, build_cached,
                       run_dir if keep_dir else None, waves_path, corrupted, dict(stim.work),
                       errors)
