"""Text from the record made safe to show: what cannot be printed becomes an escape.

Ledger text comes from the evidence (file names, command lines) and from people (notes,
reasons). Shown raw on a terminal, a name holding ``\\x1b[2J`` would clear the screen or
forge a line. Every character that is not printable (control and format characters,
separators other than the space, lone surrogates of bytes that were not UTF-8) is written
as ``\\n``, ``\\r``, ``\\t``, ``\\xNN`` (other ASCII controls), ``\\uNNNN`` or
``\\UNNNNNNNN``. The custody report escapes with the same :func:`escaped`
(:mod:`custody.report.pdf.text`), so a value reads the same in both.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escaped(char: str) -> str:
    """One character as the record shows it when it cannot be printed."""
    named = _NAMED.get(char)
    if named is not None:
        return named
    n = ord(char)
    if n < 0x80:
        return f"\\x{n:02x}"
    return f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def shown_text(text: object) -> str:
    """``text`` with every character that is not printable escaped (:func:`escaped`)."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else escaped(c) for c in s)
