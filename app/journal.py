"""The incident journal, custody transfers, access records and the seal: signed acts of people."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.cases import CaseHandle, ensure_examiner
from custody.db.engine import wrap_db_errors
from custody.db.ledger import read_entries
from custody.db.models import Artifact
from custody.errors import CaseError, MalformedEvent, UsageError
from custody.record.events import (
    JOURNAL_KINDS,
    Accessed,
    ArtifactCollected,
    Decision,
    Note,
    Sealed,
    Transferred,
    parse,
)
from custody.record.keys import Identity

__all__ = ["JOURNAL_KINDS"]

T = TypeVar("T")


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
    """Record that ``identity`` accessed the evidence (all of it, or the named members), and why.

    Refuses (:class:`UsageError`, nothing signed) a name that is no artifact's member name.
    """
    if not purpose.strip():
        raise UsageError("an access record needs its purpose")
    unknown = unknown_artifacts(case, artifacts)
    if unknown:
        hints = _member_hints(case, unknown)
        named = ", ".join(
            repr(n) + (f" (its member: {hints[n]!r})" if n in hints else "") for n in unknown
        )
        raise UsageError(
            f"case {case.case_id} has no artifact named {named}; nothing was recorded "
            "(name an artifact by its archive member, e.g. volatile/system.json or "
            "files/etc/hostname)"
        )
    event = Accessed(purpose=purpose, by=identity.fingerprint, artifacts=tuple(artifacts))
    entry = case.writer(identity).append(event)
    assert entry is not None
    return entry.seq


_CHUNK = 500  # names or entry numbers per query (SQLite's bound parameters are limited)


def _batched(values: Sequence[T], n: int) -> Iterator[Sequence[T]]:
    it = iter(values)
    while chunk := tuple(islice(it, n)):
        yield chunk


def unknown_artifacts(case: CaseHandle, names: Sequence[str]) -> list[str]:
    """The names among ``names`` that no ``artifact_collected`` entry of the case's ledger
    gives as its member's name, in their order, once each.

    The index finds the entries that may name them; the ledger's entries decide, so an
    edited index can hide an artifact, never invent one.
    """
    wanted = sorted(set(names))
    if not wanted:
        return []
    found: set[str] = set()
    try:
        with case.sessions() as s:
            seqs = [
                seq
                for chunk in _batched(wanted, _CHUNK)
                for seq in s.scalars(
                    select(Artifact.seq).where(
                        Artifact.case_id == case.case_id, Artifact.member_name.in_(chunk)
                    )
                )
            ]
        for chunk in _batched(sorted(seqs), _CHUNK):
            for entry in read_entries(case.sessions, case.case_id, seqs=chunk):
                try:
                    event = parse(entry)
                except MalformedEvent:
                    continue
                if isinstance(event, ArtifactCollected):
                    found.add(event.member.name)
    except SQLAlchemyError as exc:
        raise wrap_db_errors(exc, case.sessions.kw["bind"]) from exc
    return [n for n in dict.fromkeys(names) if n not in found]


def _member_hints(case: CaseHandle, names: Sequence[str]) -> dict[str, str]:
    """For names that are an artifact's source path, not its member name: the member's name
    (from the index: only a hint, the member name given instead is checked in its turn)."""
    try:
        with case.sessions() as s:
            rows = s.execute(
                select(Artifact.source_path, Artifact.member_name).where(
                    Artifact.case_id == case.case_id, Artifact.source_path.in_(names[:_CHUNK])
                )
            )
            return {str(path): str(member) for path, member in rows}
    except SQLAlchemyError:
        return {}  # a hint only: the refusal stands without it


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
