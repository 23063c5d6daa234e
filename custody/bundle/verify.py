"""Verifying an exported bundle from its files alone: a directory, or a zip checked and unpacked."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography import x509

from custody.bundle.checks import check_bundle_files
from custody.bundle.layout import LEDGER, MANIFEST, SUMS
from custody.bundle.zipextract import unpack_zip
from custody.errors import ExportError
from custody.record.entry import Entry
from custody.record.regular import open_regular
from custody.store.storage import EVIDENCE, LocalEvidenceStore
from custody.verify.case import verify
from custody.verify.findings import Report


def read_ledger_jsonl(path: Path, report: Report) -> Iterator[Entry]:
    """Entries of a ``ledger.jsonl``; a malformed line becomes a finding, and so does a
    file that cannot be read."""
    try:
        f = open_regular(path)
    except FileNotFoundError:
        report.add("bundle.deleted", path.name, _NO_LEDGER)
        return
    except OSError as exc:
        report.add("bundle.unreadable", path.name, f"cannot be read: {exc.strerror}")
        return
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield Entry.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                report.add(
                    "ledger.malformed", f"{path.name} line {lineno}", f"not a ledger entry: {exc}"
                )


_NO_LEDGER = "is missing: the bundle's record cannot be checked"


def verify_bundle_dir(root: Path, *, trusted: Sequence[x509.Certificate] = ()) -> Report:
    """Verify an exported bundle directory from its files alone (no database)."""
    probe = Report(str(root))
    entries = list(read_ledger_jsonl(root / LEDGER, probe))
    report = verify(
        str(root),
        entries,
        evidence=LocalEvidenceStore(root / EVIDENCE),
        certificate_files=sorted((root / "certs").glob("*.pem")),
        trusted=trusted,
    )
    report.findings[:0] = probe.findings
    check_bundle_files(root, entries, report)
    return report


def verify_bundle_zip(path: Path, *, trusted: Sequence[x509.Certificate] = ()) -> Report:
    """Verify a bundle zip: its structure and every member's data
    (:mod:`custody.bundle.zipextract`), then what could be unpacked, as a directory.

    The zip is unpacked into a new directory under the system temporary directory
    (``$TMPDIR``), which must have room for the bundle, and removed afterwards. Damage is
    a finding; :class:`~custody.errors.ExportError` is raised only for a file that cannot be
    read or is not a zip, a zip with none of a bundle's files, or a temporary directory
    that cannot be written.
    """
    zipped = Report(str(path))
    tmp = Path(tempfile.mkdtemp(prefix="chainproof-verify-"))
    try:
        names = set(unpack_zip(path, tmp, zipped))
        if LEDGER in names:
            report = verify_bundle_dir(tmp, trusted=trusted)
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
