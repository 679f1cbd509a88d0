"""The integer ViT with its leading encoder block(s) run on the simulated AttentionBlock.

For each image: :func:`ivita.model.int_vit_trace` gives the residual stream after the patch
embedding (``embed``); encoder blocks ``0..hw_blocks-1`` are compiled
(:func:`ivita.firmware.mlp_compiler.compile_encoder`: attention then MLP, one program) and run
on an :class:`ivita.hw.attention.AttentionBlock` in the Amaranth simulator through its host bus
(:func:`ivita.sim.block_bus_run.run_block`), each block on the previous block's **hardware** output;
the rest of the integer model (remaining blocks, final I-LayerNorm, head:
:func:`ivita.model.int_vit_tail`) runs on the hardware output. Normative model:
:func:`ivita.model.int_vit_trace`; the results are meant to equal it with ``==``.

The block implements the spec's ``prob_mode="direct"`` attention probabilities only (the
``split`` mode ``ivita accuracy`` adopted is not built yet): the compiler rejects a model
quantized with another mode (``BlockConfig.check_fits``) before any simulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ivita.firmware.mlp_compiler import compile_encoder
from ivita.hw.attention import AttentionBlock
from .block_bus_run import run_block
from ivita.model.block_config import BlockConfig
from ivita.model.int_vit import IntViT, int_vit_tail, int_vit_trace

__all__ = ["HW_TENSORS", "VitBlockRun", "vit_block_config", "run_vit_on_block"]

#: Tensors of ``compile_encoder`` still intact in the block's memories when the encoder program
#: has finished (the MLP overwrites the attention's ``h``, ``p`` and, in place, ``out``; the
#: attention's ``o`` has replaced its ``q``), as ``compiled name -> int_vit_trace key suffix``.
#: ``attn_a`` is the last head's scores.
HW_TENSORS = {"attn_o": "attn.o", "attn_k": "attn.k", "attn_v": "attn.v", "attn_a": "attn.a",
              "mlp_h": "mlp.h", "mlp_f": "mlp.f", "mlp_u": "mlp.u", "out": "mlp.out"}


def vit_block_config(ivit: IntViT, *, rows: int = 4, prog_depth: int = 64) -> BlockConfig:
    """The smallest ``rows x rows`` block that holds every encoder block of ``ivit`` (widths
    and capacities from the model's ``AttentionConfig``/``MlpConfig``). Whether a layer fits
    (``head_dim`` a multiple of ``cols``, ``dim == max_dim``, ``prob_mode="direct"``, buffer
    depths) is checked by the compiler, which names the numbers."""
    if not isinstance(ivit, IntViT):
        raise TypeError(f"ivit must be an IntViT, not {type(ivit).__name__}")
    a, m = ivit.attn[0].config, ivit.mlp[0].config
    return BlockConfig(
        rows=rows, cols=rows, a_bits=a.a_bits, w_bits=a.w_bits, attn_bits=a.attn_bits,
        prob_bits=a.prob_bits, resid_bits=a.resid_bits, mult_bits=a.mult_bits, n=a.n,
        max_tokens=max(p.config.tokens for p in ivit.attn),
        max_dim=max(p.config.dim for p in ivit.attn),
        max_heads=max(p.config.heads for p in ivit.attn), prog_depth=prog_depth,
        max_hidden=max(p.config.hidden for p in ivit.mlp), gelu_bits=m.gelu_bits,
        sig_bits=m.sig_bits)


@dataclass
class VitBlockRun:
    """Hardware-path results for ``B`` images: ``logits`` ``(B, classes)``, ``classes``
    ``(B,)``, ``tensors`` (``b{i}.<key>`` of :data:`HW_TENSORS`, read back from the block,
    stacked over the images; ``b{i}.attn.a`` is ``(B, T, T)``, the last head), ``cycles``
    (``[image][block]``, the block's own cycle counter for one encoder program)."""

    config: BlockConfig
    hw_blocks: int
    logits: np.ndarray
    classes: np.ndarray
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    cycles: list[list[int]] = field(default_factory=list)


def run_vit_on_block(x_codes: Any, ivit: IntViT, *, hw_blocks: int = 1, rows: int = 4,
                     max_cycles: int = 200_000) -> VitBlockRun:
    """Run input codes ``(B, C, H, W)`` (:func:`ivita.model.quantize_images`) through the
    integer ViT with encoder blocks ``0..hw_blocks-1`` on the simulated block (``rows x rows``
    array). Raises ``RuntimeError`` naming the image, block and error code if the block stops
    with an error; ``BlockTimeout`` after ``max_cycles`` cycles of one program."""
    depth = len(ivit.attn)
    if isinstance(hw_blocks, bool) or not isinstance(hw_blocks, int) or not (
            1 <= hw_blocks <= depth):
        raise ValueError(f"hw_blocks={hw_blocks!r} is out of range; it must be in 1..{depth}")
    cfg = vit_block_config(ivit, rows=rows)
    embed = int_vit_trace(x_codes, ivit)["embed"]
    dut: AttentionBlock | None = None
    per: dict[str, list[np.ndarray]] = {}
    cycles: list[list[int]] = []
    outs = []
    for img, t in enumerate(embed):
        cycles.append([])
        for b in range(hw_blocks):
            cb = compile_encoder(ivit.attn[b], ivit.mlp[b], cfg, t)
            reads: dict[str, list[int]] = {}
            for name in HW_TENSORS:
                reads.setdefault(cb.tensors[name].mem, []).extend(cb.words_of(name))
            dut = dut or AttentionBlock(cfg)      # after the compiler accepted the layer
            run = run_block(dut, cb.images, reads, max_cycles=max_cycles)
            if (run.done, run.error) != (1, 0):
                raise RuntimeError(f"image {img}, block {b}: the block stopped with done="
                                   f"{run.done} error={run.error} error_code={run.error_code}")
            cycles[-1].append(run.cycles)
            for name, key in HW_TENSORS.items():
                got = cb.unpack(name, run.reads[cb.tensors[name].mem])
                per.setdefault(f"b{b}.{key}", []).append(got)
            t = per[f"b{b}.mlp.out"][-1]
        outs.append(t)
    logits = int_vit_tail(np.stack(outs), ivit, hw_blocks)
    return VitBlockRun(config=cfg, hw_blocks=hw_blocks, logits=logits,
                       classes=np.argmax(logits, axis=-1),
                       tensors={k: np.stack(v) for k, v in per.items()}, cycles=cycles)
