"""Text assembler and disassembler of the block ISA (:mod:`ivita.firmware.isa`).

One instruction per line: the mnemonic, then ``name=value`` fields (decimal or ``0x`` hex,
negative allowed for signed fields; fields left out are 0). Modes and memories may be named:
``mode=TRANSPOSE``, ``dst_mem=A``. ``#`` starts a comment; blank lines are ignored.
:func:`disassemble` writes every field, so ``assemble(disassemble(words)) == words``.

Example::

    LAYERNORM src=0 src_stride=2 dst=0 dst_stride=8 tokens=8 channels=8 const_base=0
    MATMUL a_base=0 a_stride=8 ... mode=TRANSPOSE dst_mem=A ...
    HALT
"""

from __future__ import annotations

from .isa import FIELDS, MEMS, MODES, OP_NAMES, decode, encode

__all__ = ["AsmError", "assemble", "disassemble", "format_instruction"]

_OPS = {name: code for code, name in OP_NAMES.items()}
_SYMBOLS = {"mode": MODES, "dst_mem": MEMS}
_NAMES = {field: {v: k for k, v in table.items()} for field, table in _SYMBOLS.items()}


class AsmError(ValueError):
    """A line that does not assemble; the message names the line number and the token."""


def _value(field: str, text: str, lineno: int) -> int:
    if field in _SYMBOLS and text.upper() in _SYMBOLS[field]:
        return _SYMBOLS[field][text.upper()]
    try:
        return int(text, 0)
    except ValueError:
        raise AsmError(f"line {lineno}: {field}={text!r} is not an integer"
                       + (f" or one of {', '.join(_SYMBOLS[field])}" if field in _SYMBOLS
                          else "")) from None


def assemble(text: str) -> list[int]:
    """Instruction words of a program text."""
    words = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        mnemonic, *args = line.split()
        op = _OPS.get(mnemonic.upper())
        if op is None:
            raise AsmError(f"line {lineno}: unknown mnemonic {mnemonic!r}; expected one of "
                           f"{', '.join(_OPS)}")
        fields: dict[str, int] = {}
        for arg in args:
            name, eq, val = arg.partition("=")
            if not eq:
                raise AsmError(f"line {lineno}: {arg!r} is not name=value")
            if name in fields:
                raise AsmError(f"line {lineno}: field {name!r} given twice")
            fields[name] = _value(name, val, lineno)
        try:
            words.append(encode(op, **fields))
        except (ValueError, TypeError) as exc:
            raise AsmError(f"line {lineno}: {exc}") from None
    return words


def format_instruction(word: int) -> str:
    op, fields = decode(word)
    parts = [OP_NAMES[op]]
    for f in FIELDS[op]:
        v = fields[f.name]
        parts.append(f"{f.name}={_NAMES[f.name].get(v, v) if f.name in _NAMES else v}")
    return " ".join(parts)


def disassemble(words: list[int]) -> str:
    """Program text of instruction words (one line each)."""
    return "".join(format_instruction(w) + "\n" for w in words)
