"""The custody report's content, derived from the ledger entries and the verification result.

Nothing here is taken on trust from a database table: the case, its examiners, runs and
counts, journal and transfers come from the fold of the ledger
(:class:`~custody.record.fold.CaseState`); per-artifact rows and the custody log from the
typed events streamed through the same fold; the rest from the
:class:`~custody.verify.case.Report` and, for the state of the machine and its clocks, the
run archives (:mod:`custody.report.archives`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from custody.record.entry import Entry
from custody.record.events import ArtifactCollected, Checkpoint, CollectionProblem, Event
from custody.record.fold import Folder, Recorded
from custody.report.archives import archive_facts, read_system_facts
from custody.report.log import custody_log, status_of
from custody.report.model import Act, ReportModel, ReportSigner, RunReport
from custody.store.storage import EvidenceStore
from custody.verify.findings import Report

E = TypeVar("E", bound=Event)


@dataclass
class _Stream:
    """What one pass over the entries gathers beside the fold."""

    entries: list[Entry] = field(default_factory=list)
    runs: dict[str, RunReport] = field(default_factory=dict)
    acts: list[tuple[Entry, Event | None]] = field(default_factory=list)
    act_entries: dict[int, Entry] = field(default_factory=dict)
    loose_bulk: list[Entry] = field(default_factory=list)
    checkpoint_hashes: dict[int, str] = field(default_factory=dict)
    signed_by: dict[str, int] = field(default_factory=dict)
    #: Runs whose last bulk entry is not yet followed by a signed entry.
    uncovered: set[str] = field(default_factory=set)


def build_model(
    *,
    entries: Iterable[Entry],
    verification: Report,
    manifest_sha256: str,
    bundle_id: str,
    generated_at: dt.datetime,
    evidence: EvidenceStore,
    examiner: ReportSigner,
    hash_archives: bool = True,
) -> ReportModel:
    """Derive the report's content from the ledger, the verification and the archives."""
    folder = Folder()
    stream = _Stream()
    for entry, event in folder.feed(entries):
        _take(stream, folder, entry, event)
    state = folder.state
    model = ReportModel(
        entries=stream.entries,
        state=state,
        verification=verification,
        manifest_sha256=manifest_sha256,
        bundle_id=bundle_id,
        generated_at=generated_at,
        examiner=examiner,
        loose_bulk=stream.loose_bulk,
        signed_by=stream.signed_by,
        names={**verification.signers, **{fp: x.name for fp, x in state.examiners.items()}},
    )
    for f in verification.findings:
        if f.seq is not None:
            model.findings_by_seq.setdefault(f.seq, []).append(f)
    model.runs = [stream.runs.get(run_id) or RunReport(run) for run_id, run in state.runs.items()]
    for run in model.runs:
        if run.state.checkpoints:
            run.last_checkpoint_hash = stream.checkpoint_hashes.get(run.state.checkpoints[-1], "")
        read_system_facts(run, evidence)
        run.archive = archive_facts(run, evidence, hash_archives)
    model.journal = [_act(model, stream, r) for r in state.journal]
    model.transfers = [_act(model, stream, r) for r in state.transfers]
    unreadable = {p.seq: p.message for p in state.problems if p.code == "event.malformed"}
    custody_log(model, stream.acts, unreadable)
    return model


def _take(stream: _Stream, folder: Folder, entry: Entry, event: Event | None) -> None:
    """Gather what the report needs of one entry, just folded."""
    stream.entries.append(entry)
    for sig in entry.signatures:
        stream.signed_by[sig.by] = stream.signed_by.get(sig.by, 0) + 1
    if entry.signatures:
        for run_id in stream.uncovered:
            stream.runs[run_id].covered_by = entry
        stream.uncovered.clear()
    if isinstance(event, ArtifactCollected | CollectionProblem):
        state = folder.state.runs.get(event.run_id)
        if state is None:
            stream.loose_bulk.append(entry)
            return
        run = stream.runs.setdefault(event.run_id, RunReport(state))
        run.covered_by = None
        stream.uncovered.add(event.run_id)
        if isinstance(event, ArtifactCollected):
            run.artifacts.append(Recorded(entry.seq, entry.at, entry.actor, event))
        else:
            run.problems.append(Recorded(entry.seq, entry.at, entry.actor, event))
        return
    if isinstance(event, Checkpoint):
        stream.checkpoint_hashes[entry.seq] = entry.entry_hash
    stream.acts.append((entry, event))
    stream.act_entries[entry.seq] = entry


def _act(model: ReportModel, stream: _Stream, recorded: Recorded[E]) -> Act[E]:
    entry = stream.act_entries[recorded.seq]
    return Act(recorded, status_of(model, entry, recorded.event))
