"""The accelerator ISA: opcodes, field layout, encode/decode (the single definition).

Used by the hardware decoder (``ivita.hw.block_controller`` builds its views from
:data:`FIELDS`), the assembler (:mod:`ivita.firmware.asm`) and the compiler. Pure Python.

Every instruction is :data:`INSTR_BITS` wide: the opcode in bits ``[0, 8)``, then the fields of
that opcode packed LSB first in the order of :data:`FIELDS`. Unused bits are zero.

Semantics (executed one instruction at a time by the block's controller):

- ``MATMUL``: for every output tile ``(rb, cb)`` (``cb`` outer, ``rb`` inner), ``C = sum_k
  A-mem[a_base + rb*a_stride + k] x B-mem[b_base + cb*b_stride + k]`` over ``k = 0..k-1``;
  then ``+ bias`` and ``requantize(b, c)`` per column from C-mem word ``const_base + cb``,
  saturation to ``sat_bits``, written back by ``mode``: ``ROW`` (tile row ``r`` to word
  ``dst_base + (rb*rows + r)*s_row + cb*s_col`` of ``dst_mem``), ``TRANSPOSE`` (tile column
  ``j`` to word ``dst_base + (cb*cols + j)*s_row + rb*s_col``, lanes over the tile rows),
  ``RESIDUAL`` (as ``ROW`` into R-mem, each element replaced by ``residual_add(x, rx_b,
  rx_c, y, ry_b, ry_c, sat_bits)`` with ``x`` the word already there and the pairs from C-mem
  word ``aux``: ``(b, c)`` = ``(rx_b, rx_c)``, ``(b2, c2)`` = ``(ry_b, ry_c)``).
- ``LAYERNORM``: token ``t`` of ``tokens``: R-mem words ``src + t*src_stride + w`` (``channels``
  elements) -> ``int_layernorm`` -> ``+ bias[ch]`` -> ``requantize(b[ch], c[ch], a_bits)``
  (C-mem word ``const_base + ch // cols``, lane ``ch % cols``) -> A-mem word ``dst +
  (t // rows)*dst_stride + ch``, lane ``t % rows``.
- ``SOFTMAX``: row ``q`` of ``rows``: S-mem words ``src + q*src_stride + w`` (``length``
  elements) -> ``shiftmax(x0)`` -> A-mem word ``dst + (q // rows)*dst_stride + key``, lane
  ``q % rows``.
- ``GELU`` (the MLP half): row ``t`` of ``rows``: R-mem words ``src + t*src_stride + w``
  (``length`` elements, ``gelu_bits`` codes) -> ``shift_gelu(x0)`` -> ``+ bias[ch]`` ->
  ``requantize(b[ch], c[ch], a_bits)`` (C-mem lane ``ch % cols`` of word ``const_base +
  ch // cols``) -> A-mem word ``dst + (t // rows)*dst_stride + ch``, lane ``t % rows``. A
  block built without an MLP (``max_hidden == 0``) stops with ``UNSUPPORTED``.
- ``SYNC``: waits until every unit is idle (the controller overlaps a MATMUL and a SOFTMAX
  writing different A-mem banks; a SYNC orders the data they share).
- ``HALT``: ends the program (``done``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INSTR_BITS", "OPCODE_BITS", "Op", "Field", "FIELDS", "MODES", "MEMS",
           "ERRORS", "encode", "decode", "field_offsets"]

INSTR_BITS = 256
OPCODE_BITS = 8


class Op:
    HALT = 1
    SYNC = 2
    MATMUL = 3
    LAYERNORM = 4
    SOFTMAX = 5
    GELU = 6


OP_NAMES = {v: k for k, v in vars(Op).items() if not k.startswith("_")}

#: Write-back modes of MATMUL.
MODES = {"ROW": 0, "TRANSPOSE": 1, "RESIDUAL": 2}
#: Destination memories of MATMUL.
MEMS = {"A": 0, "B": 1, "S": 2, "R": 3}

#: Error codes of the block's status (0: none).
ERRORS = {
    "NONE": 0,
    "BAD_OPCODE": 1,        # an opcode not in Op
    "ADDRESS": 2,           # an operand or destination region runs past its memory
    "LENGTH": 3,            # a count is 0 or exceeds the block's capacity
    "UNIT": 4,              # a unit flagged an error (Shiftmax x0, LayerNorm row, k overflow)
    "PC": 5,                # the program ran past the program memory without HALT
    "UNSUPPORTED": 6,       # a valid opcode this hardware does not implement (GELU, no MLP)
    "OPERAND": 7,           # a bad field value: mode, dst_mem, sat_bits, x0
}


@dataclass(frozen=True)
class Field:
    name: str
    width: int
    signed: bool = False


_A = 16   # address / stride width
FIELDS: dict[int, tuple[Field, ...]] = {
    Op.HALT: (),
    Op.SYNC: (),
    Op.MATMUL: (
        Field("a_base", _A), Field("a_stride", _A), Field("b_base", _A), Field("b_stride", _A),
        Field("row_blocks", 8), Field("col_blocks", 8), Field("k", 16),
        Field("const_base", _A), Field("mode", 2), Field("dst_mem", 2), Field("dst_base", _A),
        Field("s_row", _A), Field("s_col", _A), Field("sat_bits", 6), Field("aux", _A),
    ),
    Op.LAYERNORM: (
        Field("src", _A), Field("src_stride", _A), Field("dst", _A), Field("dst_stride", _A),
        Field("tokens", 16), Field("channels", 16), Field("const_base", _A),
    ),
    Op.SOFTMAX: (
        Field("src", _A), Field("src_stride", _A), Field("dst", _A), Field("dst_stride", _A),
        Field("rows", 16), Field("length", 16), Field("x0", 32, signed=True),
    ),
    Op.GELU: (
        Field("src", _A), Field("src_stride", _A), Field("dst", _A), Field("dst_stride", _A),
        Field("rows", 16), Field("length", 16), Field("const_base", _A),
        Field("x0", 32, signed=True),
    ),
}


def field_offsets(op: int) -> list[tuple[Field, int]]:
    """``(field, bit offset)`` of every field of ``op``."""
    out, off = [], OPCODE_BITS
    for f in FIELDS[op]:
        out.append((f, off))
        off += f.width
    if off > INSTR_BITS:
        raise AssertionError(f"{OP_NAMES[op]} needs {off} bits; INSTR_BITS={INSTR_BITS}")
    return out


def encode(op: int, **fields: int) -> int:
    """The instruction word of ``op`` with ``fields`` (missing fields are 0)."""
    if op not in FIELDS:
        raise ValueError(f"opcode {op!r} is not one of {sorted(FIELDS)}")
    known = {f.name for f in FIELDS[op]}
    extra = set(fields) - known
    if extra:
        raise ValueError(f"{OP_NAMES[op]} has no field {sorted(extra)[0]!r}; its fields are "
                         f"{', '.join(f.name for f in FIELDS[op]) or 'none'}")
    word = op
    for f, off in field_offsets(op):
        v = fields.get(f.name, 0)
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{f.name} must be an int, not {type(v).__name__}")
        lo, hi = ((-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed
                  else (0, (1 << f.width) - 1))
        if not lo <= v <= hi:
            raise ValueError(f"{OP_NAMES[op]} {f.name}={v} is out of range; it must be in "
                             f"{lo}..{hi}")
        word |= (v & ((1 << f.width) - 1)) << off
    return word


def decode(word: int) -> tuple[int, dict[str, int]]:
    """``(op, fields)`` of an instruction word; an unknown opcode is a ``ValueError``."""
    if not 0 <= word < 1 << INSTR_BITS:
        raise ValueError(f"instruction word does not fit {INSTR_BITS} bits")
    op = word & ((1 << OPCODE_BITS) - 1)
    if op not in FIELDS:
        raise ValueError(f"opcode {op} is not one of {sorted(FIELDS)}")
    out = {}
    for f, off in field_offsets(op):
        v = (word >> off) & ((1 << f.width) - 1)
        if f.signed and v >> (f.width - 1):
            v -= 1 << f.width
        out[f.name] = v
    return op, out
