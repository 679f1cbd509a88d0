"""firmware/isa.py and firmware/asm.py: encode/decode and assemble/disassemble round trips,
pinned error messages."""

from __future__ import annotations

import random
import re

import pytest

from ivita.firmware.asm import AsmError, assemble, disassemble
from ivita.firmware.isa import FIELDS, INSTR_BITS, OPCODE_BITS, Op, decode, encode, field_offsets


def random_fields(op: int, rng: random.Random) -> dict[str, int]:
    out = {}
    for f in FIELDS[op]:
        lo, hi = ((-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed
                  else (0, (1 << f.width) - 1))
        out[f.name] = rng.choice([lo, hi, rng.randint(lo, hi)])
    return out


def test_encode_decode_round_trip() -> None:
    rng = random.Random(3)
    for op in FIELDS:
        for _ in range(50):
            f = random_fields(op, rng)
            word = encode(op, **f)
            assert word < 1 << INSTR_BITS and word & 0xFF == op
            assert decode(word) == (op, f)


def test_fields_fit_and_do_not_overlap() -> None:
    for op in FIELDS:
        offs = field_offsets(op)
        end = OPCODE_BITS
        for f, off in offs:
            assert off == end
            end += f.width
        assert end <= INSTR_BITS


@pytest.mark.parametrize(("call", "msg"), [
    (lambda: encode(99), "opcode 99 is not one of"),
    (lambda: encode(Op.MATMUL, k=1 << 16), "MATMUL k=65536 is out of range; it must be in 0..65535"),
    (lambda: encode(Op.SOFTMAX, x0=1 << 31), "SOFTMAX x0=2147483648 is out of range; it must be in -2147483648..2147483647"),
    (lambda: encode(Op.HALT, k=1), "HALT has no field 'k'; its fields are none"),
    (lambda: decode(0x0F), "opcode 15 is not one of"),
])
def test_isa_errors(call, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=re.escape(msg)):
        call()


def test_assemble_disassemble_round_trip() -> None:
    rng = random.Random(4)
    words = [encode(op, **random_fields(op, rng)) for op in FIELDS for _ in range(10)]
    rng.shuffle(words)
    text = disassemble(words)
    assert assemble(text) == words
    assert disassemble(assemble(text)) == text


def test_assemble_symbols_comments_and_defaults() -> None:
    words = assemble("""
        # a comment
        MATMUL k=4 mode=TRANSPOSE dst_mem=b row_blocks=0x2   # trailing comment
        softmax x0=-7 rows=3
        HALT
    """)
    assert words == [encode(Op.MATMUL, k=4, mode=1, dst_mem=1, row_blocks=2),
                     encode(Op.SOFTMAX, x0=-7, rows=3), encode(Op.HALT)]
    assert "mode=TRANSPOSE dst_mem=B" in disassemble(words[:1])


@pytest.mark.parametrize(("text", "msg"), [
    ("JUMP x=1", "line 1: unknown mnemonic 'JUMP'; expected one of HALT, SYNC, MATMUL, LAYERNORM, SOFTMAX, GELU"),
    ("HALT\nMATMUL k", "line 2: 'k' is not name=value"),
    ("MATMUL k=1 k=2", "line 1: field 'k' given twice"),
    ("MATMUL mode=SIDEWAYS", "line 1: mode='SIDEWAYS' is not an integer or one of ROW, TRANSPOSE, RESIDUAL"),
    ("MATMUL k=70000", "line 1: MATMUL k=70000 is out of range; it must be in 0..65535"),
    ("SYNC x0=1", "line 1: SYNC has no field 'x0'; its fields are none"),
])
def test_assemble_errors(text, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AsmError, match=re.escape(msg)):
        assemble(text)
