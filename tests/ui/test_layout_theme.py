"""Small screens and dark schemes: every screen fits 1024x700 unclipped, and the colours the
app draws itself read on a dark background as on a light one."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QWidget

from tests.ui.helpers import collect, column, orphan_archive, verify_now
from ui import theme

SMALL = QSize(1024, 700)


def _inside_scroll_area(w: QWidget, top: QWidget) -> bool:
    """Whether ``w`` lies inside a scroll area (its content may extend and scroll)."""
    p = w.parentWidget()
    while p is not None and p is not top:
        if isinstance(p, QAbstractScrollArea):
            return True
        p = p.parentWidget()
    return False


def _problems(window: QWidget) -> list[str]:
    """Visible widgets clipped by their parent, or squeezed below their minimum size."""
    found = []
    roots = [window.centralWidget(), window.statusBar(), window.menuBar()]
    for root in roots:
        for w in [root, *root.findChildren(QWidget)]:
            if not w.isVisible() or w.isWindow() or _inside_scroll_area(w, window):
                continue
            if isinstance(w.parentWidget(), QAbstractSpinBox):
                continue  # its text field: the spin box's style sizes it below its own hint

            name = w.objectName() or w.accessibleName() or type(w).__name__
            parent = w.parentWidget()
            if parent is not None and not QRect(QPoint(0, 0), parent.size()).contains(w.geometry()):
                found.append(
                    f"{name} {w.geometry()} outside {type(parent).__name__} {parent.size()}"
                )
            least = w.minimumSizeHint().boundedTo(w.maximumSize()).expandedTo(w.minimumSize())
            if w.sizeHint().isValid():  # a tab bar's minimum has room for scroll buttons
                least = least.boundedTo(w.sizeHint())
            if least.isValid() and (w.width() < least.width() or w.height() < least.height()):
                found.append(f"{name} {w.size()} below its minimum {least}")
            top_left = w.mapTo(window, QPoint(0, 0))
            if not window.rect().contains(QRect(top_left, w.size())):
                found.append(f"{name} at {top_left} {w.size()} outside the window")
    return found


@pytest.fixture
def busy_case(qtbot: Any, opened: Any, make_tree: Any) -> Any:
    """The window with a case that has a run, a failed verification and journal entries."""
    collect(qtbot, opened, [f"{make_tree(30)}/**"])
    orphan_archive(opened.case)
    assert not verify_now(qtbot, opened).ok
    return opened


def test_every_screen_fits_1024x700(qtbot: Any, busy_case: Any) -> None:
    w = busy_case
    hint = w.minimumSizeHint()
    assert hint.width() <= SMALL.width() and hint.height() <= SMALL.height(), hint
    assert w.minimumSize().width() <= SMALL.width() and w.minimumSize().height() <= SMALL.height()
    w.resize(SMALL)
    for page in range(5):
        w.show_page(page)
        qtbot.wait(30)
        assert w.size() == SMALL, f"page {page} widened the window to {w.size()}"
        problems = _problems(w)
        assert not problems, f"page {page}: " + "; ".join(problems)
    # a passing message longer than the room left by the permanent labels is shortened, whole
    # in its text and tooltip, and gives the open case's place back when it ends
    long = f"Run finished: 1,234,567 artifacts, 0 errors, written to {'/very/long/path' * 12}"
    w.say(long, timeout_ms=200)
    qtbot.wait(30)
    label = w.message_label
    assert label.isVisible() and not w.case_label.isVisible()
    assert label.text() == long and label.toolTip() == long
    assert label.fontMetrics().horizontalAdvance(long) > label.width()  # it had to shorten
    assert label.geometry().right() < w.integrity_label.geometry().left()
    assert not _problems(w)
    qtbot.waitUntil(lambda: w.case_label.isVisible() and not label.isVisible(), timeout=3000)
    # the dialogs too
    w.show_page(3)
    w.export_action.trigger()
    w.dialog.resize(w.dialog.minimumSizeHint())
    assert w.dialog.minimumSizeHint().width() <= SMALL.width()
    assert w.dialog.minimumSizeHint().height() <= SMALL.height()
    w.dialog.close()


def _heading_colour(window: Any) -> str:
    """The colour the window's style sheet gives headings."""
    rule = next(r for r in window.styleSheet().split("}") if "QLabel#heading" in r)
    return rule.split("color:")[1].split(";")[0].strip()


@pytest.fixture
def dark(window: Any) -> Any:
    """The window in the dark scheme (View > Colour scheme > Dark); restored after."""
    window.scheme_actions[theme.DARK].trigger()
    yield window
    window.set_scheme(theme.SYSTEM)


def test_dark_scheme_applies_and_status_colours_read_on_it(
    qtbot: Any, dark: Any, make_case: Any, alice: Any
) -> None:
    palette = QApplication.palette()
    window_colour = palette.color(QPalette.ColorRole.Window)
    base = palette.color(QPalette.ColorRole.Base)
    assert window_colour.lightness() < 80 and base.lightness() < 80, "the palette is not dark"
    assert palette.color(QPalette.ColorRole.WindowText).lightness() > 180
    assert dark.palette().color(QPalette.ColorRole.Window) == window_colour
    c = theme.colours()
    assert c.dark
    for name in ("ok", "bad", "warn", "unknown", "text", "muted", "heading"):
        for background in (window_colour, base):
            ratio = theme.contrast(QColor(getattr(c, name)), background)
            assert ratio >= 4.5, f"{name} {getattr(c, name)} on {background.name()}: {ratio:.1f}"
    assert _heading_colour(dark) == c.heading

    # a failed and a passed case: the rows and the status bar use the dark scheme's colours
    handle = make_case("Dark case")
    dark.set_identity(alice)
    dark.open_case_dir(handle.root)
    orphan_archive(handle)
    verify_now(qtbot, dark)
    assert c.bad in dark.integrity_label.styleSheet()
    model = dark.verify_view.entries
    col = column(model, "Verification")
    shades = {
        model.data(model.index(r, col)): model.data(
            model.index(r, col), Qt.ItemDataRole.ForegroundRole
        )
        for r in range(model.rowCount())
    }
    failed = [v for k, v in shades.items() if k == "FAILED"] or [
        v for k, v in shades.items() if k == "verified"
    ]
    assert failed and failed[0].color() in (QColor(c.bad), QColor(c.ok))
    assert theme.contrast(failed[0].color(), base) >= 4.5

    # the timeline: dark chart, every kind's colour stands out from it
    dark.show_page(3)
    chart = dark.custody_view.chart.chart()
    background = chart.backgroundBrush().color()
    assert background.lightness() < 100
    for s in chart.series():
        if hasattr(s, "color") and type(s).__name__ == "QScatterSeries":
            assert theme.contrast(s.color(), background) >= 3.0, s.name()

    # and back to light
    dark.scheme_actions[theme.LIGHT].trigger()
    assert not theme.colours().dark
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 180
    assert theme.LIGHT_COLOURS.bad in dark.integrity_label.styleSheet()


def test_the_window_follows_the_system_scheme(window: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With "Follow the system", a change of the system's scheme (colorSchemeChanged)
    re-colours the window; where the platform gives no dark palette, Fusion's dark one."""
    assert window.scheme_actions[theme.SYSTEM].isChecked()
    monkeypatch.setattr(theme, "_platform_scheme", lambda: Qt.ColorScheme.Dark)
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert theme.colours().dark
    assert _heading_colour(window) == theme.DARK_COLOURS.heading
    monkeypatch.setattr(theme, "_platform_scheme", lambda: Qt.ColorScheme.Light)
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not theme.colours().dark
    assert _heading_colour(window) == theme.LIGHT_COLOURS.heading
    monkeypatch.undo()
    window.set_scheme(theme.SYSTEM)


def test_the_scheme_chosen_is_remembered(qtbot: Any, window: Any) -> None:
    from ui.main_window import MainWindow

    window.scheme_actions[theme.DARK].trigger()
    again = MainWindow()
    qtbot.addWidget(again)
    try:
        assert again.scheme_actions[theme.DARK].isChecked() and theme.colours().dark
    finally:
        again.set_scheme(theme.SYSTEM)
