"""A whole case driven from the keyboard alone: create an identity, open a new case, collect,
verify, hand the evidence over, seal, export, then open the bundle and verify it.

Every step is a key press on the widget that has the focus (menus by their mnemonics,
actions by their shortcuts, fields reached with Tab); no method of the window is called and
no widget is clicked. The question boxes are real too: this module restores
``QMessageBox.exec``, and a person at the keyboard (:class:`Person`) answers each expected
question by tabbing to its button and pressing Space, and refuses (Esc) any other box.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QWidget

from custody.record.keys import save_identity
from tests.conftest import PASSPHRASE

REAL_EXEC = QMessageBox.exec  # taken before the autouse fixture records boxes instead

Key = Qt.Key
ALT = Qt.KeyboardModifier.AltModifier
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


class Person:
    """Answers modal question boxes from the keyboard, as they come.

    ``expect(title, button)`` queues the answer to the next box titled ``title``; a box
    nobody expected is refused with Esc and kept in :attr:`unexpected`.
    """

    def __init__(self) -> None:
        self.expected: list[tuple[str, str]] = []
        self.answered: list[str] = []
        self.unexpected: list[str] = []
        self.timer = QTimer()
        self.timer.setInterval(50)
        self.timer.timeout.connect(self._look)
        self.timer.start()

    def expect(self, title: str, button: str) -> None:
        self.expected.append((title, button))

    def _look(self) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or not box.isVisible():
            return
        if self.expected and self.expected[0][0] == box.windowTitle():
            _title, wanted = self.expected.pop(0)
            button = next(b for b in box.findChildren(QPushButton) if b.text() == wanted)
            for _ in range(6):  # Tab through the box's buttons to the one wanted
                if box.focusWidget() is button:
                    break
                QTest.keyClick(box.focusWidget() or box, Key.Key_Tab)
            assert box.focusWidget() is button, f"Tab never reached {wanted!r}"
            QTest.keyClick(button, Key.Key_Space)
            self.answered.append(box.windowTitle())
        else:
            self.unexpected.append(f"{box.windowTitle()}: {box.text()} {box.informativeText()}")
            QTest.keyClick(box, Key.Key_Escape)


@pytest.fixture
def person(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(QMessageBox, "exec", REAL_EXEC)
    p = Person()
    yield p
    p.timer.stop()


def _focus(qtbot: Any) -> QWidget:
    """The widget with the keyboard focus (waiting for a window that just opened)."""
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5000)
    widget = QApplication.focusWidget()
    assert widget is not None
    return widget


def _press(qtbot: Any, key: Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier):
    QTest.keyClick(_focus(qtbot), key, modifier)


def _type(qtbot: Any, text: str) -> None:
    QTest.keyClicks(_focus(qtbot), text)


def _replace(qtbot: Any, text: str) -> None:
    """Select what the focused field holds and type ``text`` over it."""
    _press(qtbot, Key.Key_A, CTRL)
    _type(qtbot, text)


def _tab_to(qtbot: Any, name: str, limit: int = 25) -> QWidget:
    """Press Tab until the widget whose accessible name is ``name`` has the focus."""
    seen = []
    for _ in range(limit):
        widget = _focus(qtbot)
        if widget.accessibleName() == name:
            return widget
        seen.append(widget.accessibleName() or type(widget).__name__)
        _press(qtbot, Key.Key_Tab)
    raise AssertionError(f"Tab never reached {name!r}; it went through {seen}")


def _menu(qtbot: Any, window: Any, menu: Key, item: Key) -> None:
    """Open a menu of the menu bar with Alt and its mnemonic, then choose an item by its own."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    QTest.keyClick(window, menu, ALT)
    qtbot.waitUntil(lambda: QApplication.activePopupWidget() is not None, timeout=5000)
    QTest.keyClick(QApplication.activePopupWidget(), item)


def _window_named(qtbot: Any, name: str) -> QWidget:
    """The dialog with object name ``name``, once it is shown and has the focus."""

    def shown() -> bool:
        active = QApplication.activeWindow()
        return active is not None and active.objectName() == name

    qtbot.waitUntil(shown, timeout=10_000)
    window = QApplication.activeWindow()
    assert window is not None
    return window


def _back(qtbot: Any, window: Any) -> None:
    """The main window active again once a dialog has closed (what the window manager does;
    the offscreen platform leaves no window active)."""
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=10_000)
    if not window.isActiveWindow():
        window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)


def _wait(qtbot: Any, condition: Callable[[], bool], timeout: int = 60_000) -> None:
    qtbot.waitUntil(condition, timeout=timeout)


def test_a_case_from_identity_to_verified_bundle_with_the_keyboard_alone(
    qtbot: Any,
    window: Any,
    person: Person,
    tmp_path: Path,
    make_tree: Any,
    bob_identity: Any,
) -> None:
    w = window
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    assert w.identity is None and w.case is None

    # File > Create identity: name, organisation, e-mail; Next; passphrase twice; Finish
    _menu(qtbot, w, Key.Key_F, Key.Key_I)
    _window_named(qtbot, "identity_wizard")
    _type(qtbot, "Kim Keyboard")
    _press(qtbot, Key.Key_Tab)
    _type(qtbot, "Example Forensics")
    _press(qtbot, Key.Key_Tab)
    _type(qtbot, "kim@example.org")
    _press(qtbot, Key.Key_Return)
    _wait(qtbot, lambda: _focus(qtbot).accessibleName() == "passphrase", 5000)
    _type(qtbot, PASSPHRASE)
    _press(qtbot, Key.Key_Tab)
    _type(qtbot, PASSPHRASE)
    _press(qtbot, Key.Key_Return)
    _wait(qtbot, lambda: w.identity is not None, 10_000)
    assert w.identity.name == "Kim Keyboard"

    # File > New case: title, reference, directory; Next; Finish
    case_dir = tmp_path / "keyboard-case"
    _back(qtbot, w)
    QTest.keyClick(w, Key.Key_N, CTRL)
    _window_named(qtbot, "new_case_wizard")
    _type(qtbot, "Keyboard journey")
    _press(qtbot, Key.Key_Tab)
    _type(qtbot, "INC-KB-1")
    _press(qtbot, Key.Key_Tab)
    _replace(qtbot, str(case_dir))
    _press(qtbot, Key.Key_Return)
    _wait(qtbot, lambda: _focus(qtbot).accessibleName() == "severity", 5000)
    _press(qtbot, Key.Key_Return)
    _wait(qtbot, lambda: w.case is not None and w.case.root == case_dir, 20_000)

    # Collect page (Ctrl+2): profile "none" by typing it, one folder by path, F5
    tree = make_tree(12)
    _back(qtbot, w)
    QTest.keyClick(w, Key.Key_2, CTRL)
    _press(qtbot, Key.Key_P, ALT)
    assert _focus(qtbot).accessibleName() == "collection profile"
    _type(qtbot, "none")
    assert w.collect_view.profile_combo.currentText() == "none"
    _tab_to(qtbot, "path or glob to add")
    _type(qtbot, f"{tree}/**")
    _press(qtbot, Key.Key_Return)
    with qtbot.waitSignal(w.collect_view.run_finished, timeout=60_000) as run:
        _press(qtbot, Key.Key_F5)
    assert run.args[0].artifacts >= 12 and run.args[0].errors == 0

    # Verify the case (Ctrl+Shift+V), recorded in the ledger
    _back(qtbot, w)
    with qtbot.waitSignal(w.verify_view.verified, timeout=60_000) as checked:
        QTest.keyClick(w, Key.Key_V, CTRL | SHIFT)
    assert checked.args[0].ok

    # Transfer custody (Ctrl+T) to Bob, whose identity file is on this computer
    bob_file = tmp_path / "bob.p12"
    save_identity(bob_identity, bob_file, PASSPHRASE.encode())
    _back(qtbot, w)
    QTest.keyClick(w, Key.Key_T, CTRL)
    _window_named(qtbot, "transfer_dialog")
    _tab_to(qtbot, "releasing examiner passphrase")
    _type(qtbot, PASSPHRASE)
    _tab_to(qtbot, "Receiving examiner identity file")
    _type(qtbot, str(bob_file))
    _tab_to(qtbot, "receiving examiner passphrase")
    _type(qtbot, PASSPHRASE)
    _tab_to(qtbot, "reason for the transfer")
    _type(qtbot, "handed to legal for review")
    _tab_to(qtbot, "location of the transfer")
    _type(qtbot, "Evidence room 2")
    person.expect("Transfer custody", "Sign transfer")
    _press(qtbot, Key.Key_Return)
    _wait(qtbot, lambda: "Transfer custody" in person.answered, 10_000)
    _back(qtbot, w)

    # Case > Seal case: reason, Enter, confirm
    _menu(qtbot, w, Key.Key_C, Key.Key_S)
    _window_named(qtbot, "seal_dialog")
    _type(qtbot, "collection complete")
    person.expect("Seal case", "Seal case")
    _press(qtbot, Key.Key_Return)
    _wait(qtbot, lambda: w.case.state().sealed, 10_000)

    # Export (Ctrl+E) to the proposed place; Enter starts it
    _back(qtbot, w)
    QTest.keyClick(w, Key.Key_E, CTRL)
    export = _window_named(qtbot, "export_dialog")
    done: list[Any] = []
    export.exported.connect(done.append)
    _press(qtbot, Key.Key_Return)
    _wait(qtbot, lambda: bool(done or person.unexpected), 120_000)
    assert not person.unexpected
    bundle = Path(done[0].path)
    assert (bundle / "manifest.json").is_file()
    _press(qtbot, Key.Key_Escape)

    # File > Verify a bundle: its path, Enter
    _back(qtbot, w)
    _menu(qtbot, w, Key.Key_F, Key.Key_V)
    dialog = _window_named(qtbot, "bundle_dialog")
    assert _focus(qtbot).accessibleName() == "bundle folder or zip file"
    _type(qtbot, str(bundle))
    _press(qtbot, Key.Key_Return)
    _wait(qtbot, lambda: dialog.report is not None, 120_000)
    assert dialog.report.ok, [str(f) for f in dialog.report.findings]
    assert "verified" in dialog.banner.text().lower()
    _press(qtbot, Key.Key_Escape)

    state = w.case.state()
    assert state.sealed and state.custodian is not None
    assert state.custodian == bob_identity.fingerprint
    assert person.answered == ["Transfer custody", "Seal case"]
    assert not person.unexpected
