"""The names of a bundle's files, and its format.

A bundle written by this code says ``chainproof-bundle/2`` in its manifest; bundles made by the
format 1 code say ``chainproof-bundle/1``. Their manifests have the same layout, the older
with fewer fields: a field missing from a format 1 manifest is not a finding.
"""

from __future__ import annotations

from pathlib import PurePosixPath

BUNDLE_FORMAT = "chainproof-bundle/2"
#: Formats whose manifests may lack fields that ours have.
OLDER_FORMATS = frozenset({"chainproof-bundle/1"})
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.json.sig"
LEDGER = "ledger.jsonl"
CASE_UCO = "case.jsonld"
REPORT_PDF = "custody-report.pdf"
VERIFY_MD = "VERIFY.md"
SUMS = "SHA256SUMS"
SUMS_SIG = "SHA256SUMS.sig"
#: Files written after the manifest, so the manifest names them but cannot hash them.
LATE_FILES = (REPORT_PDF, VERIFY_MD, SUMS, SUMS_SIG, MANIFEST, MANIFEST_SIG)
LEDGER_NOTE = (
    "the ledger as of the bundle's making; the export itself is recorded by a later "
    "'exported' entry in the case's own ledger"
)


def is_older_format(value: object) -> bool:
    """True for the format of a bundle made by older code (its manifest has fewer fields)."""
    return isinstance(value, str) and value in OLDER_FORMATS


def archive_stem(archive: str) -> str:
    """The run archive's file name without ``.tar``, as the ledger names the archive."""
    return PurePosixPath(archive.replace("\\", "/")).stem


def archive_file(archive: str) -> str:
    """The bundle's copy of a run archive: ``evidence/<run>.tar``."""
    return f"evidence/{archive_stem(archive)}.tar"


def member_sums_file(archive: str) -> str:
    """The ``sha256sum`` list of a run archive's members: ``evidence/<run>.sha256``."""
    return f"evidence/{archive_stem(archive)}.sha256"


def signed_body_file(seq: int) -> str:
    return f"signatures/{seq}.json"


def signature_file(seq: int, n: int) -> str:
    """The ``n``-th (from 1) signature of entry ``seq``."""
    return f"signatures/{seq}-{n}.sig"


def certificate_file(fingerprint: str) -> str:
    return f"certs/{fingerprint}.pem"
