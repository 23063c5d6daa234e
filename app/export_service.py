"""ExportService: verify a case, write its bundle (directory or zip), record the export.

The export is atomic and recorded (docs/DESIGN.md, Bundles). In order: the export's lease
(:mod:`app.lease`, held until its end), a signed ``export_started`` entry naming the bundle,
``out`` and the staging folder, the bundle built in that hidden staging folder next to
``out`` (:func:`~app.export_recovery.staging_path`; a zip is written there from the tree,
which is then removed), one rename into place, ``exported``. A failure removes the staging
folder and records ``export_failed``. A process killed in between leaves the started entry
open; the next export, collection or signed verification of the case closes it
(:mod:`app.export_recovery`): a bundle at ``out`` always has its ``exported`` entry, and no
staging folder outlives the next command.

Progress and cancel: ``phases(phase, done, total)`` hears the verification's phases
(``ledger`` in entries, ``archives`` in bytes), then the bundle's (``write``: the ledger's
one pass, in entries; ``copy`` in bytes; ``zip`` in bytes, written then hashed); a set
``cancel`` token
stops the export with :class:`~custody.errors.Cancelled`: before ``export_started`` nothing
is recorded, after it the staging folder is removed and ``export_failed`` is recorded with
the reason "cancelled". The ledger is never held in memory: it is read from the database
in passes (:class:`LedgerSlice`): the verification's, and the bundle's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from app.cases import CaseHandle
from app.encryption import Envelope, check_recipients, encrypt_bundle
from app.export_recovery import (
    STAGED_ZIP,
    Recovery,
    export_lease,
    recover_exports,
    remove_staging,
    removed_text,
    staging_path,
    write_envelope_note,
)
from app.lease import RunLeases
from app.stop_points import stop_point
from app.verification import verify_case
from app.version import __version__
from custody.bundle.safezip import write_zip
from custody.bundle.writer import BundleResult, write_bundle
from custody.db.ledger import LedgerWriter, head, read_entries
from custody.errors import (
    Cancelled,
    ChainproofError,
    ExportError,
    ExportRefused,
    UsageError,
)
from custody.record.entry import Entry
from custody.record.events import Exported, ExportFailed, ExportStarted
from custody.record.keys import Identity
from custody.record.times import utc_text
from custody.timestamp.store import TokenStore
from custody.verify.findings import Report
from custody.verify.progress import CancelToken, Monitor, ProgressCallback

Progress = Callable[[str], None]
MAX_FINDINGS_SHOWN = 20
#: The monitor phase of writing the zip (bytes).
ZIP = "zip"
CHANGED = "the case's ledger changed while it was verified; run the export again"


class LedgerSlice:
    """The first ``count`` entries of a case's ledger, read from the database anew at each
    call (a pass), never held; a pass whose last entry is not ``head`` (the verified head)
    raises :class:`ExportError`, so every document of the bundle is of the ledger that was
    verified."""

    def __init__(self, case: CaseHandle, count: int, head_hash: str) -> None:
        self.case, self.count, self.head = case, count, head_hash

    def __call__(self) -> Iterator[Entry]:
        last: Entry | None = None
        n = 0
        for last in itertools.islice(
            read_entries(self.case.sessions, self.case.case_id), self.count
        ):
            n += 1
            yield last
        if n != self.count or last is None or last.entry_hash != self.head:
            raise ExportError(CHANGED)

    def check(self) -> None:
        """Raise :class:`ExportError` unless the ledger still begins with the verified
        entries: the stored head when nothing was added since, else a pass."""
        if not self.count:
            raise ExportError("the case ledger is empty: there is nothing to export")
        if head(self.case.sessions, self.case.case_id) == (self.count, self.head):
            return
        for _e in self():
            pass


@dataclass(frozen=True)
class ExportResult:
    """What an export made and where the case's ledger records it; ``recovered`` is what it
    did first about interrupted exports of the case."""

    path: Path
    zip: bool
    bundle: BundleResult
    zip_sha256: str | None
    verified: bool
    findings: int
    exported_seq: int
    started_seq: int
    recovered: tuple[Recovery, ...] = ()
    envelope: Envelope | None = None

    @property
    def bundle_id(self) -> str:
        return self.bundle.bundle_id


def _check_out(case: CaseHandle, out: Path, as_zip: bool) -> None:
    busy = os.path.lexists(out) and (as_zip or not out.is_dir() or any(out.iterdir()))
    if busy:
        known = [r for r in case.folded((Exported.EVENT,)).exports if r.event.path == str(out)]
        held = (
            f" (it holds bundle {known[-1].event.bundle_id}, recorded as exported by entry "
            f"{known[-1].seq})"
            if known
            else ""
        )
        if as_zip:
            raise ExportError(f"{out} already exists{held}: choose a new file name for the bundle")
        raise ExportError(
            f"{out} exists and is not an empty directory{held}: choose a new bundle path"
        )
    if not out.parent.is_dir():
        raise ExportError(f"{out.parent} does not exist: create it first")


def _describe(findings: list[Any]) -> str:
    shown = [f"  - {f}" for f in findings[:MAX_FINDINGS_SHOWN]]
    if len(findings) > MAX_FINDINGS_SHOWN:
        shown.append(f"  ... and {len(findings) - MAX_FINDINGS_SHOWN} more")
    return "\n".join(shown)


def _sha256_file(path: Path, on_chunk: Callable[[int], None]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
            on_chunk(len(chunk))
    return h.hexdigest()


def export_case(
    case: CaseHandle,
    identity: Identity,
    out: Path,
    *,
    as_zip: bool = False,
    force: bool = False,
    bundle_id: str | None = None,
    generated_at: dt.datetime | None = None,
    progress: Progress | None = None,
    full_inventory: bool = False,
    phases: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    encrypt_to: Sequence[x509.Certificate] = (),
) -> ExportResult:
    """Verify ``case``, write its bundle to ``out`` and record it, atomically (see the module
    docstring): a signed ``export_started`` entry first, ``exported`` once the bundle is in
    place, or ``export_failed`` when it is not (the staging folder removed).

    Interrupted exports of the case are closed first (:func:`recover_exports`; each is
    reported through ``progress`` and in the result). Refuses (:class:`ExportRefused`, listing
    the findings) a case that fails verification unless ``force``; the bundle then states
    the failure in the manifest, report and guide. ``bundle_id`` and ``generated_at``
    default to a new UUID and now; given the same values and the same case, the bundle's
    bytes are the same. ``full_inventory``: the PDF report lists every artifact and every
    ledger entry too (by default it stays short and inventory.csv / inventory.jsonl list the
    artifacts). ``phases`` and ``cancel``: see the module docstring. ``encrypt_to``:
    the zip is encrypted to these certificates (a CMS EnvelopedData, see
    :mod:`app.encryption`) and only the envelope is put at ``out``; ``exported``
    records the recipients' certificate SHA-256s and the envelope's SHA-256.
    """
    say = progress or (lambda _m: None)
    monitor = Monitor(phases, cancel)
    out = Path(out).absolute()
    leases = RunLeases(case)  # refuses a case directory whose file locks cannot be trusted
    recovered = tuple(recover_exports(case, identity, leases))
    for r in recovered:
        say(r.message)
    _check_out(case, out, as_zip)
    if encrypt_to and not as_zip:
        raise UsageError("an encrypted export is a zip bundle: export with as_zip")
    check_recipients(encrypt_to)  # refused before anything is recorded
    writer = case.writer(identity)  # records the exporting examiner first if new
    bundle_id = bundle_id or str(uuid.uuid4())
    generated_at = (generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    say("verifying the case")
    try:
        report = verify_case(case, monitor=monitor)
    except Cancelled:
        raise Cancelled(
            "export cancelled while the case was verified; nothing was recorded"
        ) from None
    if not report.ok and not force:
        raise ExportRefused(
            f"the case at {case.root} fails verification ({len(report.findings)} problem(s)); "
            "nothing was exported. Fix or explain the problems, or export anyway with --force "
            "(the bundle will state the failure):\n" + _describe(report.findings)
        )
    entries = LedgerSlice(case, report.entries, report.head)
    entries.check()
    staging = staging_path(out, bundle_id)
    if os.path.lexists(staging):
        raise ExportError(f"{staging} exists: bundle id {bundle_id} was used before")
    lease = leases.try_take(export_lease(bundle_id))
    if lease is None:
        raise ExportError(f"bundle {bundle_id} is being exported by another process")
    try:
        stop_point("export_lease")
        started = ExportStarted(
            bundle_id=bundle_id,
            generated_at=utc_text(generated_at),
            path=str(out),
            format="zip" if as_zip else "directory",
            staging=str(staging),
            host=socket.gethostname(),
            ledger_entries=entries.count,
            ledger_head=report.head,
            verification="verified" if report.ok else "failed",
            findings=len(report.findings),
        )
        started_entry = writer.append(started)
        assert started_entry is not None
        stop_point("export_begun")
        try:
            bundle, zip_sha256, envelope = _stage_and_move(
                staging,
                out,
                as_zip=as_zip,
                entries=entries,
                case=case,
                report=report,
                identity=identity,
                bundle_id=bundle_id,
                generated_at=generated_at,
                say=say,
                full_inventory=full_inventory,
                monitor=monitor,
                encrypt_to=encrypt_to,
            )
        except BaseException as exc:
            cleanup = _abandon(writer, started, staging, exc)
            if isinstance(exc, Cancelled):
                raise Cancelled(f"export cancelled: {cleanup}") from exc
            if isinstance(exc, OSError | ExportError):
                why = exc.diagnostics() if isinstance(exc, ExportError) else _reason(exc)
                raise ExportError(f"the export to {out} failed: {why}; {cleanup}") from exc
            raise
        stop_point("export_moved")
        if envelope is None:
            with contextlib.suppress(OSError):
                staging.rmdir()  # empty: its content was moved into place
        entry = writer.append(
            Exported(
                bundle_id=bundle_id,
                generated_at=started.generated_at,
                path=str(out),
                format=started.format,
                manifest_sha256=bundle.manifest_sha256,
                sha256sums_sha256=bundle.sha256sums_sha256,
                ledger_entries=bundle.ledger_entries,
                ledger_head=bundle.ledger_head,
                files=bundle.files,
                bytes=bundle.bytes,
                verification=started.verification,
                findings=started.findings,
                zip_sha256=zip_sha256,
                encrypted_to=envelope.fingerprints if envelope else (),
                p7m_sha256=envelope.sha256 if envelope else None,
            )
        )
        assert entry is not None
        if envelope is not None:  # the plain zip kept for a recovery is no longer needed
            with contextlib.suppress(OSError):
                remove_staging(staging)
        stop_point("export_done")
    finally:
        lease.release()
    return ExportResult(
        path=out,
        zip=as_zip,
        bundle=bundle,
        zip_sha256=zip_sha256,
        verified=report.ok,
        findings=len(report.findings),
        exported_seq=entry.seq,
        started_seq=started_entry.seq,
        recovered=recovered,
        envelope=envelope,
    )


def _stage_and_move(
    staging: Path,
    out: Path,
    *,
    as_zip: bool,
    entries: LedgerSlice,
    case: CaseHandle,
    report: Report,
    identity: Identity,
    bundle_id: str,
    generated_at: dt.datetime,
    say: Progress,
    full_inventory: bool = False,
    monitor: Monitor | None = None,
    encrypt_to: Sequence[x509.Certificate] = (),
) -> tuple[BundleResult, str | None, Envelope | None]:
    """Build the bundle in ``staging`` and move it to ``out`` (the one step that puts it in
    place); the bundle as written, the zip's SHA-256, and the envelope when the zip is
    encrypted to ``encrypt_to`` (then only the envelope is moved). After the move
    ``staging`` is empty."""
    monitor = monitor or Monitor()

    copying = False

    def staging_say(message: str) -> None:
        nonlocal copying
        say(message)
        if message.startswith("copying ") and not copying:  # the ledger's files are written
            copying = True
            stop_point("export_staging")

    staging.mkdir()
    tree = staging / "bundle"
    bundle = write_bundle(
        tree,
        entries=entries,
        evidence=case.evidence,
        verification=report,
        identity=identity,
        bundle_id=bundle_id,
        generated_at=generated_at,
        tool_version=__version__,
        forced=not report.ok,
        progress=staging_say,
        full_inventory=full_inventory,
        monitor=monitor,
        entry_count=entries.count,
        timestamps=TokenStore(case.root).read,
    )
    stop_point("export_staged")
    zip_sha256: str | None = None
    envelope: Envelope | None = None
    if as_zip:
        say(f"writing {out.name}")
        packed = staging / STAGED_ZIP
        names = [p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()]
        monitor.start(ZIP, 2 * bundle.bytes)  # written, then hashed
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            monitor.update(done)

        write_zip(packed, tree, names, timestamp=generated_at, on_chunk=advance)
        zip_sha256 = _sha256_file(packed, advance)
        monitor.finish()
        shutil.rmtree(tree)
        stop_point("export_zipped")
        if encrypt_to:
            say(f"encrypting {out.name} to {len(encrypt_to)} recipient(s)")
            envelope = encrypt_bundle(packed, encrypt_to, staging / "bundle.zip.p7m")
            # The plain zip stays in the staging folder, with what binds it to the envelope,
            # until ``exported`` is recorded: a recovery can then tell the envelope at
            # ``out`` is this bundle without the recipients' keys (app.export_recovery).
            write_envelope_note(staging, envelope, zip_sha256)
            packed = envelope.path
        if os.path.lexists(out):
            raise ExportError(f"{out} appeared while the bundle was written; it was left alone")
        packed.replace(out)
    else:
        if out.is_dir() and not out.is_symlink():
            out.rmdir()  # empty, checked before; a directory that filled meanwhile stays
        tree.replace(out)
    return replace(bundle, root=out), zip_sha256, envelope


def _abandon(
    writer: LedgerWriter, started: ExportStarted, staging: Path, exc: BaseException
) -> str:
    """After a failure: remove the staging folder, record ``export_failed``; what was done,
    for people. When the folder cannot be removed, the export is left open for the next
    command of the case, which removes it and records the failure."""
    try:
        removed = remove_staging(staging)
    except OSError as rm:
        return (
            f"its staging folder {staging} cannot be removed ({rm.strerror or rm}); the next "
            "export or collection of the case removes it and records the failure"
        )
    done = removed_text(staging, removed)
    try:
        entry = writer.append(
            ExportFailed(
                bundle_id=started.bundle_id,
                path=started.path,
                reason=_reason(exc),
                staging=str(staging),
                staging_files=removed[0] if removed else None,
                staging_bytes=removed[1] if removed else None,
            )
        )
    except (ChainproofError, OSError) as rec:
        why = rec.diagnostics() if isinstance(rec, ChainproofError) else str(rec)
        return (
            f"{done}; the failure could not be recorded ({why}): the next export or "
            "collection of the case records it"
        )
    assert entry is not None
    return f"{done}; recorded as entry {entry.seq} ({ExportFailed.EVENT})"


def _reason(exc: BaseException) -> str:
    """Why an export failed, in a line."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, Cancelled):
        return "cancelled"
    if isinstance(exc, ChainproofError):
        return exc.diagnostics()
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return f"{type(exc).__name__}: {exc}"
