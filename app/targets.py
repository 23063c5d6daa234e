"""What a path given to ``verify``, ``artifacts``, ``log`` or ``extract`` is: a case
directory, an exported bundle directory, a bundle zip, or a signed report PDF. One set of
rules, so every command tells them apart the same way."""

from __future__ import annotations

import os
from pathlib import Path

from app.cases import CASE_FILE
from custody.bundle.layout import LEDGER, MANIFEST, SUMS
from custody.errors import UsageError

CASE, BUNDLE, ZIP, PDF = "case", "bundle", "zip", "pdf"


def target_kind(target: Path, *, pdf: bool = False) -> str:
    """:data:`CASE`, :data:`BUNDLE`, :data:`ZIP`, or (when ``pdf``) :data:`PDF`; anything
    else is a :class:`UsageError` naming what was expected.

    A directory is a case when it holds the case file, else a bundle when it holds any of a
    bundle's own files (one missing is then a finding, not a usage error).
    """
    if target.is_dir() and (target / CASE_FILE).exists():
        return CASE
    if target.is_dir() and any(os.path.lexists(target / n) for n in (LEDGER, MANIFEST, SUMS)):
        return BUNDLE
    if target.is_file() and target.suffix.lower() == ".zip":
        return ZIP
    if pdf and target.is_file() and target.suffix.lower() == ".pdf":
        return PDF
    if target.is_file() and target.suffix.lower() == ".p7m":
        raise UsageError(
            f"{target} is an encrypted bundle: open it first with 'chainproof decrypt "
            f"{target}' (a recipient's identity), then give the .zip it writes"
        )
    case, bundle = f"a case directory ({CASE_FILE})", f"a bundle ({LEDGER} or .zip)"
    if pdf:
        raise UsageError(f"{target} is neither {case}, {bundle}, nor a signed report (.pdf)")
    raise UsageError(f"{target} is neither {case} nor {bundle}")
