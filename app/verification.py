"""Verifying a case directory or an exported bundle, and recording that it was verified."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError

from app.cases import CASE_FILE, CaseHandle, open_case
from app.identity import read_certificate
from custody.bundle.layout import LEDGER, MANIFEST, SUMS
from custody.bundle.verify import verify_bundle_dir, verify_bundle_zip
from custody.db.engine import wrap_db_errors
from custody.db.ledger import read_entries
from custody.errors import DatabaseError, UsageError
from custody.record.events import Verified
from custody.record.keys import Identity
from custody.store.setaside import SET_ASIDE, SetAsideFolder
from custody.verify.case import verify
from custody.verify.findings import Report
from custody.verify.index import check_index

__all__ = ["Report", "verify_case", "verify_target"]


def verify_target(
    target: Path, *, trust: Sequence[Path] = (), sign_with: Identity | None = None
) -> Report:
    """Verify ``target``: a case directory, a bundle directory, or a bundle zip.

    Any damage to a zip is a finding. A path that is none of these is a
    :class:`UsageError` (exit 2); a ``.zip`` that cannot be read, is no zip at all, or holds
    none of a bundle's files is an :class:`~custody.errors.ExportError` (exit 7).
    """
    trusted = [read_certificate(p) for p in trust]
    if target.is_dir() and (target / CASE_FILE).exists():
        try:
            case = open_case(target, require_opened=False)
        except DatabaseError as exc:
            report = Report(str(target))
            report.add("database.unreadable", "case database", exc.diagnostics())
            return report
        return verify_case(case, trusted=trusted, sign_with=sign_with)
    if sign_with is not None:
        raise UsageError("--sign records the verification in a case; a bundle is read-only")
    if target.is_dir() and any(os.path.lexists(target / n) for n in (LEDGER, MANIFEST, SUMS)):
        return verify_bundle_dir(target, trusted=trusted)  # a missing ledger is a finding
    if target.is_file() and target.suffix.lower() == ".zip":
        return verify_bundle_zip(target, trusted=trusted)
    raise UsageError(
        f"{target} is neither a case directory ({CASE_FILE}) nor a bundle ({LEDGER} or .zip)"
    )


def verify_case(
    case: CaseHandle,
    *,
    trusted: Sequence[x509.Certificate] = (),
    sign_with: Identity | None = None,
) -> Report:
    """Verify a case directory from its database, identities/, evidence/ and set-aside/.

    A database that cannot be read (a damaged file) is a finding, as is every value in it
    that differs from the record; verification then stops where the reading stopped.
    """
    try:
        report = verify(
            str(case.root),
            lambda: read_entries(case.sessions, case.case_id),
            evidence=case.evidence,
            certificate_files=sorted(case.identities_dir.glob("*.pem")),
            trusted=trusted,
            case_id=case.case_id,
            set_aside=SetAsideFolder(case.root / SET_ASIDE),
        )
    except SQLAlchemyError as exc:
        report = Report(str(case.root))
        report.add("database.unreadable", "ledger_entries", _db_error(case, exc))
        return report
    try:
        check_index(case.sessions, case.case_id, report)
    except SQLAlchemyError as exc:
        report.add("index.unreadable", "index tables", _db_error(case, exc))
    if sign_with is not None:
        writer = case.writer(sign_with)
        writer.append(
            Verified(
                result="verified" if report.ok else "failed",
                findings=len(report.findings),
                entries=report.entries,
                artifacts=report.artifacts,
                ledger_head=report.head,
            )
        )
    return report


def _db_error(case: CaseHandle, exc: SQLAlchemyError) -> str:
    return f"the case database cannot be read: {wrap_db_errors(exc, case.sessions.kw['bind'])}"
