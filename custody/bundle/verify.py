"""Verifying an exported bundle from its files alone: a directory, or a zip checked and unpacked."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography import x509

from custody.bundle.checks import BundleTap, check_bundle_files
from custody.bundle.layout import LEDGER, MANIFEST, SUMS
from custody.bundle.ledgerfile import read_ledger_jsonl
from custody.bundle.zipextract import unpack_zip
from custody.errors import ExportError
from custody.record.entry import Entry
from custody.record.regular import open_regular
from custody.store.storage import EVIDENCE, LocalEvidenceStore
from custody.timestamp.check import TsaAnchors
from custody.verify.case import verify
from custody.verify.findings import Report
from custody.verify.progress import BUNDLE, Monitor


def verify_bundle_dir(
    root: Path,
    *,
    trusted: Sequence[x509.Certificate] = (),
    monitor: Monitor | None = None,
    tsa_anchors: TsaAnchors | None = None,
) -> Report:
    """Verify an exported bundle directory from its files alone (no database).

    ``monitor`` hears the phases of :func:`~custody.verify.case.verify`, then ``bundle``
    (the bundle's own files, no count), and may cancel it (:class:`~custody.errors.Cancelled`).
    The bundle's checks take the ledger from the case verification's pass (read and
    parsed once, :class:`~custody.bundle.checks.BundleTap`); its RFC 3161 tokens are
    checked in that pass too (their TSA's chain against ``tsa_anchors``)."""
    monitor = monitor or Monitor()
    probe = Report(str(root))
    passes = 0

    def entries() -> Iterator[Entry]:
        """The ledger read anew (it is never held); a malformed line is a finding once."""
        nonlocal passes
        passes += 1
        return read_ledger_jsonl(root / LEDGER, probe if passes == 1 else Report(str(root)))

    tap = BundleTap(root, tsa_anchors)
    try:
        report = verify(
            str(root),
            entries,
            evidence=LocalEvidenceStore(root / EVIDENCE),
            certificate_files=sorted((root / "certs").glob("*.pem")),
            trusted=trusted,
            monitor=monitor,
            entry_count=_lines(root / LEDGER),
            tap=tap,
        )
    except BaseException:
        tap.close()
        raise
    report.findings[:0] = probe.findings
    monitor.start(BUNDLE, 0)
    check_bundle_files(root, entries, report, tap)
    monitor.finish()
    return report


def _lines(path: Path) -> int:
    """How many lines a file has, for progress (0 when it cannot be read: reading it for
    the check reports why)."""
    n = 0
    try:
        with open_regular(path) as f:
            while block := f.read(1 << 20):
                n += block.count(b"\n")
    except OSError:
        return 0
    return n


def verify_bundle_zip(
    path: Path,
    *,
    trusted: Sequence[x509.Certificate] = (),
    monitor: Monitor | None = None,
    tsa_anchors: TsaAnchors | None = None,
) -> Report:
    """Verify a bundle zip: its structure and every member's data
    (:mod:`custody.bundle.zipextract`), then what could be unpacked, as a directory.

    The zip is unpacked into a new directory under the system temporary directory
    (``$TMPDIR``), which must have room for the bundle, and removed afterwards. Damage is
    a finding; :class:`~custody.errors.ExportError` is raised only for a file that cannot be
    read or is not a zip, a zip with none of a bundle's files, or a temporary directory
    that cannot be written. ``monitor``: as for :func:`verify_bundle_dir` (the unpacking
    itself reports nothing; it is checked for cancellation once it is done).
    """
    zipped = Report(str(path))
    tmp = Path(tempfile.mkdtemp(prefix="chainproof-verify-"))
    try:
        names = set(unpack_zip(path, tmp, zipped))
        if monitor is not None:
            monitor.check()
        if LEDGER in names:
            report = verify_bundle_dir(
                tmp, trusted=trusted, monitor=monitor, tsa_anchors=tsa_anchors
            )
        elif zipped.findings or names & {MANIFEST, SUMS}:
            report = Report(str(path))
            report.add(
                "bundle.deleted",
                LEDGER,
                "is missing from the zip or could not be unpacked: the bundle's record cannot "
                "be checked",
            )
        else:
            raise ExportError(f"{path} holds no {LEDGER}: it is not a Chainproof bundle")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.findings[:0] = zipped.findings
    report.subject = str(path)
    return report
