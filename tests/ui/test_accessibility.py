"""Accessibility in-process: names, buddies, state labels, the timeline's text equivalent,
announcements, the navigation, Help ▸ Keyboard, visible focus and text contrast.

tests/accessibility/test_atspi.py reads the same window through AT-SPI, as a screen reader.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent, QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QToolButton,
    QWidget,
)

from tests.ui.helpers import collect, orphan_archive, verify_now
from ui import theme

INTERACTIVE = (QAbstractButton, QComboBox, QLineEdit, QPlainTextEdit, QAbstractItemView)


def _all_pages(w: Any) -> None:
    for i in range(5):
        w.show_page(i)


def _visible_name(widget: QWidget) -> str:
    """What Qt gives a screen reader as the widget's name when no accessible name is set."""
    if isinstance(widget, QAbstractButton):
        return widget.text().replace("&", "")
    return ""


def _labelled(widget: QWidget, root: QWidget) -> list[QLabel]:
    return [label for label in root.findChildren(QLabel) if label.buddy() is widget]


@pytest.fixture
def collected(qtbot: Any, opened: Any, make_tree: Any) -> Any:
    collect(qtbot, opened, [f"{make_tree(12)}/**"])
    return opened


def test_every_interactive_widget_of_every_screen_has_a_name(collected: Any) -> None:
    w = collected
    _all_pages(w)
    unnamed = [
        f"{type(x).__name__} {x.objectName()!r} in {type(x.parent()).__name__}"
        for x in w.findChildren(QWidget)
        if isinstance(x, INTERACTIVE)
        and not (x.accessibleName() or _visible_name(x))
        and not isinstance(x.parent(), QAbstractItemView)  # an editor or a scroll bar's part
        and x.objectName() != "qt_scrollarea_viewport"
    ]
    assert unnamed == []


def test_combo_popups_and_the_search_clear_button_are_named(collected: Any) -> None:
    w = collected
    _all_pages(w)
    combos = w.findChildren(QComboBox)
    assert {c.objectName() for c in combos} >= {"profile", "collector_filter", "journal_kind"}
    for combo in combos:
        purpose = combo.accessibleName()
        assert combo.view().accessibleName() == f"{purpose} choices"
        assert combo.accessibleDescription() == purpose  # Linux reads a combo by its value
        assert _labelled(combo, w), f"{purpose}: no label linked (buddy)"
    search = w.artifact_view.search
    (clear,) = search.findChildren(QToolButton)
    assert clear.accessibleName() == "clear search artifacts"
    assert _labelled(search, w)[0].text() == "S&earch"
    assert _labelled(w.artifact_view.collector, w)[0].text() == "C&ollector"


def test_state_labels_expose_their_text_not_a_fixed_name(qtbot: Any, collected: Any) -> None:
    w = collected
    orphan_archive(w.case)
    verify_now(qtbot, w, record=False)
    _all_pages(w)
    hiding = [
        f"{label.objectName() or label.text()!r}: {label.accessibleName()!r}"
        for label in w.findChildren(QLabel)
        if label.accessibleName() and label.pixmap().isNull()
    ]
    assert hiding == []
    banner = w.verify_view.banner
    assert banner.accessibleDescription() == "verification result"
    assert "FAILED" in banner.text()
    interface = QAccessible.queryAccessibleInterface(banner)
    assert "FAILED" in interface.text(QAccessible.Text.Name)
    status = QAccessible.queryAccessibleInterface(w.integrity_label)
    assert status.text(QAccessible.Text.Name).startswith("Integrity: ✗ FAILED")
    assert status.text(QAccessible.Text.Description) == "integrity: the last verification"


def test_the_timeline_has_a_table_of_the_same_events_reached_from_the_chart(
    qtbot: Any, collected: Any
) -> None:
    from app import browse
    from app.verification import verify_case

    w = collected
    orphan_archive(w.case)
    assert not verify_case(w.case, sign_with=w.identity).ok
    w.show_page(3)
    view = w.custody_view
    view.refresh()
    points = browse.ledger_timeline(w.case)
    events = view.events
    assert events.accessibleName() == "custody timeline events"
    assert events.rowCount() == len(points) == view.chart.points
    headers = [events.horizontalHeaderItem(c).text() for c in range(events.columnCount())]
    assert headers == ["Entry", "Time (UTC)", "Event", "Actor", "Result"]
    rows = [[events.item(r, c).text() for c in range(5)] for r in range(events.rowCount())]
    assert [r[0] for r in rows] == [str(p.seq) for p in points]
    last = rows[-1]
    assert last[2] == "verified"
    assert last[3] == "Alice Examiner"
    assert last[4].startswith("✗ verification FAILED")
    chart = view.chart
    assert chart.accessibleName() == f"custody timeline chart: {len(points)} signed acts"
    assert "verification FAILED" in chart.accessibleDescription()
    assert chart.focusPolicy() == Qt.FocusPolicy.StrongFocus
    chart.setFocus()
    qtbot.keyClick(chart, Qt.Key.Key_Return)
    assert view.tabs.currentWidget() is events
    assert events.hasFocus() or QApplication.focusWidget() is events
    assert events.currentRow() == 0


class Announcements(list[str]):
    """What the window announced to assistive technology (QAccessibleAnnouncementEvent)."""


@pytest.fixture
def announced(monkeypatch: pytest.MonkeyPatch) -> Announcements:
    """Record announcements on their way to Qt (which then sends them on as usual)."""
    seen = Announcements()
    update = QAccessible.updateAccessibility

    def spy(event: Any) -> None:
        if isinstance(event, QAccessibleAnnouncementEvent):
            seen.append(event.message())
        update(event)

    monkeypatch.setattr(QAccessible, "updateAccessibility", spy)
    return seen


def test_the_end_of_a_collection_and_a_verification_is_announced(
    qtbot: Any, opened: Any, make_tree: Any, announced: Announcements
) -> None:
    collect(qtbot, opened, [f"{make_tree(5)}/**"])
    assert any(t.startswith("Run finished: ") for t in announced), announced
    orphan_archive(opened.case)
    verify_now(qtbot, opened, record=False)
    assert "FAILED" in announced[-1]


def test_the_navigation_switches_pages_when_an_item_is_selected(opened: Any) -> None:
    """An AT-SPI "toggle" selects an item without making it current."""
    w = opened
    w.show_page(0)
    model = w.nav.selectionModel()
    model.select(w.nav.model().index(4, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    assert w.nav.currentRow() == 4
    assert w.stack.currentWidget() is w.verify_view
    model.clearSelection()  # unselecting the current page keeps it
    assert w.nav.currentRow() == 4
    assert model.isRowSelected(4)


def test_help_keyboard_lists_a_route_for_every_menu_action(window: Any) -> None:
    from ui.dialogs import KeyboardHelp, keyboard_routes

    routes = keyboard_routes(window.menuBar())
    listed = {action for _menu, action, keys in routes if keys}
    actions = [
        a.text().replace("&", "").rstrip("…")
        for menu in window.menuBar().findChildren(type(window.menuBar().addMenu("x")))
        for a in menu.actions()
        if not a.isSeparator() and a.menu() is None
    ]
    assert actions and set(actions) <= listed
    assert ("Case", "Verify case", "Ctrl+Shift+V or Alt+C, V") in routes
    assert ("Help", "Keyboard", "Ctrl+F1 or Alt+H, K") in routes
    window.keys_action.trigger()
    dialog = window.dialog
    assert isinstance(dialog, KeyboardHelp)
    assert dialog.table.rowCount() >= len(routes)
    assert not dialog.table.tabKeyNavigation()
    dialog.close()


def _grab(widget: QWidget) -> Any:
    return widget.grab().toImage()


@pytest.mark.parametrize("which", ["verify button", "artifacts table", "navigation"])
def test_focus_is_visible(qtbot: Any, collected: Any, which: str) -> None:
    """Tabbing onto a widget changes how it looks (a focus frame or outline)."""
    w = collected
    widget = {
        "verify button": lambda: (w.show_page(4), w.verify_view.verify_button)[1],
        "artifacts table": lambda: (w.show_page(2), w.artifact_view.table)[1],
        "navigation": lambda: w.nav,
    }[which]()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    start = widget.previousInFocusChain()
    while start is not widget and start.focusPolicy() & Qt.FocusPolicy.TabFocus == 0:
        start = start.previousInFocusChain()
    start.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(start.hasFocus)
    before = _grab(widget)
    for _ in range(10):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        if widget.hasFocus():
            break
    assert widget.hasFocus()
    assert _grab(widget) != before, f"{which}: focus changes nothing on screen"


def _high_contrast(dark: bool) -> QPalette:
    """A system high-contrast palette (as Windows' and GNOME's high-contrast themes)."""
    p = QPalette()
    fg, bg = (
        (QColor("#ffffff"), QColor("#000000")) if dark else (QColor("#000000"), QColor("#ffffff"))
    )
    r = QPalette.ColorRole
    for role in (r.Window, r.Base, r.AlternateBase, r.Button, r.ToolTipBase):
        p.setColor(role, bg)
    for role in (r.WindowText, r.Text, r.ButtonText, r.ToolTipText, r.PlaceholderText):
        p.setColor(role, fg)
    p.setColor(r.Highlight, QColor("#1aebff") if dark else QColor("#37006e"))
    p.setColor(r.HighlightedText, QColor("#000000") if dark else QColor("#ffffff"))
    p.setColor(r.Link, QColor("#ffff00") if dark else QColor("#00009f"))
    return p


@pytest.mark.parametrize("scheme", ["light", "dark", "high contrast light", "high contrast dark"])
def test_text_reads_at_4_5_to_1_in_every_scheme(window: Any, scheme: str) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    if scheme in ("light", "dark"):
        window.set_scheme(scheme, save=False)
    else:  # the system's palette as it is: what apply() makes of it
        app.setPalette(theme.readable_palette(_high_contrast(scheme.endswith("dark"))))
    palette = app.palette()
    assert theme.palette_is_dark(palette) == scheme.endswith("dark")
    low = [
        (name, round(theme.contrast(fg, bg), 2), fg.name(), bg.name())
        for name, fg, bg in theme.text_pairs(palette, theme.colours())
        if theme.contrast(fg, bg) < 4.5
    ]
    assert low == []
    window.set_scheme(theme.SYSTEM, save=False)


def test_fusion_selection_is_made_readable() -> None:
    """White on Fusion's light selection blue reads at 3.7:1: the blue is darkened."""
    light = theme.light_palette()
    role = QPalette.ColorRole
    assert theme.contrast(light.color(role.HighlightedText), light.color(role.Highlight)) < 4.5
    fixed = theme.readable_palette(light)
    assert theme.contrast(fixed.color(role.HighlightedText), fixed.color(role.Highlight)) >= 4.5
    assert fixed.color(role.Text) == light.color(role.Text)  # what already read is kept


def test_a_transfer_recorded_or_cancelled_is_announced(
    qtbot: Any,
    opened: Any,
    bob_identity: Any,
    tmp_path: Any,
    message_boxes: Any,
    announced: Announcements,
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from custody.record.keys import save_identity
    from tests.conftest import PASSPHRASE

    bob_file = tmp_path / "bob.p12"
    save_identity(bob_identity, bob_file, b"bob's long passphrase 42")
    opened.transfer_action.trigger()
    opened.dialog.reject()
    assert announced == ["Transfer cancelled: nothing was recorded."]
    opened.transfer_action.trigger()
    dialog = opened.dialog
    qtbot.keyClicks(dialog.from_pass, PASSPHRASE)
    dialog.to_file.setText(str(bob_file))
    qtbot.keyClicks(dialog.to_pass, "bob's long passphrase 42")
    qtbot.keyClicks(dialog.reason, "handed to legal")
    qtbot.keyClicks(dialog.location, "Evidence room 2")
    message_boxes.answers.append(QMessageBox.StandardButton.Yes)
    dialog.accept()
    assert len(message_boxes) == 1  # the hand-over, confirmed
    message_boxes.clear()
    assert announced[-1] == f"Custody transferred to Bob Receiver (ledger entry {dialog.seq})."


def test_a_finished_export_is_announced(
    qtbot: Any, opened: Any, make_tree: Any, announced: Announcements
) -> None:
    collect(qtbot, opened, [f"{make_tree(5)}/**"])
    opened.export_action.trigger()
    dialog = opened.dialog
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert announced[-1] == f"Bundle exported to {blocker.args[0].path}."


def _unnamed(root: QWidget) -> list[str]:
    return [
        f"{type(x).__name__} {x.objectName()!r}"
        for x in root.findChildren(QWidget)
        if isinstance(x, INTERACTIVE)
        and not (x.accessibleName() or _visible_name(x))
        and not isinstance(x.parent(), QAbstractItemView)
        and x.objectName() != "qt_scrollarea_viewport"
    ]


@pytest.mark.parametrize(
    "action", ["transfer", "export", "seal", "bundle", "keys", "new", "identity"]
)
def test_every_dialog_names_its_widgets_and_labels_read_their_text(
    qtbot: Any, opened: Any, message_boxes: Any, action: str
) -> None:
    from PySide6.QtWidgets import QMessageBox

    if action == "identity":
        message_boxes.answers.append(QMessageBox.StandardButton.Yes)  # replace: asked first
    getattr(opened, f"{action}_action").trigger()
    message_boxes.clear()
    dialog = opened.dialog
    assert dialog is not None and dialog.isVisible()
    assert _unnamed(dialog) == []
    for combo in dialog.findChildren(QComboBox):
        assert combo.view().accessibleName().endswith(" choices")
        assert _labelled(combo, dialog), f"{combo.accessibleName()}: no label linked"
    hiding = [
        label.objectName()
        for label in dialog.findChildren(QLabel)
        if label.accessibleName() and label.pixmap().isNull()
    ]
    assert hiding == []
    dialog.close()
