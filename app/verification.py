"""Verifying a case directory or an exported bundle, and recording that it was verified."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError

from app.cases import CaseHandle, open_case
from app.identity import read_certificate
from app.targets import BUNDLE, CASE, ZIP, target_kind
from custody.db.engine import snapshot, wrap_db_errors
from custody.db.ledger import head, read_entries
from custody.errors import DatabaseError, UsageError
from custody.record.entry import Entry
from custody.record.events import Event, Verified
from custody.record.fold import CaseState
from custody.record.keys import Identity, fingerprint
from custody.record.regular import open_regular, read_regular
from custody.store.setaside import SET_ASIDE, SetAsideFolder
from custody.timestamp.check import TimestampCheck, TsaAnchors
from custody.timestamp.store import TokenStore
from custody.verify.case import verify
from custody.verify.findings import Report
from custody.verify.index import IndexComparison
from custody.verify.progress import CancelToken, Monitor, ProgressCallback

__all__ = ["Report", "verify_case", "verify_target"]


def verify_target(
    target: Path,
    *,
    trust: Sequence[Path] = (),
    sign_with: Identity | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    tsa_ca: Path | None = None,
) -> Report:
    """Verify ``target``: a case directory, a bundle directory, or a bundle zip.

    Any damage to a zip is a finding. A path that is none of these is a
    :class:`UsageError` (exit 2); a ``.zip`` that cannot be read, is no zip at all, or holds
    none of a bundle's files is an :class:`~custody.errors.ExportError` (exit 7).
    ``progress(phase, done, total)`` hears how far it is (:mod:`custody.verify.progress`);
    a set ``cancel`` token stops it with :class:`~custody.errors.Cancelled` (nothing
    recorded). ``tsa_ca``: the CA certificates (PEM) the RFC 3161 tokens' TSA must chain
    to (default: the settings file's ``tsa_ca``; none: the chain is not checked).
    """
    monitor = Monitor(progress, cancel)
    trusted = [read_certificate(p) for p in trust]
    anchors = tsa_anchors(tsa_ca)
    kind = target_kind(target, pdf=True)
    if kind == CASE:
        try:
            case = open_case(target, require_opened=False)
        except DatabaseError as exc:
            report = Report(str(target))
            report.add("database.unreadable", "case database", exc.diagnostics())
            return report
        return verify_case(
            case, trusted=trusted, sign_with=sign_with, monitor=monitor, tsa_anchors=anchors
        )
    if sign_with is not None:
        raise UsageError("--sign records the verification in a case; a bundle is read-only")
    # Imported here: a case's verification needs neither, and they take a second to load.
    from custody.bundle.verify import verify_bundle_dir, verify_bundle_zip

    if kind == BUNDLE:  # a missing ledger is a finding
        return verify_bundle_dir(target, trusted=trusted, monitor=monitor, tsa_anchors=anchors)
    if kind == ZIP:
        return verify_bundle_zip(target, trusted=trusted, monitor=monitor, tsa_anchors=anchors)
    return verify_report_pdf(target, trusted=trusted)


def tsa_anchors(path: Path | None) -> TsaAnchors | None:
    """The TSA CA certificates in ``path`` (PEM, one or more), else in the settings file's
    ``tsa_ca``; None when neither is given."""
    from app.settings import load_settings

    path = path or load_settings().tsa_ca
    if path is None:
        return None
    try:
        certs = x509.load_pem_x509_certificates(read_regular(path))
    except OSError as exc:
        raise UsageError(f"cannot read the TSA CA certificates {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"{path} holds no PEM certificate: {exc}") from exc
    return TsaAnchors(certs, str(path))


class _Taps:
    """Two ledger taps fed from the one ledger pass."""

    def __init__(self, *taps: IndexComparison | TimestampCheck) -> None:
        self.taps = taps

    def feed(self, entry: Entry, event: Event | None) -> None:
        for t in self.taps:
            t.feed(entry, event)

    def finish(self, state: CaseState) -> None:
        for t in self.taps:
            t.finish(state)


def verify_report_pdf(path: Path, *, trusted: Sequence[x509.Certificate] = ()) -> Report:
    """Verify a custody report PDF on its own: one signature, intact, over every byte; signed
    by one of ``trusted`` when given (else the signer is named for the reader to compare)."""
    from custody.report.signed_pdf import check_signed_pdf  # see verify_target

    report = Report(str(path))
    signers = {fingerprint(c): _common_name(c) for c in trusted} if trusted else None
    try:
        with open_regular(path) as f:
            sig = check_signed_pdf(f, path.name, report, signers=signers)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    if sig is not None:
        report.pdf = {
            "signed at": sig.signed_at or "(no time stated)",
            "signed bytes": f"{sig.covered:,} of {sig.size:,}",
        }
        if not trusted:
            report.pdf["signer's identity"] = (
                "not checked: compare the fingerprint below with the examiner's certificate, "
                "or give it with --trust CERT.pem"
            )
        report.signers[sig.fingerprint] = sig.signer
        report.signatures = 1
    else:
        report.pdf = {}
    return report


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def verify_case(
    case: CaseHandle,
    *,
    trusted: Sequence[x509.Certificate] = (),
    sign_with: Identity | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    monitor: Monitor | None = None,
    tsa_anchors: TsaAnchors | None = None,
) -> Report:
    """Verify a case directory from its database, identities/, evidence/ and set-aside/.

    A database that cannot be read (a damaged file) is a finding, as is every value in it
    that differs from the record; verification then stops where the reading stopped.
    ``progress`` and ``cancel`` (or a ``monitor`` made of them): as for
    :func:`verify_target`; cancelled, nothing is recorded. Every RFC 3161 token in
    ``timestamps/`` is checked (:mod:`custody.timestamp.check`), its TSA's chain against
    ``tsa_anchors`` when given.
    """
    monitor = monitor or Monitor(progress, cancel)
    try:
        report = _verify_in_snapshot(case, trusted, monitor, tsa_anchors)
    except SQLAlchemyError as exc:
        report = Report(str(case.root))
        report.add("database.unreadable", "ledger_entries", _db_error(case, exc))
        return report
    monitor.check()
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


def _verify_in_snapshot(
    case: CaseHandle,
    trusted: Sequence[x509.Certificate],
    monitor: Monitor,
    anchors: TsaAnchors | None = None,
) -> Report:
    """The ledger, the archives and the index, all read from one snapshot of the database.

    The ledger pass parses each entry once and hands its typed event to the index
    comparison; each run's archive check reads the same snapshot again, so nothing is hashed
    twice. An index that cannot be read is a finding; a ledger that cannot be read raises
    :class:`~sqlalchemy.exc.SQLAlchemyError`."""
    with snapshot(case.sessions) as snap, snap() as session:
        index = IndexComparison(session, case.case_id)
        stamps = TimestampCheck(TokenStore(case.root), anchors)
        report = verify(
            str(case.root),
            lambda: read_entries(snap, case.case_id),
            evidence=case.evidence,
            certificate_files=sorted(case.identities_dir.glob("*.pem")),
            trusted=trusted,
            case_id=case.case_id,
            set_aside=SetAsideFolder(case.root / SET_ASIDE),
            monitor=monitor,
            entry_count=_entry_count(case),
            tap=_Taps(index, stamps),
            stable=True,
        )
    if stamps.finished:
        stamps.add_to(report)
    monitor.check()
    try:
        index.close(report)
    except SQLAlchemyError as exc:
        report.add("index.unreadable", "index tables", _db_error(case, exc))
    return report


def _entry_count(case: CaseHandle) -> int:
    """About how many entries the ledger holds, for progress (0: not known). A database that
    cannot say is not this question's to report: reading the entries reports it."""
    try:
        return head(case.sessions, case.case_id)[0]
    except SQLAlchemyError:
        return 0


def _db_error(case: CaseHandle, exc: SQLAlchemyError) -> str:
    return f"the case database cannot be read: {wrap_db_errors(exc, case.sessions.kw['bind'])}"
