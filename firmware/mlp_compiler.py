"""Compiler of the MLP half and of a whole encoder layer (attention then MLP) for the block.

``params`` is the model's :class:`ivita.model.MlpParams`; the program computes
:func:`ivita.model.mlp_block_trace` exactly (its ``h``, ``f``, ``u`` and ``out`` are tensors of
the :class:`~ivita.firmware.compiler.CompiledBlock`; ``h_zero``/``u_zero`` are already folded
into ``ln_beta``, ``b1``, ``u_off``, ``b2``). The dataflow it compiles::

    h   = requantize(int_layernorm(x) + ln_beta, ln_b, ln_c, a_bits)
    f   = requantize(linear_acc(h, w1, b1), f_b, f_c, gelu_bits)
    u   = requantize(shift_gelu(f, x0, n, sig_bits) + u_off, u_b, u_c, a_bits)
    y   = requantize(linear_acc(u, w2, b2), y_b, y_c, resid_bits)
    out = residual_add(x, rx_b, rx_c, y, ry_b, ry_c, resid_bits)

Program: LAYERNORM -> A-mem ``H``; MATMUL fc1 (ROW -> R-mem ``F``, saturated to
``gelu_bits``); GELU (``F`` -> A-mem ``U``); MATMUL fc2 (RESIDUAL -> R-mem ``X`` in place);
HALT. The MLP regions sit above the attention regions (B-mem ``W1^T``, ``W2^T``; C-mem
constants; R-mem ``F`` after ``X``), so :func:`compile_encoder` simply concatenates the two
programs and merges the images.
"""

from __future__ import annotations

import numpy as np

from ivita.model.attention import AttentionParams
from ivita.model.block_config import BlockConfig
from ivita.model.mlp import MlpParams, check_encoder_params

from .compiler import CompiledBlock, Tensor, _const_words, _fit, compile_attention
from .isa import MEMS, MODES, Op
from .layout import pack_b, pack_rows
from .memory_map import memory_map
from .program_check import check_program

__all__ = ["compile_mlp", "compile_encoder"]


def compile_mlp(params: MlpParams, cfg: BlockConfig, x_int: np.ndarray) -> CompiledBlock:
    """Program + images computing ``mlp_block_trace(x_int, params)`` into tensor ``out``
    (R-mem, in place of ``x``; intermediates ``h``, ``f``, ``u``). Rejects, with the numbers,
    a layer that does not fit ``cfg``."""
    if not isinstance(params, MlpParams):
        raise TypeError(f"params must be MlpParams, not {type(params).__name__}")
    mc = params.config
    cfg.check_fits_mlp(mc)
    x = np.asarray(x_int, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != mc.dim:
        raise ValueError(f"x_int must be (tokens, {mc.dim}), got shape {x.shape}")
    T, dim, hid = x.shape[0], mc.dim, mc.hidden
    if not 1 <= T <= cfg.max_tokens:
        raise ValueError(f"tokens={T} exceeds max_tokens={cfg.max_tokens}")
    rows, cols = cfg.rows, cfg.cols
    TB, DB, HB = -(-T // rows), -(-dim // cols), -(-hid // cols)
    Tp = TB * rows
    mm = memory_map(cfg)
    # regions above the attention plan (sized for the block's maxima)
    A_H, A_U = 0, 2 * cfg.token_blocks * cfg.max_dim
    B_W1 = (4 * cfg.dim_blocks * cfg.max_dim + cfg.token_blocks * cfg.max_dim
            + cfg.dim_blocks * cfg.padded_tokens)
    B_W2 = B_W1 + HB * dim
    C_LN = 6 * cfg.dim_blocks + cfg.token_blocks + 1
    C_F, C_U = C_LN + DB, C_LN + DB + HB
    C_Y, C_RES = C_U + HB, C_U + HB + DB
    R_X, R_F = 0, cfg.padded_tokens * cfg.dim_blocks
    _fit("A", A_U + TB * hid, mm["A"].depth)
    _fit("B", B_W2 + DB * hid, mm["B"].depth)
    _fit("C", C_RES + 1, mm["C"].depth)
    _fit("R", R_F + Tp * HB, mm["R"].depth)
    p = params
    images: dict[str, dict[int, int]] = {n: {} for n in ("A", "B", "S", "R", "C")}
    images["B"].update(pack_b(np.asarray(p.w1).T, cols, cfg.pe_b_bits, B_W1, dim))
    images["B"].update(pack_b(np.asarray(p.w2).T, cols, cfg.pe_b_bits, B_W2, hid))
    xp = np.zeros((Tp, dim), dtype=np.int64)
    xp[:T] = x
    images["R"].update(pack_rows(xp, cols, cfg.resid_bits, R_X, DB))
    C = images["C"]
    full = np.ones(HB * cols, dtype=np.int64)
    C.update(_const_words(cfg, C_LN, dim, bias=p.ln_beta, b=p.ln_b, c=p.ln_c))
    C.update(_const_words(cfg, C_F, hid, bias=p.b1, b=p.f_b, c=p.f_c))
    C.update(_const_words(cfg, C_U, HB * cols, bias=full * p.u_off, b=full * p.u_b,
                          c=full * p.u_c))
    C.update(_const_words(cfg, C_Y, dim, bias=p.b2, b=p.y_b, c=p.y_c))
    fc = np.ones(cols, dtype=np.int64)
    C.update(_const_words(cfg, C_RES, cols, b=fc * p.rx_b, c=fc * p.rx_c, b2=fc * p.ry_b,
                          c2=fc * p.ry_c))
    prog: list[tuple[int, dict[str, int]]] = [
        (Op.LAYERNORM, dict(src=R_X, src_stride=DB, dst=A_H, dst_stride=dim, tokens=T,
                            channels=dim, const_base=C_LN)),
        (Op.MATMUL, dict(a_base=A_H, a_stride=dim, b_base=B_W1, b_stride=dim, row_blocks=TB,
                         col_blocks=HB, k=dim, const_base=C_F, mode=MODES["ROW"],
                         dst_mem=MEMS["R"], dst_base=R_F, s_row=HB, s_col=1,
                         sat_bits=mc.gelu_bits)),
        (Op.GELU, dict(src=R_F, src_stride=HB, dst=A_U, dst_stride=hid, rows=T, length=hid,
                       const_base=C_U, x0=p.x0)),
        (Op.MATMUL, dict(a_base=A_U, a_stride=hid, b_base=B_W2, b_stride=hid, row_blocks=TB,
                         col_blocks=DB, k=hid, const_base=C_Y, mode=MODES["RESIDUAL"],
                         dst_mem=MEMS["R"], dst_base=R_X, s_row=DB, s_col=1,
                         sat_bits=mc.resid_bits, aux=C_RES)),
        (Op.HALT, {}),
    ]
    check_program(cfg, prog)
    tensors = {
        "x": Tensor("R", "rows", R_X, DB, (T, dim)), "out": Tensor("R", "rows", R_X, DB, (T, dim)),
        "h": Tensor("A", "a", A_H, dim, (T, dim)), "f": Tensor("R", "rows", R_F, HB, (T, hid)),
        "u": Tensor("A", "a", A_U, hid, (T, hid)),
    }
    cb = CompiledBlock(cfg, prog, images, tensors)
    images["prog"] = cb.program_words()
    return cb


def compile_encoder(attn: AttentionParams, mlp: MlpParams, cfg: BlockConfig,
                    x_int: np.ndarray) -> CompiledBlock:
    """One encoder layer, ``encoder_block_trace(x_int, attn, mlp)``: the attention program,
    then the MLP program on its output (R-mem in place), one HALT; images merged (the MLP's
    copy of ``x`` is dropped). Tensors ``attn_<k>``, ``mlp_<k>`` and ``out``; the attention
    intermediates in A-mem are overwritten by the MLP's."""
    check_encoder_params(attn, mlp)
    a = compile_attention(attn, cfg, x_int)
    m = compile_mlp(mlp, cfg, np.zeros_like(np.asarray(x_int)))
    images = {name: dict(a.images.get(name, {})) for name in ("A", "B", "S", "R", "C")}
    for name in ("B", "C"):
        clash = set(images[name]) & set(m.images[name])
        if clash:
            raise AssertionError(f"attention and MLP images overlap in {name}-mem at "
                                 f"{min(clash)}")
        images[name].update(m.images[name])
    prog = a.program[:-1] + m.program
    check_program(cfg, prog)
    tensors = {**{f"attn_{k}": v for k, v in a.tensors.items()},
               **{f"mlp_{k}": v for k, v in m.tensors.items()}, "out": m.tensors["out"]}
    cb = CompiledBlock(cfg, prog, images, tensors)
    images["prog"] = cb.program_words()
    return cb
