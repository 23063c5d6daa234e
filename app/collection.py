"""A collection run: collectors observe, the store copies and hashes, the ledger records.

Order of volatility is the collectors' order. Every outcome (artifact, skip, error) becomes a
ledger entry; a collector that fails is recorded and the run goes on; a failure of the store,
the database or signing stops the run loudly, after sealing what was collected.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

import collectors
from app.cases import CaseHandle
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
from custody.db.ledger import LedgerWriter, utc_now_text
from custody.db.models import Artifact, CollectionError, Run
from custody.errors import Cancelled, CaseError, ChainproofError, StoreError
from custody.record.canonical import canonical_json, sha256_hex
from custody.record.keys import Identity
from custody.record.names import to_text
from custody.store.archive import Member, RunArchive
from custody.store.capture import (
    Captured,
    CommandNotCaptured,
    capture_command,
    capture_files,
)
from custody.store.sources import ns_text

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
    _seen_paths: set[bytes] = field(default_factory=set)

    def execute(self) -> RunSummary:
        """Run every collector of the profile; always seal the run, whatever stops it."""
        from app.journal import is_sealed
        from collectors.system import tool_footprint, tool_sha256

        if is_sealed(self.case):
            raise CaseError(
                f"case {self.case.case_id} is sealed: no evidence can be added to it; "
                "collect into a new case"
            )
        recover_unfinished_runs(self.case, self.identity)
        archive_path = self.case.evidence_dir / f"{self.run_id}.tar"
        self.case.evidence_dir.mkdir(parents=True, exist_ok=True)
        self._archive = archive = RunArchive(archive_path)
        writer = self._writer = self.case.writer(self.identity)
        writer.before_write = archive.flush
        tool_path, tool_hash = tool_sha256()
        footprint = tool_footprint()
        started = dt.datetime.now(dt.UTC)
        hostname = socket.gethostname()
        collector_names = self._collector_names()
        with self.case.sessions.begin() as s:
            s.add(
                Run(
                    id=self.run_id,
                    case_id=self.case.case_id,
                    profile=self.profile.name,
                    status="running",
                    started_at=started,
                    examiner=self.identity.fingerprint,
                    hostname=hostname,
                    command_line=" ".join(self.command_line),
                    tool_version=__version__,
                    tool_sha256=tool_hash,
                    archive_name=archive_path.name,
                    pid=os.getpid(),
                )
            )
        writer.append(
            "run_started",
            {
                "run_id": self.run_id,
                "host": hostname,
                "profile": self.profile.name,
                "profile_sha256": sha256_hex(canonical_json(self.profile.collectors)),
                "profile_collectors": self.profile.collectors,
                "collectors": collector_names,
                "archive": f"evidence/{archive_path.name}",
                "command_line": self.command_line,
                "tool": "chainproof",
                "tool_version": __version__,
                "tool_path": tool_path,
                "tool_sha256": tool_hash,
                **({"tool_unpacked": footprint} if footprint else {}),
                "pid": os.getpid(),
                "examiner": self.identity.fingerprint,
            },
        )
        self._summary = summary = RunSummary(self.run_id, "running", archive_path)
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
            self._seal(summary)
        if isinstance(failure, ChainproofError) and not isinstance(failure, Cancelled):
            raise failure
        return summary

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
        member = self._archive.add_bytes(rec.member, rec.data, mtime_ns=time.time_ns())
        self._artifact(collector, "volatile", member, {"description": rec.description})

    def _command(self, collector: str, rec: CommandRecord) -> None:
        assert self._archive is not None
        self.progress(ProgressEvent("item", collector=collector, current=" ".join(rec.argv)))
        result = capture_command(self._archive, rec, self.case.evidence_dir, self.cancel)
        if isinstance(result, CommandNotCaptured):
            self._not_captured(
                collector, result.kind, f"{' '.join(rec.argv)}: {result.reason}", None
            )
            return
        extra: dict[str, Any] = {
            "description": rec.description,
            "argv": list(rec.argv),
            "exit_code": result.exit_code,
            "note": result.note,
            "started": ns_text(result.started_ns),
            "finished": ns_text(result.finished_ns),
        }
        self._artifact(collector, "command", result.member, extra)

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
        extra: dict[str, Any] = {
            "path": path,
            "path_b64": path_b64,
            "rule": c.target.rule,
            "mode": meta.mode,
            "uid": meta.uid,
            "gid": meta.gid,
            **meta.times,
            "symlink_target": _display(meta.symlink_target)[0] if meta.symlink_target else None,
            "xattrs": meta.xattrs,
            "changed": c.changed,
            "note": c.note,
        }
        self._artifact(collector, meta.kind, c.member, extra, source_bytes=meta.path)
        if c.changed:
            self._not_captured(collector, "changed", f"changed while read: {c.changed}", meta.path)

    def _artifact(
        self,
        collector: str,
        kind: str,
        member: Member,
        extra: dict[str, Any],
        source_bytes: bytes | None = None,
    ) -> None:
        assert self._writer is not None and self._summary is not None
        name, name_b64 = to_text(member.name)
        payload = {
            "run_id": self.run_id,
            "collector": collector,
            "kind": kind,
            "member": name,
            "member_b64": name_b64,
            "header_offset": member.header_offset,
            "data_offset": member.data_offset,
            "size": member.size,
            "sha256": member.digests.sha256,
            "sha1": member.digests.sha1,
            "md5": member.digests.md5,
            **extra,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        collected_at = dt.datetime.now(dt.UTC)
        run_id = self.run_id

        def rows(seq: int) -> Iterable[tuple[Any, dict[str, Any]]]:
            yield (
                Artifact,
                {
                    "run_id": run_id,
                    "ledger_seq": seq,
                    "collector": collector,
                    "kind": kind,
                    "member_name": name,
                    "header_offset": member.header_offset,
                    "data_offset": member.data_offset,
                    "size": member.size,
                    "sha256": member.digests.sha256,
                    "sha1": member.digests.sha1,
                    "md5": member.digests.md5,
                    "source_path": payload.get("path"),
                    "source_path_bytes": source_bytes,
                    "mode": payload.get("mode"),
                    "uid": payload.get("uid"),
                    "gid": payload.get("gid"),
                    "mtime": payload.get("mtime"),
                    "atime": payload.get("atime"),
                    "ctime": payload.get("ctime"),
                    "birthtime": payload.get("birthtime"),
                    "symlink_target": payload.get("symlink_target"),
                    "changed_while_read": bool(payload.get("changed")),
                    "collected_at": collected_at,
                },
            )

        self._writer.append("artifact_collected", payload, rows=rows)
        self._summary.artifacts += 1
        self._summary.bytes += member.size

    def _problem(self, collector: str, p: Problem) -> None:
        self._not_captured(collector, p.kind, p.reason, p.path)

    def _not_captured(self, collector: str, kind: str, reason: str, path: bytes | None) -> None:
        assert self._writer is not None and self._summary is not None
        text, b64 = _display(path) if path is not None else (None, None)
        payload = {
            "run_id": self.run_id,
            "collector": collector,
            "kind": kind,
            "reason": reason,
            "path": text,
            "path_b64": b64,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        at = dt.datetime.now(dt.UTC)
        run_id = self.run_id

        def rows(seq: int) -> Iterable[tuple[Any, dict[str, Any]]]:
            yield (
                CollectionError,
                {
                    "run_id": run_id,
                    "ledger_seq": seq,
                    "collector": collector,
                    "kind": kind,
                    "path": text,
                    "reason": reason,
                    "at": at,
                },
            )

        self._writer.append("collection_error", payload, rows=rows)
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
        writer.checkpoint("run end")  # flushes the archive first, then signs the head
        writer.before_write = None
        try:
            size = self._archive.close()
        except StoreError as exc:
            summary.status, summary.reason = "failed", exc.diagnostics()
            size = self._archive.offset
        finished = dt.datetime.now(dt.UTC)
        with self.case.sessions.begin() as s:
            s.execute(
                update(Run)
                .where(Run.id == self.run_id)
                .values(
                    status=summary.status,
                    finished_at=finished,
                    archive_size=size,
                    artifact_count=summary.artifacts,
                    error_count=summary.errors,
                    skipped_count=summary.skipped,
                    bytes_collected=summary.bytes,
                )
            )
        writer.append(
            "run_finished",
            {
                "run_id": self.run_id,
                "status": summary.status,
                "reason": summary.reason,
                "artifacts": summary.artifacts,
                "errors": summary.errors,
                "skipped": summary.skipped,
                "bytes": summary.bytes,
                "archive": f"evidence/{summary.archive.name}",
                "archive_size": size,
                "finished_at": utc_now_text(),
            },
        )
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


def recover_unfinished_runs(case: CaseHandle, identity: Identity) -> list[str]:
    """Seal runs left 'running' by a crashed process: cut the torn tail, record what is kept."""
    recovered: list[str] = []
    with case.sessions() as s:
        runs = s.scalars(
            select(Run).where(Run.case_id == case.case_id, Run.status == "running")
        ).all()
    for run in runs:
        if run.pid is not None and _pid_alive(run.pid) and run.hostname == socket.gethostname():
            continue  # still running in another process
        with case.sessions() as s:
            arts = s.execute(
                select(Artifact.data_offset, Artifact.size).where(Artifact.run_id == run.id)
            ).all()
        end = max((_block_end(off, size) for off, size in arts), default=0)
        path = case.evidence_dir / run.archive_name
        before = path.stat().st_size if path.exists() else 0
        if path.exists():
            archive = RunArchive(path, resume_at=end)
            size = archive.close()
        else:
            size = 0
        writer = case.writer(identity)
        writer.checkpoint("recovered")
        with case.sessions.begin() as s:
            s.execute(
                update(Run)
                .where(Run.id == run.id)
                .values(
                    status="recovered",
                    finished_at=dt.datetime.now(dt.UTC),
                    archive_size=size,
                    artifact_count=len(arts),
                )
            )
        writer.append(
            "run_finished",
            {
                "run_id": run.id,
                "status": "recovered",
                "reason": "the collecting process stopped without sealing the run; "
                f"{len(arts)} recorded artifacts kept, {max(0, before - end)} unrecorded "
                "bytes after the last recorded member cut off",
                "artifacts": len(arts),
                "archive": f"evidence/{run.archive_name}",
                "archive_size": size,
                "finished_at": utc_now_text(),
            },
        )
        recovered.append(run.id)
    return recovered


def _block_end(data_offset: int, size: int) -> int:
    return data_offset + (size + 511) // 512 * 512


def _pid_alive(pid: int) -> bool:
    import psutil

    return bool(psutil.pid_exists(pid))
