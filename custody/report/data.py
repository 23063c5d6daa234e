"""The custody report's content, derived from the ledger entries and the verification result.

Nothing here is taken on trust from a database table: every fact comes from a ledger entry
(the signed, hash-chained record), the :class:`~custody.verify.case.Report`, or, for the state
of the machine and its clocks, the ``volatile/system.json`` member read from the run's
archive at the offset the ledger recorded (and used only when it re-hashes to the recorded
SHA-256). Archive files are hashed here, streaming, because the report is made at export.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custody.record.entry import Entry
from custody.record.events import ArtifactCollected, is_signed_kind, parse
from custody.record.times import parse_utc as parse_time
from custody.verify.case import Finding, Report

SHORT_HASH = 16
NOT_RECORDED = "not recorded"
SYSTEM_MEMBER = "volatile/system.json"
_SYSTEM_MAX = 8 << 20  # a system facts member larger than this is not read
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Person:
    """An examiner as the ``identity_added`` entry introduced them."""

    fingerprint: str
    name: str
    organisation: str | None
    email: str | None
    role: str
    certificate_pem: str
    seq: int
    at: str


@dataclass(frozen=True)
class ArtifactRow:
    seq: int
    at: str
    run_id: str
    collector: str
    kind: str
    member: str
    path: str | None
    size: int
    data_offset: int
    sha256: str
    sha1: str
    md5: str
    changed: str | None


@dataclass(frozen=True)
class ProblemRow:
    seq: int
    at: str
    run_id: str
    collector: str
    kind: str
    path: str | None
    reason: str


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
    artifacts: int = 0
    bytes: int = 0
    errors: int = 0
    skipped: int = 0
    other: int = 0


@dataclass
class RunRecord:
    """One collection run, from its ``run_started`` entry to its ``run_finished`` entry."""

    run_id: str
    started_seq: int
    started_at: str
    actor: str
    started: Mapping[str, Any]
    finished_seq: int | None = None
    finished_at: str | None = None
    finished: Mapping[str, Any] | None = None
    artifacts: list[ArtifactRow] = field(default_factory=list)
    problems: list[ProblemRow] = field(default_factory=list)
    checkpoints: list[int] = field(default_factory=list)
    system: dict[str, Any] | None = None
    system_note: str = ""
    archive: ArchiveFacts | None = None

    @property
    def short_id(self) -> str:
        return self.run_id[:8]

    @property
    def host(self) -> str:
        return _text(self.started.get("host"))

    @property
    def profile(self) -> str:
        return _text(self.started.get("profile"))

    @property
    def status(self) -> str:
        if self.finished is None:
            return "not finished"
        return _text(self.finished.get("status"))

    @property
    def archive_name(self) -> str:
        return _text(self.started.get("archive"))

    @property
    def bytes(self) -> int:
        return sum(a.size for a in self.artifacts)

    @property
    def collectors(self) -> list[str]:
        names = self.started.get("collectors")
        if isinstance(names, list):
            return [str(n) for n in names]
        seen: list[str] = []
        for a in self.artifacts:
            if a.collector not in seen:
                seen.append(a.collector)
        return seen

    @property
    def bulk_seqs(self) -> list[int]:
        return sorted([a.seq for a in self.artifacts] + [p.seq for p in self.problems])

    def collector_counts(self) -> dict[str, CollectorCount]:
        counts: dict[str, CollectorCount] = {name: CollectorCount() for name in self.collectors}
        for a in self.artifacts:
            c = counts.setdefault(a.collector, CollectorCount())
            c.artifacts += 1
            c.bytes += a.size
        for p in self.problems:
            c = counts.setdefault(p.collector, CollectorCount())
            if p.kind == "error":
                c.errors += 1
            elif p.kind == "skipped":
                c.skipped += 1
            else:
                c.other += 1
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
class JournalRow:
    seq: int
    at: str
    by: str
    kind: str
    text: str
    reason: str | None
    signature: str


@dataclass(frozen=True)
class TransferRow:
    seq: int
    at: str
    from_name: str
    to_name: str
    from_fp: str
    to_fp: str
    reason: str
    location: str
    signature: str


@dataclass(frozen=True)
class TimelineEvent:
    at: dt.datetime
    event: str
    seq: int


@dataclass(frozen=True)
class Examiner:
    """Who makes (and signs) the report."""

    name: str
    organisation: str | None
    email: str | None
    fingerprint: str
    certificate_pem: str


@dataclass
class ReportModel:
    """Everything the PDF shows, in plain values."""

    entries: Sequence[Entry]
    verification: Report
    manifest_sha256: str
    bundle_id: str
    generated_at: dt.datetime
    examiner: Examiner
    case_id: str = ""
    case: dict[str, Any] = field(default_factory=dict)
    case_opened_seq: int | None = None
    case_opened_at: str | None = None
    case_history: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    log: list[LogRow] = field(default_factory=list)
    journal: list[JournalRow] = field(default_factory=list)
    transfers: list[TransferRow] = field(default_factory=list)
    verified_entries: list[Entry] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    loose_bulk: list[Entry] = field(default_factory=list)
    findings_by_seq: dict[int, list[Finding]] = field(default_factory=dict)

    def name_of(self, fingerprint: str) -> str:
        for p in self.people:
            if p.fingerprint == fingerprint:
                return p.name
        return self.verification.signers.get(fingerprint) or f"{fingerprint[:SHORT_HASH]}..."

    def case_field(self, name: str) -> str:
        value = self.case.get(name)
        return NOT_RECORDED if value in (None, "") else str(value)

    @property
    def artifact_count(self) -> int:
        return sum(len(r.artifacts) for r in self.runs)

    @property
    def artifact_bytes(self) -> int:
        return sum(r.bytes for r in self.runs)

    @property
    def problem_count(self) -> int:
        return sum(len(r.problems) for r in self.runs)


# --------------------------------------------------------------------------- helpers


def _text(value: object) -> str:
    return NOT_RECORDED if value in (None, "") else str(value)


def _int(value: object, default: int = 0) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return default


def utc_text(at: str | None) -> str:
    """A ledger time as shown in the report: ``2025-01-31 12:00:00.123456Z``."""
    if not at:
        return NOT_RECORDED
    return at.replace("T", " ")


def _parse(at: str) -> dt.datetime | None:
    try:
        return parse_time(at)
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def signature_status(entry: Entry, findings: Sequence[Finding]) -> str:
    """What the verification says of an entry's signatures, in a word or two."""
    codes = [f.code for f in findings]
    if any(c.startswith("signature.") for c in codes):
        return "INVALID"
    if any(c.startswith(("chain.", "checkpoint.")) for c in codes):
        return "FAILED"
    if not entry.signatures:
        return "unsigned" if is_signed_kind(entry.event) else "by checkpoint"
    n = len(entry.signatures)
    return "valid" if n == 1 else f"valid ({n})"


# --------------------------------------------------------------------------- building


def build_model(
    *,
    entries: Iterable[Entry],
    verification: Report,
    manifest_sha256: str,
    bundle_id: str,
    generated_at: dt.datetime,
    evidence_dir: Path,
    examiner: Examiner,
    hash_archives: bool = True,
) -> ReportModel:
    """Derive the report's content from the ledger, the verification and the archives."""
    ledger = list(entries)
    model = ReportModel(
        entries=ledger,
        verification=verification,
        manifest_sha256=manifest_sha256,
        bundle_id=bundle_id,
        generated_at=generated_at,
        examiner=examiner,
    )
    for f in verification.findings:
        if f.seq is not None:
            model.findings_by_seq.setdefault(f.seq, []).append(f)
    runs: dict[str, RunRecord] = {}
    last_bulk_run: str | None = None
    for e in ledger:
        p = e.payload
        if e.event == "case_opened":
            case = p.get("case")
            if isinstance(case, Mapping):
                model.case.update(case)
            model.case_id = str(model.case.get("id") or e.case_id)
            model.case_opened_seq, model.case_opened_at = e.seq, e.at
        elif e.event == "case_updated":
            changes = _changes(p)
            model.case.update(changes)
            model.case_history.append((e.seq, e.at, e.actor, changes))
        elif e.event == "identity_added":
            model.people.append(
                Person(
                    fingerprint=str(p.get("fingerprint", e.actor)),
                    name=str(p.get("name") or "(unnamed)"),
                    organisation=_opt(p.get("organisation")),
                    email=_opt(p.get("email")),
                    role=str(p.get("role") or "examiner"),
                    certificate_pem=str(p.get("certificate_pem") or ""),
                    seq=e.seq,
                    at=e.at,
                )
            )
        elif e.event == "run_started":
            run_id = str(p.get("run_id", ""))
            runs[run_id] = RunRecord(run_id, e.seq, e.at, e.actor, p)
        elif e.event == "run_finished":
            run = runs.get(str(p.get("run_id", "")))
            if run is not None:
                run.finished_seq, run.finished_at, run.finished = e.seq, e.at, p
        elif e.event == "artifact_collected":
            run = runs.get(str(p.get("run_id", "")))
            if run is None:
                model.loose_bulk.append(e)
                last_bulk_run = None
                continue
            run.artifacts.append(_artifact(e))
            last_bulk_run = run.run_id
            continue
        elif e.event == "collection_error":
            run = runs.get(str(p.get("run_id", "")))
            if run is None:
                model.loose_bulk.append(e)
                last_bulk_run = None
                continue
            run.problems.append(
                ProblemRow(
                    seq=e.seq,
                    at=e.at,
                    run_id=run.run_id,
                    collector=str(p.get("collector", "")),
                    kind=str(p.get("kind", "")),
                    path=_opt(p.get("path")),
                    reason=str(p.get("reason", "")),
                )
            )
            last_bulk_run = run.run_id
            continue
        elif e.event == "checkpoint" and last_bulk_run is not None:
            runs[last_bulk_run].checkpoints.append(e.seq)
            last_bulk_run = None
            continue
        elif e.event == "verified":
            model.verified_entries.append(e)
        last_bulk_run = None
    if not model.case_id and ledger:
        model.case_id = ledger[0].case_id
    model.runs = list(runs.values())
    for run in model.runs:
        _read_system_facts(run, evidence_dir)
        run.archive = _archive_facts(run, evidence_dir, hash_archives)
    _custody_log(model, ledger)
    return model


def _opt(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _changes(payload: Mapping[str, Any]) -> dict[str, Any]:
    for key in ("changes", "case", "fields"):
        inner = payload.get(key)
        if isinstance(inner, Mapping):
            return dict(inner)
    return {k: v for k, v in payload.items() if not isinstance(v, Mapping | list)}


def _artifact(e: Entry) -> ArtifactRow:
    a = parse(e)
    assert isinstance(a, ArtifactCollected)
    return ArtifactRow(
        seq=e.seq,
        at=e.at,
        run_id=a.run_id,
        collector=a.collector,
        kind=a.kind,
        member=a.member.name,
        path=a.source.path if a.source else None,
        size=a.member.size,
        data_offset=a.member.data_offset,
        sha256=a.digests.sha256,
        sha1=a.digests.sha1,
        md5=a.digests.md5,
        changed=a.changed,
    )


def _archive_path(run: RunRecord, evidence_dir: Path) -> Path | None:
    name = run.started.get("archive")
    if not isinstance(name, str) or not name:
        return None
    base = Path(name).name
    if base in ("", ".", ".."):
        return None
    return evidence_dir / base


def _read_system_facts(run: RunRecord, evidence_dir: Path) -> None:
    """Load ``volatile/system.json`` from the archive, if it is there and re-hashes correctly."""
    member = next((a for a in run.artifacts if a.member == SYSTEM_MEMBER), None)
    if member is None:
        run.system_note = "the run recorded no system facts (no volatile/system.json member)"
        return
    path = _archive_path(run, evidence_dir)
    if path is None or not path.is_file():
        run.system_note = "the run archive is not available to read the system facts from"
        return
    if member.size > _SYSTEM_MAX:
        run.system_note = f"the system facts member is {member.size} bytes; not read"
        return
    offset = member.data_offset
    if offset < 0:
        run.system_note = "the ledger entry of the system facts has no data offset"
        return
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read(member.size)
    except OSError as exc:
        run.system_note = f"cannot read the system facts: {exc.strerror or exc}"
        return
    if hashlib.sha256(data).hexdigest() != member.sha256:
        run.system_note = "the archived system facts do not match their recorded SHA-256; not shown"
        return
    try:
        facts = json.loads(data)
    except ValueError as exc:
        run.system_note = f"the system facts are not valid JSON ({exc}); not shown"
        return
    if not isinstance(facts, dict):
        run.system_note = "the system facts are not a JSON object; not shown"
        return
    run.system = facts


def _archive_facts(run: RunRecord, evidence_dir: Path, hash_archives: bool) -> ArchiveFacts:
    path = _archive_path(run, evidence_dir)
    name = run.archive_name
    if path is None:
        return ArchiveFacts(name, exists=False, error="the run names no archive")
    try:
        size = path.stat().st_size
    except OSError as exc:
        return ArchiveFacts(name, exists=False, error=exc.strerror or str(exc))
    if not hash_archives:
        return ArchiveFacts(name, exists=True, size=size)
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            while chunk := os.read(fd, _CHUNK):
                digest.update(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        return ArchiveFacts(name, exists=True, size=size, error=exc.strerror or str(exc))
    return ArchiveFacts(name, exists=True, size=size, sha256=digest.hexdigest())


# --------------------------------------------------------------------------- custody log

_JOURNAL_EVENTS = ("note", "decision")


def _custody_log(model: ReportModel, ledger: Sequence[Entry]) -> None:
    """Rows of the custody log, the journal, the transfers and the timeline."""
    run_of_checkpoint = {seq: run for run in model.runs for seq in run.checkpoints}
    runs_by_id = {run.run_id: run for run in model.runs}
    summarised_runs: set[str] = set()
    rows: list[tuple[int, LogRow]] = []
    for e in ledger:
        findings = model.findings_by_seq.get(e.seq, [])
        status = signature_status(e, findings)
        t = _parse(e.at)
        if e.event in ("artifact_collected", "collection_error"):
            run_id = str(e.payload.get("run_id", ""))
            run = runs_by_id.get(run_id)
            if run is not None and run_id not in summarised_runs:
                summarised_runs.add(run_id)
                rows.append((e.seq, _bulk_row(model, run)))
            continue
        if e.seq in run_of_checkpoint:
            continue
        if t is not None and e.event != "checkpoint":
            model.timeline.append(TimelineEvent(t, e.event, e.seq))
        actors = _actors(model, e)
        rows.append(
            (
                e.seq,
                LogRow(
                    seq=str(e.seq),
                    at=e.at,
                    event=e.event,
                    actors=actors,
                    details=_details(model, e),
                    signature=status,
                    entry_hash=e.entry_hash[:SHORT_HASH],
                    problem=bool(findings) or status in ("INVALID", "unsigned"),
                ),
            )
        )
        if e.event in _JOURNAL_EVENTS:
            reason = e.payload.get("reason")
            model.journal.append(
                JournalRow(
                    seq=e.seq,
                    at=e.at,
                    by=model.name_of(e.actor),
                    kind=str(e.payload.get("kind") or e.event),
                    text=str(e.payload.get("text", "")),
                    reason=str(reason) if reason else None,
                    signature=status,
                )
            )
        elif e.event == "transferred":
            p = e.payload
            from_fp, to_fp = str(p.get("from", "")), str(p.get("to", ""))
            model.transfers.append(
                TransferRow(
                    seq=e.seq,
                    at=e.at,
                    from_name=str(p.get("from_name") or model.name_of(from_fp)),
                    to_name=str(p.get("to_name") or model.name_of(to_fp)),
                    from_fp=from_fp,
                    to_fp=to_fp,
                    reason=_text(p.get("reason")),
                    location=_text(p.get("location")),
                    signature=status,
                )
            )
    if model.loose_bulk:
        first = model.loose_bulk[0]
        rows.append(
            (
                first.seq,
                LogRow(
                    seq=f"{first.seq}-{model.loose_bulk[-1].seq}",
                    at=first.at,
                    event="bulk entries",
                    actors=model.name_of(first.actor),
                    details=f"{len(model.loose_bulk)} artifact or error entries that name no "
                    "recorded run; listed in Annex B",
                    signature="by checkpoint",
                    entry_hash=model.loose_bulk[-1].entry_hash[:SHORT_HASH],
                    bulk=True,
                ),
            )
        )
    rows.sort(key=lambda r: r[0])
    model.log = [r for _, r in rows]


def _bulk_row(model: ReportModel, run: RunRecord) -> LogRow:
    seqs = run.bulk_seqs
    bad = [s for s in run.checkpoints if model.findings_by_seq.get(s)]
    bad_bulk = [s for s in seqs if model.findings_by_seq.get(s)]
    n_art, n_prob = len(run.artifacts), len(run.problems)
    details = (
        f"Run {run.short_id}: {n_art} artifact_collected and {n_prob} collection_error "
        f"entries (seq {seqs[0]}-{seqs[-1]}), covered by {len(run.checkpoints)} signed "
        "checkpoint(s); every entry is listed in Annex B"
    )
    if bad_bulk:
        details += f"; {len(bad_bulk)} of these entries have verification findings"
    if bad:
        signature = f"INVALID ({len(bad)})"
    elif run.checkpoints:
        signature = f"{len(run.checkpoints)} valid" if len(run.checkpoints) > 1 else "valid"
    else:
        # No checkpoint inside the run: the next signed entry (e.g. run_finished) covers it,
        # since it signs the chain head that commits to every entry before it.
        cover = next((e for e in model.entries[seqs[-1] :] if e.signatures), None)
        signature = f"by signed entry {cover.seq}" if cover is not None else "not covered"
        details = details.replace(
            "covered by 0 signed checkpoint(s)",
            f"covered by the signed {cover.event} entry {cover.seq}"
            if cover
            else "not covered by any signature",
        )
    first_at = min((a.at for a in run.artifacts), default=None)
    first_at = min([x for x in (first_at, *(p.at for p in run.problems)) if x], default=None)
    last_cp = run.checkpoints[-1] if run.checkpoints else None
    head = ""
    if last_cp is not None:
        cp = model.entries[last_cp - 1] if 0 < last_cp <= len(model.entries) else None
        head = cp.entry_hash[:SHORT_HASH] if cp is not None and cp.seq == last_cp else ""
    return LogRow(
        seq=f"{seqs[0]}-{seqs[-1]}",
        at=first_at or "",
        event="bulk (run)",
        actors=model.name_of(run.actor),
        details=details,
        signature=signature,
        entry_hash=head,
        bulk=True,
        problem=bool(bad or bad_bulk) or signature == "not covered",
    )


def _actors(model: ReportModel, e: Entry) -> str:
    names = [model.name_of(e.actor)]
    for sig in e.signatures:
        name = model.name_of(sig.by)
        if name not in names:
            names.append(name)
    return ", ".join(names)


def _short(value: object, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _details(model: ReportModel, e: Entry) -> str:
    """Purpose and details of a signed act, in a sentence."""
    p = e.payload
    ev = e.event
    if ev == "case_opened":
        case = p.get("case") if isinstance(p.get("case"), Mapping) else {}
        assert isinstance(case, Mapping)
        return f"Case opened: {_text(case.get('title'))}"
    if ev == "identity_added":
        org = f", {p['organisation']}" if p.get("organisation") else ""
        fp = str(p.get("fingerprint", ""))
        return (
            f"{_text(p.get('name'))}{org} recorded as {_text(p.get('role'))} "
            f"(certificate {fp[:SHORT_HASH]}...)"
        )
    if ev == "run_started":
        text = (
            f"Collection run {str(p.get('run_id', ''))[:8]} started on host "
            f"{_text(p.get('host'))}, profile {_text(p.get('profile'))}, "
            f"tool {_text(p.get('tool'))} {_text(p.get('tool_version'))}"
        )
        unpacked = p.get("tool_unpacked")
        if isinstance(unpacked, Mapping):
            where = "in memory" if unpacked.get("in_memory") else "on disk"
            text += (
                f"; the one-file binary unpacked {_int(unpacked.get('bytes')):,} bytes into "
                f"{_text(unpacked.get('unpacked_to'))} ({_text(unpacked.get('filesystem'))}, "
                f"{where})"
            )
        return text
    if ev == "run_finished":
        text = (
            f"Run {str(p.get('run_id', ''))[:8]} {_text(p.get('status'))}: "
            f"{_int(p.get('artifacts'))} artifacts, {_int(p.get('errors'))} errors, "
            f"{_int(p.get('skipped'))} skipped; archive {_text(p.get('archive'))} "
            f"({_int(p.get('archive_size'))} bytes)"
        )
        if p.get("reason"):
            text += f"; reason: {p['reason']}"
        return text
    if ev == "checkpoint":
        return (
            f"Checkpoint ({_text(p.get('reason'))}) over entries "
            f"{_text(p.get('covers_from'))}-{_text(p.get('covers_to'))}"
        )
    if ev == "note":
        return f"[{_text(p.get('kind') or 'note')}] {_short(p.get('text', ''), 600)}"
    if ev == "decision":
        return f"Decision: {_short(p.get('text', ''), 400)}. Reason: {_short(p.get('reason', ''), 400)}"
    if ev == "transferred":
        from_name = p.get("from_name") or model.name_of(str(p.get("from", "")))
        to_name = p.get("to_name") or model.name_of(str(p.get("to", "")))
        return (
            f"Custody transferred from {from_name} to {to_name} at "
            f"{_text(p.get('location'))}. Reason: {_text(p.get('reason'))}"
        )
    if ev == "case_updated":
        changes = _changes(p)
        return "Case record updated: " + "; ".join(
            f"{k} = {_short(v, 120)}" for k, v in sorted(changes.items())
        )
    if ev == "verified":
        return (
            f"Verification recorded: {_text(p.get('result'))}, {_int(p.get('findings'))} "
            f"finding(s), {_int(p.get('entries'))} entries, {_int(p.get('artifacts'))} artifacts"
        )
    parts = [f"{k} = {_short(v, 120)}" for k, v in sorted(p.items())]
    label = ev.replace("_", " ").capitalize()
    return f"{label}: " + "; ".join(parts) if parts else label
