"""Light and dark: the window follows the system's colour scheme, or the examiner's choice.

Qt 6.5+ reports the system's scheme (``QStyleHints.colorScheme``) and says when it changes.
Where the platform says nothing (a bare X server, most window managers), the palette decides:
a dark palette is a dark scheme. Choosing "Dark" or "Light" asks the platform for it
(``setColorScheme``, Qt 6.8+), and where the platform cannot, sets Fusion's palette itself.

Every colour the app draws itself (status words, banners, the timeline, headings) comes from
:func:`colours`, one set per scheme, each chosen to read on that scheme's background
(contrast ratio >= 4.5 for text). Widgets that paint with them listen to :func:`watcher`.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette

SYSTEM, LIGHT, DARK = "system", "light", "dark"
SCHEMES = (SYSTEM, LIGHT, DARK)
SCHEME_NAMES = {SYSTEM: "&Follow the system", LIGHT: "&Light", DARK: "&Dark"}


@dataclass(frozen=True)
class Colours:
    """The colours of one scheme (names, as CSS and QColor take them)."""

    dark: bool
    ok: str  # passed, verified
    bad: str  # failed, refused
    warn: str  # skipped, changed while read
    unknown: str  # never verified, unreadable
    text: str
    muted: str
    heading: str
    border: str
    banner_neutral: tuple[str, str]  # background, border
    banner_ok: tuple[str, str]
    banner_bad: tuple[str, str]
    notice: tuple[str, str, str]  # background, text, border (a warning box)
    progress_bg: str
    chart_path: str

    def qt(self, name: str) -> QColor:
        return QColor(getattr(self, name))


LIGHT_COLOURS = Colours(
    dark=False,
    ok="#1e7b34",
    bad="#b3261e",
    warn="#8a5a00",
    unknown="#5f6368",
    text="#1f2a36",
    muted="#595959",
    heading="#1f2a36",
    border="#d5d9de",
    banner_neutral=("#f3f3f3", "#dddddd"),
    banner_ok=("#e8f5e9", "#a5d6a7"),
    banner_bad=("#fdecea", "#f5a8a0"),
    notice=("#fff4e5", "#7a4a00", "#f0c36d"),
    progress_bg="#f4f6f8",
    chart_path="#c8c8c8",
)
DARK_COLOURS = Colours(
    dark=True,
    ok="#81c995",
    bad="#f28b82",
    warn="#fdd663",
    unknown="#aeb4ba",
    text="#e6e9ed",
    muted="#b0b6bd",
    heading="#e8eef4",
    border="#4a5058",
    banner_neutral=("#2f3236", "#4a5058"),
    banner_ok=("#1e3325", "#3f7a4f"),
    banner_bad=("#3d2220", "#8c3b35"),
    notice=("#3a2e17", "#fdd663", "#7a6129"),
    progress_bg="#2b2e32",
    chart_path="#5f6368",
)


def lightness(colour: QColor) -> int:
    return int(colour.lightness())


def palette_is_dark(palette: QPalette | None = None) -> bool:
    """A dark palette: its window colour is darker than its text colour."""
    p = palette if palette is not None else QGuiApplication.palette()
    window = p.color(QPalette.ColorRole.Window)
    text = p.color(QPalette.ColorRole.WindowText)
    return lightness(window) < lightness(text)


def is_dark() -> bool:
    return palette_is_dark()


def colours() -> Colours:
    """The colours of the scheme shown now."""
    return DARK_COLOURS if is_dark() else LIGHT_COLOURS


def luminance(colour: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else float(((c + 0.055) / 1.055) ** 2.4)

    return (
        0.2126 * channel(colour.redF())
        + 0.7152 * channel(colour.greenF())
        + 0.0722 * channel(colour.blueF())
    )


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable(colour: QColor, background: QColor, ratio: float = 3.0) -> QColor:
    """``colour`` made lighter (on a dark background) or darker (on a light one) until it
    stands out from ``background`` by ``ratio`` (for marks and lines, not text)."""
    c = QColor(colour)
    dark_bg = luminance(background) < 0.5
    for _ in range(12):
        if contrast(c, background) >= ratio:
            break
        c = c.lighter(125) if dark_bg else c.darker(125)
        if dark_bg and c.lightness() < 40:  # lighter() of near-black stays black
            c = QColor.fromHsl(c.hslHue(), c.hslSaturation(), 90)
    return c


#: Text on its background in a palette: each pair must read at 4.5:1 (WCAG AA).
TEXT_ROLES: tuple[tuple[QPalette.ColorRole, QPalette.ColorRole], ...] = (
    (QPalette.ColorRole.WindowText, QPalette.ColorRole.Window),
    (QPalette.ColorRole.Text, QPalette.ColorRole.Base),
    (QPalette.ColorRole.Text, QPalette.ColorRole.AlternateBase),
    (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Button),
    (QPalette.ColorRole.ToolTipText, QPalette.ColorRole.ToolTipBase),
    (QPalette.ColorRole.PlaceholderText, QPalette.ColorRole.Base),
    (QPalette.ColorRole.Link, QPalette.ColorRole.Base),
    (QPalette.ColorRole.HighlightedText, QPalette.ColorRole.Highlight),
)
TEXT_CONTRAST = 4.5


def readable_palette(palette: QPalette) -> QPalette:
    """``palette`` with every text colour reading at 4.5:1 on its background (active and
    inactive groups; disabled text is exempt): a text colour that does not is made darker
    or lighter, except the selection's, where the selection colour itself is (white on
    Fusion's light blue reads at 3.7:1 only)."""
    p = QPalette(palette)
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        for fg_role, bg_role in TEXT_ROLES:
            fg, bg = p.color(group, fg_role), p.color(group, bg_role)
            if contrast(fg, bg) >= TEXT_CONTRAST:
                continue
            if fg_role == QPalette.ColorRole.HighlightedText:
                p.setColor(group, bg_role, readable(bg, fg, TEXT_CONTRAST))
            else:
                p.setColor(group, fg_role, readable(fg, bg, TEXT_CONTRAST))
    return p


def text_pairs(palette: QPalette, c: Colours) -> list[tuple[str, QColor, QColor]]:
    """Every text colour the window shows on the background it is shown on: the palette's
    own pairs and the app's colours on the window, the views and their banners."""
    pairs = [
        (f"{fg.name}/{bg.name}", palette.color(fg), palette.color(bg)) for fg, bg in TEXT_ROLES
    ]
    backgrounds = {
        "window": palette.color(QPalette.ColorRole.Window),
        "base": palette.color(QPalette.ColorRole.Base),
    }
    for name in ("ok", "bad", "warn", "unknown", "text", "muted", "heading"):
        for where, bg in backgrounds.items():
            pairs.append((f"{name} on {where}", c.qt(name), bg))
    named: list[tuple[str, str, str]] = [
        ("banner ok", c.ok, c.banner_ok[0]),
        ("banner failed", c.bad, c.banner_bad[0]),
        ("banner neutral", c.text, c.banner_neutral[0]),
        ("notice", c.notice[1], c.notice[0]),
        *NAVIGATION_TEXT,
    ]
    pairs += [(name, QColor(fg), QColor(bg)) for name, fg, bg in named]
    return pairs


#: The navigation list's own colours (the style sheet): the same in every scheme.
NAVIGATION_TEXT = (
    ("navigation item", "#d8dee6", "#1f2a36"),
    ("navigation selected item", "#ffffff", "#2d3d4f"),
    ("navigation disabled item", "#8893a0", "#1f2a36"),
)


def dark_palette() -> QPalette:
    """Fusion's colours for a dark scheme, for platforms that have none."""
    p = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    window, base, text = QColor("#2b2d30"), QColor("#1e1f22"), QColor("#e6e9ed")
    for r, c in (
        (role.Window, window),
        (role.WindowText, text),
        (role.Base, base),
        (role.AlternateBase, QColor("#26282b")),
        (role.ToolTipBase, QColor("#3a3d41")),
        (role.ToolTipText, text),
        (role.PlaceholderText, QColor("#8c9299")),
        (role.Text, text),
        (role.Button, QColor("#35383c")),
        (role.ButtonText, text),
        (role.BrightText, QColor("#ff6b6b")),
        (role.Light, QColor("#4a4d52")),
        (role.Midlight, QColor("#3f4246")),
        (role.Mid, QColor("#2f3236")),
        (role.Dark, QColor("#1a1b1d")),
        (role.Shadow, QColor("#000000")),
        (role.Highlight, QColor("#3d7cc9")),
        (role.HighlightedText, QColor("#ffffff")),
        (role.Link, QColor("#8ab4f8")),
        (role.LinkVisited, QColor("#c58af9")),
    ):
        p.setColor(r, c)
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, r, QColor("#7a7f86"))
    p.setColor(group.Disabled, role.Highlight, QColor("#4a4d52"))
    return p


def light_palette() -> QPalette:
    """Fusion's own light colours."""
    from PySide6.QtWidgets import QApplication, QStyleFactory

    style = QStyleFactory.create("Fusion") or QApplication.style()
    return style.standardPalette()


class ThemeWatcher(QObject):
    """Says when the colours change: the examiner chose a scheme, or the system's changed."""

    changed = Signal(object)  # Colours

    def __init__(self) -> None:
        super().__init__()
        self.choice = SYSTEM
        hints = QGuiApplication.styleHints()
        hints.colorSchemeChanged.connect(self._system_changed)

    def _system_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self.choice == SYSTEM:
            apply(SYSTEM)


_WATCHER: ThemeWatcher | None = None


def watcher() -> ThemeWatcher:
    global _WATCHER
    if _WATCHER is None:
        _WATCHER = ThemeWatcher()
    return _WATCHER


def _platform_scheme() -> Qt.ColorScheme:
    return QGuiApplication.styleHints().colorScheme()


def apply(choice: str) -> Colours:
    """Show the ``choice`` scheme (system, light or dark); returns its colours.

    The system's scheme is what the platform reports, else its palette. An explicit choice
    is asked of the platform first; where the platform does not follow, Fusion's palette for
    that scheme is set.
    """
    from PySide6.QtWidgets import QApplication

    if choice not in SCHEMES:
        choice = SYSTEM
    w = watcher()
    w.choice = choice
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return colours()
    hints = QGuiApplication.styleHints()
    wanted = {LIGHT: Qt.ColorScheme.Light, DARK: Qt.ColorScheme.Dark}.get(choice)
    if wanted is None:
        if hasattr(hints, "unsetColorScheme"):
            hints.unsetColorScheme()
        wanted = _platform_scheme()  # Unknown: the platform's palette stands as it is
    elif hasattr(hints, "setColorScheme"):
        hints.setColorScheme(wanted)
    app.setPalette(QPalette())  # the platform's own palette (for the scheme asked of it)
    if wanted != Qt.ColorScheme.Unknown:
        dark = wanted == Qt.ColorScheme.Dark
        if dark != palette_is_dark(app.palette()):  # the platform did not follow
            app.setPalette(dark_palette() if dark else light_palette())
    app.setPalette(readable_palette(app.palette()))  # any scheme, a high-contrast one too
    now = colours()
    w.changed.emit(now)
    return now


def style_sheet(c: Colours) -> str:
    """The main window's style sheet in the colours ``c``."""
    return f"""
QListWidget#navigation {{ background: #1f2a36; color: #d8dee6; border: none; padding-top: 8px;
    font-size: 11pt; outline: 0; }}
QListWidget#navigation::item {{ padding: 8px 16px; border-left: 3px solid transparent; }}
QListWidget#navigation::item:selected {{ background: #2d3d4f; color: white;
    border-left: 3px solid #5aa9e6; }}
QListWidget#navigation::item:focus {{ outline: 1px dotted #d8dee6; }}
QListWidget#navigation:focus {{ border: 2px solid #8cc8ff; }}
QListWidget#navigation::item:disabled {{ color: #8893a0; }}
QLabel#heading {{ font-size: 15pt; font-weight: 600; color: {c.heading}; padding: 2px 0 6px 0; }}
QLabel#subheading {{ font-size: 11pt; font-weight: 600; color: {c.heading}; }}
QLabel#muted {{ color: {c.muted}; }}
QGroupBox {{ font-weight: 600; border: 1px solid {c.border}; border-radius: 5px; margin-top: 10px;
    padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; }}
QProgressBar {{ border: 1px solid {c.border}; border-radius: 3px; text-align: center;
    background: {c.progress_bg}; min-height: 16px; }}
QProgressBar::chunk {{ background: #3b82c4; }}
QStatusBar QLabel {{ padding: 0 8px; color: {c.text}; }}
"""


def banner_css(ok: bool | None, c: Colours | None = None) -> str:
    """A result banner: neutral (None), passed or failed, in the scheme's colours."""
    c = c or colours()
    if ok is None:
        (bg, border), fg = c.banner_neutral, c.text
    elif ok:
        (bg, border), fg = c.banner_ok, c.ok
    else:
        (bg, border), fg = c.banner_bad, c.bad
    return (
        f"QLabel {{ background:{bg}; color:{fg}; border:1px solid {border}; border-radius:4px; "
        "padding:10px; font-size:13pt; font-weight:600; }"
    )


def notice_css(c: Colours | None = None) -> str:
    c = c or colours()
    bg, fg, border = c.notice
    return (
        f"QLabel {{ background: {bg}; color: {fg}; border: 1px solid {border};"
        " border-radius: 4px; padding: 6px; }"
    )
