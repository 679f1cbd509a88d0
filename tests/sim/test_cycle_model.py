# amaranth: UnusedElaboratable=no
"""sim/cycle_model.py: the predicted cycles of whole block programs against the Amaranth
simulation of :class:`~ivita.hw.attention.AttentionBlock` (exact when every MATMUL has
``k >= rows + cols``; a lower bound within 2 % otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

from ivita.firmware.compiler import CompiledBlock, compile_attention
from ivita.firmware.cycle_model import compute_bound
from ivita.firmware.isa import Op
from ivita.hw.attention import AttentionBlock
from ivita.hw.layernorm import IntLayerNorm
from ivita.hw.softmax import Shiftmax
from ivita.model import AttentionConfig, make_block_input, make_float_block, quantize_block
from ivita.model.block_config import BlockConfig
from ivita.model.config import LayerNormConfig, SoftmaxConfig
from ivita.sim.block_bus_run import run_block
from ivita.sim.cycle_model import predict_cycles, ring_rows, unit_cycles


def compiled(tokens: int, dim: int, heads: int, rows: int, *, overlap: bool = True
             ) -> CompiledBlock:
    lc = AttentionConfig(tokens=tokens, dim=dim, heads=heads)
    params = quantize_block(make_float_block(lc, 1), lc, make_block_input(lc, 2, 2))
    x = np.clip(np.round(make_block_input(lc, 3, 1)[0] / params.scales.x), -32768, 32767)
    return compile_attention(params, BlockConfig.for_attention(lc, rows=rows),
                             x.astype(np.int64), overlap=overlap)


def simulate(cb: CompiledBlock):  # type: ignore[no-untyped-def]
    run = run_block(AttentionBlock(cb.config), cb.images, max_cycles=400_000)
    assert (run.done, run.error) == (1, 0)
    return run


def dispatches(cb: CompiledBlock) -> list[int]:
    """Predicted cycle at which ``pc`` leaves each instruction (``run.pc_cycles[1:]``)."""
    est = predict_cycles(cb)
    return [i.dispatch for i in est.instructions if i.op != "HALT"]


def check_exact(cb: CompiledBlock) -> None:
    est = predict_cycles(cb)
    assert est.exact
    run = simulate(cb)
    assert est.cycles == run.cycles, (est.cycles, run.cycles)
    assert dispatches(cb) == run.pc_cycles[1:]
    assert est.bound == compute_bound(cb)


@pytest.mark.parametrize("lengths", [[8] * 5, [16] * 7, [3, 8, 8, 1]])
def test_ring_rows_without_stall_is_the_units_schedule(lengths: list[int]) -> None:
    sm = Shiftmax(SoftmaxConfig(in_bits=8, n=15, out_bits=8, max_tokens=16))
    assert ring_rows(lengths, banks=sm.banks, b_cycles=sm.b_cycles, c_lead=sm.c_lead,
                     a_lead=sm.a_lead) == sm.schedule(lengths)[-1][3]
    ln = IntLayerNorm(LayerNormConfig(in_bits=16, channels=16))
    assert ring_rows([16] * len(lengths), banks=ln.banks, b_cycles=lambda _n: ln.b_cycles,
                     c_lead=ln.c_lead) == ln.schedule(len(lengths))[-1][3]
    # a stall inside each row moves the last output
    assert ring_rows([16] * 4, banks=ln.banks, b_cycles=lambda _n: ln.b_cycles,
                     c_lead=ln.c_lead, c_stall=3) > ln.schedule(4)[-1][3]


def test_exact_against_simulation_small() -> None:
    check_exact(compiled(8, 16, 2, 4))


def test_mlp_program_exact() -> None:
    from ivita.firmware.mlp_compiler import compile_mlp
    from ivita.model import MlpConfig, MlpParams
    rng = np.random.default_rng(5)
    T, dim, hid = 6, 8, 16
    mult = lambda n=None: rng.integers(1 << 15, 1 << 16, size=n)  # noqa: E731
    p = MlpParams(config=MlpConfig(dim=dim, hidden=hid), ln_b=mult(dim),
                  ln_c=rng.integers(37, 40, size=dim),
                  ln_beta=rng.integers(-(1 << 28), 1 << 28, size=dim), h_zero=0,
                  w1=rng.integers(-128, 128, size=(hid, dim)),
                  b1=rng.integers(-4000, 4000, size=hid), f_b=mult(hid),
                  f_c=rng.integers(22, 25, size=hid), x0=-23, u_b=int(mult()), u_c=21,
                  u_off=-37, u_zero=0, w2=rng.integers(-128, 128, size=(dim, hid)),
                  b2=rng.integers(-4000, 4000, size=dim), y_b=mult(dim),
                  y_c=rng.integers(14, 17, size=dim), rx_b=int(mult()), rx_c=16,
                  ry_b=int(mult()), ry_c=16)
    cfg = BlockConfig(rows=4, cols=4, max_tokens=T, max_dim=dim, max_heads=1, max_hidden=hid)
    cb = compile_mlp(p, cfg, rng.integers(-30000, 30000, size=(T, dim)))
    assert [op for op, _ in cb.program].count(Op.GELU) == 1
    check_exact(cb)


def test_sequential_program_exact_and_slower() -> None:
    seq, ovl = compiled(8, 16, 2, 4, overlap=False), compiled(8, 16, 2, 4)
    check_exact(seq)
    assert predict_cycles(ovl).cycles < predict_cycles(seq).cycles


def test_small_k_is_a_lower_bound() -> None:
    cb = compiled(8, 8, 2, 4)                      # scores k = head_dim = 4 < rows + cols
    est, run = predict_cycles(cb), simulate(cb)
    assert not est.exact
    assert 0.98 * run.cycles <= est.cycles <= run.cycles


def test_breakdown_and_errors() -> None:
    cb = compiled(8, 16, 2, 4)
    est = predict_cycles(cb)
    assert [i.op for i in est.instructions] == [
        {Op.LAYERNORM: "LAYERNORM", Op.MATMUL: "MATMUL", Op.SOFTMAX: "SOFTMAX",
         Op.SYNC: "SYNC", Op.HALT: "HALT"}[op] for op, _ in cb.program]
    mm = [i for i in est.instructions if i.op == "MATMUL"]
    assert all(i.busy == unit_cycles(Op.MATMUL, f, cb.config)
               for i, (op, f) in zip(mm, [p for p in cb.program if p[0] == Op.MATMUL]))
    assert est.ratio == est.cycles / est.bound > 1
    assert sum(est.busy_by_op().values()) == sum(i.busy for i in est.instructions)
    with pytest.raises(ValueError, match="no HALT"):
        predict_cycles(cb.program[:-1], cb.config)
    with pytest.raises(TypeError, match="needs its BlockConfig"):
        predict_cycles(cb.program)
    with pytest.raises(ValueError, match="does not occupy a unit"):
        unit_cycles(Op.SYNC, {}, cb.config)


@pytest.mark.slow
@pytest.mark.parametrize(("tokens", "dim", "heads", "rows"), [
    (16, 32, 2, 4), (16, 16, 1, 4), (16, 32, 2, 8), (32, 32, 2, 8)])
def test_exact_against_simulation(tokens: int, dim: int, heads: int, rows: int) -> None:
    check_exact(compiled(tokens, dim, heads, rows))
