"""Text as the report draws it: control characters made visible, markup escaped, monospace
wrapping, byte counts for people."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: object) -> str:
    """Text safe to draw: control characters shown as ``\\xNN``, never interpreted."""
    s = str(text)
    if _CONTROL.search(s):
        s = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
    return s


def para_text(text: object) -> str:
    """Escape for a Paragraph: markup characters literal, line breaks kept."""
    return escape(clean(text).replace("\t", " ")).replace("\n", "<br/>")


def pdf_escape(line: str) -> str:
    """A line as a PDF string literal's contents (backslash and parentheses escaped)."""
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def wrap_mono(text: str, width: int) -> list[str]:
    """Hard-wrap ``text`` to ``width`` characters, preferring breaks at spaces and separators."""
    out: list[str] = []
    for part in clean(text.replace("\t", " ")).split("\n"):
        while len(part) > width:
            window = part[: width + 1]
            cut = window.rfind(" ")
            if cut > width // 2:
                out.append(part[:cut])
                part = part[cut + 1 :]
                continue
            cut = max(window.rfind(c, 0, width) for c in "/\\-_.,;:")
            cut = cut + 1 if cut > width // 2 else width
            out.append(part[:cut])
            part = part[cut:]
        out.append(part)
    return out


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n:,} B" if unit == "B" else f"{value:,.1f} {unit} ({n:,} B)"
        value /= 1024
    return f"{n:,} B"
