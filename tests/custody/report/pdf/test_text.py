"""Text as the report draws it (custody/report/pdf/text.py): escapes, glyph fallback, cuts."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.platypus import SimpleDocTemplate, Table

from custody.report.pdf.styles import MONO, SANS, make_styles
from custody.report.pdf.tables import Prose, grid_table, kv_table
from custody.report.pdf.text import (
    IN_LEDGER,
    cut_note,
    escaped,
    glyphs,
    mono_cell,
    para_text,
    printable,
    visible,
    wrap_mono,
)


@pytest.mark.parametrize(
    ("char", "shown"),
    [
        ("\x00", "\\x00"),
        ("\x07", "\\x07"),
        ("\x1b", "\\x1b"),
        ("\x7f", "\\x7f"),
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
        ("\x85", "\\u0085"),  # a C1 control: \u, so \x80-\xff stays the ledger's bytes
        ("\xa0", "\\u00a0"),
        ("\u200b", "\\u200b"),
        ("\u200d", "\\u200d"),
        ("\u200f", "\\u200f"),
        ("\u202e", "\\u202e"),
        ("\u2028", "\\u2028"),
        ("\ufeff", "\\ufeff"),
        ("\ue000", "\\ue000"),
        ("\U0001f600", "\\U0001f600"),
        ("\u4e2d", "\\u4e2d"),  # no glyph in DejaVu
    ],
)
def test_what_cannot_be_drawn_is_escaped(char: str, shown: str) -> None:
    assert escaped(char) == shown
    assert printable(f"a{char}b") == f"a{shown}b"


def test_what_the_font_has_is_drawn_as_given() -> None:
    text = "e\u0301 \u05e9\u05dc\u05d5\u05dd \u0627\u0644\u0639 \u00e9 \\xff <&> \\"
    assert printable(text, font=SANS) == text
    # DejaVu Sans Mono has Arabic but not Hebrew: the same text escapes per font.
    assert printable("\u05e9 \u0627", font=MONO) == "\\u05e9 \u0627"
    assert 0x05E9 in glyphs(SANS) and 0x05E9 not in glyphs(MONO)
    assert not any(c > 0xFFFF for c in glyphs(SANS))


def test_without_a_font_only_what_is_not_printable_is_escaped() -> None:
    assert printable("\u4e2d\U0001f600\x07\u202e", font=None) == "\u4e2d\U0001f600\\x07\\u202e"


def test_line_breaks_kept_only_for_prose() -> None:
    assert printable("a\r\nb\nc\rd", lines=True) == "a\nb\nc\\rd"
    assert printable("a\r\nb", lines=False) == "a\\r\\nb"
    assert para_text("a\nb", lines=True) == "a<br/>b"
    assert para_text("a\nb") == "a\\nb"


def test_markup_and_spaces_are_literal() -> None:
    assert para_text("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert para_text(" a   b ") == "&nbsp;a&nbsp;&nbsp; b&nbsp;"


def test_long_values_are_cut_with_a_note() -> None:
    text = "x" * 100_000
    shown = printable(text, limit=500)
    assert shown == "x" * 500 + cut_note(100_000)
    assert "100,000 characters in all" in shown and IN_LEDGER in shown
    # An escape is never split by the cut; the count is of the recorded characters.
    shown, cut = visible("\x07" * 10, limit=9)
    assert (shown, cut) == ("\\x07\\x07", True)
    # With the width of a line known, a line break fills the rest of its line.
    shown, cut = visible("a\n" * 50, lines=True, limit=100, line=10)
    assert cut and shown.count("\n") == 10


def test_mono_cells_wrap_and_stay_within_their_lines() -> None:
    lines = mono_cell("/d" * 5000, 42, 24)
    assert len(lines) <= 24 and all(len(x) <= 42 for x in lines)
    assert "".join(lines).startswith("/d/d") and "10,000 characters in all" in " ".join(lines)
    narrow = mono_cell("y" * 500, 4, 24)
    assert len(narrow) <= 24 and narrow[-1].endswith("]")
    assert wrap_mono("abc def", 4) == ["abc", "def"]


def _build(flowables: list[object]) -> bytes:
    buf = io.BytesIO()
    SimpleDocTemplate(buf).build(flowables)
    return buf.getvalue()


def test_tables_never_raise_a_layout_error() -> None:
    """A 10 KB token and a 100k-character note in narrow cells: cut, split, laid out."""
    s = make_styles()
    token, note = "/" + "x" * 10_240, ("word " * 20_000) + "\x07\u202e"
    grid = grid_table(
        s,
        ["Seq", "Path", "Note"],
        [["1", token, Prose(note)], ["2", note, Prose(token)]],
        [30, 90, 90],
        mono=(1,),
    )
    kv = kv_table(s, [("Path", token), ("Note", Prose(note))], (60, 300))
    pdf = _build([grid, kv])
    assert pdf.startswith(b"%PDF")
    assert isinstance(grid, Table)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300), st.sampled_from([SANS, MONO]), st.booleans())
def test_shown_text_is_drawable_and_stable(text: str, font: str, lines: bool) -> None:
    shown, _cut = visible(text, font=font, lines=lines, limit=None)
    have = glyphs(font)
    assert all((c.isprintable() and ord(c) in have) or (lines and c == "\n") for c in shown)
    assert visible(shown, font=font, lines=lines, limit=None) == (shown, False)
