"""Interrupted exports: found and closed by the next command of the case.

An export records ``export_started`` (naming its bundle, ``--out`` and its staging folder)
before it writes anything, builds the bundle in the staging folder, moves it into place, and
records ``exported``; a failure removes the staging folder and records ``export_failed``
(:mod:`app.export_service`). A process killed in between leaves the started entry open, and
maybe a staging folder. The next export, collection or signed verification of the case
calls :func:`recover_exports`, which for each open export whose process is gone (its lease
is free, :mod:`app.lease`) and which was started on this host:

- removes its staging folder, counting what it held;
- if the bundle reached its path (:func:`custody.bundle.identify.identify_bundle`: signed by
  the exporter, its manifest naming the started export's bundle id, time and ledger),
  records ``exported``;
- otherwise records ``export_failed`` (``recovered``), naming what was removed.

An encrypted export keeps its plain zip in the staging folder, with ``envelope.json`` naming
the envelope's SHA-256 and recipients, until ``exported`` is written: when the file at its
path has that SHA-256, the staged zip is identified in its place (the envelope cannot be
opened without a recipient's key) and ``exported`` records the envelope.

So every bundle at its path has its ``exported`` entry, and no staging folder outlives the
next command. Recoveries of one export serialize on its lease and read the fold again once
they hold it: one records the end, the others find it closed. The steps of an export and of
its recovery where a test can stop the process (:mod:`app.stop_points`) start ``export``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from app.cases import CaseHandle
from app.lease import RunLeases
from app.stop_points import stop_point
from custody.bundle.identify import Expected, FoundBundle, identify_bundle
from custody.errors import ChainproofError, ExportError
from custody.record.events import Exported, ExportFailed, ExportStarted, IdentityAdded
from custody.record.fold import Recorded
from custody.record.keys import Identity, load_certificate_pem
from custody.record.regular import read_regular
from custody.store.setaside import file_digest

if TYPE_CHECKING:  # a type only: the envelope code (asn1crypto) is the export's to load
    from custody.envelope.encrypt import Envelope

#: In an encrypted export's staging folder: the plain zip, and what binds it to the envelope.
STAGED_ZIP = "bundle.zip"
ENVELOPE_NOTE = "envelope.json"

_SAFE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")
#: Characters of ``--out``'s name kept in the staging folder's name.
_NAME_CHARS = 100


def staging_path(out: Path, bundle_id: str) -> Path:
    """The hidden folder next to ``out`` where the bundle ``bundle_id`` is built: derived from
    ``out`` and the bundle id alone, and recorded in the ``export_started`` entry."""
    tag = bundle_id if _SAFE_ID.fullmatch(bundle_id) else _digest(bundle_id)
    return out.parent / f".{out.name[:_NAME_CHARS]}.chainproof-export-{tag}"


def export_lease(bundle_id: str) -> str:
    """The name of an export's lease (held by the exporting process for the export's life)."""
    return f"export-{bundle_id if _SAFE_ID.fullmatch(bundle_id) else _digest(bundle_id)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def remove_staging(staging: Path) -> tuple[int, int] | None:
    """Remove a staging folder; the files and bytes it held, or None when it was not there.
    Raises ``OSError`` when it cannot be removed. Never follows a symbolic link."""
    try:
        st = os.lstat(staging)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        staging.unlink()
        return 1, st.st_size if stat.S_ISREG(st.st_mode) else 0
    files = size = 0
    for top, _dirs, names in os.walk(staging):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                size += os.lstat(Path(top) / name).st_size
                files += 1
    shutil.rmtree(staging)
    return files, size


def removed_text(staging: Path, removed: tuple[int, int] | None) -> str:
    """What removing ``staging`` took away, for people."""
    if removed is None:
        return "no staging folder was left"
    return f"removed the staging folder {staging} ({removed[0]} files, {removed[1]:,} bytes)"


@dataclass(frozen=True)
class Recovery:
    """What the next command did about one interrupted export.

    ``outcome`` is ``completed`` (the bundle was in place: its ``exported`` entry is now
    recorded), ``failed`` (it was not: ``export_failed`` recorded), or ``left`` (nothing
    recorded: started on another host, or its staging folder could not be removed;
    ``message`` says which and what to do).
    """

    bundle_id: str
    path: str
    staging: str
    outcome: str
    seq: int | None
    removed: tuple[int, int] | None
    message: str


def recover_exports(
    case: CaseHandle, identity: Identity, leases: RunLeases | None = None
) -> list[Recovery]:
    """Close every export of ``case`` whose process stopped between ``export_started`` and
    its end (see the module docstring); what was done, one :class:`Recovery` each."""
    pending = list(open_exports(case))
    if not pending:
        return []
    leases = leases or RunLeases(case)
    done: list[Recovery] = []
    for bundle_id in pending:
        lease = leases.try_take(export_lease(bundle_id))
        if lease is None:
            continue  # alive: its process holds the lease
        try:
            stop_point("export_recovery_lease")
            started = open_exports(case).get(bundle_id)
            if started is not None:  # else closed meanwhile, by its process or a recovery
                done.append(_recover(case, identity, started))
        finally:
            lease.release()
    return done


def _recover(case: CaseHandle, identity: Identity, started: Recorded[ExportStarted]) -> Recovery:
    ev = started.event
    path = Path(ev.path)
    staging = staging_path(path, ev.bundle_id)  # derived, never a path read elsewhere

    def result(
        outcome: str, seq: int | None, removed: tuple[int, int] | None, msg: str
    ) -> Recovery:
        return Recovery(ev.bundle_id, ev.path, str(staging), outcome, seq, removed, msg)

    what = f"the interrupted export of bundle {ev.bundle_id} to {path} (entry {started.seq})"
    if ev.host != socket.gethostname():
        return result(
            "left",
            None,
            None,
            f"{what} was started on host {ev.host}: its bundle and staging folder are there; "
            "the next export or collection of this case on that host completes its record",
        )
    certificate = _certificate(case, started.actor)
    expected = Expected(ev.bundle_id, ev.generated_at, ev.ledger_entries, ev.ledger_head)
    sealed = _staged_envelope(staging, path, expected, certificate)  # before it is removed
    removed: tuple[int, int] | None = None
    cannot_remove = ""
    try:
        removed = remove_staging(staging)
    except OSError as exc:
        cannot_remove = f"its staging folder {staging} cannot be removed: {exc.strerror or exc}"
    stop_point("export_recovery_staging")
    writer = case.writer(identity)
    try:
        found = (
            sealed[0]
            if sealed is not None
            else identify_bundle(
                path, as_zip=ev.format == "zip", expected=expected, certificate=certificate
            )
        )
    except ExportError as exc:
        if cannot_remove:
            return result("left", None, None, f"{what}: {cannot_remove}; it stays open")
        entry = writer.append(
            ExportFailed(
                bundle_id=ev.bundle_id,
                path=ev.path,
                reason="the exporting process stopped before the bundle was in place "
                f"({exc.diagnostics()})",
                staging=str(staging),
                staging_files=removed[0] if removed else None,
                staging_bytes=removed[1] if removed else None,
                recovered=True,
            )
        )
        assert entry is not None
        return result(
            "failed",
            entry.seq,
            removed,
            f"{what} did not complete: {exc.diagnostics()}; {removed_text(staging, removed)}; "
            f"recorded as entry {entry.seq} ({ExportFailed.EVENT})",
        )
    entry = writer.append(
        Exported(
            bundle_id=ev.bundle_id,
            generated_at=ev.generated_at,
            path=ev.path,
            format=ev.format,
            manifest_sha256=found.manifest_sha256,
            sha256sums_sha256=found.sha256sums_sha256,
            ledger_entries=ev.ledger_entries,
            ledger_head=ev.ledger_head,
            files=found.files,
            bytes=found.bytes,
            verification=ev.verification,
            findings=ev.findings,
            zip_sha256=found.zip_sha256,
            encrypted_to=sealed[1].encrypted_to if sealed else (),
            p7m_sha256=sealed[1].p7m_sha256 if sealed else None,
        )
    )
    assert entry is not None
    left = f"; {cannot_remove}" if cannot_remove else f"; {removed_text(staging, removed)}"
    return result(
        "completed",
        entry.seq,
        removed,
        f"{what} had put its bundle in place: recorded as entry {entry.seq} "
        f"({Exported.EVENT}){left}",
    )


@dataclass(frozen=True)
class EnvelopeNote:
    """What binds an encrypted export's envelope to the plain zip kept beside it in the
    staging folder until ``exported`` is recorded (``envelope.json``)."""

    p7m_sha256: str
    encrypted_to: tuple[str, ...]
    zip_sha256: str


def write_envelope_note(staging: Path, envelope: Envelope, zip_sha256: str | None) -> None:
    """Write :class:`EnvelopeNote` for ``envelope`` (made from ``staging``'s bundle.zip)."""
    note = {
        "p7m_sha256": envelope.sha256,
        "encrypted_to": list(envelope.fingerprints),
        "zip_sha256": zip_sha256,
    }
    fd = os.open(staging / ENVELOPE_NOTE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, json.dumps(note, sort_keys=True).encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _staged_envelope(
    staging: Path, path: Path, expected: Expected, certificate: x509.Certificate
) -> tuple[FoundBundle, EnvelopeNote] | None:
    """The bundle of an encrypted export whose envelope reached ``path``: its plain zip is
    still in the staging folder with the note naming the envelope's SHA-256, and the file
    at ``path`` has that SHA-256. None otherwise (the export did not get that far)."""
    try:
        raw = json.loads(read_regular(staging / ENVELOPE_NOTE))
        note = EnvelopeNote(
            str(raw["p7m_sha256"]), tuple(str(f) for f in raw["encrypted_to"]), raw["zip_sha256"]
        )
        if file_digest(path).sha256 != note.p7m_sha256:
            return None
        found = identify_bundle(
            staging / STAGED_ZIP, as_zip=True, expected=expected, certificate=certificate
        )
    except (OSError, ValueError, KeyError, TypeError, ExportError):
        return None
    if found.zip_sha256 != note.zip_sha256:
        return None
    return found, note


def _certificate(case: CaseHandle, fingerprint: str) -> x509.Certificate:
    examiner = case.folded((IdentityAdded.EVENT,)).examiners.get(fingerprint)
    if examiner is None:
        raise ExportError(f"the exporting examiner {fingerprint[:16]}... is not in the ledger")
    try:
        return load_certificate_pem(examiner.certificate_pem)
    except ChainproofError as exc:
        raise ExportError(f"the exporting examiner's certificate: {exc}") from exc


#: The only events that open or close an export in the fold.
_EXPORT_EVENTS = (ExportStarted.EVENT, Exported.EVENT, ExportFailed.EVENT)


def open_exports(case: CaseHandle) -> dict[str, Recorded[ExportStarted]]:
    """The exports of ``case`` started and not ended, by bundle id, read fresh. Only the
    export entries are read and folded, not the whole ledger: the rest of it cannot open or
    close an export."""
    return case.folded(_EXPORT_EVENTS).open_exports


def open_exports_notice(case: CaseHandle) -> list[str]:
    """One line per export of ``case`` started and not ended: for a command that records
    nothing (a verification without ``--sign``)."""
    return [
        f"export of bundle {r.event.bundle_id} to {r.event.path} (entry {r.seq}) has no end "
        "yet: still running, or interrupted; the next export or collection of this case (or "
        "verify --sign) completes its record"
        for r in open_exports(case).values()
    ]
