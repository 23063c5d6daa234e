"""Verifying a bundle zip: extract it safely to a temporary directory, verify that."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from custody.errors import ExportError
from custody.safezip import safe_extract
from custody.verify import Report


def verify_bundle_zip(path: Path, *, trusted: Sequence[object] = ()) -> Report:
    """Verify a bundle zip. Unsafe members raise :class:`~custody.errors.ExportError`.

    The zip is unpacked into a new directory under the system temporary directory
    (``$TMPDIR``), which must have room for the bundle, and removed afterwards.
    """
    from app.verification import verify_bundle_dir

    tmp = Path(tempfile.mkdtemp(prefix="chainproof-verify-"))
    try:
        safe_extract(path, tmp)
        if not (tmp / "ledger.jsonl").is_file():
            raise ExportError(f"{path} holds no ledger.jsonl: it is not a Chainproof bundle")
        report = verify_bundle_dir(tmp, trusted=trusted)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.subject = str(path)
    return report
