"""What the custody report shows, in plain values: the case as folded from its ledger, the
per-artifact facts streamed from the same entries, the verification, and what was found of
the run archives at report time. :mod:`custody.report.data` builds it; the PDF only lays it
out.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from custody.record.describe import name_of
from custody.record.entry import Entry
from custody.record.events import (
    ArtifactCollected,
    CaptureFacts,
    CollectionProblem,
    Event,
    JournalEvent,
    RunFinished,
    RunStarted,
    Transferred,
)
from custody.record.fold import CaseState, Examiner, Recorded, RunState
from custody.report.inventory import AnnexFile
from custody.verify.findings import Finding, Report

SHORT_HASH = 16
NOT_RECORDED = "not recorded"
SYSTEM_MEMBER = "volatile/system.json"

E = TypeVar("E", bound=Event)


def text_or_not_recorded(value: object) -> str:
    """``value`` as text, or "not recorded" when it is absent or empty."""
    return NOT_RECORDED if value is None or value == "" else str(value)


@dataclass(frozen=True)
class ArchiveFacts:
    """The run archive file as found at report time."""

    name: str
    exists: bool
    size: int | None = None
    sha256: str | None = None
    error: str | None = None


@dataclass
class CollectorCount:
    """What one collector of a run recorded: artifacts and their bytes, errors and skips."""

    artifacts: int = 0
    bytes: int = 0
    errors: int = 0
    skipped: int = 0
    other: int = 0


@dataclass
class Tally:
    """How many artifacts, and their bytes."""

    count: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.count += 1
        self.bytes += size


@dataclass(frozen=True)
class ProblemExample:
    """One error or skip, as an example of its group."""

    seq: int
    run_id: str
    collector: str
    path: str


@dataclass
class ProblemGroup:
    """Errors or skips of one kind and reason: how many, by which collectors, the first few."""

    kind: str
    reason: str
    count: int = 0
    collectors: dict[str, int] = field(default_factory=dict)
    examples: list[ProblemExample] = field(default_factory=list)


@dataclass(frozen=True)
class LinkExample:
    """A symbolic link as collected: the link itself and where it points."""

    seq: int
    path: str
    target: str
    note: str


@dataclass(frozen=True)
class CaptureRow:
    """A packet capture among the artifacts, as the report lists it."""

    seq: int
    member: str
    size: int
    sha256: str
    facts: CaptureFacts

    @property
    def seconds(self) -> float | None:
        """How long it captured, by the host's monotonic clock."""
        try:
            return float(self.facts.finished_monotonic) - float(self.facts.started_monotonic)
        except ValueError:
            return None


@dataclass
class InventorySummary:
    """The artifacts of the case summed up (bounded in size whatever their number), and the
    errors and skips grouped by reason. Gathered as the entries stream past."""

    by_kind: dict[str, Tally] = field(default_factory=dict)
    by_place: dict[str, Tally] = field(default_factory=dict)
    #: Artifacts of places not kept once :data:`PLACES_KEPT` places are known.
    places_over: Tally = field(default_factory=Tally)
    links: list[LinkExample] = field(default_factory=list)
    link_count: int = 0
    changed: int = 0
    groups: dict[tuple[str, str], ProblemGroup] = field(default_factory=dict)
    #: Errors and skips of reasons not kept once :data:`GROUPS_KEPT` reasons are known.
    groups_over: int = 0
    #: Skipped entries by what the reason says they are ("directory", "FIFO not read", ...).
    not_collected: dict[str, int] = field(default_factory=dict)
    #: The first packet captures (:data:`CAPTURES_KEPT`), and how many there are.
    captures: list[CaptureRow] = field(default_factory=list)
    capture_count: int = 0


#: Distinct places and reasons kept while streaming (beyond: counted as "others").
PLACES_KEPT = 5_000
GROUPS_KEPT = 2_000
#: Examples kept per group of errors and skips, and symbolic links kept as examples.
EXAMPLES_KEPT = 10
LINKS_KEPT = 10
CAPTURES_KEPT = 50


@dataclass
class RunReport:
    """One collection run: the fold's :class:`RunState` and what its bulk entries add up to
    (counted as they stream past; no per-artifact list is kept)."""

    state: RunState
    counts: dict[str, CollectorCount] = field(default_factory=dict)
    #: Artifact and error entries of the run seen in the ledger.
    artifact_entries: int = 0
    problem_entries: int = 0
    first_bulk_seq: int | None = None
    last_bulk_seq: int | None = None
    first_bulk_at: str = ""
    last_bulk_at: str = ""
    #: Bulk entries of the run that have verification findings.
    flagged_bulk: int = 0
    #: The artifact entry of the run's system facts (``volatile/system.json``).
    system_member: Recorded[ArtifactCollected] | None = None
    #: The first signed entry after the run's last bulk entry: its signature covers them.
    covered_by: Entry | None = None
    #: The entry hash of the last checkpoint that closed a batch of the run's bulk entries.
    last_checkpoint_hash: str = ""
    system: dict[str, Any] | None = None
    system_note: str = ""
    archive: ArchiveFacts | None = None

    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def short_id(self) -> str:
        return self.run_id[:8]

    @property
    def started(self) -> RunStarted:
        return self.state.started.event

    @property
    def finished(self) -> RunFinished | None:
        return self.state.finished.event if self.state.finished else None

    @property
    def started_at(self) -> str:
        return self.state.started.at

    @property
    def finished_at(self) -> str | None:
        return self.state.finished.at if self.state.finished else None

    @property
    def actor(self) -> str:
        return self.state.started.actor

    @property
    def host(self) -> str:
        return text_or_not_recorded(self.started.host)

    @property
    def profile(self) -> str:
        return text_or_not_recorded(self.started.profile)

    @property
    def status(self) -> str:
        return self.state.status if self.state.finished else "not finished"

    @property
    def archive_name(self) -> str:
        return text_or_not_recorded(self.started.archive)

    @property
    def collectors(self) -> list[str]:
        """The run's collectors in the order it ran them (most volatile first)."""
        return list(self.started.collectors) or list(self.state.collectors)

    @property
    def bulk_entries(self) -> int:
        return self.artifact_entries + self.problem_entries

    def take_artifact(self, seq: int, at: str, actor: str, event: ArtifactCollected) -> None:
        self._bulk(seq, at)
        self.artifact_entries += 1
        c = self.counts.setdefault(event.collector, CollectorCount())
        c.artifacts += 1
        c.bytes += event.member.size
        if self.system_member is None and event.member.name == SYSTEM_MEMBER:
            self.system_member = Recorded(seq, at, actor, event)

    def take_problem(self, seq: int, at: str, event: CollectionProblem) -> None:
        self._bulk(seq, at)
        self.problem_entries += 1
        c = self.counts.setdefault(event.collector, CollectorCount())
        if event.kind == "skipped":
            c.skipped += 1
        elif event.kind == "changed":
            c.other += 1
        else:  # as the fold counts them: any other kind is an error
            c.errors += 1

    def _bulk(self, seq: int, at: str) -> None:
        if self.first_bulk_seq is None:
            self.first_bulk_seq, self.first_bulk_at = seq, at
        self.last_bulk_seq, self.last_bulk_at = seq, at

    def collector_counts(self) -> dict[str, CollectorCount]:
        """Counts per collector: the run's collectors in their order, then any other."""
        counts = {name: self.counts.get(name, CollectorCount()) for name in self.collectors}
        counts.update({k: v for k, v in self.counts.items() if k not in counts})
        return counts


@dataclass(frozen=True)
class LogRow:
    """One row of the custody log: a signed act, or the summary of a run's bulk entries."""

    seq: str
    at: str
    event: str
    actors: str
    details: str
    signature: str
    entry_hash: str
    bulk: bool = False
    problem: bool = False


@dataclass(frozen=True)
class Act(Generic[E]):
    """An act of a person as recorded, with what the verification says of its signatures."""

    recorded: Recorded[E]
    signature: str

    @property
    def event(self) -> E:
        return self.recorded.event


@dataclass(frozen=True)
class TimelineEvent:
    """A dated act for the timeline chart; ``kind`` is None for an unreadable entry."""

    at: dt.datetime
    kind: type[Event] | None
    seq: int


@dataclass(frozen=True)
class ReportSigner:
    """Who makes (and signs) the report."""

    name: str
    organisation: str | None
    email: str | None
    fingerprint: str
    certificate_pem: str


@dataclass(frozen=True)
class TsaUse:
    """One timestamp authority's tokens in the case or bundle."""

    name: str  # the tokens' TSA name (TSTInfo), "" when they give none
    subject: str  # the TSA certificate's subject, "" when its signature does not hold
    tokens: int
    first: dt.datetime
    last: dt.datetime


@dataclass
class TimestampFacts:
    """The RFC 3161 tokens of the signed entries (``timestamps/<seq>.tsr``)."""

    signed: int = 0
    stamped: int = 0
    #: Stamped after the fact: named by a ``timestamped`` entry (``chainproof timestamp``).
    late: int = 0
    #: The first signed entries without a token (``untimestamped_count`` in all).
    untimestamped: list[int] = field(default_factory=list)
    untimestamped_count: int = 0
    #: Token files that cannot be read as a granted TimeStampResp.
    unreadable: int = 0
    authorities: list[TsaUse] = field(default_factory=list)
    #: The verification's word on the tokens' chain, and its findings about tokens.
    chain: str = ""
    findings: int = 0


#: Entries of Annex B at most without the full inventory (half the first, half the last).
LEDGER_ROWS = 120


@dataclass
class SignedEntries:
    """Annex B's entries without the full inventory, gathered as the ledger passes (never
    more than :data:`LEDGER_ROWS`): how many signed entries and acts of persons there are,
    and the first and last halves of them."""

    count: int = 0
    first: list[Entry] = field(default_factory=list)
    last: deque[Entry] = field(default_factory=lambda: deque(maxlen=LEDGER_ROWS - LEDGER_ROWS // 2))

    def add(self, entry: Entry) -> None:
        self.count += 1
        if len(self.first) < LEDGER_ROWS // 2:
            self.first.append(entry)
        else:
            self.last.append(entry)

    def listed(self) -> list[Entry]:
        """Every one when there are :data:`LEDGER_ROWS` at most, else the first and the last
        ``LEDGER_ROWS // 2``."""
        last = list(self.last)
        if self.count > LEDGER_ROWS:
            last = last[len(last) - LEDGER_ROWS // 2 :]
        return [*self.first, *last]


@dataclass
class ReportModel:
    """Everything the PDF shows. ``entries`` reads the ledger again (each call from the
    start; it is never held): the full inventory's annexes list from it."""

    entries: Callable[[], Iterable[Entry]]
    state: CaseState
    verification: Report
    manifest_sha256: str
    bundle_id: str
    generated_at: dt.datetime
    examiner: ReportSigner
    runs: list[RunReport] = field(default_factory=list)
    log: list[LogRow] = field(default_factory=list)
    journal: list[Act[JournalEvent]] = field(default_factory=list)
    transfers: list[Act[Transferred]] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    loose_bulk: list[Entry] = field(default_factory=list)
    findings_by_seq: dict[int, list[Finding]] = field(default_factory=dict)
    #: Examiners' names by certificate fingerprint (the ledger's, then the verification's).
    names: dict[str, str] = field(default_factory=dict)
    #: Signed entries by signer fingerprint.
    signed_by: dict[str, int] = field(default_factory=dict)
    inventory: InventorySummary = field(default_factory=InventorySummary)
    #: The inventory files (inventory.csv, inventory.jsonl) the report names and carries.
    annexes: Sequence[AnnexFile] = ()
    #: List every artifact and every ledger entry in the annexes too (long).
    full_inventory: bool = False
    #: How many entries the ledger holds, and the case id of the first.
    entry_count: int = 0
    first_case_id: str = ""
    timestamps: TimestampFacts = field(default_factory=TimestampFacts)
    #: Annex B's entries without the full inventory.
    signed_entries: SignedEntries = field(default_factory=SignedEntries)

    @property
    def case_id(self) -> str:
        if self.state.case_id:
            return self.state.case_id
        return self.first_case_id

    @property
    def people(self) -> list[Examiner]:
        return list(self.state.examiners.values())

    def name_of(self, fingerprint: str) -> str:
        return name_of(fingerprint, self.names)

    def case_field(self, name: str) -> str:
        fields = self.state.fields
        return text_or_not_recorded(getattr(fields, name) if fields is not None else None)

    @property
    def artifact_count(self) -> int:
        return self.state.artifacts

    @property
    def artifact_bytes(self) -> int:
        return self.state.bytes

    @property
    def problem_count(self) -> int:
        return self.state.collection_problems
