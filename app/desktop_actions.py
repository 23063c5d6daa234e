"""What the desktop app's actions need from the services, in the shapes the screens show.

Who holds the evidence now and every hand-over (folded from the ledger), where the next
bundle of a case goes, the examiner's certificate as a PEM file, an export the case's failed
verification refused (for the window to ask whether to export it anyway, as ``export
--force`` does), and one artifact extracted with its access recorded (as ``extract`` does).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from app.errors import ChainproofError, ExportRefused, UsageError, VerificationError
from app.identity import Identity, public_certificate
from custody.record.keys import certificate_pem, fingerprint

if TYPE_CHECKING:
    from app.cases import CaseHandle
    from app.export_service import ExportResult
    from app.integrity import Verification

__all__ = [
    "CaseRow",
    "Custody",
    "ExportRefused",
    "Extracted",
    "Handover",
    "Holder",
    "certificate_holder",
    "custody_of",
    "documentation",
    "examiner_certificate",
    "export_bundle",
    "extract_artifact",
    "fresh_bundle_path",
    "list_cases",
    "write_certificate",
]


# --------------------------------------------------------------------------- case list


@dataclass(frozen=True)
class CaseRow:
    """One case of the case list: its summary (as ``case show``), its last recorded
    verification and the entries recorded since."""

    path: Path
    summary: dict[str, Any]
    verification: Verification | None
    since: int


def list_cases(root: Path, recent: Sequence[Path] = ()) -> tuple[list[CaseRow], int]:
    """The recently opened cases and those at ``root`` or up to two levels below it, each
    once; and how many folders could not be read as cases. Reads every case's ledger: run
    it off the GUI thread."""
    from app.cases import find_cases, open_case, summary
    from app.integrity import entries_since, last_recorded

    paths: list[Path] = []
    for p in [*recent, *(find_cases(root) if root.is_dir() else [])]:
        if p not in paths and p.is_dir():
            paths.append(p)
    rows: list[CaseRow] = []
    problems = 0
    for path in paths:
        try:
            handle = open_case(path)
            try:
                s = summary(handle)
                verification = last_recorded(handle)
                since = entries_since(handle, verification) if verification else 0
            finally:
                handle.sessions.kw["bind"].dispose()
        except ChainproofError:
            problems += 1
            continue
        rows.append(CaseRow(path, s, verification, since))
    return rows, problems


# --------------------------------------------------------------------------- custody


@dataclass(frozen=True)
class Holder:
    """An examiner as the case's ledger knows them."""

    fingerprint: str
    name: str
    organisation: str | None = None

    def __str__(self) -> str:
        org = f" ({self.organisation})" if self.organisation else ""
        return f"{self.name}{org}"


@dataclass(frozen=True)
class Handover:
    """One signed transfer of custody: entry, time (UTC text), who, to whom, why and where."""

    seq: int
    at: str
    released_by: Holder
    received_by: Holder
    reason: str
    location: str


@dataclass(frozen=True)
class Custody:
    """Who holds the evidence now, since when, and every hand-over, in ledger order.

    ``since_seq``/``since_at`` is the entry that made them the custodian: the case's opening
    or the last transfer. ``sealed_seq`` is the seal's entry (None: not sealed)."""

    custodian: Holder | None
    since_seq: int | None
    since_at: str | None
    transfers: tuple[Handover, ...]
    sealed_seq: int | None = None
    sealed_at: str | None = None
    seal_reason: str | None = None


def custody_of(case: CaseHandle) -> Custody:
    """The case's custody as its ledger tells it (the fold: the opener holds the evidence
    until the first transfer, then each receiver until the next)."""
    s = case.state()

    def holder(fp: str, name: str | None = None) -> Holder:
        known = s.examiners.get(fp)
        if known is not None:
            return Holder(fp, known.name, known.organisation)
        return Holder(fp, name or f"{fp[:16]}…")

    transfers = tuple(
        Handover(
            seq=t.seq,
            at=t.at,
            released_by=holder(t.event.from_fp, t.event.from_name),
            received_by=holder(t.event.to_fp, t.event.to_name),
            reason=t.event.reason,
            location=t.event.location,
        )
        for t in s.transfers
    )
    since_seq: int | None
    since_at: str | None
    if transfers:
        since_seq, since_at = transfers[-1].seq, transfers[-1].at
    elif s.opened is not None:
        since_seq, since_at = s.opened.seq, s.opened.at
    else:
        since_seq = since_at = None
    return Custody(
        custodian=holder(s.custodian) if s.custodian else None,
        since_seq=since_seq,
        since_at=since_at,
        transfers=transfers,
        sealed_seq=s.seal.seq if s.seal else None,
        sealed_at=s.seal.at if s.seal else None,
        seal_reason=s.seal.event.reason if s.seal else None,
    )


# --------------------------------------------------------------------------- certificates


def examiner_certificate(identity: Identity | None) -> x509.Certificate | None:
    """The examiner's certificate: the unlocked identity's, else the public copy kept
    beside the identity file (None: neither; unlocking the identity gives it)."""
    if identity is not None:
        return identity.certificate
    return public_certificate()


def write_certificate(certificate: x509.Certificate, path: Path) -> Path:
    """Write ``certificate`` to ``path`` as PEM (``openssl x509 -in`` reads it): what a
    receiving examiner or a legal team trusts, e.g. ``chainproof verify --trust``."""
    path = Path(path)
    try:
        path.write_text(certificate_pem(certificate), encoding="ascii")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def certificate_holder(identity_path: Path) -> Holder | None:
    """Who the identity file at ``identity_path`` names, read from its public certificate
    beside it (``identity.pem``) without the passphrase; None when there is none."""
    cert = public_certificate(identity_path)
    if cert is None:
        return None

    def attr(oid: x509.ObjectIdentifier) -> str | None:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else None

    return Holder(
        fingerprint(cert), attr(NameOID.COMMON_NAME) or "(unnamed)", attr(NameOID.ORGANIZATION_NAME)
    )


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportRefusal:
    """The export was refused because the case fails verification; nothing was exported or
    recorded. Exporting with ``force`` writes the bundle and states the failure in it."""

    message: str


_BUNDLE_SUFFIXES = ("", ".zip", ".zip.p7m")


def fresh_bundle_path(case: CaseHandle, as_zip: bool = False, encrypted: bool = False) -> Path:
    """A bundle path in the case's exports folder that nothing holds yet:
    ``exports/bundle-<UTC time>`` (``.zip``; ``.zip.p7m`` when ``encrypted``), with ``-2``,
    ``-3``… if that name is taken as a folder, a zip or an encrypted zip."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = ".zip.p7m" if encrypted else ".zip" if as_zip else ""
    name, n = f"bundle-{stamp}", 1
    while any(os.path.lexists(case.exports_dir / (name + s)) for s in _BUNDLE_SUFFIXES):
        n += 1
        name = f"bundle-{stamp}-{n}"
    return case.exports_dir / (name + suffix)


def export_bundle(
    case: CaseHandle,
    identity: Identity,
    out: Path,
    *,
    as_zip: bool = False,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    phases: Callable[[str, int, int], None] | None = None,
    cancel: threading.Event | None = None,
    encrypt_to: Sequence[x509.Certificate] = (),
) -> ExportResult | ExportRefusal:
    """Export as :func:`app.export_service.export_case` does (``phases``, ``cancel`` and
    ``encrypt_to`` as there: the same service as ``chainproof export --encrypt-to``); its
    result, or an :class:`ExportRefusal` when the case fails verification and ``force`` is
    not given."""
    from app.export_service import export_case  # the PDF and zip writers: imported when used

    try:
        return export_case(
            case,
            identity,
            out,
            as_zip=as_zip,
            force=force,
            progress=progress,
            phases=phases,
            cancel=cancel,
            encrypt_to=encrypt_to,
        )
    except ExportRefused as exc:
        return ExportRefusal(exc.diagnostics())


# --------------------------------------------------------------------------- extract


@dataclass(frozen=True)
class Extracted:
    """One artifact written under ``dest`` (or refused), and the access entry recorded."""

    status: str  # extracted | refused | skipped
    path: Path
    member: str
    size: int
    sha256: str
    message: str
    access_seq: int


def extract_artifact(
    case: CaseHandle, identity: Identity, seq: int, dest: Path, *, purpose: str
) -> Extracted:
    """Extract the artifact of ledger entry ``seq`` into ``dest`` as ``chainproof extract``
    does: the ledger checked first (its digests must verify), nothing replaced, the access
    recorded (signed) before a byte is read, the bytes re-hashed against the ledger."""
    from app.extraction import Extractor, select
    from app.journal import record_access
    from app.ledger_source import open_source

    if not purpose.strip():
        raise UsageError("extracting from a case records the access in its ledger: say why")
    with open_source(case.root) as source:
        selection = select(source, [str(seq)])
        report = selection.check.report
        if not report.ok:
            raise VerificationError(
                f"the ledger of {case.root} does not verify ({len(report.findings)} "
                f"problem(s); first: {report.findings[0]}): its digests cannot be trusted, "
                "nothing was extracted"
            )
        (item,) = selection.selected
        with Extractor(source, Path(dest)) as extractor:
            if extractor.existing(item):
                raise UsageError(
                    f"{extractor.target(item)} exists: nothing was extracted; choose another folder"
                )
            access = record_access(
                case,
                identity,
                purpose=f"{purpose.strip()} [chainproof gui: extract to {Path(dest).absolute()}]",
                artifacts=[item.event.member.name],
            )
            outcome = extractor.extract(item)
    return Extracted(
        status=outcome.status,
        path=Path(outcome.path),
        member=outcome.member,
        size=outcome.size,
        sha256=outcome.sha256,
        message=outcome.message,
        access_seq=access,
    )


# --------------------------------------------------------------------------- help


def documentation() -> Path | None:
    """The README beside the installed code (a source checkout), or None."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    return readme if readme.is_file() else None
