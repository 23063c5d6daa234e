"""The incident journal and custody transfers: signed acts of people."""

from __future__ import annotations

from app.cases import CaseHandle, ensure_examiner
from app.journal_kinds import JOURNAL_KINDS
from custody.errors import UsageError
from custody.keys import Identity


def add_journal_entry(
    case: CaseHandle, identity: Identity, *, kind: str, text: str, reason: str | None = None
) -> int:
    """Record a journal entry (note, assessment, decision with its reason, ...); returns its seq."""
    if kind not in JOURNAL_KINDS:
        raise UsageError(f"unknown journal kind {kind!r}; one of {', '.join(JOURNAL_KINDS)}")
    if not text.strip():
        raise UsageError("a journal entry needs text")
    if kind == "decision" and not reason:
        raise UsageError("a decision needs its reason (--reason)")
    writer = case.writer(identity)
    payload = {"kind": kind, "text": text}
    if reason:
        payload["reason"] = reason
    entry = writer.append("decision" if kind == "decision" else "note", payload)
    assert entry is not None
    return entry.seq


def record_transfer(
    case: CaseHandle, releasing: Identity, receiving: Identity, *, reason: str, location: str
) -> int:
    """Record a hand-over of the evidence, signed by the releasing and the receiving examiner."""
    if releasing.fingerprint == receiving.fingerprint:
        raise UsageError("a transfer needs two different examiners")
    if not reason.strip() or not location.strip():
        raise UsageError("a transfer needs a reason and a location")
    writer = case.writer(releasing)
    ensure_examiner(case, writer, receiving, role="receiving examiner")
    entry = writer.append(
        "transferred",
        {
            "from": releasing.fingerprint,
            "from_name": releasing.name,
            "to": receiving.fingerprint,
            "to_name": receiving.name,
            "reason": reason,
            "location": location,
        },
        cosigners=(receiving,),
    )
    assert entry is not None
    return entry.seq
