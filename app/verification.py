"""Verifying a case directory or an exported bundle, and recording that it was verified."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from app.cases import CASE_FILE, CaseHandle, open_case
from custody.bundle.verify import verify_bundle_dir, verify_bundle_zip
from custody.bundle.layout import LEDGER
from custody.db.ledger import read_entries
from custody.db.models import Artifact, Run
from custody.errors import MalformedEvent, UsageError
from custody.record.events import ArtifactCollected, Verified, parse
from custody.record.keys import Identity, load_certificate_pem
from custody.verify.case import Report, verify

__all__ = ["Report", "verify_case", "verify_target"]


def verify_target(
    target: Path, *, trust: Sequence[Path] = (), sign_with: Identity | None = None
) -> Report:
    """Verify ``target``: a case directory, a bundle directory, or a bundle zip."""
    trusted = [load_certificate_pem(p.read_bytes()) for p in trust]
    if target.is_dir() and (target / CASE_FILE).exists():
        return verify_case(open_case(target), trusted=trusted, sign_with=sign_with)
    if sign_with is not None:
        raise UsageError("--sign records the verification in a case; a bundle is read-only")
    if target.is_dir() and (target / LEDGER).exists():
        return verify_bundle_dir(target, trusted=trusted)
    if target.is_file() and target.suffix.lower() == ".zip":
        return verify_bundle_zip(target, trusted=trusted)
    raise UsageError(
        f"{target} is neither a case directory ({CASE_FILE}) nor a bundle ({LEDGER} or .zip)"
    )


def verify_case(
    case: CaseHandle, *, trusted: Sequence[object] = (), sign_with: Identity | None = None
) -> Report:
    """Verify a case directory from its database, identities/ and evidence/."""
    report = verify(
        str(case.root),
        read_entries(case.sessions, case.case_id),
        evidence_dir=case.evidence_dir,
        certificate_files=sorted(case.identities_dir.glob("*.pem")),
        trusted=trusted,  # type: ignore[arg-type]
        case_id=case.case_id,
    )
    _check_index(case, report)
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


def _check_index(case: CaseHandle, report: Report) -> None:
    """The database's artifact index must agree with the ledger it was built from.

    Both are read in ``seq`` order and merged, so memory stays flat for any case size.
    """
    entries = read_entries(case.sessions, case.case_id, events=[ArtifactCollected.EVENT])
    entry = next(entries, None)
    query = (
        select(Artifact.ledger_seq, Artifact.sha256, Artifact.size, Artifact.data_offset)
        .join(Run, Run.id == Artifact.run_id)
        .where(Run.case_id == case.case_id)
        .order_by(Artifact.ledger_seq)
        .execution_options(yield_per=5000)
    )
    with case.sessions() as s:
        for seq, sha256, size, offset in s.execute(query):
            while entry is not None and entry.seq < seq:
                entry = next(entries, None)
            try:
                a = parse(entry) if entry is not None and entry.seq == seq else None
            except MalformedEvent:
                a = None
            if not isinstance(a, ArtifactCollected) or (
                a.digests.sha256,
                a.member.size,
                a.member.data_offset,
            ) != (sha256, size, offset):
                report.add(
                    "index.mismatch",
                    f"entry {seq}",
                    "the database's artifact index disagrees with the ledger entry it was made from",
                    seq,
                )
