"""The custody report's content, derived from the ledger entries and the verification result.

Nothing here is taken on trust from a database table: the case, its examiners, runs and
counts, journal and transfers come from the fold of the ledger
(:class:`~custody.record.fold.CaseState`); per-artifact rows and the custody log from the
typed events streamed through the same fold; the rest from the
:class:`~custody.verify.case.Report` and, for the state of the machine and its clocks, the
run archives (:mod:`custody.report.archives`) and the RFC 3161 tokens beside them
(``timestamps/<seq>.tsr``, read here, never requested).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from custody.errors import TimestampError
from custody.record.entry import Entry
from custody.record.events import (
    ArtifactCollected,
    Checkpoint,
    CollectionProblem,
    Event,
    Timestamped,
    is_signed_kind,
)
from custody.record.fold import CaseState, Folder, Recorded
from custody.report.archives import archive_facts, read_system_facts
from custody.report.entries import EntrySource, entry_reader
from custody.report.inventory import AnnexFile
from custody.report.log import custody_log, status_of
from custody.report.model import (
    CAPTURES_KEPT,
    EXAMPLES_KEPT,
    GROUPS_KEPT,
    LINKS_KEPT,
    PLACES_KEPT,
    Act,
    ArchiveFacts,
    CaptureRow,
    InventorySummary,
    LinkExample,
    ProblemExample,
    ProblemGroup,
    ReportModel,
    ReportSigner,
    RunReport,
    SignedEntries,
    Tally,
    TimestampFacts,
    TsaUse,
)
from custody.store.storage import EvidenceStore, LocalEvidenceStore
from custody.timestamp.store import TokenStore
from custody.timestamp.token import check_signature, read_response
from custody.verify.findings import Finding, Report

E = TypeVar("E", bound=Event)
#: Events covered by checkpoints, not signed one by one.
_BULK = (ArtifactCollected.EVENT, CollectionProblem.EVENT)


@dataclass
class _Stream:
    """What one pass over the entries gathers beside the fold (never the entries)."""

    count: int = 0
    case_id: str = ""
    runs: dict[str, RunReport] = field(default_factory=dict)
    inventory: InventorySummary = field(default_factory=InventorySummary)
    findings_by_seq: dict[int, list[Finding]] = field(default_factory=dict)
    acts: list[tuple[Entry, Event | None]] = field(default_factory=list)
    act_entries: dict[int, Entry] = field(default_factory=dict)
    loose_bulk: list[Entry] = field(default_factory=list)
    checkpoint_hashes: dict[int, str] = field(default_factory=dict)
    signed_by: dict[str, int] = field(default_factory=dict)
    #: Runs whose last bulk entry is not yet followed by a signed entry.
    uncovered: set[str] = field(default_factory=set)
    #: The signed entries, and those a ``timestamped`` entry says were stamped late.
    signed: list[int] = field(default_factory=list)
    stamped_late: set[int] = field(default_factory=set)
    signed_entries: SignedEntries = field(default_factory=SignedEntries)


class ModelStream:
    """What the report needs of the ledger, gathered entry by entry as a fold that the
    caller runs goes (:meth:`take`): so an export that replays the ledger for its other
    documents builds the report's content in the same pass. Holds no entry but the few
    acts of persons."""

    def __init__(self, verification: Report) -> None:
        self.stream = _Stream()
        self.state: CaseState | None = None
        for f in verification.findings:
            if f.seq is not None:
                self.stream.findings_by_seq.setdefault(f.seq, []).append(f)

    def take(self, folder: Folder, entry: Entry, event: Event | None) -> None:
        """One entry, just applied to ``folder`` (the same folder for every entry)."""
        _take(self.stream, folder, entry, event)
        self.state = folder.state


def build_model(
    *,
    entries: EntrySource,
    verification: Report,
    manifest_sha256: str,
    bundle_id: str,
    generated_at: dt.datetime,
    evidence: EvidenceStore,
    examiner: ReportSigner,
    hash_archives: bool = True,
    annexes: Sequence[AnnexFile] = (),
    full_inventory: bool = False,
    archive_digests: Mapping[str, ArchiveFacts] | None = None,
    taken: ModelStream | None = None,
    tokens: TokenStore | None = None,
) -> ReportModel:
    """Derive the report's content from the ledger, the verification and the archives.

    ``entries``: the ledger, read here in one pass (never held; the full inventory's annexes
    read it again);
    ``taken``: that pass already made by the caller (:class:`ModelStream`).
    ``annexes``: the inventory files the report names (by SHA-256) and carries;
    ``full_inventory``: list every artifact and every entry in the PDF's annexes too.
    ``archive_digests``: the archive files' facts by run id, as the caller found them when it
    copied and hashed them (else they are hashed here, a second read). ``tokens``: the
    RFC 3161 tokens (default: ``timestamps/`` beside a local ``evidence/`` folder)."""
    read = entry_reader(entries)
    if taken is None:
        taken = ModelStream(verification)
        folder = Folder()
        for entry, event in folder.feed(read()):
            taken.take(folder, entry, event)
    stream, state = taken.stream, taken.state or Folder().state
    model = ReportModel(
        entries=read,
        entry_count=stream.count,
        first_case_id=stream.case_id,
        state=state,
        verification=verification,
        manifest_sha256=manifest_sha256,
        bundle_id=bundle_id,
        generated_at=generated_at,
        examiner=examiner,
        loose_bulk=stream.loose_bulk,
        signed_by=stream.signed_by,
        names={**verification.signers, **{fp: x.name for fp, x in state.examiners.items()}},
        findings_by_seq=stream.findings_by_seq,
        inventory=stream.inventory,
        annexes=tuple(annexes),
        full_inventory=full_inventory,
        signed_entries=stream.signed_entries,
    )
    model.runs = [stream.runs.get(run_id) or RunReport(run) for run_id, run in state.runs.items()]
    for run in model.runs:
        if run.state.checkpoints:
            run.last_checkpoint_hash = stream.checkpoint_hashes.get(run.state.checkpoints[-1], "")
        read_system_facts(run, evidence)
        known = archive_digests.get(run.state.run_id) if archive_digests is not None else None
        run.archive = known or archive_facts(run, evidence, hash_archives)
    model.journal = [_act(model, stream, r) for r in state.journal]
    model.transfers = [_act(model, stream, r) for r in state.transfers]
    unreadable = {p.seq: p.message for p in state.problems if p.code == "event.malformed"}
    custody_log(model, stream.acts, unreadable)
    if tokens is None and isinstance(evidence, LocalEvidenceStore):
        tokens = TokenStore(evidence.root.parent)  # a case or bundle: evidence/, timestamps/
    model.timestamps = timestamp_facts(stream.signed, stream.stamped_late, tokens, verification)
    return model


#: Untimestamped entries the report names (it counts them all).
UNTIMESTAMPED_NAMED = 20


def timestamp_facts(
    signed: Sequence[int], late: set[int], tokens: TokenStore | None, verification: Report
) -> TimestampFacts:
    """How many signed entries have a token, how many of those were stamped late, and which
    authorities stamped them (each token's TSA name and its certificate's subject)."""
    have = tokens.seqs() if tokens is not None else set()
    facts = TimestampFacts(signed=len(signed))
    subjects: dict[bytes, str] = {}
    uses: dict[tuple[str, str], list[dt.datetime]] = {}
    for seq in signed:
        if seq not in have or tokens is None:
            facts.untimestamped_count += 1
            if len(facts.untimestamped) < UNTIMESTAMPED_NAMED:
                facts.untimestamped.append(seq)
            continue
        facts.stamped += 1
        facts.late += seq in late
        try:
            data = tokens.read(seq)
            token = read_response(data) if data is not None else None
        except (OSError, TimestampError):
            token = None
        if token is None:
            facts.unreadable += 1
            continue
        certs = token.token["content"]["certificates"].dump()
        if certs not in subjects:
            try:
                subjects[certs] = check_signature(token).subject.rfc4514_string()
            except TimestampError:
                subjects[certs] = ""
        uses.setdefault((token.tsa, subjects[certs]), []).append(token.gen_time)
    facts.authorities = [
        TsaUse(name, subject, len(times), min(times), max(times))
        for (name, subject), times in sorted(uses.items(), key=lambda u: -len(u[1]))
    ]
    checked = verification.timestamps or {}
    facts.chain = str(checked.get("tsa_chain", ""))
    facts.findings = sum(1 for f in verification.findings if f.code.startswith("timestamp."))
    return facts


def _take(stream: _Stream, folder: Folder, entry: Entry, event: Event | None) -> None:
    """Gather what the report needs of one entry, just folded."""
    if not stream.count:
        stream.case_id = entry.case_id
    stream.count += 1
    if entry.event not in _BULK and (entry.signatures or is_signed_kind(entry.event)):
        stream.signed_entries.add(entry)  # Annex B's
    for sig in entry.signatures:
        stream.signed_by[sig.by] = stream.signed_by.get(sig.by, 0) + 1
    if isinstance(event, Timestamped):
        stream.stamped_late.update(event.seqs)
    if entry.signatures:
        stream.signed.append(entry.seq)
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
        if entry.seq in stream.findings_by_seq:
            run.flagged_bulk += 1
        if isinstance(event, ArtifactCollected):
            run.take_artifact(entry.seq, entry.at, entry.actor, event)
            _count_artifact(stream.inventory, entry.seq, event)
        else:
            run.take_problem(entry.seq, entry.at, event)
            _count_problem(stream.inventory, entry.seq, event)
        return
    if isinstance(event, Checkpoint):
        stream.checkpoint_hashes[entry.seq] = entry.entry_hash
    stream.acts.append((entry, event))
    stream.act_entries[entry.seq] = entry


def _act(model: ReportModel, stream: _Stream, recorded: Recorded[E]) -> Act[E]:
    entry = stream.act_entries[recorded.seq]
    return Act(recorded, status_of(model, entry, recorded.event))


def _count_artifact(inv: InventorySummary, seq: int, a: ArtifactCollected) -> None:
    size = a.member.size
    inv.by_kind.setdefault(a.kind, Tally()).add(size)
    place = place_of(a)
    tally = inv.by_place.get(place)
    if tally is None and len(inv.by_place) >= PLACES_KEPT:
        tally = inv.places_over
    elif tally is None:
        tally = inv.by_place[place] = Tally()
    tally.add(size)
    if a.changed:
        inv.changed += 1
    if a.capture is not None:
        inv.capture_count += 1
        if len(inv.captures) < CAPTURES_KEPT:
            inv.captures.append(
                CaptureRow(seq, a.member.name, a.member.size, a.digests.sha256, a.capture)
            )
    target = a.source.symlink_target if a.source else None
    if a.kind == "symlink" or target is not None:
        inv.link_count += 1
        if len(inv.links) < LINKS_KEPT:
            inv.links.append(LinkExample(seq, a.shown_name, target or "", a.note or ""))


def _count_problem(inv: InventorySummary, seq: int, p: CollectionProblem) -> None:
    key = (p.kind, p.reason)
    group = inv.groups.get(key)
    if group is None:
        if len(inv.groups) >= GROUPS_KEPT:
            inv.groups_over += 1
            return
        group = inv.groups[key] = ProblemGroup(p.kind, p.reason)
    group.count += 1
    group.collectors[p.collector] = group.collectors.get(p.collector, 0) + 1
    if len(group.examples) < EXAMPLES_KEPT:
        group.examples.append(ProblemExample(seq, p.run_id, p.collector, p.path or ""))
    if p.kind == "skipped":
        what = what_was_skipped(p.reason)
        inv.not_collected[what] = inv.not_collected.get(what, 0) + 1


_WINDOWS_PATH = re.compile(r"^[A-Za-z]:\\")
#: Directory levels of a source path that name its place in the inventory summary.
PLACE_DEPTH = 2


def place_of(a: ArtifactCollected) -> str:
    """Where an artifact comes from, for the summary: the first two directories of its
    source path (``/var/log``, ``/etc``), else the first part of its member name
    (``volatile/``)."""
    if a.source is None:
        head, sep, _rest = a.member.name.partition("/")
        return head + sep if sep else "(archive root)"
    path = a.source.path
    sep = "\\" if _WINDOWS_PATH.match(path) else "/"
    parts = path.split(sep)
    root, dirs = parts[0], [p for p in parts[1:-1] if p]
    return root + sep + sep.join(dirs[:PLACE_DEPTH])


def what_was_skipped(reason: str) -> str:
    """What a skip's reason says the entry was: the reason up to its first colon
    ("directory", "FIFO not read", "character device not read", ...)."""
    head = reason.split(":", 1)[0].strip()
    return head[:80] or "(no reason)"
