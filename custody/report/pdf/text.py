"""Text as the report draws it: every value from the record passes through here.

- Characters that are not printable (control and format characters such as ``\\x07``, a
  right-to-left mark or a zero-width joiner, separators other than the space, private use,
  unassigned) and characters the drawing font has no glyph for are shown as escapes:
  ``\\n``, ``\\r``, ``\\t``, ``\\xNN`` (other ASCII controls), ``\\uNNNN``, ``\\UNNNNNNNN``. A
  ``\\xNN`` of 80-ff therefore only ever comes from the record itself (a name that is not
  UTF-8, see :mod:`custody.record.names`). Combining marks and right-to-left letters the font
  has are drawn as given, in the order recorded.
- A value longer than its place is cut, and the cut says so and where the whole value is.
- Long tokens break: paragraphs split long words (reportlab's ``splitLongWords``), monospace
  cells are wrapped by character count (:func:`wrap_mono`).

All of it is a pure function of the text, so the same record renders the same bytes.
"""

from __future__ import annotations

import re
from functools import cache
from xml.sax.saxutils import escape

from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Paragraph

from custody.record.printable import escaped
from custody.report.pdf.styles import MONO, MONO_EM, SANS, register_fonts

#: Where a value cut in the report can be read whole.
IN_LEDGER = "the ledger (ledger.jsonl)"
#: Where an artifact's path cut in the report can be read whole.
IN_MANIFEST = "the ledger (ledger.jsonl) and manifest.json"
#: Lines a name, path or other single value fills at most before it is cut.
NAME_LINES = 24
#: Lines a free text (a note, a reason, a description) fills at most before it is cut.
PROSE_LINES = 60
#: Characters of a heading or a title.
HEADING_LIMIT = 240
#: Characters of any other value drawn without a known width.
TEXT_LIMIT = 4000
#: Characters shown at least, however narrow the place.
MIN_LIMIT = 120
#: Average advance of a proportional glyph, in em (for estimating what fits).
SANS_EM = 0.55

HOW_SHOWN = (
    "Characters that cannot be printed (control and format characters such as a right-to-left "
    "mark or a zero-width joiner, separators other than the space, unassigned code points) "
    "and characters the report's fonts cannot draw are shown as escapes: \\n, \\r, \\t, "
    "\\xNN for other ASCII control characters, \\uNNNN and \\UNNNNNNNN for the code point. "
    "\\xNN from 80 to ff stands for a byte of a name that is not UTF-8, as the ledger "
    "writes it (its *_b64 field holds the exact bytes). A value too long for its place is "
    "cut where marked; the whole value is in the ledger (ledger.jsonl) and, for artifacts, also "
    "in manifest.json."
)

_SPACES = re.compile(r" {2,}")


@cache
def glyphs(font: str) -> frozenset[int]:
    """The code points drawn in ``font`` (a registered TrueType font): those it has glyphs for,
    in the Basic Multilingual Plane. reportlab writes a wrong ToUnicode entry for a character
    beyond U+FFFF (a reader would copy 😀 as U+1F60), so those are escaped."""
    register_fonts()
    return frozenset(c for c in pdfmetrics.getFont(font).face.charToGlyph if c <= 0xFFFF)


def cut_note(total: int, where: str = IN_LEDGER) -> str:
    """What a cut value ends with: how long it is and where it is whole."""
    return f" [… cut: {total:,} characters in all; the whole value is in {where}]"


def visible(
    text: object,
    *,
    font: str | None = SANS,
    lines: bool = False,
    limit: int | None = TEXT_LIMIT,
    line: int | None = None,
) -> tuple[str, bool]:
    """``text`` made safe to draw in ``font``, at most ``limit`` characters; and whether cut.

    ``lines``: keep line breaks (CR LF counts as one); otherwise they are escaped too.
    ``font`` None: escape only what is not printable (for text that is not drawn here).
    ``line``: characters of one line, when known: a line break then counts as the rest of its
    line, so that ``limit`` bounds the lines filled.
    """
    s = str(text)
    if lines and "\r\n" in s:
        s = s.replace("\r\n", "\n")
    if limit is not None and limit < 1:
        limit = 1
    if s.isprintable() and (font is None or s.isascii() or all(ord(c) in glyphs(font) for c in s)):
        if limit is None or len(s) <= limit:
            return s, False
        return s[:limit], True
    have = glyphs(font) if font is not None else None
    out: list[str] = []
    n = column = 0
    for c in s:
        if lines and c == "\n":
            piece, cost, column = c, (line - column) if line else 1, 0
        else:
            drawn = c.isprintable() and (have is None or ord(c) in have)
            piece = c if drawn else escaped(c)
            cost = len(piece)
            column = (column + cost) % line if line else 0
        if limit is not None and n + cost > limit:
            return "".join(out), True
        out.append(piece)
        n += cost
    return "".join(out), False


def printable(
    text: object,
    *,
    font: str | None = SANS,
    lines: bool = False,
    limit: int | None = TEXT_LIMIT,
    line: int | None = None,
    where: str = IN_LEDGER,
) -> str:
    """:func:`visible` text, with :func:`cut_note` when it was cut."""
    s, cut = visible(text, font=font, lines=lines, limit=limit, line=line)
    return s + cut_note(len(str(text)), where) if cut else s


def para_text(
    text: object,
    *,
    font: str = SANS,
    lines: bool = False,
    limit: int | None = TEXT_LIMIT,
    line: int | None = None,
    where: str = IN_LEDGER,
) -> str:
    """:func:`printable` text as Paragraph markup: markup characters literal, runs of spaces and
    spaces at either end kept, line breaks drawn when ``lines``."""
    s = escape(printable(text, font=font, lines=lines, limit=limit, line=line, where=where))
    if "  " in s:
        s = _SPACES.sub(lambda m: "&nbsp;" * (len(m.group()) - 1) + " ", s)
    parts = s.split("\n") if lines else [s]
    for i, part in enumerate(parts):
        if part.startswith(" "):
            part = "&nbsp;" + part[1:]
        if part.endswith(" "):
            part = part[:-1] + "&nbsp;"
        parts[i] = part
    return "<br/>".join(parts)


def line_chars(width: float, style: ParagraphStyle) -> int:
    """About how many characters of ``style`` fill a line ``width`` points wide."""
    em = MONO_EM if style.fontName == MONO else SANS_EM
    return max(1, int(width / (style.fontSize * em)))


def paragraph(
    text: object,
    style: ParagraphStyle,
    *,
    lines: bool = False,
    limit: int | None = TEXT_LIMIT,
    line: int | None = None,
    where: str = IN_LEDGER,
) -> Paragraph:
    """A Paragraph of a value from the record, safe for ``style``'s font."""
    markup = para_text(text, font=style.fontName, lines=lines, limit=limit, line=line, where=where)
    return Paragraph(markup, style)


def pdf_escape(line: str) -> str:
    """A line as a PDF string literal's contents (backslash and parentheses escaped)."""
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def wrap_mono(text: str, width: int) -> list[str]:
    """Hard-wrap ``text`` (already :func:`visible`) to ``width`` characters, preferring breaks
    at spaces and separators. No line ends in ``-`` where it can be helped: text extraction
    (pdftotext, copy and paste) takes that for hyphenation and drops it."""
    out: list[str] = []
    for part in text.split("\n"):
        while len(part) > width:
            window = part[: width + 1]
            cut = window.rfind(" ")
            if cut > width // 2 and part[cut - 1] != "-":
                out.append(part[:cut])
                part = part[cut + 1 :]
                continue
            cut = max(window.rfind(c, 0, width) for c in "/\\_.,;:")
            cut = cut + 1 if cut > width // 2 else width
            while cut > 1 and part[cut - 1] == "-":
                cut -= 1
            if cut == 1 and part[0] == "-":
                cut = width  # nothing but hyphens: no better place
            out.append(part[:cut])
            part = part[cut:]
        out.append(part)
    return out


def mono_cell(text: object, width: int, max_lines: int, where: str = IN_LEDGER) -> list[str]:
    """A value as the lines of a monospace cell ``width`` characters wide: made
    :func:`visible` in the monospace font, wrapped, and cut after ``max_lines`` lines with a
    note of the cut."""
    s, cut = visible(text, font=MONO, limit=width * max_lines)
    out = wrap_mono(s, width)
    if cut or len(out) > max_lines:
        note = wrap_mono(cut_note(len(str(text)), where).strip(), width)
        if len(note) > max_lines // 2:  # a very narrow column
            note = wrap_mono("[… cut]", width)
        out = out[: max(1, max_lines - len(note))] + note
    return out


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n:,} B" if unit == "B" else f"{value:,.1f} {unit} ({n:,} B)"
        value /= 1024
    return f"{n:,} B"
