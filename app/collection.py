"""A collection run: collectors observe, the store copies and hashes, the ledger records.

Order of volatility is the collectors' order. Every outcome (artifact, skip, error) becomes a
ledger entry; a collector that fails is recorded and the run goes on; a failure of the store,
the database or signing stops the run loudly, after sealing what was collected.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import collectors
from app.cases import CaseHandle
from app.lease import Lease, RunLeases
from app.tool import tool_facts, tool_footprint, tool_sha256
from app.version import __version__
from collectors.base import (
    REGISTRY,
    CollectContext,
    CommandRecord,
    FileTarget,
    Host,
    NotCompatible,
    Observation,
    Problem,
    VolatileRecord,
)
from collectors.profiles import Profile
from custody.db.ledger import LedgerWriter
from custody.errors import Cancelled, CaseError, ChainproofError, LeaseLost, StoreError
from custody.record.canonical import canonical_json, sha256_hex
from custody.record.digests import Digests
from custody.record.entry import Entry
from custody.record.events import (
    ArtifactCollected,
    CollectionProblem,
    CommandFacts,
    MemberRef,
    RunFinished,
    RunStarted,
    SourceFacts,
)
from custody.record.fold import RunState
from custody.record.keys import Identity
from custody.record.names import to_text
from custody.record.times import ns_text, utc_now_text
from custody.store.archive import Member, RunArchive
from custody.store.capture import (
    Captured,
    CommandNotCaptured,
    capture_command,
    capture_files,
)
from custody.store.storage import EVIDENCE, archive_name

_ = collectors  # importing the package registers every collector


@dataclass(frozen=True)
class ProgressEvent:
    """What a run reports to the CLI or the UI. ``kind``: started, collector, item, problem, finished."""

    kind: str
    collector: str = ""
    done: int = 0
    total: int | None = None
    bytes_done: int = 0
    current: str = ""
    message: str = ""
    errors: int = 0


@dataclass
class RunSummary:
    run_id: str
    status: str
    archive: Path
    artifacts: int = 0
    errors: int = 0
    skipped: int = 0
    bytes: int = 0
    reason: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


def _display(path: bytes) -> tuple[str, str | None]:
    return to_text(os.fsdecode(path))


@dataclass
class CollectionRun:
    """One run of a profile against this host, into ``case``."""

    case: CaseHandle
    identity: Identity
    profile: Profile
    command_line: list[str] = field(default_factory=lambda: list(sys.argv))
    progress: ProgressCallback = lambda _e: None
    cancel: threading.Event = field(default_factory=threading.Event)

    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _summary: RunSummary | None = None
    _archive: RunArchive | None = None
    _writer: LedgerWriter | None = None
    _lease: Lease | None = None
    _lost: LeaseLost | None = None
    _batch_seen: bool = False
    _seen_paths: set[bytes] = field(default_factory=set)

    def execute(self) -> RunSummary:
        """Run every collector of the profile; always seal the run, whatever stops it.

        Start-up is ordered so that a kill at any instant leaves nothing, or a run that the
        next collection recovers into a verifiable case: first the run's lease, then the
        signed ``run_started`` (its index row in the same transaction), then the archive.
        """
        if self.case.state().sealed:
            raise CaseError(
                f"case {self.case.case_id} is sealed: no evidence can be added to it; "
                "collect into a new case"
            )
        leases = RunLeases(self.case)  # refuses a file system whose locks cannot be trusted
        recover_unfinished_runs(self.case, self.identity, leases)
        name = f"{self.run_id}.tar"
        writer = self._writer = self.case.writer(self.identity)
        tool_path, tool_hash = tool_sha256()
        footprint = tool_footprint()
        collector_names = self._collector_names()
        started = RunStarted(
            run_id=self.run_id,
            host=socket.gethostname(),
            profile=self.profile.name,
            profile_sha256=sha256_hex(canonical_json(self.profile.collectors)),
            profile_collectors=self.profile.collectors,
            collectors=tuple(collector_names),
            archive=f"{EVIDENCE}/{name}",
            command_line=tuple(self.command_line),
            tool="chainproof",
            tool_version=__version__,
            tool_path=tool_path,
            tool_sha256=tool_hash,
            tool_unpacked=footprint,
            pid=os.getpid(),
            examiner=self.identity.fingerprint,
        )
        self._lease = leases.take(self.run_id)
        try:
            stop_point("lease")
            writer.append(started)
            stop_point("started")
            # A kill before this line leaves a run without an archive: its recovery writes
            # an empty one. The archive never exists without its run in the ledger.
            self._archive = self.case.evidence.create(name)
            stop_point("archive")
            writer.before_write = self._before_write
            writer.after_commit.append(self._committed)
            return self._collect(collector_names)
        finally:
            self._lease.release()

    def _collect(self, collector_names: list[str]) -> RunSummary:
        assert self._archive is not None
        self._summary = summary = RunSummary(self.run_id, "running", self._archive.path)
        self.progress(ProgressEvent("started", message=f"run {self.run_id}"))
        failure: BaseException | None = None
        try:
            for name in collector_names:
                if self.cancel.is_set():
                    raise Cancelled("collection cancelled")
                self._run_collector(name)
            summary.status = "finished"
        except (Cancelled, KeyboardInterrupt) as exc:
            summary.status, summary.reason = "interrupted", "cancelled by the examiner"
            failure = exc
        except ChainproofError as exc:
            summary.status, summary.reason = "failed", exc.diagnostics()
            failure = exc
        finally:
            self._seal(summary)  # a lost lease stops here: the run is no longer ours to end
        if isinstance(failure, ChainproofError) and not isinstance(failure, Cancelled):
            raise failure
        return summary

    def _before_write(self) -> None:
        """Before each ledger batch: the lease still holds, then the archive is on disk."""
        assert self._lease is not None and self._archive is not None
        if self._lost is None and self._lease.keep():
            run = self.case.state().runs.get(self.run_id)
            if run is None or run.finished is not None:
                self._lost = LeaseLost(
                    f"run {self.run_id} lost its lease and was ended by another process "
                    "meanwhile: this process stops without writing more"
                )
        if self._lost is not None:
            raise self._lost  # every later write too, the run's own end included
        self._archive.flush()

    def _committed(self, entries: Sequence[Entry]) -> None:
        if self._summary is not None and self._summary.artifacts and not self._batch_seen:
            self._batch_seen = True
            stop_point("batch")

    def _collector_names(self) -> list[str]:
        names = list(self.profile.collectors)
        return sorted(names, key=lambda n: REGISTRY[n].volatility)

    def _run_collector(self, name: str) -> None:
        cls = REGISTRY[name]
        collector = cls()
        host = Host.this()
        self.progress(ProgressEvent("collector", collector=name, message=cls.description))
        try:
            collector.check_compatible(host)
        except NotCompatible as exc:
            self._problem(name, Problem("skipped", f"not compatible with this host: {exc}"))
            return
        options = dict(self.profile.collectors.get(name) or {})
        options.setdefault("command_line", self.command_line)
        ctx = CollectContext(
            host=host,
            options=options,
            output_dir=self.case.root.resolve(),
            cancel=self.cancel,
            status=lambda m: self.progress(ProgressEvent("item", collector=name, message=m)),
            tool=tool_facts(),
        )
        try:
            observations = list(_guarded(collector.collect(ctx)))
        except _CollectorFailed as exc:
            observations = exc.partial
            observations.append(Problem("error", f"collector {name} failed: {exc.reason}"))
        if self.cancel.is_set():
            raise Cancelled("collection cancelled")
        files: list[FileTarget] = []
        for obs in observations:
            if isinstance(obs, FileTarget):
                if obs.path not in self._seen_paths:
                    self._seen_paths.add(obs.path)
                    files.append(obs)
            elif isinstance(obs, VolatileRecord):
                self._volatile(name, obs)
            elif isinstance(obs, CommandRecord):
                self._command(name, obs)
            else:
                self._problem(name, obs)
        if files:
            self._files(name, files)

    # --- recording -------------------------------------------------------------------

    def _volatile(self, collector: str, rec: VolatileRecord) -> None:
        assert self._archive is not None
        mtime_ns = time.time_ns()
        member = self._archive.add_bytes(rec.member, rec.data, mtime_ns=mtime_ns)
        ref = _member_ref(member, mtime=ns_text(mtime_ns), mode=0o444, uid=0, gid=0)
        self._artifact(collector, "volatile", member, ref, description=rec.description)

    def _command(self, collector: str, rec: CommandRecord) -> None:
        assert self._archive is not None
        self.progress(ProgressEvent("item", collector=collector, current=" ".join(rec.argv)))
        result = capture_command(self._archive, rec, self.case.evidence.spool(), self.cancel)
        if isinstance(result, CommandNotCaptured):
            self._not_captured(
                collector, result.kind, f"{' '.join(rec.argv)}: {result.reason}", None
            )
            return
        meta = result.meta
        assert meta is not None, "capture_command states the header it wrote"
        ref = _member_ref(
            result.member, mtime=ns_text(meta.mtime_ns), mode=meta.mode, uid=meta.uid, gid=meta.gid
        )
        command = CommandFacts(
            argv=tuple(rec.argv),
            exit_code=result.exit_code,
            started=ns_text(result.started_ns),
            finished=ns_text(result.finished_ns),
        )
        self._artifact(
            collector,
            "command",
            result.member,
            ref,
            command=command,
            description=rec.description,
            note=result.note,
        )

    def _files(self, collector: str, targets: list[FileTarget]) -> None:
        assert self._archive is not None
        total = len(targets)
        results = capture_files(self._archive, targets, cancel=self.cancel)
        for done, result in enumerate(results, start=1):
            if isinstance(result, Captured):
                self._captured(collector, result)
            else:
                self._not_captured(collector, result.kind, result.reason, result.target.path)
            assert self._summary is not None
            self.progress(
                ProgressEvent(
                    "item",
                    collector=collector,
                    done=done,
                    total=total,
                    bytes_done=self._summary.bytes,
                    current=os.fsdecode(result.target.path),
                    errors=self._summary.errors,
                )
            )
        if self.cancel.is_set():
            raise Cancelled("collection cancelled")

    def _captured(self, collector: str, c: Captured) -> None:
        meta = c.meta
        path, path_b64 = _display(meta.path)
        link, link_b64 = _display(meta.symlink_target) if meta.symlink_target else (None, None)
        source = SourceFacts(
            path=path,
            path_b64=path_b64,
            rule=c.target.rule,
            mode=meta.mode,
            uid=meta.uid,
            gid=meta.gid,
            uname=meta.uname,
            gname=meta.gname,
            mtime=meta.times.get("mtime"),
            atime=meta.times.get("atime"),
            ctime=meta.times.get("ctime"),
            birthtime=meta.times.get("birthtime"),
            symlink_target=link,
            symlink_target_b64=link_b64,
            xattrs=meta.xattrs,
            inode=str(meta.inode),
            device=str(meta.device),
        )
        self._artifact(
            collector,
            meta.kind,
            c.member,
            _member_ref(c.member),
            source=source,
            changed=c.changed,
            note=c.note,
        )
        if c.changed:
            self._not_captured(collector, "changed", f"changed while read: {c.changed}", meta.path)

    def _artifact(
        self,
        collector: str,
        kind: str,
        member: Member,
        ref: MemberRef,
        *,
        source: SourceFacts | None = None,
        command: CommandFacts | None = None,
        description: str | None = None,
        changed: str | None = None,
        note: str | None = None,
    ) -> None:
        assert self._writer is not None and self._summary is not None
        d = member.digests
        event = ArtifactCollected(
            run_id=self.run_id,
            collector=collector,
            kind=kind,
            member=ref,
            digests=Digests(d.sha256, d.sha1, d.md5),
            source=source,
            command=command,
            description=description,
            changed=changed,
            note=note,
        )
        self._writer.append(event)
        self._summary.artifacts += 1
        self._summary.bytes += member.size
        if self._summary.artifacts == 1:
            stop_point("artifact")

    def _problem(self, collector: str, p: Problem) -> None:
        self._not_captured(collector, p.kind, p.reason, p.path)

    def _not_captured(self, collector: str, kind: str, reason: str, path: bytes | None) -> None:
        assert self._writer is not None and self._summary is not None
        text, b64 = _display(path) if path is not None else (None, None)
        self._writer.append(
            CollectionProblem(
                run_id=self.run_id,
                collector=collector,
                kind=kind,
                reason=reason,
                path=text,
                path_b64=b64,
            )
        )
        if kind == "skipped":
            self._summary.skipped += 1
        elif kind == "error":
            self._summary.errors += 1
        self.progress(
            ProgressEvent(
                "problem",
                collector=collector,
                current=text or "",
                message=f"{kind}: {reason}",
                errors=self._summary.errors,
            )
        )

    def _seal(self, summary: RunSummary) -> None:
        """Close the archive and write the signed end of the run, whatever happened."""
        assert self._archive is not None and self._writer is not None
        writer = self._writer
        try:
            writer.checkpoint("run end")  # checks the lease, flushes the archive, signs the head
        except LeaseLost:
            self._archive.drop()  # another process ended the run: its archive is not ours
            raise
        writer.before_write = None
        stop_point("run_end")
        end_marker = True
        try:
            size = self._archive.close()
        except StoreError as exc:
            summary.status, summary.reason = "failed", exc.diagnostics()
            with contextlib.suppress(StoreError):  # the reason above is what is recorded
                self._archive.abandon()  # the archive then ends after its last whole member
            size, end_marker = self._archive.offset, False
        archive_sha256 = self._archive.sha256
        stop_point("archive_closed")
        writer.append(
            RunFinished(
                run_id=self.run_id,
                status=summary.status,
                reason=summary.reason,
                artifacts=summary.artifacts,
                errors=summary.errors,
                skipped=summary.skipped,
                bytes=summary.bytes,
                archive=f"evidence/{summary.archive.name}",
                archive_size=size,
                archive_sha256=archive_sha256,
                end_marker=end_marker,
                finished_at=utc_now_text(),
            )
        )
        stop_point("finished")
        self.progress(ProgressEvent("finished", message=summary.status, errors=summary.errors))


class _CollectorFailed(Exception):
    def __init__(self, reason: str, partial: list[Observation]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.partial = partial


def _guarded(observations: Iterator[Observation]) -> Iterator[Observation]:
    """Yield a collector's observations; a bug in it becomes a recorded failure, not a crash."""
    seen: list[Observation] = []
    try:
        for obs in observations:
            seen.append(obs)
            yield obs
    except (ChainproofError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a collector's own fault must not lose the run
        raise _CollectorFailed(f"{type(exc).__name__}: {exc}", seen) from exc


def _member_ref(
    member: Member,
    *,
    mtime: str | None = None,
    mode: int | None = None,
    uid: int | None = None,
    gid: int | None = None,
) -> MemberRef:
    name, name_b64 = to_text(member.name)
    return MemberRef(
        name=name,
        name_b64=name_b64,
        header_offset=member.header_offset,
        data_offset=member.data_offset,
        size=member.size,
        header_sha256=member.header_sha256,
        mtime=mtime,
        mode=mode,
        uid=uid,
        gid=gid,
    )


def recover_unfinished_runs(
    case: CaseHandle, identity: Identity, leases: RunLeases | None = None
) -> list[str]:
    """Seal the runs whose process is gone: cut the torn tail, record what is kept.

    Only a run whose lease is free is touched; a held lease means the run is alive, whatever
    its host name or PID. The fold is read again once the lease is ours, so concurrent
    recoveries of one run serialize: one records the end, the others find it ended. A run
    whose free lease proves nothing (no lease file: made before leases; or PostgreSQL, where
    a free lock leaves no trace) is left alone while its PID is alive under this host name,
    as before leases.
    """
    leases = leases or RunLeases(case)
    recovered: list[str] = []
    for run_id in _unfinished(case):
        lease = leases.try_take(run_id)
        if lease is None:
            continue  # alive: its process holds the lease
        try:
            stop_point("recovery_lease")
            run = case.state().runs.get(run_id)
            if run is None or run.finished is not None:
                continue  # ended meanwhile, by another recovery or by the run itself
            if not lease.found and _maybe_alive(run.started.event):
                continue
            _recover(case, identity, run)
            recovered.append(run_id)
        finally:
            lease.release()
    leases.sweep(lambda: set(_unfinished(case)))
    return recovered


def _unfinished(case: CaseHandle) -> list[str]:
    return [r.run_id for r in case.state().runs.values() if r.finished is None]


def _maybe_alive(started: RunStarted) -> bool:
    """The check before leases: the run's PID is alive under this host name."""
    return (
        started.pid is not None and started.host == socket.gethostname() and _pid_alive(started.pid)
    )


def _recover(case: CaseHandle, identity: Identity, run: RunState) -> None:
    """Close a dead run's archive at its last recorded member and record its end."""
    evidence, name = case.evidence, archive_name(run.archive)
    end = run.recorded_end
    before, size, sha256, what = 0, None, None, ""
    if name is not None and evidence.exists(name):
        before = evidence.size(name)
        archive = evidence.resume(name, end)
        size = archive.close()
        sha256 = archive.sha256
    elif name is not None and end == 0:
        # Stopped after run_started, before its archive existed: an empty archive is its
        # whole evidence.
        archive = evidence.create(name)
        size = archive.close()
        sha256 = archive.sha256
        what = "; its archive had not been created: an empty archive was written for it"
    else:
        what = f"; its archive {run.archive} is missing from {evidence.location}"
    stop_point("recovery_archive")
    writer = case.writer(identity)
    writer.checkpoint("recovered")
    writer.append(
        RunFinished(
            run_id=run.run_id,
            status="recovered",
            reason="the collecting process stopped without sealing the run; "
            f"{run.artifacts} recorded artifacts kept, {max(0, before - end)} unrecorded "
            f"bytes after the last recorded member cut off{what}",
            artifacts=run.artifacts,
            errors=run.errors,
            skipped=run.skipped,
            bytes=run.bytes,
            archive=run.archive,
            archive_size=size,
            archive_sha256=sha256,
            finished_at=utc_now_text(),
        )
    )
    stop_point("recovered")


def _pid_alive(pid: int) -> bool:
    import psutil

    return bool(psutil.pid_exists(pid))


#: Test hook: ``CHAINPROOF_STOP_AT=<step>`` makes the process stop itself (SIGSTOP) right
#: after that step of a run's start, end or recovery, so a test can kill it exactly there.
STOP_AT = "CHAINPROOF_STOP_AT"


def stop_point(step: str) -> None:
    """A named step of start-up, run end or recovery (see :data:`STOP_AT`)."""
    if os.environ.get(STOP_AT) == step and hasattr(signal, "SIGSTOP"):
        os.kill(os.getpid(), signal.SIGSTOP)
