"""The incident journal, custody transfers, access records and the seal: signed acts of people."""

from __future__ import annotations

from collections.abc import Sequence

from app.cases import CaseHandle, ensure_examiner
from custody.errors import CaseError, UsageError
from custody.record.events import (
    JOURNAL_KINDS,
    Accessed,
    Decision,
    Note,
    Sealed,
    Transferred,
)
from custody.record.keys import Identity

__all__ = ["JOURNAL_KINDS"]


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
    cls = Decision if kind == "decision" else Note
    entry = case.writer(identity).append(cls(journal_kind=kind, text=text, reason=reason or None))
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
        Transferred(
            from_fp=releasing.fingerprint,
            from_name=releasing.name,
            to_fp=receiving.fingerprint,
            to_name=receiving.name,
            reason=reason,
            location=location,
        ),
        cosigners=(receiving,),
    )
    assert entry is not None
    return entry.seq


def record_access(
    case: CaseHandle, identity: Identity, *, purpose: str, artifacts: Sequence[str] = ()
) -> int:
    """Record that ``identity`` accessed the evidence (all of it, or the named members), and why."""
    if not purpose.strip():
        raise UsageError("an access record needs its purpose")
    event = Accessed(purpose=purpose, by=identity.fingerprint, artifacts=tuple(artifacts))
    entry = case.writer(identity).append(event)
    assert entry is not None
    return entry.seq


def seal_case(case: CaseHandle, identity: Identity, *, reason: str) -> int:
    """Seal the case: a signed entry naming the ledger head; no collection may follow it."""
    if not reason.strip():
        raise UsageError("sealing a case needs a reason")
    if is_sealed(case):
        raise CaseError(f"case {case.case_id} is already sealed")
    writer = case.writer(identity)
    state = case.state()
    entry = writer.append(
        Sealed(reason=reason, ledger_head=state.head, ledger_entries=state.head_seq)
    )
    assert entry is not None
    return entry.seq


def is_sealed(case: CaseHandle) -> bool:
    """True once a ``sealed`` entry is in the case's ledger."""
    return case.state().sealed
