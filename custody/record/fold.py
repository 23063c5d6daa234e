"""The state of a case, folded from its ledger: the one source of every view.

``fold(entries)`` replays typed events in order and gives a :class:`CaseState`: the case and
its fields, examiners, runs with their counts, the journal, transfers and the current
custodian, access records, the seal, exports (with those started and not yet ended),
verifications, index rebuilds and archives set aside. What cannot
be folded (a malformed payload, an artifact of an unknown run, a second end of a run) is
kept as a :class:`FoldProblem` for the verifier to report; the fold itself never fails.

Per-artifact facts are not kept (a case may hold millions): a consumer that needs them
feeds entries through a :class:`Folder` and takes the :class:`ArtifactCollected` events as
they pass (:meth:`Folder.feed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from custody.errors import MalformedEvent
from custody.record.entry import GENESIS_HASH, Entry
from custody.record.events import (
    Accessed,
    ArchiveSetAside,
    ArtifactCollected,
    CaseFields,
    CaseOpened,
    CaseUpdated,
    Checkpoint,
    CollectionProblem,
    Event,
    Exported,
    ExportFailed,
    ExportStarted,
    IdentityAdded,
    IndexRebuilt,
    JournalEvent,
    RunFinished,
    RunStarted,
    Sealed,
    Transferred,
    Verified,
    parse,
)

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Recorded(Generic[E]):
    """An event with where and when the ledger recorded it, and who acted."""

    seq: int
    at: str
    actor: str
    event: E


@dataclass(frozen=True)
class FoldProblem:
    """Something in the ledger that does not fit the case's story; ``code`` is stable."""

    code: str
    seq: int
    message: str
    run_id: str | None = None


@dataclass
class Examiner:
    """A person known to the case by certificate, as their ``identity_added`` entry says."""

    fingerprint: str
    name: str
    organisation: str | None
    email: str | None
    role: str
    certificate_pem: str
    added: Recorded[IdentityAdded]


@dataclass
class RunState:
    """One collection run: how it started, how it ended, and what it collected."""

    run_id: str
    started: Recorded[RunStarted]
    finished: Recorded[RunFinished] | None = None
    artifacts: int = 0
    bytes: int = 0
    regular_files: int = 0
    errors: int = 0
    skipped: int = 0
    changed: int = 0
    #: Where the last recorded member ends: a crashed run's archive is cut back to it.
    recorded_end: int = 0
    #: Signed checkpoints that closed a batch of this run's bulk entries.
    checkpoints: list[int] = field(default_factory=list)
    collectors: dict[str, int] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``finished``, ``interrupted``, ``failed``, ``recovered``, or ``running`` until it ends."""
        return self.finished.event.status if self.finished else "running"

    @property
    def archive(self) -> str:
        """The archive's name in the case (``evidence/<run>.tar``)."""
        return self.started.event.archive

    @property
    def problems(self) -> int:
        return self.errors + self.skipped + self.changed


@dataclass
class CaseState:
    """Everything the ledger says about a case, as of its last entry."""

    case_id: str | None = None
    fields: CaseFields | None = None
    created_at: str | None = None
    opened: Recorded[CaseOpened] | None = None
    updates: list[Recorded[CaseUpdated]] = field(default_factory=list)
    examiners: dict[str, Examiner] = field(default_factory=dict)
    runs: dict[str, RunState] = field(default_factory=dict)
    journal: list[Recorded[JournalEvent]] = field(default_factory=list)
    transfers: list[Recorded[Transferred]] = field(default_factory=list)
    custodian: str | None = None
    access: list[Recorded[Accessed]] = field(default_factory=list)
    seal: Recorded[Sealed] | None = None
    exports: list[Recorded[Exported]] = field(default_factory=list)
    #: Exports that did not put their bundle in place (``export_failed``).
    failed_exports: list[Recorded[ExportFailed]] = field(default_factory=list)
    #: Exports started and not ended (by ``exported`` or ``export_failed``), by bundle id:
    #: running, or interrupted until the next command of the case closes them.
    open_exports: dict[str, Recorded[ExportStarted]] = field(default_factory=dict)
    verifications: list[Recorded[Verified]] = field(default_factory=list)
    reindexes: list[Recorded[IndexRebuilt]] = field(default_factory=list)
    #: Archives that no run owned, moved out of the evidence folder by a recovery.
    set_aside: list[Recorded[ArchiveSetAside]] = field(default_factory=list)
    checkpoints: int = 0
    entries: int = 0
    head_seq: int = 0
    head: str = GENESIS_HASH
    problems: list[FoldProblem] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.fields.title if self.fields else ""

    @property
    def sealed(self) -> bool:
        return self.seal is not None

    @property
    def artifacts(self) -> int:
        return sum(r.artifacts for r in self.runs.values())

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.runs.values())

    @property
    def collection_problems(self) -> int:
        return sum(r.problems for r in self.runs.values())

    @property
    def last_verification(self) -> Recorded[Verified] | None:
        return self.verifications[-1] if self.verifications else None

    def examiner_name(self, fingerprint: str) -> str:
        """The examiner's name, or the start of the fingerprint when unknown."""
        x = self.examiners.get(fingerprint)
        return x.name if x else f"{fingerprint[:16]}..."


class Folder:
    """Applies entries one by one to a :class:`CaseState` (see :func:`fold`)."""

    def __init__(self) -> None:
        self.state = CaseState()
        self._bulk_run: str | None = None  # run of the bulk entries since the last signature

    def feed(self, entries: Iterable[Entry]) -> Iterator[tuple[Entry, Event | None]]:
        """Apply each entry and pass it on with its typed event (None when malformed)."""
        for entry in entries:
            yield entry, self.apply(entry)

    def apply(self, entry: Entry) -> Event | None:
        """Apply one entry; returns its typed event, or None when it cannot be read."""
        s = self.state
        s.entries += 1
        s.head_seq, s.head = entry.seq, entry.entry_hash
        try:
            event = parse(entry)
        except MalformedEvent as exc:
            s.problems.append(FoldProblem("event.malformed", entry.seq, str(exc)))
            return None
        if isinstance(event, ArtifactCollected):
            self._artifact(entry, event)
        elif isinstance(event, CollectionProblem):
            self._problem(entry, event)
        elif isinstance(event, Checkpoint):
            s.checkpoints += 1
            if self._bulk_run is not None and self._bulk_run in s.runs:
                s.runs[self._bulk_run].checkpoints.append(entry.seq)
        else:
            self._act(Recorded(entry.seq, entry.at, entry.actor, event))
        if event.SIGNED:
            self._bulk_run = None
        return event

    # ---- bulk

    def _run_of(self, entry: Entry, run_id: str) -> RunState | None:
        run = self.state.runs.get(run_id)
        if run is None:
            self.state.problems.append(
                FoldProblem(
                    "run.unknown",
                    entry.seq,
                    f"{entry.event} for run {run_id}, which has no run_started entry",
                    run_id,
                )
            )
        elif run.finished is not None:
            self.state.problems.append(
                FoldProblem(
                    "run.after_end",
                    entry.seq,
                    f"{entry.event} for run {run_id} after its run_finished entry "
                    f"{run.finished.seq}",
                    run_id,
                )
            )
        return run

    def _artifact(self, entry: Entry, a: ArtifactCollected) -> None:
        run = self._run_of(entry, a.run_id)
        if run is None:
            return
        self._bulk_run = run.run_id
        run.artifacts += 1
        run.bytes += a.member.size
        run.regular_files += a.is_regular
        run.recorded_end = max(run.recorded_end, a.member.end)
        run.collectors[a.collector] = run.collectors.get(a.collector, 0) + 1

    def _problem(self, entry: Entry, p: CollectionProblem) -> None:
        run = self._run_of(entry, p.run_id)
        if run is None:
            return
        self._bulk_run = run.run_id
        if p.kind == "skipped":
            run.skipped += 1
        elif p.kind == "changed":
            run.changed += 1
        else:
            run.errors += 1
        run.collectors.setdefault(p.collector, 0)

    # ---- acts of people

    def _act(self, at: Recorded[Event]) -> None:
        s, ev, seq = self.state, at.event, at.seq
        if isinstance(ev, CaseOpened):
            if s.opened is not None:
                s.problems.append(
                    FoldProblem(
                        "case.reopened", seq, f"a second case_opened (first: {s.opened.seq})"
                    )
                )
                return
            s.opened = _as(at, ev)
            s.case_id, s.fields, s.created_at = ev.case_id, ev.fields, ev.created_at
            s.custodian = at.actor
        elif isinstance(ev, CaseUpdated):
            s.updates.append(_as(at, ev))
            if s.fields is not None:
                s.fields = s.fields.updated(ev.changes)
        elif isinstance(ev, IdentityAdded):
            if ev.fingerprint not in s.examiners:
                s.examiners[ev.fingerprint] = Examiner(
                    ev.fingerprint,
                    ev.name,
                    ev.organisation,
                    ev.email,
                    ev.role,
                    ev.certificate_pem,
                    _as(at, ev),
                )
        elif isinstance(ev, RunStarted):
            if ev.run_id in s.runs:
                s.problems.append(
                    FoldProblem(
                        "run.restarted", seq, f"run {ev.run_id} started twice", run_id=ev.run_id
                    )
                )
                return
            if s.seal is not None:
                s.problems.append(
                    FoldProblem(
                        "run.after_seal",
                        seq,
                        f"run {ev.run_id} started after the case was sealed (entry {s.seal.seq})",
                        run_id=ev.run_id,
                    )
                )
            s.runs[ev.run_id] = RunState(ev.run_id, _as(at, ev))
        elif isinstance(ev, RunFinished):
            run = s.runs.get(ev.run_id)
            if run is None:
                s.problems.append(
                    FoldProblem(
                        "run.unknown",
                        seq,
                        f"run_finished for run {ev.run_id}, which has no run_started entry",
                        ev.run_id,
                    )
                )
            elif run.finished is not None:
                s.problems.append(
                    FoldProblem(
                        "run.finished_twice",
                        seq,
                        f"run {ev.run_id} already ended at entry {run.finished.seq}",
                        ev.run_id,
                    )
                )
            else:
                run.finished = _as(at, ev)
        elif isinstance(ev, JournalEvent):
            s.journal.append(_as(at, ev))
        elif isinstance(ev, Transferred):
            s.transfers.append(_as(at, ev))
            s.custodian = ev.to_fp
        elif isinstance(ev, Accessed):
            s.access.append(_as(at, ev))
        elif isinstance(ev, Sealed):
            if s.seal is None:
                s.seal = _as(at, ev)
            else:
                s.problems.append(
                    FoldProblem("case.sealed_twice", seq, f"already sealed at entry {s.seal.seq}")
                )
        elif isinstance(ev, ExportStarted):
            s.open_exports[ev.bundle_id] = _as(at, ev)
        elif isinstance(ev, Exported):
            s.exports.append(_as(at, ev))
            s.open_exports.pop(ev.bundle_id, None)
        elif isinstance(ev, ExportFailed):
            s.failed_exports.append(_as(at, ev))
            s.open_exports.pop(ev.bundle_id, None)
        elif isinstance(ev, Verified):
            s.verifications.append(_as(at, ev))
        elif isinstance(ev, IndexRebuilt):
            s.reindexes.append(_as(at, ev))
        elif isinstance(ev, ArchiveSetAside):
            s.set_aside.append(_as(at, ev))


def _as(at: Recorded[Event], event: E) -> Recorded[E]:
    return Recorded(at.seq, at.at, at.actor, event)


def fold(entries: Iterable[Entry]) -> CaseState:
    """The state of a case from its ledger entries, in order."""
    folder = Folder()
    for entry in entries:
        folder.apply(entry)
    return folder.state
