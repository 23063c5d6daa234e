"""The fold: a case's state from its ledger alone, and what does not fit its story."""

from __future__ import annotations

from custody.record.entry import GENESIS_HASH, Entry, make_entry
from custody.record.events import (
    CollectionProblem,
    Event,
    Exported,
    ExportFailed,
    ExportStarted,
    RunFinished,
    RunStarted,
    Sealed,
)
from custody.record.fold import Folder, fold
from tests.custody.record.test_events import legacy_entries


def test_format_1_case_folds_to_what_its_ledger_says() -> None:
    entries = legacy_entries()
    s = fold(entries)
    assert s.title == "Legacy fixture case" and s.case_id == entries[0].case_id
    assert s.fields is not None and s.fields.incident_ref == "INC-LEGACY-1"
    assert s.fields.severity == "high" and s.fields.status == "reported"
    assert [x.name for x in s.examiners.values()] == ["Alice Legacy", "Bob Legacy"]
    runs = list(s.runs.values())
    assert [(r.status, r.artifacts, r.skipped, r.errors) for r in runs] == [
        ("finished", 9, 1, 0),
        ("finished", 2, 0, 0),
    ]
    assert runs[0].bytes == 71940 and runs[0].regular_files == 8  # one symlink
    assert runs[0].checkpoints == [14]
    bob = next(x for x in s.examiners.values() if x.name == "Bob Legacy")
    assert len(s.transfers) == 1 and s.custodian == bob.fingerprint
    assert [j.event.journal_kind for j in s.journal] == ["note", "decision"]
    assert len(s.access) == 1 and s.access[0].event.purpose == "review of the text file"
    assert s.sealed and s.seal is not None and s.seal.seq == 28
    assert len(s.exports) == 1 and s.exports[0].event.format == "zip"
    assert s.last_verification is not None and s.last_verification.event.ok
    assert (s.entries, s.head_seq, s.head) == (28, 28, entries[-1].entry_hash)
    assert s.problems == []


def test_folding_in_steps_equals_folding_at_once() -> None:
    entries = legacy_entries()
    folder = Folder()
    for e in entries[:10]:
        folder.apply(e)
    for e in entries[10:]:
        folder.apply(e)
    assert folder.state == fold(entries)


def _chain(events: list[Event | tuple[str, dict]]) -> list[Entry]:
    out, prev = [], GENESIS_HASH
    for i, ev in enumerate(events, 1):
        name, payload = (ev.EVENT, ev.payload()) if isinstance(ev, Event) else ev
        e = make_entry("c", i, "2026-01-01T00:00:00.000000Z", "ab" * 32, name, payload, prev)
        out.append(e)
        prev = e.entry_hash
    return out


def test_what_does_not_fit_the_story_is_kept_as_problems() -> None:
    start = RunStarted(run_id="r1", host="h", profile="none", archive="evidence/r1.tar")
    end = RunFinished(run_id="r1", status="finished", archive="evidence/r1.tar")
    entries = _chain(
        [
            start,
            CollectionProblem(run_id="ghost", collector="files", kind="error", reason="x"),
            end,
            end,
            CollectionProblem(run_id="r1", collector="files", kind="error", reason="late"),
            Sealed(reason="done", ledger_head="0" * 64, ledger_entries=5),
            RunStarted(run_id="r2", host="h", profile="none", archive="evidence/r2.tar"),
            start,
            ("artifact_collected", {"run_id": "r2"}),
        ]
    )
    s = fold(entries)
    codes = [(p.code, p.seq) for p in s.problems]
    assert codes == [
        ("run.unknown", 2),
        ("run.finished_twice", 4),
        ("run.after_end", 5),
        ("run.after_seal", 7),
        ("run.restarted", 8),
        ("event.malformed", 9),
    ]
    assert "entry 9" in s.problems[-1].message and "'member'" in s.problems[-1].message
    assert s.runs["r1"].errors == 1 and s.entries == 9


def _started(bundle_id: str) -> ExportStarted:
    return ExportStarted(
        bundle_id=bundle_id,
        generated_at="2026-01-01T00:00:00.000000Z",
        path=f"/x/{bundle_id}",
        format="directory",
        staging=f"/x/.{bundle_id}.chainproof-export-{bundle_id}",
        host="h",
        ledger_entries=1,
        ledger_head="0" * 64,
        verification="verified",
        findings=0,
    )


def test_an_export_is_open_from_its_start_to_its_end() -> None:
    done = Exported(
        bundle_id="b1",
        generated_at="2026-01-01T00:00:00.000000Z",
        path="/x/b1",
        format="directory",
        manifest_sha256="a" * 64,
        sha256sums_sha256="b" * 64,
        ledger_entries=1,
        ledger_head="0" * 64,
        files=9,
        bytes=99,
        verification="verified",
        findings=0,
    )
    failed = ExportFailed(bundle_id="b2", path="/x/b2", reason="disk full", staging="/x/.s")
    s = fold(_chain([_started("b1"), _started("b2"), _started("b3"), done, failed]))
    assert list(s.open_exports) == ["b3"] and s.open_exports["b3"].seq == 3
    assert [r.event.bundle_id for r in s.exports] == ["b1"]
    assert [(r.seq, r.event.reason) for r in s.failed_exports] == [(5, "disk full")]
    assert s.problems == []
