"""The custody log's rows: one per act of a person, one per run for its bulk entries (which
come by the thousand and are covered by signed checkpoints), and the dated acts of the
timeline. Descriptions come from :func:`custody.record.describe.describe`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from custody.record.describe import describe, describe_unreadable
from custody.record.entry import Entry
from custody.record.events import (
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
    rows: list[tuple[int, LogRow]] = [
        (run.bulk_seqs[0], _bulk_row(model, run)) for run in model.runs if run.bulk_seqs
    ]
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
    if model.loose_bulk:
        first = model.loose_bulk[0]
        rows.append((first.seq, _loose_row(model, first)))
    rows.sort(key=lambda r: r[0])
    model.log = [r for _, r in rows]


def _loose_row(model: ReportModel, first: Entry) -> LogRow:
    return LogRow(
        seq=f"{first.seq}-{model.loose_bulk[-1].seq}",
        at=first.at,
        event="bulk entries",
        actors=model.name_of(first.actor),
        details=f"{len(model.loose_bulk)} artifact or error entries that name no "
        "recorded run; listed in Annex B",
        signature="by checkpoint",
        entry_hash=model.loose_bulk[-1].entry_hash[:SHORT_HASH],
        bulk=True,
    )


def _bulk_row(model: ReportModel, run: RunReport) -> LogRow:
    seqs = run.bulk_seqs
    checkpoints = run.state.checkpoints
    bad = [s for s in checkpoints if model.findings_by_seq.get(s)]
    bad_bulk = [s for s in seqs if model.findings_by_seq.get(s)]
    details = (
        f"Run {run.short_id}: {len(run.artifacts)} {ArtifactCollected.EVENT} and "
        f"{len(run.problems)} {CollectionProblem.EVENT} entries (seq {seqs[0]}-{seqs[-1]}), "
        f"covered by {len(checkpoints)} signed checkpoint(s); every entry is listed in Annex B"
    )
    if bad_bulk:
        details += f"; {len(bad_bulk)} of these entries have verification findings"
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
    times = [a.at for a in run.artifacts] + [p.at for p in run.problems]
    first_at = min([t for t in times if t], default="")
    return LogRow(
        seq=f"{seqs[0]}-{seqs[-1]}",
        at=first_at,
        event="bulk (run)",
        actors=model.name_of(run.actor),
        details=details,
        signature=signature,
        entry_hash=run.last_checkpoint_hash[:SHORT_HASH],
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
