"""Archives no run owns: found by a recovery in the evidence folder, recorded, set aside.

Versions before the start-up order of docs/DESIGN.md (Archives) created a run's archive
before its signed ``run_started`` entry, so a kill in between left an archive (0 bytes, or
more) that no run owns; a person can also drop a file there. In the evidence folder such a
file is an ``archive.orphan`` finding for ever, and export refuses the case. Every recovery
(:func:`app.recovery.recover_unfinished_runs` at the start of each collection, and
``chainproof recover``) therefore sets them aside, each in this order:

1. its size and SHA-256 are read (only a regular file is set aside; anything else stays,
   and ``verify`` names it);
2. a signed ``archive_set_aside`` entry records its former name, where it goes
   (``set-aside/<name>``, with a suffix when that name is taken) and the digest;
3. it is moved there (never over another file) and made read-only.

A process killed between 2 and 3 leaves the file in the evidence folder with its entry
written: ``verify`` accepts it while it still has the recorded bytes, and the next recovery
finishes the move. Only archives that no run of the ledger names are touched: the evidence
folder is listed *before* the ledger is read, and a run writes ``run_started`` before it
creates its archive, so a run starting meanwhile is always seen as the archive's owner. One
process at a time sets aside (a lease of its own, as a run's), so two recoveries never
record one archive twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from app.cases import CaseHandle
from app.lease import RunLeases
from app.stop_points import stop_point
from custody.db.ledger import LedgerWriter
from custody.record.events import ArchiveSetAside
from custody.record.fold import CaseState, Recorded
from custody.record.keys import Identity
from custody.store.setaside import (
    NO_RUN_OWNS_IT,
    SET_ASIDE,
    FileDigest,
    SetAsideFolder,
    file_digest,
    set_aside_name,
    set_aside_reference,
)
from custody.store.spool import run_spool_dir
from custody.store.storage import EVIDENCE, LocalEvidenceStore, archive_name

#: The lease that lets one process at a time set aside the archives of a case.
LEASE = "set-aside"


@dataclass(frozen=True)
class SetAside:
    """One archive set aside (or whose move was finished): its former name in the evidence
    folder, where it now is, its digest, its ledger entry, and a sentence for people."""

    name: str
    set_aside_as: str
    size: int
    sha256: str
    seq: int | None
    message: str


def set_aside_folder(case: CaseHandle) -> SetAsideFolder:
    """The case's folder of archives set aside (``<case>/set-aside``)."""
    return SetAsideFolder(case.root / SET_ASIDE)


def unowned_archives(case: CaseHandle) -> list[str]:
    """The evidence archives that no run of the ledger names. The folder is listed before
    the ledger is read (see the module docstring), so a run's archive is never among them."""
    names = case.evidence.names()
    state = case.state()
    owned = {archive_name(r.archive) for r in state.runs.values()}
    return [n for n in names if n not in owned]


def set_aside_orphans(
    case: CaseHandle, identity: Identity, leases: RunLeases | None = None
) -> list[SetAside]:
    """Record and set aside every archive in the evidence folder that no run owns; finish
    the moves an earlier recovery recorded but did not do. Returns what was done; an
    archive that cannot be set aside (not a regular file, a set-aside folder that cannot
    be made) is left where it is, and ``verify`` goes on naming it."""
    evidence = case.evidence
    if not isinstance(evidence, LocalEvidenceStore) or not unowned_archives(case):
        return []
    lease = (leases or RunLeases(case)).try_take(LEASE)
    if lease is None:
        return []  # another process is setting them aside
    try:
        folder = set_aside_folder(case)
        writer: LedgerWriter | None = None
        done: list[SetAside] = []
        for name in unowned_archives(case):  # again, now that the lease is ours
            source = evidence.path(name)
            try:
                digest = file_digest(source)
            except OSError:
                continue  # gone meanwhile, or not a regular file: verify names it
            state = case.state()
            recorded = _recorded_move(state, name, source, digest, folder)
            if recorded is not None:
                target = set_aside_name(recorded.event.set_aside_as)
                assert target is not None  # _recorded_move checked it
                done.append(_move(folder, source, name, target, digest, recorded.seq, True))
                continue
            try:
                folder.prepare()
            except OSError:
                continue
            claimed = {set_aside_name(r.event.set_aside_as) or "" for r in state.set_aside}
            target = folder.free_name(name, claimed)
            writer = writer or case.writer(identity)
            entry = writer.append(
                ArchiveSetAside(
                    archive=f"{EVIDENCE}/{name}",
                    set_aside_as=set_aside_reference(target),
                    size=digest.size,
                    sha256=digest.sha256,
                    reason=NO_RUN_OWNS_IT,
                )
            )
            stop_point("set_aside_recorded")
            seq = entry.seq if entry is not None else None
            done.append(_move(folder, source, name, target, digest, seq, False))
        return done
    finally:
        lease.release()


def set_aside_spool(case: CaseHandle, identity: Identity, run_id: str) -> list[SetAside]:
    """Record and set aside what the dead run ``run_id`` left in its spool folder
    (``evidence/.spool-<run id>``): a capture or a command's output that was being written
    when its process stopped, never archived. It is partial evidence, so it is kept as the
    archives no run owns are (same entry, same order: digest, entry, move), then the empty
    folder is removed. The caller holds the run's lease."""
    evidence = case.evidence
    if not isinstance(evidence, LocalEvidenceStore):
        return []
    spool = run_spool_dir(evidence.root, run_id)
    try:
        sources = sorted(p for p in spool.iterdir())
    except OSError:
        return []  # none: the run archived or discarded everything it spooled
    folder = set_aside_folder(case)
    whose = f"left by run {run_id}, whose process stopped before archiving it"
    writer: LedgerWriter | None = None
    done: list[SetAside] = []
    for source in sources:
        name = f"{spool.name}/{source.name}"
        try:
            digest = file_digest(source)
        except OSError:
            continue  # not a regular file: left where it is
        state = case.state()
        recorded = _recorded_move(state, name, source, digest, folder)
        if recorded is not None:
            target = set_aside_name(recorded.event.set_aside_as)
            assert target is not None
            done.append(_move(folder, source, name, target, digest, recorded.seq, True, whose))
            continue
        try:
            folder.prepare()
        except OSError:
            continue
        claimed = {set_aside_name(r.event.set_aside_as) or "" for r in state.set_aside}
        target = folder.free_name(f"run-{run_id[:8]}-{source.name.lstrip('.')}", claimed)
        writer = writer or case.writer(identity)
        entry = writer.append(
            ArchiveSetAside(
                archive=f"{EVIDENCE}/{name}",
                set_aside_as=set_aside_reference(target),
                size=digest.size,
                sha256=digest.sha256,
                reason=f"partial output {whose}",
            )
        )
        stop_point("set_aside_recorded")
        seq = entry.seq if entry is not None else None
        done.append(_move(folder, source, name, target, digest, seq, False, whose))
    with contextlib.suppress(OSError):
        spool.rmdir()
    return done


def _recorded_move(
    state: CaseState, name: str, source: Path, digest: FileDigest, folder: SetAsideFolder
) -> Recorded[ArchiveSetAside] | None:
    """The entry that recorded this very file's set-aside but whose move was not done: the
    same former name, size and SHA-256, and its place in the folder still free (or holding
    this file, a move cut short)."""
    for r in reversed(state.set_aside):
        ev = r.event
        target = set_aside_name(ev.set_aside_as)
        if (
            target is not None
            and ev.archive == f"{EVIDENCE}/{name}"
            and (ev.size, ev.sha256) == (digest.size, digest.sha256)
        ):
            return r if folder.awaits(target, source) else None
    return None


def _move(
    folder: SetAsideFolder,
    source: Path,
    name: str,
    target: str,
    digest: FileDigest,
    seq: int | None,
    finished: bool,
    whose: str = "which no run owns",
) -> SetAside:
    """Move the file to ``target`` in the folder, whose entry ``seq`` is written."""
    as_ref = set_aside_reference(target)
    kind = "archive" if name.endswith(".tar") else "file"
    what = f"{kind} {EVIDENCE}/{name} ({digest.size:,} bytes, SHA-256 {digest.sha256}), {whose}"
    at = f" (ledger entry {seq})" if seq is not None else ""
    try:
        folder.move_in(source, target)
        folder.sync()
    except OSError as exc:
        message = (
            f"{what}, was recorded as set aside{at} but could not be moved to {as_ref}: "
            f"{exc.strerror or exc}; the next collection or chainproof recover moves it"
        )
    else:
        how = "its recorded move to the set-aside folder finished" if finished else "set aside"
        message = f"{what}: {how}{at}, now {as_ref} (read-only)"
    stop_point("set_aside_moved")
    return SetAside(name, as_ref, digest.size, digest.sha256, seq, message)
