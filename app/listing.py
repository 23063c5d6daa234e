"""What a case or bundle holds, streamed from its ledger: artifacts, what was not collected,
and the ledger itself as people read it.

Every value comes from the ledger's typed events as the fold passes them
(:meth:`custody.record.fold.Folder.feed`): the same path ``case show``, the desktop app, the
report and the bundle's manifest take. Nothing is held per artifact, so a case of 500,000
artifacts lists in flat memory. An artifact's fields are those of the bundle's
``manifest.json`` (:func:`custody.bundle.manifest.artifact_doc`), so the two agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from app.browse import LedgerRow, ledger_row
from app.ledger_source import LedgerSource
from custody.bundle.manifest import artifact_doc
from custody.errors import UsageError
from custody.record.entry import Entry
from custody.record.events import BULK_EVENTS, ArtifactCollected, CollectionProblem, Event
from custody.record.fold import CaseState, Folder
from custody.verify.case import LedgerCheck
from custody.verify.findings import Finding, Report

#: Kinds of collection problems: ``--errors`` lists the first two, ``--skipped`` the last.
ERROR_KINDS = ("error", "changed")
SKIPPED_KINDS = ("skipped",)


@dataclass(frozen=True)
class Query:
    """Which records a listing keeps: one run (its id or the start of it), source paths
    matching a glob (``*`` also matches ``/``; a record without a source file by its
    member name), and artifact kinds."""

    run: str | None = None
    path: str | None = None
    kinds: frozenset[str] = frozenset()

    def run_matches(self, run_id: str) -> bool:
        return self.run is None or run_id.startswith(self.run)

    def path_matches(self, name: str | None) -> bool:
        return self.path is None or (name is not None and fnmatchcase(name, self.path))


@dataclass
class Listed:
    """How many records a listing gave, and their bytes (filled as it streams); ``read``
    holds what reading a bundle's ledger found wrong (malformed lines, a damaged zip)."""

    count: int = 0
    bytes: int = 0
    state: CaseState | None = field(default=None, repr=False)
    read: Report = field(default_factory=lambda: Report(""))


def _check_run(query: Query, state: CaseState, source: LedgerSource) -> None:
    if query.run is not None and not any(query.run_matches(r) for r in state.runs):
        raise UsageError(f"{source.describe()} has no run {query.run} (chainproof log lists them)")


def artifacts(
    source: LedgerSource, query: Query, listed: Listed | None = None
) -> Iterator[tuple[Entry, ArtifactCollected]]:
    """The artifacts ``query`` keeps, in ledger order, with their entries. After the last:
    a :class:`UsageError` when ``query.run`` names no run of the ledger."""
    listed = listed if listed is not None else Listed()
    folder = Folder()
    for entry, event in folder.feed(source.entries(listed.read)):
        if (
            isinstance(event, ArtifactCollected)
            and query.run_matches(event.run_id)
            and (not query.kinds or event.kind in query.kinds)
            and query.path_matches(event.shown_name)
        ):
            listed.count += 1
            listed.bytes += event.member.size
            yield entry, event
    listed.state = folder.state
    _check_run(query, folder.state, source)


def problems(
    source: LedgerSource, query: Query, kinds: Sequence[str], listed: Listed | None = None
) -> Iterator[tuple[Entry, CollectionProblem]]:
    """What was not collected (or changed while read), of ``kinds``, with each reason."""
    listed = listed if listed is not None else Listed()
    folder = Folder()
    for entry, event in folder.feed(source.entries(listed.read)):
        if (
            isinstance(event, CollectionProblem)
            and event.kind in kinds
            and query.run_matches(event.run_id)
            and (query.path is None or query.path_matches(event.path))
        ):
            listed.count += 1
            yield entry, event
    listed.state = folder.state
    _check_run(query, folder.state, source)


def artifact_record(entry: Entry, event: ArtifactCollected) -> dict[str, Any]:
    """An artifact's fields as the bundle's manifest has them, and when it was recorded."""
    doc = artifact_doc(entry.seq, event)
    return {"seq": doc.pop("seq"), "collected_at": entry.at, **doc}


def problem_record(entry: Entry, event: CollectionProblem) -> dict[str, Any]:
    """A collection error, skip or change while read, with its reason and path if any."""
    doc: dict[str, Any] = {
        "seq": entry.seq,
        "at": entry.at,
        "run_id": event.run_id,
        "collector": event.collector,
        "kind": event.kind,
        "path": event.path,
        "path_b64": event.path_b64,
        "reason": event.reason,
    }
    return {k: v for k, v in doc.items() if v is not None}


# --------------------------------------------------------------------------- the ledger


@dataclass
class LedgerCheckResult:
    """The ledger checked on its own (chain, signatures, the fold's story): the findings,
    the state it folds to, and the examiners' names."""

    report: Report
    state: CaseState
    by_seq: dict[int, list[Finding]]

    @property
    def names(self) -> dict[str, str]:
        return {fp: x.name for fp, x in self.state.examiners.items()}


def check_ledger(
    source: LedgerSource, tap: Callable[[Entry, Event | None], None] | None = None
) -> LedgerCheckResult:
    """One pass over the ledger: every entry's hash and link, every signature, coverage,
    and the fold's problems (:class:`~custody.verify.case.LedgerCheck`); ``tap`` sees each
    entry with its typed event as it passes. Archives are not read: ``chainproof verify``
    checks them."""
    report = Report(str(source.path))
    report.findings.extend(source.opened.findings)
    case_id = source.case.case_id if source.case is not None else None
    check = LedgerCheck(report, case_id)
    for entry in source.entries(report):
        event = check.feed(entry)
        if tap is not None:
            tap(entry, event)
    state = check.finish()
    report.runs = len(state.runs)
    by_seq: dict[int, list[Finding]] = {}
    for f in report.findings:
        if f.seq is not None:
            by_seq.setdefault(f.seq, []).append(f)
    return LedgerCheckResult(report, state, by_seq)


def ledger(
    source: LedgerSource,
    names: Mapping[str, str],
    *,
    acts_only: bool = False,
    entries: int | None = None,
) -> Iterator[tuple[Entry, LedgerRow]]:
    """Each entry with its row (time, kind, actor's name, one line describing it); with
    ``acts_only``, no per-artifact or collection-problem entries; with ``entries``, only that
    many (those a check read: a collection running meanwhile adds more)."""
    for n, entry in enumerate(source.entries(), 1):
        if entries is not None and n > entries:
            return
        if acts_only and entry.event in BULK_EVENTS:
            continue
        yield entry, ledger_row(entry, names)
