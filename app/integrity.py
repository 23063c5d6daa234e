"""A case's integrity for the desktop app: its last recorded verification (the ledger's last
``verified`` entry) and what a fresh check found. Read-only.

A :class:`Verification` belongs to one case and one moment: it names the case, when the
check ran and the last ledger entry it covered. Entries recorded after that entry were not
checked by it. Which entries failed is known only from a fresh check: a ``verified`` entry
records the result and how many findings there were, not where they were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app import browse
from app.cases import CaseHandle
from custody.db.engine import wrap_db_errors
from custody.db.ledger import read_entries
from custody.db.models import LedgerEntry
from custody.record.times import utc_text
from custody.verify.findings import Report

__all__ = [
    "Verification",
    "entries_since",
    "findings_by_seq",
    "from_check",
    "last_recorded",
    "newer_record",
    "verification_results",
]


@dataclass(frozen=True)
class Verification:
    """One verification of one case, bound to the moment it ran."""

    case_id: str
    ok: bool
    #: When: the time of the ``verified`` entry that records it, else when the check ended.
    at: str
    findings: int
    #: The last ledger entry the check covered (0: none could be read).
    through_seq: int
    ledger_head: str
    #: The signed ``verified`` entry that records the result; None for an unrecorded check.
    recorded_seq: int | None = None
    #: Who recorded it (the examiner's name), when recorded.
    examiner: str | None = None
    #: Findings by ledger entry, from a fresh check; None when only the ledger's summary of
    #: an earlier check is known.
    failed: Mapping[int, tuple[str, ...]] | None = None

    @property
    def per_entry(self) -> bool:
        """Whether it says, entry by entry, what holds (a fresh check does)."""
        return self.failed is not None

    def covers(self, seq: int) -> bool:
        """Whether ledger entry ``seq`` existed when the check ran."""
        return 0 < seq <= self.through_seq

    def findings_at(self, seq: int) -> tuple[str, ...]:
        """What the check found at ledger entry ``seq`` (empty when nothing, or not known)."""
        return tuple(self.failed.get(seq, ())) if self.failed is not None else ()


def last_recorded(case: CaseHandle) -> Verification | None:
    """The case's last recorded verification, from its ledger; None if it was never recorded."""
    state = case.state()
    rec = state.last_verification
    if rec is None:
        return None
    ev = rec.event
    through = _seq_of_head(case, ev.ledger_head, ev.entries)
    if through is None:
        through = min(ev.entries, rec.seq - 1)
    return Verification(
        case_id=case.case_id,
        ok=ev.ok,
        at=rec.at,
        findings=ev.findings,
        through_seq=through,
        ledger_head=ev.ledger_head,
        recorded_seq=rec.seq,
        examiner=state.examiner_name(rec.actor),
    )


def newer_record(case: CaseHandle, shown: Verification | None) -> Verification | None:
    """The case's last recorded verification if it is newer than ``shown`` (recorded after
    the entries ``shown`` covered, and not ``shown``'s own record); else None."""
    rec = case.state().last_verification
    if rec is None or (
        shown is not None and (rec.seq == shown.recorded_seq or rec.seq <= shown.through_seq)
    ):
        return None
    return last_recorded(case)


def from_check(case: CaseHandle, report: Report, *, recorded: bool) -> Verification:
    """The verification ``report`` describes, of ``case`` as it was checked just now.

    ``recorded``: the check wrote its signed ``verified`` entry (its seq and time are then
    taken from the ledger).
    """
    through = _seq_of_head(case, report.head, report.entries)
    if through is None:
        through = report.entries
    failed = {seq: tuple(found) for seq, found in findings_by_seq(report, case).items()}
    at = utc_text(dt.datetime.now(dt.UTC))
    recorded_seq: int | None = None
    examiner: str | None = None
    if recorded:
        state = case.state()
        rec = state.last_verification
        if rec is not None and rec.event.ledger_head == report.head and rec.seq > through:
            recorded_seq, at, examiner = rec.seq, rec.at, state.examiner_name(rec.actor)
    return Verification(
        case_id=case.case_id,
        ok=report.ok,
        at=at,
        findings=len(report.findings),
        through_seq=through,
        ledger_head=report.head,
        recorded_seq=recorded_seq,
        examiner=examiner,
        failed=failed,
    )


def entries_since(case: CaseHandle, verification: Verification) -> int:
    """Entries the ledger gained after ``verification`` (its own ``verified`` entry aside)."""
    last = verification.recorded_seq or verification.through_seq
    return max(0, case.state().head_seq - last)


def verification_results(case: CaseHandle) -> dict[int, bool]:
    """Every recorded verification of the case: its ``verified`` entry -> whether it passed."""
    return {rec.seq: rec.event.ok for rec in case.state().verifications}


def findings_by_seq(report: Report, case: CaseHandle | None = None) -> dict[int, list[str]]:
    """Findings grouped by the ledger entry they concern.

    A finding about a whole run (its archive missing, resized or unreadable) concerns every
    artifact of that run; with ``case`` given, each of those artifacts carries it too.
    """
    out: dict[int, list[str]] = {}
    for f in report.findings:
        if f.seq is not None:
            out.setdefault(f.seq, []).append(f.message)
        elif f.run_id is not None and case is not None:
            for seq in browse.artifact_seqs(case, f.run_id):
                out.setdefault(seq, []).append(f"{f.where}: {f.message}")
    return out


def _seq_of_head(case: CaseHandle, entry_hash: str, count: int) -> int | None:
    """The ledger entry whose hash is ``entry_hash`` (a check's head): in an intact chain the
    ``count``-th; else looked up by hash. None when no entry has it."""
    try:
        if count > 0:
            for entry in read_entries(case.sessions, case.case_id, seqs=[count]):
                if entry.entry_hash == entry_hash:
                    return entry.seq
        with case.sessions() as s:
            seq = s.scalar(
                select(LedgerEntry.seq)
                .where(LedgerEntry.case_id == case.case_id, LedgerEntry.entry_hash == entry_hash)
                .order_by(LedgerEntry.seq)
                .limit(1)
            )
    except SQLAlchemyError as exc:
        raise wrap_db_errors(exc, case.sessions.kw["bind"]) from exc
    return seq
