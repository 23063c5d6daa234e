"""The custody log's rows: one per act of a person, one per run for its bulk entries (which
come by the thousand and are covered by signed checkpoints), and the dated acts of the
timeline. Descriptions come from :func:`custody.record.describe.describe`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from custody.record.describe import describe, describe_unreadable, name_of
from custody.record.entry import Entry
from custody.record.events import (
    Accessed,
    ArtifactCollected,
    Checkpoint,
    CollectionProblem,
    Event,
    is_signed_kind,
)
from custody.record.times import parse_utc
from custody.report.model import SHORT_HASH, LogRow, ReportModel, RunReport, TimelineEvent
from custody.verify.findings import Finding


def signature_status(entry: Entry, findings: Sequence[Finding], signed: bool) -> str:
    """What the verification says of an entry's signatures, in a word or two.

    ``signed``: the entry is an act a person signs on its own (not a bulk entry).
    """
    codes = [f.code for f in findings]
    if any(c.startswith("signature.") for c in codes):
        return "INVALID"
    if any(c.startswith(("chain.", "checkpoint.")) for c in codes):
        return "FAILED"
    if not entry.signatures:
        return "unsigned" if signed else "by checkpoint"
    n = len(entry.signatures)
    return "valid" if n == 1 else f"valid ({n})"


def status_of(model: ReportModel, entry: Entry, event: Event | None) -> str:
    """:func:`signature_status` of ``entry`` under the model's verification."""
    signed = event.SIGNED if event is not None else is_signed_kind(entry.event)
    return signature_status(entry, model.findings_by_seq.get(entry.seq, []), signed)


def custody_log(
    model: ReportModel,
    acts: Sequence[tuple[Entry, Event | None]],
    unreadable: Mapping[int, str],
) -> None:
    """Fill the model's log and timeline from its runs and the entries that are not bulk.

    ``unreadable`` gives, by seq, why an entry's payload could not be read.
    """
    run_checkpoints = {seq for run in model.runs for seq in run.state.checkpoints}
    rows: list[tuple[int, LogRow]] = []
    accesses: dict[int, Accessed] = {}
    for run in model.runs:
        if run.first_bulk_seq is not None:
            rows.append((run.first_bulk_seq, _bulk_row(model, run)))
    for entry, event in acts:
        if entry.seq in run_checkpoints:
            continue
        if not isinstance(event, Checkpoint):
            try:
                at = parse_utc(entry.at)
            except ValueError:
                pass
            else:
                kind = type(event) if event is not None else None
                model.timeline.append(TimelineEvent(at, kind, entry.seq))
        status = status_of(model, entry, event)
        if event is not None:
            details = describe(event, model.names)
        else:
            details = describe_unreadable(entry.event, unreadable.get(entry.seq, "malformed"))
        row = LogRow(
            seq=str(entry.seq),
            at=entry.at,
            event=entry.event,
            actors=_actors(model, entry),
            details=details,
            signature=status,
            entry_hash=entry.entry_hash[:SHORT_HASH],
            problem=bool(model.findings_by_seq.get(entry.seq)) or status in ("INVALID", "unsigned"),
        )
        rows.append((entry.seq, row))
        if isinstance(event, Accessed):
            accesses[entry.seq] = event
    if model.loose_bulk:
        first = model.loose_bulk[0]
        rows.append((first.seq, _loose_row(model, first)))
    rows.sort(key=lambda r: r[0])
    model.log = _group_accesses(model, rows, accesses)


def _group_accesses(
    model: ReportModel, rows: Sequence[tuple[int, LogRow]], accesses: Mapping[int, Accessed]
) -> list[LogRow]:
    """The rows, with a run of consecutive accesses by one examiner for one purpose (the
    desktop app records one for each artifact viewed) as one row."""
    out: list[LogRow] = []
    run: list[tuple[int, LogRow]] = []

    def close() -> None:
        if len(run) == 1:
            out.append(run[0][1])
        elif run:
            out.append(_access_row(model, run, accesses))
        run.clear()

    for seq, row in rows:
        ev = accesses.get(seq)
        if ev is not None and run:
            first = accesses[run[0][0]]
            if (first.by, first.purpose) != (ev.by, ev.purpose):
                close()
        elif ev is None:
            close()
        if ev is None:
            out.append(row)
        else:
            run.append((seq, row))
    close()
    return out


def _access_row(
    model: ReportModel, run: Sequence[tuple[int, LogRow]], accesses: Mapping[int, Accessed]
) -> LogRow:
    first_seq, first = run[0]
    last_seq, last = run[-1]
    ev = accesses[first_seq]
    named = sum(len(accesses[seq].artifacts) for seq, _ in run)
    statuses = sorted({row.signature for _, row in run})
    signature = statuses[0] if len(statuses) == 1 else "; ".join(statuses)
    return LogRow(
        seq=f"{first_seq}-{last_seq}",
        at=first.at,
        event=Accessed.EVENT,
        actors=first.actors,
        details=f"Evidence accessed {len(run):,} times by {name_of(ev.by, model.names)} "
        f"(entries {first_seq} to {last_seq}, each signed), {named:,} artifacts named in all. "
        f"Purpose: {ev.purpose}",
        signature=signature,
        entry_hash=last.entry_hash,
        problem=any(row.problem for _, row in run),
    )


def _loose_row(model: ReportModel, first: Entry) -> LogRow:
    return LogRow(
        seq=f"{first.seq}-{model.loose_bulk[-1].seq}",
        at=first.at,
        event="bulk entries",
        actors=model.name_of(first.actor),
        details=f"{len(model.loose_bulk)} artifact or error entries that name no "
        "recorded run; every entry is in ledger.jsonl",
        signature="by checkpoint",
        entry_hash=model.loose_bulk[-1].entry_hash[:SHORT_HASH],
        bulk=True,
    )


def _bulk_row(model: ReportModel, run: RunReport) -> LogRow:
    first, last = run.first_bulk_seq, run.last_bulk_seq
    checkpoints = run.state.checkpoints
    bad = [s for s in checkpoints if model.findings_by_seq.get(s)]
    details = (
        f"Run {run.short_id}: {run.artifact_entries:,} {ArtifactCollected.EVENT} and "
        f"{run.problem_entries:,} {CollectionProblem.EVENT} entries (seq {first}-{last}), "
        f"covered by {len(checkpoints)} signed checkpoint(s); every artifact is in the "
        "inventory (Annex A)"
    )
    if run.flagged_bulk:
        details += f"; {run.flagged_bulk:,} of these entries have verification findings"
    if bad:
        signature = f"INVALID ({len(bad)})"
    elif checkpoints:
        signature = f"{len(checkpoints)} valid" if len(checkpoints) > 1 else "valid"
    else:
        # No checkpoint inside the run: the next signed entry (e.g. the run's end) covers it,
        # since it signs the chain head that commits to every entry before it.
        cover = run.covered_by
        signature = f"by signed entry {cover.seq}" if cover is not None else "not covered"
        details = details.replace(
            "covered by 0 signed checkpoint(s)",
            f"covered by the signed {cover.event} entry {cover.seq}"
            if cover
            else "not covered by any signature",
        )
    return LogRow(
        seq=f"{first}-{last}",
        at=run.first_bulk_at,
        event="bulk (run)",
        actors=model.name_of(run.actor),
        details=details,
        signature=signature,
        entry_hash=run.last_checkpoint_hash[:SHORT_HASH],
        bulk=True,
        problem=bool(bad or run.flagged_bulk) or signature == "not covered",
    )


def _actors(model: ReportModel, e: Entry) -> str:
    names = [model.name_of(e.actor)]
    for sig in e.signatures:
        name = model.name_of(sig.by)
        if name not in names:
            names.append(name)
    return ", ".join(names)
