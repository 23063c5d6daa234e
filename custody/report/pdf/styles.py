"""The report's look: colours, the bundled fonts and the paragraph styles."""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib import resources

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

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
            "aside", parent=body, fontName=SANS_ITALIC, textColor=MUTED, fontSize=8, leading=11
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
