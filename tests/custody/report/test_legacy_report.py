"""The report of a case made by the format 1 code: its facts are the ledger's, read through
the fold, and the PDF is signed and valid."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from app.cases import open_case
from custody.db.ledger import read_entries
from custody.record.entry import Entry
from custody.record.fold import fold
from custody.record.keys import Identity, load_identity
from custody.report.build import build_signed_report, render_report
from custody.report.data import build_model
from custody.report.model import ReportModel, ReportSigner
from custody.report.pdf.timeline import EVENT_COLOURS, LANES
from custody.store.storage import LocalEvidenceStore
from custody.verify.case import verify
from custody.verify.findings import Report
from tests.custody.report.test_report import pdfsig, pdftext

LEGACY = Path(__file__).parents[2] / "fixtures" / "legacy-v1"
PASSPHRASE = b"legacy fixture passphrase"
GENERATED = dt.datetime(2025, 3, 14, 15, 9, 26, tzinfo=dt.UTC)
MANIFEST = "ab" * 32

needs_poppler = pytest.mark.skipif(
    shutil.which("pdfsig") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdfsig, pdftotext) is part of the dev setup: apt-get install poppler-utils",
)


@dataclasses.dataclass
class Legacy:
    case_dir: Path
    entries: list[Entry]
    verification: Report
    alice: Identity


@pytest.fixture
def legacy(tmp_path: Path) -> Legacy:
    """A copy of the format 1 fixture case (the fixture itself is never touched)."""
    case_dir = tmp_path / "case"
    shutil.copytree(LEGACY / "case", case_dir)
    for p in case_dir.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    case = open_case(case_dir)
    entries = list(read_entries(case.sessions, case.case_id))
    report = verify(
        str(case_dir),
        entries,
        evidence=LocalEvidenceStore(case.evidence_dir),
        certificate_files=sorted(case.identities_dir.glob("*.pem")),
        case_id=case.case_id,
    )
    alice = load_identity(LEGACY / "alice.p12", PASSPHRASE, check_dates=False)
    return Legacy(case_dir, entries, report, alice)


def model_of(legacy: Legacy, entries: list[Entry] | None = None) -> ReportModel:
    a = legacy.alice
    return build_model(
        entries=legacy.entries if entries is None else entries,
        verification=legacy.verification,
        manifest_sha256=MANIFEST,
        bundle_id="legacy-bundle",
        generated_at=GENERATED,
        evidence=LocalEvidenceStore(legacy.case_dir / "evidence"),
        examiner=ReportSigner(a.name, a.organisation, a.email, a.fingerprint, a.certificate_pem()),
    )


def test_the_model_is_the_fold_of_the_ledger(legacy: Legacy) -> None:
    state = fold(legacy.entries)
    m = model_of(legacy)
    assert legacy.verification.ok, legacy.verification.render()
    assert m.case_field("title") == state.title == "Legacy fixture case"
    assert m.case_id == state.case_id
    assert [p.name for p in m.people] == ["Alice Legacy", "Bob Legacy"]
    assert [r.run_id for r in m.runs] == list(state.runs)
    for r in m.runs:
        folded = state.runs[r.run_id]
        assert (r.artifact_entries, r.problem_entries) == (
            folded.artifacts,
            folded.errors + folded.skipped + folded.changed,
        )
        counts = r.collector_counts().values()
        assert sum(c.bytes for c in counts) == folded.bytes
        assert sum(c.artifacts for c in counts) == folded.artifacts
        assert r.system is not None, r.system_note
        assert r.archive is not None and r.archive.sha256 is not None
    assert (m.artifact_count, m.problem_count) == (state.artifacts, state.collection_problems)
    assert [j.event.text for j in m.journal] == [j.event.text for j in state.journal]
    assert [t.recorded.seq for t in m.transfers] == [t.seq for t in state.transfers]
    assert all(t.signature == "valid (2)" for t in m.transfers)
    # one log row per act, one per run for its bulk entries, no run checkpoint on its own
    bulk = [r for r in m.log if r.bulk]
    assert len(bulk) == len(state.runs)
    run_checkpoints = {s for run in state.runs.values() for s in run.checkpoints}
    assert not {r.seq for r in m.log} & {str(s) for s in run_checkpoints}
    assert all(r.signature.startswith("valid") for r in m.log), m.log


@needs_poppler
def test_the_format_1_case_renders_with_the_ledgers_facts(legacy: Legacy, tmp_path: Path) -> None:
    out = tmp_path / "custody-report.pdf"
    build_signed_report(
        entries=legacy.entries,
        verification=legacy.verification,
        manifest_sha256=MANIFEST,
        bundle_id="legacy-bundle",
        generated_at=GENERATED,
        evidence=LocalEvidenceStore(legacy.case_dir / "evidence"),
        identity=legacy.alice,
        out=out,
    )
    assert "Signature Validation: Signature is Valid." in pdfsig(out)
    flat = re.sub(r"\s+", " ", "\n".join(pdftext(out)))
    state = fold(legacy.entries)
    assert "Legacy fixture case" in flat
    assert "VERIFIED" in flat
    for x in state.examiners.values():
        assert x.name in flat and x.fingerprint in flat
    assert (
        f"{len(state.runs)} collection run(s), {state.artifacts:,} artifacts" in flat
        and f"{state.collection_problems:,} errors and skips, {state.entries:,} ledger entries, "
        f"{len(state.examiners)} examiner(s)"
        in flat
    )
    for run in state.runs.values():
        assert f"Run {run.run_id}" in flat
        assert f"Outcome {run.artifacts:,} artifacts (" in flat
        assert f"{run.errors} errors, {run.skipped} skipped, {run.changed} other" in flat
    for j in state.journal:
        assert j.event.text in flat
    transfer = state.transfers[0].event
    assert f"Custody transferred from {transfer.from_name} to {transfer.to_name}" in flat
    assert "Evidence accessed by Alice Legacy" in flat
    assert "Case sealed after entry" in flat
    # Annex B gives every signed entry's full hash (every entry's with the full inventory).
    for e in legacy.entries:
        if e.signatures:
            assert e.entry_hash in flat
    full = tmp_path / "full.pdf"
    build_signed_report(
        entries=legacy.entries,
        verification=legacy.verification,
        manifest_sha256=MANIFEST,
        bundle_id="legacy-bundle",
        generated_at=GENERATED,
        evidence=LocalEvidenceStore(legacy.case_dir / "evidence"),
        identity=legacy.alice,
        out=full,
        full_inventory=True,
    )
    whole = re.sub(r"\s+", " ", "\n".join(pdftext(full)))
    for e in legacy.entries:
        assert e.entry_hash in whole


def test_an_unreadable_entry_has_its_row(legacy: Legacy) -> None:
    """A payload the parser refuses still gets a log row saying why, not a crash."""
    note = next(e for e in legacy.entries if e.event == "note")
    entries = [dataclasses.replace(e, payload={}) if e is note else e for e in legacy.entries]
    m = model_of(legacy, entries)
    row = next(r for r in m.log if r.seq == str(note.seq))
    assert row.details.startswith(f"Unreadable note entry: entry {note.seq}: ")
    assert "'text' is missing" in row.details
    assert any(t.seq == note.seq and t.kind is None for t in m.timeline)
    assert not m.journal or all(j.recorded.seq != note.seq for j in m.journal)


def test_the_timeline_is_keyed_by_event_classes() -> None:
    laned = {kind for _, kinds in LANES for kind in kinds}
    assert laned == set(EVENT_COLOURS)
    assert all(isinstance(kind, type) for kind in laned)


def test_the_same_input_renders_the_same_bytes(legacy: Legacy) -> None:
    args = {
        "entries": legacy.entries,
        "verification": legacy.verification,
        "manifest_sha256": MANIFEST,
        "bundle_id": "legacy-bundle",
        "generated_at": GENERATED,
        "evidence": LocalEvidenceStore(legacy.case_dir / "evidence"),
        "identity": legacy.alice,
    }
    assert render_report(**args) == render_report(**args)
