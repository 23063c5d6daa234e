"""Typography and building blocks of the custody report: fonts, styles, tables, page furniture.

Big tables (thousands of artifacts, the whole ledger) use :class:`FastTable`: monospace
cells, wrapped by character count (exact in a monospace font), row heights known in
advance, split page by page by bisection and drawn with one text object per page. That
keeps 10,000 artifacts to a few seconds where reportlab's ``Table`` takes quadratic time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeAlias
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle

# --------------------------------------------------------------------------- colours

INK = colors.HexColor("#1b2430")
MUTED = colors.HexColor("#5b6673")
ACCENT = colors.HexColor("#1f3a5f")
RULE = colors.HexColor("#b8c2cc")
HEADER_BG = colors.HexColor("#1f3a5f")
ZEBRA = colors.HexColor("#f0f3f6")
KEY_BG = colors.HexColor("#e8edf2")
OK_GREEN = colors.HexColor("#1e7b34")
FAIL_RED = colors.HexColor("#b3261e")
WARN_BG = colors.HexColor("#fdecea")

# --------------------------------------------------------------------------- fonts

SANS = "CP-Sans"
SANS_BOLD = "CP-Sans-Bold"
SANS_ITALIC = "CP-Sans-Oblique"
MONO = "CP-Mono"
#: Standard PDF font for ASCII-only cells of big tables: drawn without subsetting.
ASCII_MONO = "Courier"
#: Advance width of one DejaVu Sans Mono glyph, in em (1233/2048).
MONO_EM = 1233 / 2048

_FONT_FILES = {
    SANS: "DejaVuSans.ttf",
    SANS_BOLD: "DejaVuSans-Bold.ttf",
    SANS_ITALIC: "DejaVuSans-Oblique.ttf",
    MONO: "DejaVuSansMono.ttf",
}
_registered = False


def register_fonts() -> None:
    """Register the bundled DejaVu fonts once (they cover far more of Unicode than Helvetica)."""
    global _registered
    if _registered:
        return
    base = resources.files("resources").joinpath("report", "fonts")
    for name, filename in _FONT_FILES.items():
        data = base.joinpath(filename).read_bytes()
        pdfmetrics.registerFont(TTFont(name, io.BytesIO(data)))
    pdfmetrics.registerFontFamily(
        SANS, normal=SANS, bold=SANS_BOLD, italic=SANS_ITALIC, boldItalic=SANS_BOLD
    )
    _registered = True


# --------------------------------------------------------------------------- text


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


def _pdf_escape(line: str) -> str:
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


# --------------------------------------------------------------------------- styles


@dataclass(frozen=True)
class Styles:
    title: ParagraphStyle
    subtitle: ParagraphStyle
    h1: ParagraphStyle
    h2: ParagraphStyle
    h3: ParagraphStyle
    body: ParagraphStyle
    small: ParagraphStyle
    cell: ParagraphStyle
    cell_bold: ParagraphStyle
    cell_head: ParagraphStyle
    cell_mono: ParagraphStyle
    mono: ParagraphStyle
    note: ParagraphStyle
    bullet: ParagraphStyle
    code: ParagraphStyle


def make_styles() -> Styles:
    register_fonts()
    body = ParagraphStyle(
        "body", fontName=SANS, fontSize=8.8, leading=12.2, textColor=INK, spaceAfter=5
    )
    cell = ParagraphStyle("cell", parent=body, fontSize=7.4, leading=9.4, spaceAfter=0)
    return Styles(
        title=ParagraphStyle(
            "title", fontName=SANS_BOLD, fontSize=24, leading=29, textColor=ACCENT, spaceAfter=6
        ),
        subtitle=ParagraphStyle(
            "subtitle", fontName=SANS, fontSize=13, leading=17, textColor=INK, spaceAfter=14
        ),
        h1=ParagraphStyle(
            "h1",
            fontName=SANS_BOLD,
            fontSize=14,
            leading=18,
            textColor=ACCENT,
            spaceBefore=16,
            spaceAfter=2,
        ),
        h2=ParagraphStyle(
            "h2",
            fontName=SANS_BOLD,
            fontSize=10.5,
            leading=14,
            textColor=ACCENT,
            spaceBefore=10,
            spaceAfter=5,
        ),
        h3=ParagraphStyle(
            "h3",
            fontName=SANS_BOLD,
            fontSize=9,
            leading=12,
            textColor=INK,
            spaceBefore=7,
            spaceAfter=3,
        ),
        body=body,
        small=ParagraphStyle("small", parent=body, fontSize=7.2, leading=9.4, textColor=MUTED),
        cell=cell,
        cell_bold=ParagraphStyle("cell_bold", parent=cell, fontName=SANS_BOLD),
        cell_head=ParagraphStyle(
            "cell_head", parent=cell, fontName=SANS_BOLD, textColor=colors.white
        ),
        cell_mono=ParagraphStyle(
            "cell_mono", parent=cell, fontName=MONO, fontSize=6.6, leading=8.6
        ),
        mono=ParagraphStyle("mono", parent=body, fontName=MONO, fontSize=6.6, leading=8.4),
        note=ParagraphStyle(
            "note", parent=body, fontName=SANS_ITALIC, textColor=MUTED, fontSize=8, leading=11
        ),
        bullet=ParagraphStyle("bullet", parent=body, leftIndent=12, bulletIndent=2, spaceAfter=3),
        code=ParagraphStyle(
            "code",
            parent=body,
            fontName=MONO,
            fontSize=7.4,
            leading=9.6,
            backColor=ZEBRA,
            borderPadding=(4, 5, 4, 5),
            leftIndent=5,
            rightIndent=5,
            spaceBefore=3,
            spaceAfter=8,
            alignment=TA_LEFT,
        ),
    )


# --------------------------------------------------------------------------- small tables

Cell: TypeAlias = str | Flowable | list[Flowable]


def grid_table(
    styles: Styles,
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    widths: Sequence[float],
    *,
    mono: Sequence[int] = (),
    highlight: Sequence[int] = (),
) -> Table:
    """A table with a dark header row repeated on every page, zebra rows, wrapping cells.

    ``mono``: column indexes drawn in the monospace style; ``highlight``: row indexes
    (0-based, data rows) shaded as problems.
    """
    head = [Paragraph(para_text(h), styles.cell_head) for h in header]
    data: list[list[Cell]] = [list(head)]
    for row in rows:
        out: list[Cell] = []
        for i, cell in enumerate(row):
            if isinstance(cell, str):
                out.append(
                    Paragraph(para_text(cell), styles.cell_mono if i in mono else styles.cell)
                )
            else:
                out.append(cell)
        data.append(out)
    table = Table(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    commands: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, ZEBRA]),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
        ("BOX", (0, 0), (-1, -1), 0.5, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3.5),
    ]
    for r in highlight:
        commands.append(("BACKGROUND", (0, r + 1), (-1, r + 1), WARN_BG))
    table.setStyle(TableStyle(commands))
    return table


def kv_table(
    styles: Styles,
    rows: Sequence[tuple[str, Cell]],
    widths: tuple[float, float],
    *,
    mono_keys: Sequence[str] = (),
) -> Table:
    """Label / value pairs, labels on a tinted column."""
    data: list[list[Cell]] = []
    for key, value in rows:
        if isinstance(value, str):
            style = styles.cell_mono if key in mono_keys else styles.cell
            if value == "not recorded":
                value = Paragraph(f"<i>{para_text(value)}</i>", styles.cell)
            else:
                value = Paragraph(para_text(value), style)
        data.append([Paragraph(para_text(key), styles.cell_bold), value])
    table = Table(data, colWidths=list(widths), hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (0, -1), KEY_BG),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
                ("BOX", (0, 0), (-1, -1), 0.5, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
                ("LEFTPADDING", (0, 0), (-1, -1), 4),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


# --------------------------------------------------------------------------- fast table


FAST_PAD = 2.8


@dataclass(frozen=True)
class Column:
    title: str
    chars: int
    align: str = "left"


class FastTable(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """A large monospace table: exact wrapping, O(n) splitting, one text object per page."""

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[str]],
        *,
        size: float = 6.4,
        pad: float = FAST_PAD,
        vpad: float = 1.5,
        marks: frozenset[int] = frozenset(),
        _shared: tuple[list[tuple[tuple[str, ...], ...]], list[float]] | None = None,
        _span: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        register_fonts()
        self.columns = list(columns)
        self.size = size
        self.pad = pad
        self.vpad = vpad
        self.leading = size * 1.18
        self.char_w = size * MONO_EM
        self.col_w = [c.chars * self.char_w + 2 * pad for c in self.columns]
        self.width = sum(self.col_w)
        self.header_h = 7.2 * 1.2 + 2 * vpad + 2
        self.marks = marks
        if _shared is None:
            lines: list[tuple[tuple[str, ...], ...]] = []
            cum = [0.0]
            total = 0.0
            for row in rows:
                cells = tuple(
                    tuple(wrap_mono(str(cell), col.chars))
                    for cell, col in zip(row, self.columns, strict=True)
                )
                total += max(len(c) for c in cells) * self.leading + 2 * vpad
                lines.append(cells)
                cum.append(total)
            _shared = (lines, cum)
        self._lines, self._cum = _shared
        self.start, self.end = _span if _span is not None else (0, len(self._lines))

    def _clone(self, start: int, end: int) -> FastTable:
        return FastTable(
            self.columns,
            (),
            size=self.size,
            pad=self.pad,
            vpad=self.vpad,
            marks=self.marks,
            _shared=(self._lines, self._cum),
            _span=(start, end),
        )

    def _body_height(self) -> float:
        return self._cum[self.end] - self._cum[self.start]

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        self.height = self.header_h + self._body_height()
        return self.width, self.height

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:
        limit = self._cum[self.start] + availHeight - self.header_h
        k = bisect_right(self._cum, limit, self.start, self.end + 1) - 1
        if k <= self.start:
            if availHeight < 200:
                return []
            k = self.start + 1  # a single row taller than a page: let it overflow
        if k >= self.end:
            return [self]
        return [self._clone(self.start, k), self._clone(k, self.end)]

    def draw(self) -> None:
        c = self.canv
        top = self.header_h + self._body_height()
        width = self.width
        c.saveState()
        c.setFillColor(HEADER_BG)
        c.rect(0, top - self.header_h, width, self.header_h, stroke=0, fill=1)
        base = self._cum[self.start]
        body_top = top - self.header_h
        for i in range(self.start, self.end):
            mark = i in self.marks
            if not mark and i % 2 == 0:
                continue
            c.setFillColor(WARN_BG if mark else ZEBRA)
            y0 = body_top - (self._cum[i + 1] - base)
            c.rect(0, y0, width, self._cum[i + 1] - self._cum[i], stroke=0, fill=1)
        c.setStrokeColor(RULE)
        c.setLineWidth(0.5)
        c.rect(0, 0, width, top, stroke=1, fill=0)
        c.setLineWidth(0.25)
        x = 0.0
        for w in self.col_w[:-1]:
            x += w
            c.line(x, 0, x, body_top)
        # header text
        header = c.beginText()
        header.setFont(SANS_BOLD, 7.2)
        header.setFillColor(colors.white)
        x = 0.0
        for col, w in zip(self.columns, self.col_w, strict=True):
            header.setTextOrigin(x + self.pad, top - self.vpad - 1 - 7.2 * 0.9)
            header.textOut(col.title)
            x += w
        c.drawText(header)
        # Body text. Speed matters here (hundreds of thousands of cells): ASCII lines, the
        # hashes and most paths, are written as raw Tm/Tj operators in Courier (a standard
        # font, nothing to subset or measure); other lines go through reportlab in the
        # embedded DejaVu Sans Mono, which covers far more scripts.
        text = c.beginText()
        text.setFillColor(INK)
        text.setFont(ASCII_MONO, self.size)
        raw = text._code  # the text object's operator list
        ascii_font = True
        ascent = self.size * 0.82
        for i in range(self.start, self.end):
            row_top = body_top - (self._cum[i] - base)
            x = 0.0
            for cell, col, w in zip(self._lines[i], self.columns, self.col_w, strict=True):
                y = row_top - self.vpad - ascent
                for line in cell:
                    if line:
                        if col.align == "right":
                            tx = x + w - self.pad - len(line) * self.char_w
                        else:
                            tx = x + self.pad
                        if line.isascii():
                            if not ascii_font:
                                text.setFont(ASCII_MONO, self.size)
                                ascii_font = True
                            raw.append(f"1 0 0 1 {tx:.2f} {y:.2f} Tm ({_pdf_escape(line)}) Tj")
                        else:
                            if ascii_font:
                                text.setFont(MONO, self.size)
                                ascii_font = False
                            text.setTextOrigin(tx, y)
                            text._textOut(line)
                    y -= self.leading
                x += w
        c.drawText(text)
        c.restoreState()


# --------------------------------------------------------------------------- flowables


class Badge(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """The verification status: a coloured rounded box with a word and a line of detail."""

    def __init__(self, word: str, detail: str, colour: colors.Color, width: float) -> None:
        super().__init__()
        self.word, self.detail, self.colour = word, detail, colour
        self.width, self.height = width, 46

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c = self.canv
        c.saveState()
        c.setFillColor(self.colour)
        c.roundRect(0, 0, self.width, self.height, 6, stroke=0, fill=1)
        c.setFillColor(colors.white)
        c.setFont(SANS_BOLD, 19)
        c.drawString(14, 20, self.word)
        c.setFont(SANS, 8.2)
        c.drawString(14, 8, self.detail)
        c.restoreState()


class Logo(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """Chainproof's mark, drawn as vectors: two interlocked chain links and a check."""

    def __init__(self, size: float = 34) -> None:
        super().__init__()
        self.size = size
        self.width = size * 5.2
        self.height = size

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c = self.canv
        s = self.size
        c.saveState()
        c.setLineWidth(s * 0.11)
        c.setStrokeColor(ACCENT)
        c.roundRect(s * 0.05, s * 0.28, s * 0.62, s * 0.44, s * 0.22, stroke=1, fill=0)
        c.setStrokeColor(OK_GREEN)
        c.roundRect(s * 0.45, s * 0.28, s * 0.62, s * 0.44, s * 0.22, stroke=1, fill=0)
        c.setFillColor(ACCENT)
        c.setFont(SANS_BOLD, s * 0.5)
        c.drawString(s * 1.3, s * 0.32, "Chainproof")
        c.restoreState()


class SignatureSpot(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """An empty framed box where the visible PDF signature will be placed; records its place."""

    def __init__(self, width: float, height: float, caption: str, on_place: PlaceCallback):
        super().__init__()
        self.width, self.height = width, height
        self.caption = caption
        self.on_place = on_place

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        return self.width, self.height + 12

    def draw(self) -> None:
        c = self.canv
        c.saveState()
        c.setStrokeColor(RULE)
        c.setDash(2, 2)
        c.setLineWidth(0.6)
        c.rect(0, 12, self.width, self.height, stroke=1, fill=0)
        c.setFillColor(MUTED)
        c.setFont(SANS, 6.8)
        c.drawString(0, 3, self.caption)
        c.restoreState()
        x, y = c.absolutePosition(0, 12)
        self.on_place(c.getPageNumber() - 1, x, y, x + self.width, y + self.height)


PlaceCallback = Callable[[int, float, float, float, float], None]


# --------------------------------------------------------------------------- page furniture


@dataclass(frozen=True)
class Furniture:
    """What every page carries: case id, bundle id, manifest SHA-256 and page X of Y."""

    case_id: str
    bundle_id: str
    manifest_sha256: str
    margin: float
    created: dt.datetime | None = None  # the PDF's creation date; None means now


def fixed_timestamp(at: dt.datetime) -> Any:
    """A reportlab timestamp for ``at``, so the PDF's dates are the bundle's time, not now."""
    from reportlab.lib.utils import TimeStamp

    stamp = TimeStamp(invariant=True)
    stamp.t = at.timestamp()
    stamp.lt = time.gmtime(stamp.t)
    stamp.YMDhms = tuple(stamp.lt)[:6]
    return stamp


def numbered_canvas(furniture: Furniture) -> type[Canvas]:
    """A canvas class that holds pages back until the end, then writes "page X of Y"."""

    class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab is untyped
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._held: list[dict[str, Any]] = []
            if furniture.created is not None:
                # reportlab seeds the document ID with the wall clock; seed it with the
                # bundle's time instead, so the same bundle renders the same bytes.
                doc = self._doc
                doc._timeStamp = fixed_timestamp(furniture.created)
                doc.signature = hashlib.md5(b"a reportlab document", usedforsecurity=False)
                doc.signature.update(ascii(doc._timeStamp.t).encode("ascii"))

        def showPage(self) -> None:
            self._held.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._held)
            for number, state in enumerate(self._held, start=1):
                self.__dict__.update(state)
                self._furniture(number, total)
                Canvas.showPage(self)
            Canvas.save(self)

        def _furniture(self, number: int, total: int) -> None:
            width, height = self._pagesize
            m = furniture.margin
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(m, height - m + 6, width - m, height - m + 6)
            self.setFillColor(MUTED)
            self.setFont(SANS_BOLD, 7.5)
            self.drawString(m, height - m + 10, "Chain of Custody Report")
            self.setFont(SANS, 7.5)
            self.drawRightString(
                width - m,
                height - m + 10,
                f"Case {clean(furniture.case_id)}  ·  Bundle {clean(furniture.bundle_id)}",
            )
            self.line(m, m - 8, width - m, m - 8)
            label = "Manifest SHA-256 "
            self.setFont(SANS, 6.5)
            self.drawString(m, m - 17, label)
            self.setFont(MONO, 6.5)
            self.drawString(
                m + pdfmetrics.stringWidth(label, SANS, 6.5), m - 17, furniture.manifest_sha256
            )
            self.setFont(SANS_BOLD, 7.5)
            self.drawRightString(width - m, m - 17, f"page {number} of {total}")
            self.restoreState()

    return NumberedCanvas
