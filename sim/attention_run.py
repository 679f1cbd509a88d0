"""The attention-block bench: a random quantized layer from ``ivita.model``, compiled, run on
the simulated :class:`~ivita.hw.attention.AttentionBlock`, outputs compared with ``==``.

One run (:func:`run_attention`):

1. :func:`make_case`: ``AttentionConfig(tokens, dim, heads, a_bits, w_bits)`` (other widths at
   their defaults), a float block :func:`ivita.model.make_float_block` (``seed``), calibrated by
   :func:`ivita.model.quantize_block` on :func:`ivita.model.make_block_input` (``seed + 1``,
   4 samples), an input ``x`` from ``make_block_input(seed + 2)`` quantized to ``resid_bits``;
   the expected values are :func:`ivita.model.attention_block_trace` (normative model).
   Everything is a function of the arguments: the same seed gives the same layer.
2. :func:`ivita.firmware.compiler.compile_attention` -> program + memory images on a block of
   ``rows x cols`` with capacities ``max_tokens``/``max_heads`` (default: the layer's).
3. The images go in and the tensors come out through the host bus with the transfers of
   :mod:`ivita.sim.bus_plan`: on ``amaranth`` by :func:`ivita.sim.block_bus_run.run_block`, on
   ``icarus``/``verilator`` by the cocotb test :mod:`ivita.sim.cocotb_block` on the generated
   Verilog (:func:`ivita.sim.emit.emit`), built and run by :func:`ivita.sim.runner.run_cocotb`
   (build cache: a block configuration is built once per simulator and reused for any layer,
   seed and token count that fits it).
4. The tensors ``h k v a p o out`` read back (``a``/``p``: the last head, the only one still in
   memory; ``out``: the block output, in place of ``x``) are compared with the model using
   ``==``; the first mismatch names the tensor, the element and the seed.

Measured cycles: the block's own ``cycles`` counter (``start`` to ``done``); the bench also
counts the cycles from the ``start`` edge until ``busy`` falls (``wall``) and fails when the two
disagree. The compute bound is ``MACs / (rows * cols)`` with :func:`layer_macs`
``= 4 T D^2 + 2 T^2 D`` (``T`` tokens, ``D`` dim; Q, K, V and output projections ``T D^2``
each, Q·Kᵀ and P·V ``T^2 D/H`` per head over ``H`` heads); the ratio ``cycles / bound`` is
reported, never checked against a fixed number (the controller and its overlap change).

A hang is a failure, never a stuck run: ``max_cycles`` (default :func:`default_max_cycles`)
bounds the wait for ``done``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ivita.model import (AttentionConfig, attention_block_trace, make_block_input,
                         make_float_block, quantize_block)
from ivita.model.attention import AttentionParams
from ivita.model.block_config import BlockConfig

__all__ = ["AttentionCase", "AttentionResult", "TENSORS", "make_case", "layer_macs",
           "program_macs", "default_max_cycles", "run_attention"]

#: tensors read back and compared (``a``/``p``: the last head)
TENSORS = ("h", "k", "v", "a", "p", "o", "out")   # Q is overwritten by O (compile_attention)
SIMULATORS = ("icarus", "verilator", "amaranth")
TOPLEVEL = "ivita_attention"
#: Verilog of the block configurations elaborated in this process (emitting takes seconds)
_VERILOG: dict[BlockConfig, str] = {}


@dataclass(frozen=True)
class AttentionCase:
    """A layer, its input, the block it runs on and the model's expected tensors."""

    layer: AttentionConfig
    block: BlockConfig
    params: AttentionParams
    x: np.ndarray
    expected: dict[str, np.ndarray]
    seed: int


def make_case(*, tokens: int, dim: int, heads: int, a_bits: int = 8, w_bits: int = 8,
              rows: int = 4, cols: int | None = None, max_tokens: int | None = None,
              max_heads: int | None = None, seed: int = 1) -> AttentionCase:
    """The deterministic random layer of ``seed`` (module docstring) on a ``rows x cols``
    block whose capacities are ``max_tokens`` (default ``tokens``) and ``max_heads`` (default
    ``heads``). Raises ``ValueError`` naming the numbers when the layer does not fit."""
    lc = AttentionConfig(tokens=tokens, dim=dim, heads=heads, a_bits=a_bits, w_bits=w_bits)
    cfg = BlockConfig.for_attention(lc, rows=rows, cols=cols)
    cfg = dataclasses.replace(cfg, max_tokens=tokens if max_tokens is None else max_tokens,
                              max_heads=heads if max_heads is None else max_heads)
    cfg.check_fits(lc)
    params = quantize_block(make_float_block(lc, seed), lc, make_block_input(lc, seed + 1, 4))
    xf = make_block_input(lc, seed + 2, 1)[0] / params.scales.x
    lo, hi = -(1 << (lc.resid_bits - 1)), (1 << (lc.resid_bits - 1)) - 1
    x = np.clip(np.round(xf), lo, hi).astype(np.int64)
    tr = attention_block_trace(x, params)
    expected = {n: np.asarray(tr[n]) for n in TENSORS}
    expected["a"], expected["p"] = expected["a"][-1], expected["p"][-1]
    return AttentionCase(lc, cfg, params, x, expected, seed)


def layer_macs(tokens: int, dim: int, heads: int) -> int:
    """Multiply-accumulates of one layer: ``4 T D^2 + 2 T^2 D``. Q, K, V and the output
    projection are ``T x D x D`` each; per head Q·Kᵀ and P·V are ``T x T x D/H`` each, so
    ``H`` heads add ``2 T^2 D`` whatever ``H`` is."""
    return 4 * tokens * dim * dim + 2 * heads * tokens * tokens * (dim // heads)


def program_macs(cb: Any) -> int:
    """MACs the compiled program's MATMULs issue on whole tiles
    (:func:`ivita.firmware.cycle_model.program_macs`); equals :func:`layer_macs` when ``rows``
    divides the token count (else the padded token rows add MACs)."""
    from ivita.firmware.cycle_model import program_macs as macs_of
    return macs_of(cb.program, cb.config)


def default_max_cycles(case: AttentionCase) -> int:
    """The cycle budget of a run: 4x the compute bound plus 200 cycles per token and head
    (LayerNorm and Shiftmax rows) plus 20 000 -- generous for any controller, small enough that
    a hang fails quickly."""
    lc = case.layer
    bound = -(-layer_macs(lc.tokens, lc.dim, lc.heads) // case.block.macs)
    return 4 * bound + 200 * lc.tokens * (lc.heads + 2) + 20_000


@dataclass
class AttentionResult:
    """What :func:`run_attention` returns; :meth:`as_dict` is the ``--json`` object."""

    simulator: str
    seed: int
    passed: bool
    layer: dict[str, Any]
    block: dict[str, Any]
    cycles: int | None
    wall: int | None
    macs: int
    bound: float
    status: dict[str, Any] = field(default_factory=dict)
    mismatches: dict[str, int] = field(default_factory=dict)
    first_mismatch: dict[str, Any] | None = None
    elements_checked: int = 0
    errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    build_cached: bool | None = None
    run_dir: Path | None = None
    waves: Path | None = None
    corrupted: dict[str, Any] | None = None

    @property
    def ratio(self) -> float | None:
        return None if self.cycles is None else self.cycles / self.bound

    def as_dict(self) -> dict[str, Any]:
        return {"unit": "attention", "simulator": self.simulator, "seed": self.seed,
                "passed": self.passed, "check": "PASS" if self.passed else "FAIL",
                "layer": self.layer, "block": self.block, "cycles": self.cycles,
                "wall": self.wall, "macs": self.macs, "bound": self.bound,
                "ratio": self.ratio, "status": self.status,
                "elements_checked": self.elements_checked, "mismatches": self.mismatches,
                "first_mismatch": self.first_mismatch, "errors": self.errors,
                "timings": self.timings, "build_cached": self.build_cached,
                "run_dir": str(self.run_dir) if self.run_dir else None,
                "waves": str(self.waves) if self.waves else None,
                "corrupted": self.corrupted}

    def summary_text(self) -> str:
        lc, b = self.layer, self.block
        lines = [
            f"{'PASS' if self.passed else 'FAIL'}: attention on {self.simulator}, seed "
            f"{self.seed}: {lc['tokens']} tokens x dim {lc['dim']}, {lc['heads']} heads, "
            f"a{lc['a_bits']} w{lc['w_bits']}, {b['rows']}x{b['cols']} array",
            f"  cycles: {self.cycles} measured; compute bound MACs/(rows*cols) = {self.macs}/"
            f"{b['rows'] * b['cols']} = {self.bound:g}; ratio cycles/bound "
            + (f"{self.ratio:.3f}" if self.ratio is not None else "n/a"),
            f"  elements checked: {self.elements_checked}, mismatches: "
            f"{sum(self.mismatches.values())}",
            "  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items())
            + ("" if self.build_cached is None else
               f"; build {'cached' if self.build_cached else 'fresh'}"),
        ]
        if self.waves:
            lines.append(f"  waves: {self.waves}")
        if self.corrupted:
            lines.append(f"  corrupted expected value on purpose: {self.corrupted}")
        if self.first_mismatch:
            lines.append(f"first mismatch: {self.first_mismatch['message']}")
        lines.extend(self.errors)
        if not self.passed:
            lines.append(f"reproduce with seed {self.seed} on {self.simulator}")
            if self.run_dir:
                lines.append(f"run directory: {self.run_dir}")
        return "\n".join(lines)


def _corrupt(expected: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    """Change one element of the expected ``out`` (chosen from ``seed``): the run must fail."""
    rng = np.random.default_rng(seed + 7919)
    arr = np.array(expected["out"], dtype=np.int64, copy=True)
    pos = tuple(int(rng.integers(n)) for n in arr.shape)
    old = int(arr[pos])
    arr[pos] = old - 1 if old > 0 else old + 1
    expected["out"] = arr
    return {"tensor": "out", "index": list(pos), "was": old, "now": int(arr[pos])}


def compare(got: dict[str, np.ndarray], expected: dict[str, np.ndarray], seed: int
            ) -> tuple[int, dict[str, int], dict[str, Any] | None]:
    """``==`` per tensor: (elements checked, mismatches per tensor, first mismatch)."""
    checked, counts, first = 0, {}, None
    for name in TENSORS:
        g, e = np.asarray(got[name]), np.asarray(expected[name])
        if g.shape != e.shape:
            counts[name] = int(e.size)
            first = first or {"tensor": name, "message": f"{name}: shape {g.shape} read back, "
                                                         f"{e.shape} expected (seed {seed})"}
            continue
        bad = np.argwhere(g != e)
        checked += int(e.size)
        counts[name] = int(len(bad))
        if len(bad) and first is None:
            idx = tuple(int(i) for i in bad[0])
            first = {"tensor": name, "index": list(idx), "expected": int(e[idx]),
                     "got": int(g[idx]), "seed": seed,
                     "message": f"{name}[{', '.join(map(str, idx))}] (row, column): expected "
                                f"{int(e[idx])}, got {int(g[idx])} (seed {seed}); "
                                f"{len(bad)} of {e.size} elements of {name} differ"}
    return checked, counts, first


def run_attention(case: AttentionCase, *, simulator: str = "verilator",
                  max_cycles: int | None = None, waves: bool | None = None,
                  work_dir: str | Path | None = None, build_root: str | Path | None = None,
                  keep: bool = False, corrupt_expected: bool = False,
                  progress: Any = None) -> AttentionResult:
    """Run ``case`` on ``simulator`` and compare (module docstring).

    ``work_dir`` receives the Verilog, sidecar, parameters, logs and waves; when ``None`` a
    temporary folder ``ivita-sim-attention-*`` is used and removed afterwards unless ``keep``
    is set, waves were written or the run failed (then ``run_dir`` names it); on an exception
    it is removed unless ``keep`` (the exception then carries ``kept_dir``). Raises
    :class:`ivita.sim.runner.SimulatorMissing` if the simulator is not installed and
    ``RuntimeError`` when its build fails.
    """
    from .runner import waves_requested

    if simulator not in SIMULATORS:
        raise ValueError(f"simulator={simulator!r} is not one of {', '.join(SIMULATORS)}")
    waves = waves_requested(waves)
    temp = work_dir is None
    run_dir = Path(tempfile.mkdtemp(prefix="ivita-sim-attention-")) if temp else Path(work_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if progress is not None:
            progress.start(None)
        res = _run(case, run_dir, simulator=simulator, max_cycles=max_cycles, waves=waves,
                   build_root=build_root, corrupt_expected=corrupt_expected, progress=progress)
    except BaseException as e:
        if progress is not None:
            progress.stop()
        if temp and not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            e.kept_dir = run_dir     # type: ignore[attr-defined]
        raise
    if progress is not None:
        progress.stop()
    if keep or waves or not temp or not res.passed:
        res.run_dir = run_dir
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return res


def _run(case: AttentionCase, run_dir: Path, *, simulator: str, max_cycles: int | None,
         waves: bool, build_root: str | Path | None, corrupt_expected: bool,
         progress: Any) -> AttentionResult:
    from ivita.firmware.compiler import compile_attention
    from ivita.firmware.memory_map import memory_map

    from .bus_plan import assemble, bus_reads, bus_writes

    def phase(text: str) -> None:
        if progress is not None:
            progress.phase(text)

    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    lc, cfg = case.layer, case.block
    phase("compiling")
    t0 = time.perf_counter()
    cb = compile_attention(case.params, cfg, case.x)
    reads = {}
    for name in TENSORS:
        reads.setdefault(cb.tensors[name].mem, []).extend(cb.words_of(name))
    mmap = memory_map(cfg)
    plan = bus_reads(mmap, reads)
    timings["compile_s"] = time.perf_counter() - t0
    limit = default_max_cycles(case) if max_cycles is None else int(max_cycles)
    expected = {k: np.array(v, copy=True) for k, v in case.expected.items()}
    corrupted = _corrupt(expected, case.seed) if corrupt_expected else None
    errors: list[str] = []
    build_cached: bool | None = None
    waves_path: Path | None = None
    status: dict[str, Any] = {}
    words: dict[str, dict[int, int]] | None = None
    t0 = time.perf_counter()
    if simulator == "amaranth":
        from ivita.hw.attention import AttentionBlock

        from .block_bus_run import BlockTimeout, run_block
        phase("simulating on amaranth")
        waves_path = run_dir / f"{TOPLEVEL}.vcd" if waves else None
        try:
            run = run_block(AttentionBlock(cfg), cb.images, reads, max_cycles=limit,
                            vcd=str(waves_path) if waves_path else None)
            status = {"done": run.done, "error": run.error, "error_code": run.error_code,
                      "cycles": run.cycles, "wall": run.wall, "timeout": False}
            words = run.reads
        except BlockTimeout:
            status = {"timeout": True, "wall": limit}
        timings["sim_s"] = time.perf_counter() - t0
    else:
        from ivita.hw.attention import AttentionBlock

        from .emit import emit
        from .runner import check_simulator, run_cocotb
        check_simulator(simulator)          # before the (slow) elaboration
        phase("writing Verilog")
        verilog = run_dir / f"{TOPLEVEL}.v"
        if cfg in _VERILOG:         # elaborated before in this process: the same text
            verilog.write_text(_VERILOG[cfg])
        else:
            verilog = emit(AttentionBlock(cfg), TOPLEVEL, run_dir, config=cfg).verilog
            _VERILOG[cfg] = verilog.read_text()
        timings["emit_s"] = time.perf_counter() - t0
        params = {"writes": bus_writes(mmap, cb.images), "reads": [a for _, _, a in plan],
                  "max_cycles": limit, "simulator": simulator}
        sr = run_cocotb(verilog=verilog, toplevel=TOPLEVEL, test_module="ivita.sim.cocotb_block",
                        simulator=simulator, params=params, run_dir=run_dir, waves=waves,
                        build_root=build_root, on_phase=phase)
        status = {k: sr.result.get(k) for k in ("done", "error", "error_code", "cycles", "wall",
                                                  "timeout", "pc")}
        if sr.result.get("values") and not sr.result.get("timeout"):
            words = assemble(mmap, plan, sr.result["values"])
        errors.extend(sr.errors)
        build_cached, waves_path = sr.build_cached, sr.waves
        timings["build_s"], timings["sim_s"] = sr.build_s, sr.sim_s
    if status.get("timeout"):
        pc = f" (pc {status['pc']})" if status.get("pc") is not None else ""
        errors.append(f"timeout: busy still high {limit} cycles after start{pc}; the block "
                      f"hangs or the cycle limit (--max-cycles) is too low")
    elif status and (status.get("done"), status.get("error")) != (1, 0):
        errors.append(f"the block stopped with done={status.get('done')} error="
                      f"{status.get('error')} error_code={status.get('error_code')}")
    elif status and status.get("cycles") != status.get("wall"):
        errors.append(f"the block's cycle counter says {status.get('cycles')} cycles, the bench "
                      f"counted {status.get('wall')} from start until busy fell")
    checked, counts, first = 0, {}, None
    if words is not None and not errors:
        got = {n: cb.unpack(n, words.get(cb.tensors[n].mem, {})) for n in TENSORS}
        checked, counts, first = compare(got, expected, case.seed)
    elif not errors:
        errors.append("no values were read back")
    timings["total_s"] = time.perf_counter() - t_all
    macs = layer_macs(lc.tokens, lc.dim, lc.heads)
    passed = not errors and first is None and checked > 0
    layer = {"tokens": lc.tokens, "dim": lc.dim, "heads": lc.heads, "a_bits": lc.a_bits,
             "w_bits": lc.w_bits, "attn_bits": lc.attn_bits, "prob_bits": lc.prob_bits,
             "resid_bits": lc.resid_bits}
    block = {"rows": cfg.rows, "cols": cfg.cols, "max_tokens": cfg.max_tokens,
             "max_dim": cfg.max_dim, "max_heads": cfg.max_heads}
    cycles = status.get("cycles") if not status.get("timeout") else None
    return AttentionResult(simulator, case.seed, passed, layer, block, cycles,
                           status.get("wall"), macs, macs / cfg.macs, status, counts, first,
                           checked, errors, timings, build_cached, None, waves_path, corrupted)
