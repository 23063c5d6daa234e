"""``chainproof export CASE_DIR --out BUNDLE [--zip] [--force] [--full-inventory]``.

An ``--out`` ending in ``.zip`` is a zip bundle, ``--zip`` or not; ``--zip`` with any other
``--out`` is refused (exit 2) rather than renamed, so the bundle is always where it was asked.

On a terminal a live line shows the phase, how far it is and an ETA
(:class:`app.progress.ExportProgress`); ``--no-progress``, ``--json`` or a stderr that is not
a terminal keep it quiet. The first Ctrl-C cancels cleanly (the staging folder removed,
``export_failed`` recorded with the reason "cancelled", exit 130); a second aborts at once.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.passphrase import add_passphrase_fd

if TYPE_CHECKING:
    from cryptography import x509


def register(sub: Any) -> None:
    """Add the ``export`` subcommand to the CLI's subparsers."""
    c = sub.add_parser(
        "export",
        help="write a verifiable bundle (directory or zip) of a case",
        description="Verify the case, then write a bundle that a legal team can check with "
        "sha256sum, openssl and a PDF reader (see the bundle's VERIFY.md). The export is "
        "recorded in the case's ledger: a signed entry when it starts, another when the bundle "
        "is in place (or when it failed). An export that was killed is completed, or its "
        "staging folder removed and its failure recorded, by the next export or collection "
        "of the case.",
    )
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    c.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="BUNDLE",
        help="the bundle: a new directory, or a zip file when it ends in .zip",
    )
    c.add_argument(
        "--zip",
        action="store_true",
        help="write one zip file (flat, sorted, fixed times and permissions); implied by an "
        "--out ending in .zip, refused with any other --out",
    )
    c.add_argument(
        "--encrypt-to",
        action="append",
        default=[],
        type=Path,
        metavar="CERT.pem",
        help="encrypt the zip bundle to this recipient's certificate (RSA or P-256; "
        "repeatable): --out then names a CMS envelope, e.g. B.zip.p7m, that "
        "'chainproof decrypt' and 'openssl cms -decrypt' open with the recipient's key",
    )
    c.add_argument(
        "--force",
        action="store_true",
        help="export even if the case fails verification (the bundle states the failure)",
    )
    c.add_argument(
        "--full-inventory",
        action="store_true",
        help="also list every artifact and every ledger entry inside the PDF report (long: "
        "the summary report is at most 40 pages; the bundle's inventory.csv and "
        "inventory.jsonl, attached to the report, always list every artifact)",
    )
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument(
        "--no-progress", action="store_true", help="no progress lines on a terminal's stderr"
    )
    add_passphrase_fd(c)
    c.set_defaults(func=cmd_export)


def zip_wanted(out: Path, zip_flag: bool) -> bool:
    """Whether the bundle at ``out`` is a zip: an ``out`` ending in .zip is; ``--zip`` with
    another name is a usage error (the bundle is never put elsewhere than asked)."""
    from app.errors import UsageError

    if out.suffix.lower() == ".zip":
        return True
    if zip_flag:
        raise UsageError(
            f"--zip writes a zip file: name it with .zip (--out {out}.zip), "
            "or leave out --zip for a directory"
        )
    return False


def encryption_recipients(out: Path, certs: list[Path]) -> list[x509.Certificate]:
    """The certificates of ``--encrypt-to``; an encrypted bundle's ``--out`` ends in
    ``.p7m`` and a ``.p7m`` needs recipients (usage errors otherwise)."""
    from app.encryption import read_recipient
    from app.errors import UsageError

    p7m = out.suffix.lower() == ".p7m"
    if certs and not p7m:
        raise UsageError(
            f"an encrypted bundle is a CMS envelope: name it with .p7m (--out {out}.p7m)"
        )
    if p7m and not certs:
        raise UsageError(
            f"{out} names an encrypted bundle: give its recipients with --encrypt-to CERT.pem"
        )
    return [read_recipient(p) for p in certs]


def cmd_export(args: argparse.Namespace) -> int:
    from app.cases import open_case
    from app.export_recovery import recover_exports
    from app.export_service import export_case
    from app.identity import unlock_identity
    from app.progress import ExportProgress, size_text
    from app.times import utc_text
    from custody.record.events import Exported, ExportStarted

    recipients = encryption_recipients(args.out, args.encrypt_to)
    as_zip = True if recipients else zip_wanted(args.out, args.zip)
    handle = open_case(args.case_dir)
    identity = unlock_identity(args.passphrase_fd)
    quiet = args.json or args.no_progress or not sys.stderr.isatty()
    recovered = recover_exports(handle, identity)  # before the export, which may be refused
    for r in recovered:
        sys.stderr.write(f"chainproof: {r.message}\n")

    cancel = threading.Event()
    restore = _cancel_on_sigint(cancel)
    try:
        with ExportProgress(enabled=not quiet) as shown:
            result = export_case(
                handle,
                identity,
                args.out,
                as_zip=as_zip,
                force=args.force,
                full_inventory=args.full_inventory,
                phases=shown.update,
                cancel=cancel,
                encrypt_to=recipients,
            )
    finally:
        restore()
    b = result.bundle
    env = result.envelope
    doc = {
        "bundle": str(result.path),
        "format": "zip" if result.zip else "directory",
        "bundle_id": b.bundle_id,
        "generated_at": utc_text(b.generated_at),
        "manifest_sha256": b.manifest_sha256,
        "sha256sums_sha256": b.sha256sums_sha256,
        "zip_sha256": result.zip_sha256,
        "encrypted_to": list(env.fingerprints) if env else [],
        "p7m_sha256": env.sha256 if env else None,
        "files": b.files,
        "bytes": b.bytes,
        "ledger_entries": b.ledger_entries,
        "ledger_head": b.ledger_head,
        "verified": result.verified,
        "findings": result.findings,
        "started_entry": result.started_seq,
        "exported_entry": result.exported_seq,
        "recovered": [
            {
                "bundle_id": r.bundle_id,
                "path": r.path,
                "staging": r.staging,
                "outcome": r.outcome,
                "entry": r.seq,
                "removed_files": r.removed[0] if r.removed else None,
                "removed_bytes": r.removed[1] if r.removed else None,
            }
            for r in (*recovered, *result.recovered)
        ],
    }
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    print(f"Exported bundle {b.bundle_id} to {result.path}")
    print(f"  {b.files} files, {size_text(b.bytes)}; ledger entries 1-{b.ledger_entries}")
    print(f"  manifest.json SHA-256 {b.manifest_sha256}")
    print(f"  SHA256SUMS    SHA-256 {b.sha256sums_sha256}")
    if result.zip_sha256:
        print(f"  zip           SHA-256 {result.zip_sha256}")
    if env:
        print(f"  .p7m          SHA-256 {env.sha256}, encrypted to:")
        for who in env.recipients:
            print(f"    {who.name} ({who.kind}, certificate SHA-256 {who.fingerprint})")
        if not env.openssl_opens:
            sys.stderr.write(
                "chainproof: note: this envelope is larger than 'openssl cms -decrypt' "
                "(OpenSSL 3.0) can open (about 1.5 GiB): recipients open it with "
                "'chainproof decrypt'\n"
            )
    print(
        f"  recorded as ledger entries {result.started_seq} ({ExportStarted.EVENT}) and "
        f"{result.exported_seq} ({Exported.EVENT})"
    )
    if not result.verified:
        sys.stderr.write(
            f"chainproof: WARNING: the case failed verification ({result.findings} problem(s)); "
            "exported anyway because of --force, and the bundle says so\n"
        )
    if env:
        print(
            f"  a recipient opens it with: chainproof decrypt {result.path} --identity FILE.p12 "
            "(or openssl cms -decrypt), then checks it with chainproof verify"
        )
        return 0
    print("  check it as described in VERIFY.md, or with: chainproof verify " + str(result.path))
    return 0


def _cancel_on_sigint(cancel: threading.Event) -> Callable[[], None]:
    """The first Ctrl-C sets ``cancel`` (the export stops cleanly at its next block or
    thousand entries); a second one aborts at once. Returns what restores the old handler.
    (As ``app.cli`` does for collect and verify; not imported from it, which imports this.)"""
    previous = signal.getsignal(signal.SIGINT)

    def handler(_sig: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        sys.stderr.write("\nCancelling the export (Ctrl-C again to abort)...\n")

    signal.signal(signal.SIGINT, handler)

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)

    return restore
