"""``CaseHandle.folded``: the parts of a case's state that a few entry kinds make alone, read
without folding the whole ledger, equal the whole fold's."""

from __future__ import annotations

from app.cases import CaseHandle, open_case
from custody.record.events import (
    CaseOpened,
    ExportStarted,
    IdentityAdded,
    Note,
    RunStarted,
)
from custody.record.keys import Identity


def test_each_part_folded_alone_equals_the_whole_fold(
    make_case, alice: Identity, bob_identity: Identity
) -> None:
    case: CaseHandle = make_case()
    writer = case.writer(alice)
    writer.append(RunStarted(run_id="r", host="h", profile="none", archive="evidence/r.tar"))
    writer.append(Note(journal_kind="note", text="before bob"))
    case.writer(bob_identity)  # adds Bob's identity entry
    writer.append(
        ExportStarted(
            bundle_id="b-1",
            generated_at="2026-01-01T00:00:00.000000Z",
            path="/nowhere/b",
            format="directory",
            staging="/nowhere/.b.staging",
            host="h",
            ledger_entries=5,
            ledger_head="0" * 64,
            verification="verified",
            findings=0,
        )
    )
    writer.flush("test")

    whole = open_case(case.root).state()
    opened = open_case(case.root).folded((CaseOpened.EVENT,))
    examiners = open_case(case.root).folded((IdentityAdded.EVENT,))
    exports = open_case(case.root).folded((ExportStarted.EVENT,))
    assert opened.opened == whole.opened and opened.opened is not None
    assert examiners.examiners == whole.examiners and len(whole.examiners) == 2
    assert exports.open_exports == whole.open_exports and "b-1" in whole.open_exports
    assert opened.runs == {} and whole.runs  # only the kinds asked for were read


def test_a_handle_folded_already_gives_its_whole_state(make_case) -> None:
    """Once the whole ledger is folded, catching up is cheaper than a narrow read."""
    handle = open_case(make_case().root)
    whole = handle.state()
    assert handle.folded((CaseOpened.EVENT,)) is whole
