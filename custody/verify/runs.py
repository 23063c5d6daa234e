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
import os
from collections.abc import Callable, Iterable, Iterator, Mapping

from custody.errors import MalformedEvent
from custody.record.canonical import canonical_json, sha256_hex
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected, parse, run_of_artifact
from custody.record.fold import RunState
from custody.record.names import from_text
from custody.store.storage import EvidenceStore, archive_name
from custody.store.tarheader import REGTYPE, SYMTYPE
from custody.verify.archives import ArchiveSeal, HeaderFacts, RecordedMember, check_archive
from custody.verify.findings import Report

#: A source of the ledger's entries, read again for each run's archive.
Entries = Callable[[], Iterable[Entry]]


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


def _members(
    entries: Entries, run: RunState, last_seq: int, report: Report
) -> Iterator[RecordedMember]:
    """The run's artifact entries, read again, each checked to be the one the chain check
    read (its body still hashes to its entry hash)."""
    for e in entries():
        if e.seq > last_seq:
            return
        if e.event != ArtifactCollected.EVENT or run_of_artifact(e.payload) != run.run_id:
            continue
        try:
            if sha256_hex(canonical_json(e.body())) != e.entry_hash:
                raise ValueError("changed while it was verified")
            a = parse(e)
        except (ValueError, MalformedEvent):
            continue  # the chain check and the fold report this entry
        if isinstance(a, ArtifactCollected):
            yield recorded_member(e.seq, a)


def check_run(
    run: RunState, entries: Entries, last_seq: int, evidence: EvidenceStore, report: Report
) -> None:
    """Check one run: its end, and its archive against every artifact entry it recorded."""
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
        _members(entries, run, last_seq, report),
        report,
        where=f"archive {run.archive}",
        run_id=run.run_id,
        seal=seal,
    )


def check_orphan_archives(
    runs: Mapping[str, RunState], evidence: EvidenceStore, report: Report
) -> None:
    """Every archive in the evidence store belongs to a run of the ledger."""
    known = {archive_name(r.archive) for r in runs.values()}
    for name in evidence.names():
        if name not in known:
            report.add(
                "archive.orphan",
                f"archive evidence/{name}",
                "no run in the ledger owns this archive: its run's entries were removed, or the "
                "archive was added",
            )
