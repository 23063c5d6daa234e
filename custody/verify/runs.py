"""Runs and their archives: each run ended as it claims, and each archive holds what its run
recorded, byte for byte.

The ledger says what every member's header holds (:func:`header_facts`: a file's header
from its source facts, a volatile record's or command output's from its member reference),
where each member lies and what its data hashes to; a finished run adds the size and the
SHA-256 of its whole archive. :func:`check_run` hands all of it to
:func:`custody.verify.archives.check_archive`, which reads the archive once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import (
    Callable,
    Collection,
    Container,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)

from custody.errors import MalformedEvent
from custody.record.canonical import sha256_hex
from custody.record.entry import Entry
from custody.record.events import (
    ArchiveSetAside,
    ArtifactCollected,
    Event,
    parse,
    run_of_artifact,
)
from custody.record.fold import Recorded, RunState
from custody.record.names import from_text
from custody.store.setaside import SetAsideFolder, set_aside_name
from custody.store.storage import EVIDENCE, EvidenceStore, archive_name
from custody.store.tarheader import REGTYPE, SYMTYPE
from custody.verify.archives import ArchiveSeal, HeaderFacts, RecordedMember, check_archive
from custody.verify.findings import Report
from custody.verify.progress import ENTRY_STEP

#: A source of the ledger's entries, read again for each run's archive.
Entries = Callable[[], Iterable[Entry]]

#: Artifact entries whose archive view the ledger pass holds for the archive checks (about
#: 0.6 KB each): a case up to this size is read and parsed once; the rest is read again.
HELD_MEMBERS = 50_000


def _raw(text: str, b64: str | None) -> bytes:
    return os.fsencode(from_text(text, b64))


def header_facts(a: ArtifactCollected) -> HeaderFacts | None:
    """What the ledger says the member's header holds (None: a format 1 command member,
    whose owner was not recorded)."""
    m, src = a.member, a.source
    if src is not None:
        if src.mode is None or src.uid is None or src.gid is None:
            return None
        xattrs: dict[str, bytes] = {}
        for name, value in src.xattrs.items():
            try:
                xattrs[name] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return None  # not what the writer recorded: compare what can be compared
        link = b""
        if src.symlink_target is not None:
            link = _raw(src.symlink_target, src.symlink_target_b64)
        return HeaderFacts(
            typeflag=SYMTYPE if a.kind == "symlink" else REGTYPE,
            mode=src.mode,
            uid=src.uid,
            gid=src.gid,
            uname=None if src.uname is None else os.fsencode(src.uname),
            gname=None if src.gname is None else os.fsencode(src.gname),
            mtime=src.mtime,
            atime=src.atime,
            ctime=src.ctime,
            linkname=link,
            xattrs=xattrs,
        )
    if a.command is not None and m.uid is None:
        return None
    return HeaderFacts(
        typeflag=REGTYPE,
        mode=0o444 if m.mode is None else m.mode,
        uid=m.uid or 0,
        gid=m.gid or 0,
        uname=b"",
        gname=b"",
        mtime=m.mtime,
        xattrs={},
    )


def recorded_member(seq: int, a: ArtifactCollected) -> RecordedMember:
    """The archive check's view of one artifact entry."""
    m, d = a.member, a.digests
    return RecordedMember(
        seq=seq,
        name=_raw(m.name, m.name_b64),
        header_offset=m.header_offset,
        data_offset=m.data_offset,
        size=m.size,
        sha256=d.sha256,
        sha1=d.sha1,
        md5=d.md5,
        header_sha256=m.header_sha256,
        header=header_facts(a),
    )


def check_run_counts(run: RunState, report: Report) -> None:
    """A run's end must claim what its entries show: artifacts, errors, skips and bytes."""
    if run.finished is None:
        return
    f = run.finished.event
    claims = {
        "artifacts": (f.artifacts, run.artifacts),
        "errors": (f.errors, run.errors),
        "skipped": (f.skipped, run.skipped),
        "bytes": (f.bytes, run.bytes),
    }
    for name, (claimed, counted) in claims.items():
        if claimed is not None and claimed != counted:
            report.add(
                "run.counts",
                f"run {run.run_id}",
                f"run_finished (entry {run.finished.seq}) says {claimed} {name}; the ledger's "
                f"entries for the run give {counted}",
                run.finished.seq,
                run.run_id,
            )


class HeldMembers:
    """Each run's artifact entries as the archive check sees them, taken from the ledger pass
    so that they are not read and parsed again: at most ``limit`` in all.

    :meth:`feed` takes every entry of the ledger pass with its position in reading order.
    Holding stops at the limit; the entries after :attr:`through` are read again. Nothing is
    held if an entry before then has a ``seq`` other than its position (a ledger out of
    order: reading it again decides, as without holding)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = HELD_MEMBERS if limit is None else limit
        self.runs: dict[str, list[RecordedMember]] = {}
        self.held = 0
        #: The entries up to this position are held (those that are a run's members).
        self.through = 0
        #: Every entry of the pass was taken: nothing needs reading again.
        self.complete = True

    def feed(self, position: int, entry: Entry, event: Event | None, unhashed: bool) -> None:
        """Take the entry at ``position`` (1-based), its typed event (None: unreadable), and
        whether its content did not hash to its ``entry_hash``."""
        if not self.complete:
            return
        if entry.seq != position:
            self.runs, self.held, self.through, self.complete = {}, 0, 0, False
            return
        if isinstance(event, ArtifactCollected) and entry.event == ArtifactCollected.EVENT:
            run_id = run_of_artifact(entry.payload)
            if run_id is not None and not unhashed:
                if self.held >= self.limit:
                    self.complete = False
                    return
                self.runs.setdefault(run_id, []).append(recorded_member(entry.seq, event))
                self.held += 1
        self.through = position


def _members(
    entries: Entries,
    run: RunState,
    last_seq: int,
    report: Report,
    check_cancel: Callable[[], None] | None = None,
    unhashed: Container[int] | None = None,
    held: HeldMembers | None = None,
) -> Iterator[RecordedMember]:
    """The run's artifact entries, read again, each checked to be the one the chain check
    read (its body still hashes to its entry hash). ``check_cancel`` is called every
    :data:`~custody.verify.progress.ENTRY_STEP` entries read.

    ``unhashed``, when given, says the entries are read again from the same snapshot as the
    chain check read them, in the same order: the positions it holds (those whose content did
    not hash, :attr:`~custody.verify.chain.Chain.unhashed`) are skipped and the others are not
    hashed again. ``held`` gives the members the ledger pass kept: only the entries after
    them are read again."""
    through = 0
    if held is not None:
        for n, m in enumerate(held.runs.pop(run.run_id, ()), 1):
            if check_cancel is not None and n % ENTRY_STEP == 0:
                check_cancel()
            if m.seq > last_seq:
                return
            yield m
        if held.complete:
            return
        through = held.through
    for n, e in enumerate(entries(), 1):
        if check_cancel is not None and n % ENTRY_STEP == 0:
            check_cancel()
        if n <= through:
            continue
        if e.seq > last_seq:
            return
        if e.event != ArtifactCollected.EVENT or run_of_artifact(e.payload) != run.run_id:
            continue
        try:
            if unhashed is not None:
                if n in unhashed:
                    continue  # the chain check reports this entry
            elif sha256_hex(e.signed_bytes()) != e.entry_hash:
                raise ValueError("changed while it was verified")
            a = parse(e)
        except (ValueError, MalformedEvent):
            continue  # the chain check and the fold report this entry
        if isinstance(a, ArtifactCollected):
            yield recorded_member(e.seq, a)


def check_run(
    run: RunState,
    entries: Entries,
    last_seq: int,
    evidence: EvidenceStore,
    report: Report,
    *,
    on_read: Callable[[int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
    unhashed: Container[int] | None = None,
    held: HeldMembers | None = None,
) -> None:
    """Check one run: its end, and its archive against every artifact entry it recorded.

    ``on_read(n)`` hears how many bytes of the archive were read (every 1 MiB);
    ``check_cancel`` is called while the ledger is read again. Either may raise to stop
    (:class:`~custody.errors.Cancelled`). ``unhashed`` and ``held``: see :func:`_members`."""
    if run.finished is None:
        report.add(
            "run.incomplete",
            f"run {run.run_id}",
            "has no run_finished entry: the run is incomplete (crashed, still running, or "
            "the ledger was truncated)",
            run_id=run.run_id,
        )
    check_run_counts(run, report)
    name = archive_name(run.archive)
    if name is None:
        report.add(
            "run.archive_name",
            f"run {run.run_id}",
            f"unsafe archive name {run.archive!r}",
            run_id=run.run_id,
        )
        return
    seal = None
    if run.finished is not None:
        f = run.finished.event
        if f.archive_size is not None:
            seal = ArchiveSeal(f.archive_size, f.archive_sha256, f.end_marker)
    check_archive(
        evidence,
        name,
        _members(entries, run, last_seq, report, check_cancel, unhashed, held),
        report,
        where=f"archive {run.archive}",
        run_id=run.run_id,
        seal=seal,
        on_read=on_read,
    )


def check_orphan_archives(
    runs: Mapping[str, RunState],
    evidence: EvidenceStore,
    report: Report,
    being_set_aside: Collection[str] = (),
) -> None:
    """Every archive in the evidence store belongs to a run of the ledger, or is one whose
    ``archive_set_aside`` entry is written and whose move is still to be done
    (``being_set_aside``, from :func:`check_set_aside`)."""
    known = {archive_name(r.archive) for r in runs.values()}
    for name in evidence.names():
        if name not in known and name not in being_set_aside:
            report.add(
                "archive.orphan",
                f"archive evidence/{name}",
                "no run in the ledger owns this archive: its run's entries were removed, or the "
                "archive was added",
            )


def check_set_aside(
    records: Sequence[Recorded[ArchiveSetAside]],
    folder: SetAsideFolder,
    evidence: EvidenceStore,
    report: Report,
    check_cancel: Callable[[], None] | None = None,
) -> set[str]:
    """Every archive set aside is where its entry says, with the size and SHA-256 recorded
    (``check_cancel`` is called before each).

    Returns the names of evidence archives whose entry is written but whose move was not
    done (a recovery stopped in between, or still running): the file is still at its former
    place with the recorded size and SHA-256, and the next recovery moves it. Those are not
    findings, nor orphans.
    """
    pending: set[str] = set()
    for r in records:
        if check_cancel is not None:
            check_cancel()
        ev = r.event
        where = f"set-aside archive {ev.set_aside_as}"
        recorded = f"{ev.size} bytes, SHA-256 {ev.sha256}"
        name = set_aside_name(ev.set_aside_as)
        if name is None:
            report.add(
                "archive.set_aside_missing",
                where,
                f"archive_set_aside (entry {r.seq}) names no file of the case's set-aside folder",
                r.seq,
            )
            continue
        try:
            got = folder.digest(name)
        except FileNotFoundError:
            former = archive_name(ev.archive)
            if former is not None and _still_in_evidence(evidence, former, ev):
                pending.add(former)
                continue
            report.add(
                "archive.set_aside_missing",
                where,
                f"is missing from {folder.location}: the archive {ev.archive} set aside at "
                f"entry {r.seq} ({recorded}) was removed or moved",
                r.seq,
            )
            continue
        except OSError as exc:
            report.add("archive.unreadable", where, f"cannot be read: {exc.strerror}", r.seq)
            continue
        if (got.size, got.sha256) != (ev.size, ev.sha256):
            report.add(
                "archive.set_aside_changed",
                where,
                f"holds {got.size} bytes, SHA-256 {got.sha256}; archive_set_aside (entry "
                f"{r.seq}) recorded {recorded}: the file set aside was changed or replaced",
                r.seq,
            )
    return pending


def _still_in_evidence(evidence: EvidenceStore, name: str, ev: ArchiveSetAside) -> bool:
    """Whether ``evidence/<name>`` still holds the bytes the entry recorded."""
    if ev.archive != f"{EVIDENCE}/{name}":
        return False
    try:
        if not evidence.exists(name) or evidence.size(name) != ev.size:
            return False
        h = hashlib.sha256()
        with evidence.open(name) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return False
    return h.hexdigest() == ev.sha256
