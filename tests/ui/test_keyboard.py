"""The window without a mouse: Tab leaves tables, Enter opens a case, every menu action has a
mnemonic or a shortcut, and a table keeps its selection when it is sorted or read again."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QApplication, QMenu

from tests.ui.helpers import collect


def _activate(qtbot: Any, w: Any) -> None:
    """Make the window active, as a click would (focus and key presses need it)."""
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)


def _loaded(qtbot: Any, w: Any) -> None:
    view = w.cases_view
    if view.loading:
        with qtbot.waitSignal(view.loaded, timeout=30_000):
            pass


def test_tab_moves_focus_out_of_every_table(qtbot: Any, opened: Any, make_tree: Any) -> None:
    collect(qtbot, opened, [f"{make_tree(5)}/**"])
    _activate(qtbot, opened)
    views = [opened.cases_view.table]
    for page in range(1, 5):
        opened.show_page(page)
        views += [
            v for v in opened.stack.currentWidget().findChildren(QAbstractItemView) if v.isVisible()
        ]
    assert len(views) >= 5
    for view in views:
        assert not view.tabKeyNavigation(), view.objectName()
    opened.show_page(2)
    table = opened.artifact_view.table
    table.setFocus()
    table.selectRow(1)
    qtbot.waitUntil(table.hasFocus, timeout=3000)
    qtbot.keyClick(table, Qt.Key.Key_Tab)
    assert not table.hasFocus() and QApplication.focusWidget() is not None
    assert table.selectionModel().selectedRows()[0].row() == 1  # Tab did not move the cursor
    table.setFocus()
    qtbot.waitUntil(table.hasFocus, timeout=3000)
    qtbot.keyClick(table, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert not table.hasFocus()


def test_enter_on_a_case_list_row_opens_that_case(
    qtbot: Any, window: Any, make_case: Any, alice: Any
) -> None:
    make_case("First case")
    second = make_case("Second case")
    _loaded(qtbot, window)
    with qtbot.waitSignal(window.cases_view.loaded, timeout=30_000):
        window.cases_view.refresh()
    table = window.cases_view.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "Second case")
    _activate(qtbot, window)
    table.setFocus()
    table.setCurrentCell(row, 0)
    qtbot.waitUntil(table.hasFocus, timeout=3000)
    qtbot.keyClick(table, Qt.Key.Key_Return)
    assert window.case is not None and window.case.root == second.root
    assert window.nav.currentRow() == 2


def test_artifact_selection_survives_sorting_and_a_reload(
    qtbot: Any, opened: Any, make_tree: Any
) -> None:
    tree = make_tree(30)
    collect(qtbot, opened, [f"{tree}/**"])
    opened.show_page(2)
    view = opened.artifact_view
    model = view.model
    wanted = str(tree / "d7" / "f00017.txt")
    row = next(r for r in range(model.rowCount()) if model.data(model.index(r, 0)) == wanted)
    view.select_row(row)
    assert view.details.title.text() == wanted

    def selected() -> str:
        rows = view.table.selectionModel().selectedRows()
        assert len(rows) == 1, "the selection was lost"
        return str(model.data(model.index(rows[0].row(), 0)))

    view.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert selected() == wanted
    assert view.table.selectionModel().selectedRows()[0].row() != row  # it moved with its row
    assert view.details.title.text() == wanted  # the details pane stays on it too
    view.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)
    assert selected() == wanted and view.details.title.text() == wanted
    view.refresh()  # new data (after a run): still selected
    assert selected() == wanted
    view.search.setText("no such artifact")
    view._apply_filter()
    assert not view.table.selectionModel().selectedRows()
    assert view.details.key is None


def test_case_list_selection_survives_sorting_and_a_refresh(
    qtbot: Any, window: Any, make_case: Any
) -> None:
    for title in ("Alpha", "Bravo", "Charlie"):
        make_case(title)
    _loaded(qtbot, window)
    with qtbot.waitSignal(window.cases_view.loaded, timeout=30_000):
        window.cases_view.refresh()
    table = window.cases_view.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "Bravo")
    table.selectRow(row)
    table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert table.item(table.currentRow(), 0).text() == "Bravo"
    with qtbot.waitSignal(window.cases_view.loaded, timeout=30_000):
        window.cases_view.refresh()
    assert table.item(table.currentRow(), 0).text() == "Bravo"


def test_every_menu_action_is_reachable_from_the_keyboard(window: Any) -> None:
    """Each menu has a mnemonic (Alt+letter), each action a mnemonic, and the main ones a
    shortcut, shown in the menu; standard keys where the platform has them."""
    bar = window.menuBar()
    menus = [a.menu() for a in bar.actions() if isinstance(a.menu(), QMenu)]
    assert [m.title() for m in menus] == ["&File", "&Case", "&View", "&Help"]

    def actions(menu: QMenu) -> list[Any]:
        found = []
        for a in menu.actions():
            if a.isSeparator():
                continue
            if isinstance(a.menu(), QMenu):
                found += actions(a.menu())
            found.append(a)
        return found

    every = [a for m in menus for a in actions(m)]
    lacking = [a.text() for a in every if "&" not in a.text() and a.shortcut().isEmpty()]
    assert not lacking, f"no mnemonic nor shortcut: {lacking}"
    shortcuts = {a.text().replace("&", ""): a.shortcut() for a in every}
    standard = QKeySequence.StandardKey
    for name, key in (
        ("New case…", standard.New),
        ("Open case…", standard.Open),
        ("Quit", standard.Quit),
        ("Filter artifacts", standard.Find),
        ("Documentation", standard.HelpContents),
    ):
        assert shortcuts[name] == QKeySequence(key), name
    for name in (
        "Verify a bundle…",
        "Collect",
        "Add journal entry",
        "Transfer custody…",
        "Extract artifact…",
        "Export bundle…",
        "Verify case",
    ):
        assert not shortcuts[name].isEmpty(), f"{name} has no shortcut"
    keys = [a.shortcut().toString() for a in every if not a.shortcut().isEmpty()]
    assert len(keys) == len(set(keys)), f"a shortcut is used twice: {keys}"


def _mnemonic(text: str) -> str | None:
    i = text.replace("&&", "").find("&")
    return text.replace("&&", "")[i + 1].lower() if 0 <= i < len(text) - 1 else None


def test_no_two_mnemonics_of_a_screen_collide_with_each_other_or_the_menus(
    qtbot: Any, opened: Any
) -> None:
    """Alt+letter reaches one control: a letter used twice on a screen (or by a screen and
    a menu) would only cycle the focus, or do nothing."""
    from PySide6.QtWidgets import QAbstractButton, QLabel, QTabWidget

    menus = [_mnemonic(a.text()) for a in opened.menuBar().actions()]
    for page in range(5):
        opened.show_page(page)
        screen = opened.stack.currentWidget()
        letters = list(menus)
        for b in screen.findChildren(QAbstractButton):
            if b.isVisible() and b.text():
                letters.append(_mnemonic(b.text()))
        for label in screen.findChildren(QLabel):
            if label.isVisible() and label.buddy() is not None:
                letters.append(_mnemonic(label.text()))
        for tabs in screen.findChildren(QTabWidget):
            if tabs.isVisible():
                letters += [_mnemonic(tabs.tabText(i)) for i in range(tabs.count())]
        used = [c for c in letters if c]
        assert len(used) == len(set(used)), f"page {page}: {sorted(used)}"
