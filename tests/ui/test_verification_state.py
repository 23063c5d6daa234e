"""Verification state belongs to one case and one moment: it comes from the ledger's last
``verified`` entry and from a fresh check, never from another case (issue 16)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCharts import QScatterSeries
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.times import parse_utc
from app.verification import verify_case
from tests.ui.helpers import collect, column, flip_artifact_byte, orphan_archive, verify_now
from ui.artifact_model import BAD_COLOUR, OK_COLOUR


def _marks(model: Any) -> dict[int, str]:
    """Ledger entry -> what the Verification column says, for every row of an artifact model."""
    col = column(model, "Verification")
    return {
        model.row_at(r).ledger_seq: model.data(model.index(r, col)) for r in range(model.rowCount())
    }


def _select_seq(view: Any, seq: int) -> None:
    model = view.model
    view.select_row(next(r for r in range(model.rowCount()) if model.row_at(r).ledger_seq == seq))


def test_verification_marks_do_not_carry_over_to_another_case(
    qtbot: Any, opened: Any, make_case: Any, make_tree: Any
) -> None:
    tree = make_tree(10)
    collect(qtbot, opened, [f"{tree}/**"])
    failed_seq = flip_artifact_byte(opened.case, tree / "d3" / "f00003.txt")
    assert not verify_now(qtbot, opened).ok
    opened.show_page(2)
    assert _marks(opened.artifact_view.model)[failed_seq] == "FAILED"  # case A's own marks

    other = make_case("Case B, never verified")
    opened.open_case_dir(other.root)
    collect(qtbot, opened, [f"{make_tree(10, name='b')}/**"])
    opened.show_page(2)
    view = opened.artifact_view
    marks = _marks(view.model)
    assert failed_seq in marks  # B has an entry with the number A's failed one had
    assert set(marks.values()) == {""}, "case B shows case A's verification"
    _select_seq(view, failed_seq)
    assert "FAILED" not in view.details.signature.text()
    assert "✓ Verified" not in view.details.signature.text()
    opened.show_page(4)
    assert set(_marks(opened.verify_view.artifacts).values()) == {""}
    assert "Not verified" in opened.verify_view.banner.text()


def test_a_check_that_ends_after_the_case_changed_marks_nothing(
    qtbot: Any, opened: Any, make_case: Any, make_tree: Any
) -> None:
    collect(qtbot, opened, [f"{make_tree(10)}/**"])
    case_a = opened.case
    other = make_case("Case B")
    opened.open_case_dir(other.root)
    collect(qtbot, opened, [f"{make_tree(10, name='b')}/**"])
    opened.open_case_dir(case_a.root)
    vv = opened.verify_view
    opened.show_page(4)
    vv.record.setChecked(False)
    qtbot.mouseClick(vv.verify_button, Qt.MouseButton.LeftButton)
    assert vv.running
    opened.open_case_dir(other.root)  # A's result is still queued for this thread
    qtbot.waitUntil(lambda: not vv.running, timeout=60_000)

    opened.show_page(2)
    assert set(_marks(opened.artifact_view.model).values()) == {""}
    opened.show_page(4)
    assert vv.case is opened.case
    assert "VERIFIED" not in vv.banner.text() and "FAILED" not in vv.banner.text()
    assert set(_marks(vv.artifacts).values()) == {""}


def test_entries_recorded_after_a_check_are_not_marked_verified(
    qtbot: Any, opened: Any, make_tree: Any
) -> None:
    first = make_tree(5)
    collect(qtbot, opened, [f"{first}/**"])
    assert verify_now(qtbot, opened, record=False).ok
    later = make_tree(5, name="later")
    collect(qtbot, opened, [f"{later}/**"])
    opened.show_page(2)
    model = opened.artifact_view.model
    col = column(model, "Verification")
    shown = {
        model.data(model.index(r, 0)): model.data(model.index(r, col))
        for r in range(model.rowCount())
    }
    checked = {name: mark for name, mark in shown.items() if name.startswith(str(first))}
    after = {name: mark for name, mark in shown.items() if name.startswith(str(later))}
    assert len(checked) == len(after) == 5
    assert set(checked.values()) == {"verified"}
    assert "verified" not in after.values(), "rows the check never saw are marked verified"


def test_a_failed_verification_is_shown_again_when_the_case_is_reopened(
    qtbot: Any, opened: Any, make_tree: Any
) -> None:
    from ui.main_window import MainWindow

    tree = make_tree(10)
    collect(qtbot, opened, [f"{tree}/**"])
    victim = tree / "d3" / "f00003.txt"
    seq = flip_artifact_byte(opened.case, victim)
    report = verify_now(qtbot, opened)  # recorded in the ledger, signed
    assert not report.ok
    root = opened.case.root

    again = MainWindow()  # a new session: nothing but the case on disk
    qtbot.addWidget(again)
    again.open_case_dir(root)
    again.show_page(4)
    banner = again.verify_view.banner.text()
    assert "FAILED" in banner, banner
    assert f"{len(report.findings)} finding" in banner
    assert any("FAILED" in label.text() for label in again.statusBar().findChildren(QLabel))
    again.show_page(2)
    _select_seq(again.artifact_view, seq)
    assert "FAILED" in again.artifact_view.details.signature.text()


def test_case_list_shows_the_last_recorded_verification_of_each_case(
    qtbot: Any, window: Any, make_case: Any, alice: Any
) -> None:
    make_case("Never verified")
    good = make_case("Verified case")
    verify_case(good, sign_with=alice)
    bad = make_case("Damaged case")
    verify_case(bad, sign_with=alice)  # passed then ...
    orphan_archive(bad)
    verify_case(bad, sign_with=alice)  # ... failed: the last one counts
    with qtbot.waitSignal(window.cases_view.loaded, timeout=30_000):
        window.cases_view.refresh()
    table = window.cases_view.table
    col = column(table.model(), "Integrity")
    items = {table.item(r, 0).text(): table.item(r, col) for r in range(table.rowCount())}

    assert "not verified" in items["Never verified"].text()
    ok, failed = items["Verified case"], items["Damaged case"]
    assert ok.text().startswith("✓ verified")
    assert failed.text().startswith("✗ FAILED") and "1 finding" in failed.text()
    assert ok.foreground().color() == OK_COLOUR and failed.foreground().color() == BAD_COLOUR
    assert not ok.icon().isNull() and not failed.icon().isNull()
    assert ok.icon().cacheKey() != failed.icon().cacheKey()


def test_timeline_draws_a_failed_verification_red_with_an_icon_and_text(
    qtbot: Any, opened: Any
) -> None:
    assert verify_now(qtbot, opened).ok
    orphan_archive(opened.case)
    assert not verify_now(qtbot, opened).ok
    passed, failed = opened.case.state().verifications
    opened.show_page(3)
    chart = opened.custody_view.chart

    def series_of(recorded: Any) -> QScatterSeries:
        ms = parse_utc(recorded.at).timestamp() * 1000
        found = [
            s
            for s in chart.chart().series()
            if isinstance(s, QScatterSeries) and any(abs(p.x() - ms) < 2 for p in s.points())
        ]
        assert len(found) == 1
        return found[0]

    good, bad = series_of(passed), series_of(failed)
    assert bad is not good, "a failed verification is drawn like a passed one"
    assert bad.color() == BAD_COLOUR and good.color() == OK_COLOUR
    assert "FAILED" in bad.name() and "passed" in good.name()  # the legend says it in words
    assert not bad.lightMarker().isNull() and not good.lightMarker().isNull()  # an icon each
    assert bad.lightMarker() != good.lightMarker()
    assert bad.pointLabelsVisible() and "FAILED" in bad.pointLabelsFormat()
    assert "FAILED" in chart.accessibleDescription()


def test_a_verification_recorded_elsewhere_replaces_the_one_shown(
    qtbot: Any, opened: Any, alice: Any
) -> None:
    from app.cases import open_case

    assert verify_now(qtbot, opened).ok
    label = opened.integrity_label
    assert label.text().startswith("Integrity: ✓ verified")
    orphan_archive(opened.case)
    elsewhere = open_case(opened.case.root)  # as `chainproof verify --sign` would
    assert not verify_case(elsewhere, sign_with=alice).ok
    opened.show_page(3)
    qtbot.keyClicks(opened.custody_view.text, "Checked the stray archive.")
    qtbot.mouseClick(opened.custody_view.add_button, Qt.MouseButton.LeftButton)
    assert label.text().startswith("Integrity: ✗ FAILED"), label.text()
    assert "1 ledger entry recorded since" in label.text()  # the note
    opened.show_page(4)
    assert "FAILED" in opened.verify_view.banner.text()
