# amaranth: UnusedElaboratable=no
"""A compiled layer run by the host driver through the gateware command decoder:
model params -> compiler -> ``HostDriver`` over ``SimTransport(Accelerator)`` -> outputs ==
``ivita.model`` (attention, MLP, encoder), through the byte streams and through the UART pins;
and what :mod:`ivita.firmware.block_run` refuses before a byte is sent."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from ivita.firmware import block_run as br
from ivita.firmware.compiler import CompiledBlock, compile_attention
from ivita.firmware.driver import DeviceTimeout, HostDriver, ProtocolError
from ivita.firmware.isa import Op
from ivita.firmware.memory_map import memory_map
from ivita.firmware.mlp_compiler import compile_encoder, compile_mlp
from ivita.firmware.program_check import ProgramError
from ivita.firmware.transport import SimTransport
from ivita.hw.accel import Accelerator, AcceleratorUART
from ivita.hw.hostif_testdevice import HostTestDevice
from ivita.model import (
    AttentionConfig, AttentionParams, attention_block_trace, encoder_block_trace,
    make_block_input, make_float_block, mlp_block_trace, quantize_block,
)
from ivita.model.block_config import BlockConfig

TESTS = Path(__file__).resolve().parents[1]


def _load(path: Path) -> ModuleType:
    """A test module by path (pytest's importlib mode puts no test folder on ``sys.path``)."""
    spec = importlib.util.spec_from_file_location(f"_ivita_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def layer(tokens: int, dim: int, heads: int, seed: int,
          **kw: int) -> tuple[AttentionParams, np.ndarray]:
    lc = AttentionConfig(tokens=tokens, dim=dim, heads=heads, **kw)
    params = quantize_block(make_float_block(lc, seed), lc, make_block_input(lc, seed + 1, 4))
    lo, hi = -(1 << (lc.resid_bits - 1)), (1 << (lc.resid_bits - 1)) - 1
    x = np.clip(np.round(make_block_input(lc, seed + 2, 1)[0] / params.scales.x), lo, hi)
    return params, x.astype(np.int64)


def driver(cfg: BlockConfig, **kw: Any) -> tuple[HostDriver, SimTransport]:
    dev = (AcceleratorUART(cfg, timeout=400, **kw) if "divisor" in kw else
           Accelerator(cfg, timeout=64))
    t = SimTransport(dev, clk_hz=1e6)
    return HostDriver(t, timeout=0.05), t


# --------------------------------------------------------------------------- pure helpers

def test_bus_words_split_memory_words_into_sub_words_and_runs() -> None:
    cfg = BlockConfig(rows=2, cols=2, max_tokens=4, max_dim=4, max_heads=1, prog_depth=4)
    mm = memory_map(cfg)
    assert (mm["R"].sub_words, mm["prog"].sub_words) == (1, 8)
    wide = (0x1234 << 224) | 0xDEADBEEF
    words = br.bus_words(mm, {"R": {2: 0xFFFF0001}, "prog": {1: wide}})
    want = {mm["R"].base + 2: 0xFFFF0001, **{mm["prog"].base + 8 + s: 0 for s in range(8)}}
    want[mm["prog"].base + 8] = 0xDEADBEEF
    want[mm["prog"].base + 15] = 0x1234
    assert words == want
    assert br.address_runs([9, 3, 5, 4, 3]) == [(3, 3), (9, 1)]
    assert br.address_runs([]) == []
    with pytest.raises(ValueError, match=r"^R-mem word 0: value does not fit its 32 bits$"):
        br.bus_words(mm, {"R": {0: 1 << 32}})


# --------------------------------------------------------------------------- end to end

ATTN = [
    pytest.param(8, 8, 2, 4, 7, {"a_bits": 4, "w_bits": 8, "prob_bits": 4},
                 id="T8-D8-H2-4x4-a4w8p4"),
    pytest.param(16, 16, 2, 4, 17, {"a_bits": 4, "w_bits": 4, "attn_bits": 4, "prob_bits": 4},
                 id="T16-D16-H2-4x4-all4", marks=pytest.mark.slow),
    pytest.param(16, 32, 2, 4, 19, {}, id="T16-D32-H2-4x4-8bit", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("tokens", "dim", "heads", "rows", "seed", "widths"), ATTN)
def test_attention_layer_through_the_decoder_equals_the_model(
        tokens: int, dim: int, heads: int, rows: int, seed: int, widths: dict) -> None:
    params, x = layer(tokens, dim, heads, seed, **widths)
    cfg = BlockConfig.for_attention(params.config, rows=rows)
    cb = compile_attention(params, cfg, x)
    drv, t = driver(cfg)
    got = br.run_layer(drv, cb, ("h", "k", "v", "o", "out"), timeout=0.1)
    ref = attention_block_trace(x, params)
    assert len(np.unique(ref["out"])) > tokens                  # not degenerate
    for name in ("h", "k", "v", "o", "out"):     # Q is overwritten by O (compile_attention)
        assert (got[name] == ref[name]).all(), name
    print(f"\nattention {tokens}x{dim} heads={heads} {rows}x{rows} {widths}: {t.cycle} "
          f"cycles from PING to the last READ")


def _random_mlp(dim: int, hidden: int, seed: int) -> Any:
    return _load(TESTS / "hw" / "test_attention_mlp.py").random_mlp(dim, hidden, seed)


def test_mlp_layer_through_the_decoder_and_a_wait_that_times_out() -> None:
    """The MLP program == ``mlp_block_trace`` (every intermediate the block keeps). A
    ``wait_done`` with too short a timeout raises ``DeviceTimeout`` and leaves the run going:
    a second wait returns its status; ``run_layer``'s timeout raises the same way."""
    T, dim, hidden = 6, 8, 16
    p = _random_mlp(dim, hidden, 3)
    x = np.random.default_rng(4).integers(-30000, 30000, size=(T, dim))
    cfg = BlockConfig(rows=4, cols=4, max_tokens=T, max_dim=dim, max_heads=1,
                      max_hidden=hidden)
    cb = compile_mlp(p, cfg, x)
    drv, _ = driver(cfg)
    assert br.load(drv, cb) == len(br.bus_words(memory_map(cfg), cb.images))
    drv.start()
    with pytest.raises(DeviceTimeout, match=r"^the block is not done after 5e-05 s "
                                            r"\(busy=True, cycles=\d+\)$"):
        drv.wait_done(50e-6)
    st = drv.wait_done(0.1)
    assert (st.done, st.busy, st.error_code) == (True, False, 0) and st.cycles > 100
    ref = mlp_block_trace(x, p)
    for name in ("h", "f", "u", "out"):
        assert (br.read_tensor(drv, cb, name) == ref[name]).all(), name
    with pytest.raises(KeyError, match=r"no tensor 'nope'; this program has \["):
        br.read_tensor(drv, cb, "nope")
    with pytest.raises(DeviceTimeout, match=r"^the block is not done after 5e-05 s"):
        br.run_layer(drv, cb, timeout=50e-6)


@pytest.mark.slow
def test_encoder_layer_through_the_decoder_equals_the_model() -> None:
    attn, x = layer(8, 8, 2, 31)
    mlp = _random_mlp(8, 16, 31)
    cfg = BlockConfig(rows=4, cols=4, max_tokens=8, max_dim=8, max_heads=2, max_hidden=16)
    drv, _ = driver(cfg)
    got = br.run_layer(drv, compile_encoder(attn, mlp, cfg, x), ("mlp_u", "out"), timeout=0.2)
    ref = encoder_block_trace(x, attn, mlp)
    assert (got["mlp_u"] == ref["mlp.u"]).all() and (got["out"] == ref["mlp.out"]).all()


@pytest.mark.slow
def test_attention_layer_through_the_uart_pins_equals_the_model() -> None:
    """The smallest layer through UARTRx/UARTTx (divisor 4) on AcceleratorUART's pins."""
    params, x = layer(5, 4, 2, 13)
    cfg = BlockConfig.for_attention(params.config, rows=2)
    drv, t = driver(cfg, divisor=4)
    got = br.run_layer(drv, compile_attention(params, cfg, x), timeout=0.1)
    assert (got["out"] == attention_block_trace(x, params)["out"]).all()
    assert t.framing_errors == 0
    print(f"\nattention 5x4 heads=2 2x2 through the UART at divisor 4: {t.cycle} cycles")


# --------------------------------------------------------------------------- refusals

def _silent() -> Any:
    return _load(TESTS / "firmware" / "test_driver.py").Silent()


def _small() -> CompiledBlock:
    params, x = layer(5, 4, 2, 13)
    return compile_attention(params, BlockConfig.for_attention(params.config, rows=2), x)


def test_a_program_that_overruns_a_buffer_never_reaches_the_device() -> None:
    cb = _small()
    pc, (op, f) = next((pc, ins) for pc, ins in enumerate(cb.program) if ins[0] == Op.MATMUL)
    depth = memory_map(cb.config)["A"].depth
    bad = CompiledBlock(cb.config, [*cb.program[:pc], (op, dict(f, a_base=depth - 1)),
                                    *cb.program[pc + 1:]], cb.images, cb.tensors)
    t = _silent()
    with pytest.raises(ProgramError, match=rf"^instruction {pc} \(MATMUL\): "):
        br.run_layer(HostDriver(t), bad)
    bad.images = {**cb.images, "prog": bad.program_words()}
    with pytest.raises(ProgramError, match=rf"^instruction {pc} \(MATMUL\): "):
        br.load(HostDriver(t), bad)
    stale = CompiledBlock(cb.config, cb.program[:-1] + [(Op.SYNC, {}), (Op.HALT, {})],
                          cb.images, cb.tensors)
    with pytest.raises(ValueError, match=r"^the prog image is not the program's instruction "):
        br.load(HostDriver(t), stale)
    assert t.sent == b""


def test_a_silent_device_times_out_with_a_clear_message() -> None:
    t = _silent()
    with pytest.raises(DeviceTimeout, match=r"^PING: no response within 0\.25 s$"):
        br.run_layer(HostDriver(t, timeout=0.25), _small())


def test_a_device_of_another_configuration_is_refused() -> None:
    cb = _small()
    limit = memory_map(cb.config).limit
    drv = HostDriver(SimTransport(HostTestDevice(addr_limit=256)), timeout=0.005)
    with pytest.raises(ProtocolError, match=rf"^the device has addr_limit=256 words, this "
                                            rf"BlockConfig's memory map needs {limit}: a "
                                            r"different accelerator build$"):
        br.load(drv, cb)
