"""Fixtures for the desktop application: a main window, recorded message boxes, file trees."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox


class MessageBoxes(list[tuple[str, str]]):
    """Message boxes the code under test showed: (title, text), in order.

    A box is answered with the next button of :attr:`answers` (a test queues the answer a
    person would give to a question), else with Ok, which confirms no question.
    """

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[QMessageBox.StandardButton] = []

    def texts(self) -> list[str]:
        return [t for _title, t in self]


@pytest.fixture(autouse=True)
def message_boxes(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessageBoxes]:
    """Record QMessageBox.exec instead of blocking; a test that expects none gets none."""
    shown = MessageBoxes()

    def fake_exec(self: QMessageBox) -> int:
        shown.append((self.windowTitle(), self.text()))
        answer = shown.answers.pop(0) if shown.answers else QMessageBox.StandardButton.Ok
        return int(answer.value)

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    yield shown


@pytest.fixture
def expect_no_errors(message_boxes: MessageBoxes) -> Iterator[None]:
    yield
    assert not message_boxes, f"unexpected error dialogs: {message_boxes.texts()}"


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, expect_no_errors: None) -> Iterator[Any]:
    """The main window, shown offscreen, looking for cases in ``tmp_path``."""
    from ui.main_window import MainWindow
    from ui.settings import settings
    from ui.workers import wait_for_workers

    s = settings()
    s.setValue("cases/root", str(tmp_path))
    s.sync()
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1300, 850)
    w.show()
    yield w
    if w.collect_view.worker is not None:
        w.collect_view.cancel()
    assert wait_for_workers(60_000)


@pytest.fixture
def make_tree(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a directory of ``n`` small files spread over sub-directories."""

    def make(n: int = 200, name: str = "tree", size: int = 700) -> Path:
        root = tmp_path / name
        for i in range(n):
            d = root / f"d{i % 10}"
            d.mkdir(parents=True, exist_ok=True)
            body = (f"file {i}\n".encode() * (size // 8 + 1))[:size]
            (d / f"f{i:05d}.txt").write_bytes(body)
        return root

    return make


@pytest.fixture
def opened(window: Any, make_case: Callable[..., Any], alice: Any) -> Any:
    """The window with a new case open and Alice's identity unlocked."""
    handle = make_case("GUI test case", incident_ref="INC-1")
    window.set_identity(alice)
    window.open_case_dir(handle.root)
    return window
