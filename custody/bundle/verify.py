"""Verifying an exported bundle from its files alone: a directory, or a zip unpacked safely."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography import x509

from custody.bundle.checks import check_bundle_files
from custody.bundle.layout import LEDGER
from custody.bundle.safezip import safe_extract
from custody.errors import ExportError
from custody.record.entry import Entry
from custody.store.storage import EVIDENCE, LocalEvidenceStore
from custody.verify.case import verify
from custody.verify.findings import Report


def read_ledger_jsonl(path: Path, report: Report) -> Iterator[Entry]:
    """Entries of a ``ledger.jsonl``; a malformed line becomes a finding."""
    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield Entry.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                report.add(
                    "ledger.malformed", f"{path.name} line {lineno}", f"not a ledger entry: {exc}"
                )


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
    """Verify a bundle zip. Unsafe members raise :class:`~custody.errors.ExportError`.

    The zip is unpacked into a new directory under the system temporary directory
    (``$TMPDIR``), which must have room for the bundle, and removed afterwards.
    """
    tmp = Path(tempfile.mkdtemp(prefix="chainproof-verify-"))
    try:
        safe_extract(path, tmp)
        if not (tmp / LEDGER).is_file():
            raise ExportError(f"{path} holds no {LEDGER}: it is not a Chainproof bundle")
        report = verify_bundle_dir(tmp, trusted=trusted)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.subject = str(path)
    return report
