"""A collection run: collectors observe, the store copies and hashes, the ledger records.

Order of volatility is the collectors' order. Every outcome (artifact, skip, error) becomes a
ledger entry; a collector that fails is recorded and the run goes on; a failure of the store,
the database or signing stops the run loudly, after sealing what was collected.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path

import collectors
from app.cases import CaseHandle
from app.lease import Lease, RunLeases
from app.recovery import boot_id, process_started_at, recover_unfinished_runs
from app.reserve import SpaceReserve
from app.seen_paths import SeenPaths
from app.self_exclusion import never_collect
from app.stop_points import stop_point
from app.tool import tool_facts, tool_footprint, tool_sha256
from app.version import __version__
from collectors.base import (
    REGISTRY,
    CollectContext,
    Collector,
    CommandRecord,
    FileTarget,
    Host,
    NotCompatible,
    Observation,
    Problem,
    SpooledRecord,
    VolatileRecord,
)
from collectors.exclusions import EXCLUDED, NeverCollect
from collectors.profiles import Profile
from custody.db.ledger import LedgerWriter
from custody.errors import Cancelled, CaseError, ChainproofError, LeaseLost, StoreError
from custody.record.canonical import canonical_json, sha256_hex
from custody.record.digests import Digests
from custody.record.entry import Entry
from custody.record.events import (
    ArtifactCollected,
    CaptureFacts,
    CollectionProblem,
    CommandFacts,
    MemberRef,
    RunFinished,
    RunStarted,
    SourceFacts,
)
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
from custody.store.spool import SpoolSealed, archive_spool, run_spool_dir
from custody.store.storage import EVIDENCE
from custody.store.tarheader import MemberMeta

_ = collectors  # importing the package registers every collector

#: How many of a collector's observations are read before the first is recorded. A collector
#: that yields no more has a known total (progress shows a bar); past it, observations are
#: recorded as they come (progress counts without a total), so memory stays bounded however
#: many files a collector finds.
LOOKAHEAD = 20_000

#: The observations that progress counts as a collector's items.
_ITEMS = (FileTarget, VolatileRecord, CommandRecord, SpooledRecord)


@dataclass(frozen=True)
class ProgressEvent:
    """What a run reports to the CLI or the UI.

    ``kind``: ``started``; ``collector`` (one starts; ``message`` its description); ``item``
    (with ``done`` set: ``done`` of the collector's items are recorded, each an artifact or a
    recorded failure to take one, of ``total``, None while the collector is still finding
    them; with ``done`` 0: only ``current`` or ``message``, what it is busy with);
    ``problem``; ``collector_end`` (``message``: done, skipped or failed; ``done`` and
    ``total`` its items); ``finished`` (the run's status).
    ``bytes_done`` is the run's bytes so far, ``errors`` its errors so far.
    """

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
    #: What was never collected (the program, cases, the examiner's keys), one line each
    #: (path: reason); each is one of the ``skipped`` records in the ledger.
    excluded: list[str] = field(default_factory=list)


ProgressCallback = Callable[[ProgressEvent], None]


def _display(path: bytes) -> tuple[str, str | None]:
    return to_text(os.fsdecode(path))


@dataclass(frozen=True)
class _Recorded:
    """What the ledger holds of a run so far: its counts and where its last member ends."""

    artifacts: int
    errors: int
    skipped: int
    bytes: int
    end: int
    excluded: int = 0


@dataclass
class _Beside:
    """A collector running on its own thread beside the run (``Collector.concurrent``), and
    what it observed once it ended."""

    name: str
    thread: threading.Thread
    observed: _Observed
    observations: list[Observation] = field(default_factory=list)
    crash: BaseException | None = None


@dataclass
class CollectionRun:
    """One run of a profile against this host, into ``case``.

    Collectors run one after the other in order of volatility, except those that say they
    are ``concurrent`` (a time-boxed packet capture): each starts on a thread of its own at
    its turn, and its observations are recorded once the others are done (or the run is
    cancelled, which stops it with what it has), before the run is sealed.
    """

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
    #: Each path is taken once a run, by the first collector (and rule) that yields it.
    _seen_paths: SeenPaths = field(default_factory=SeenPaths)
    _excluded_paths: set[bytes] = field(default_factory=set)
    _reserve: SpaceReserve | None = None
    #: What the run never collects (computed once, at its start, when not given).
    never_collect: NeverCollect | None = None
    _archive_name: str = ""
    #: Where the last member queued for the ledger ends, and what the ledger holds so far
    #: (counted before each entry is queued: a batch that fails stays queued, counted).
    _queued_end: int = 0
    _recorded: _Recorded = field(default_factory=lambda: _Recorded(0, 0, 0, 0, 0))
    #: The running collector's items recorded so far, of how many (None: not known yet; for
    #: progress only).
    _items_done: int = 0
    _items_total: int | None = 0
    #: Collectors running beside the others, on threads of their own.
    _beside: list[_Beside] = field(default_factory=list)
    _progress_lock: threading.Lock = field(default_factory=threading.Lock)

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
            boot_id=boot_id(),  # with the start time: tells this process from a reused PID
            process_started_at=process_started_at(os.getpid()),
            examiner=self.identity.fingerprint,
        )
        self._lease = leases.take(self.run_id)
        try:
            stop_point("lease")
            # Room for the seal, given back only when the run seals (app/reserve.py); taken
            # before anything is recorded, so a disk without it is refused with nothing left.
            self._reserve = SpaceReserve.take(self.case.root)
            writer.append(started)
            stop_point("started")
            return self._collect(name, collector_names)
        finally:
            if self._reserve is not None:
                self._reserve.release()
            self._lease.release()

    def _collect(self, archive_name: str, collector_names: list[str]) -> RunSummary:
        writer = self._writer
        assert writer is not None
        self._archive_name = archive_name
        # The ledger's reference until the archive exists, then its path.
        self._summary = summary = RunSummary(
            self.run_id, "running", Path(f"{EVIDENCE}/{archive_name}")
        )
        failure: ChainproofError | None = None
        unexpected: BaseException | None = None
        report = self.progress

        def serialized(event: ProgressEvent) -> None:
            # Collectors beside the run report from their own threads: one event at a time.
            with self._progress_lock:
                report(event)

        self.progress = serialized
        try:
            # A kill before this line leaves a run without an archive: its recovery writes
            # an empty one. The archive never exists without its run in the ledger.
            self._archive = self.case.evidence.create(archive_name)
            summary.archive = self._archive.path
            stop_point("archive")
            writer.before_write = self._before_write
            writer.after_commit.append(self._committed)
            self.progress(ProgressEvent("started", message=f"run {self.run_id}"))
            for name in collector_names:
                if self.cancel.is_set():
                    raise Cancelled("collection cancelled")
                self._run_collector(name)
            self._end_beside()
            if self.cancel.is_set():  # cancelled while a capture was being waited for
                raise Cancelled("collection cancelled")
            summary.status = "finished"
        except (Cancelled, KeyboardInterrupt):
            summary.status, summary.reason = "interrupted", "cancelled by the examiner"
            failure = self._end_beside_after_stop()
            if failure is not None:
                summary.status, summary.reason = "failed", failure.diagnostics()
        except ChainproofError as exc:
            summary.status, summary.reason = "failed", exc.diagnostics()
            failure = exc
        except OSError as exc:  # a disk error that no store call named: still a store error
            failure = StoreError(f"cannot write to the case: {exc}")
            summary.status, summary.reason = "failed", failure.diagnostics()
        except BaseException as exc:  # noqa: BLE001 (a bug: the run is sealed, then it is raised)
            summary.status = "failed"
            summary.reason = f"unexpected error: {type(exc).__name__}: {exc}"
            unexpected = exc
        finally:
            self._abandon_beside()  # a run that failed: stop them, discard their output
        with contextlib.suppress(OSError):  # empty once everything in it was archived
            run_spool_dir(self.case.evidence.spool(), self.run_id).rmdir()
        # A lost lease stops here: the run is no longer ours to end.
        error = self._seal(summary, failure)
        if unexpected is not None:
            raise unexpected
        if error is not None:
            raise error
        return summary

    def _spool(self) -> Path:
        """This run's spool folder on the evidence's own storage (``evidence/.spool-<run
        id>``), for output written beside the archive; what a dead run leaves there is set
        aside by its recovery (:func:`app.set_aside.set_aside_spool`)."""
        path = run_spool_dir(self.case.evidence.spool(), self.run_id)
        path.mkdir(exist_ok=True)
        return path

    def _before_write(self) -> Callable[[], None]:
        """Before each ledger batch: the lease still holds; the archive's members are written
        and their sync started (the batch commits once it is done)."""
        assert self._archive is not None
        self._check_lease()
        return self._archive.sync_in_background()

    def _check_lease(self) -> None:
        """Raise :class:`LeaseLost` when the run's lease was lost and the run ended by another
        process (every later write too, the run's own end included)."""
        assert self._lease is not None
        if self._lost is None and self._lease.keep():
            run = self.case.state().runs.get(self.run_id)
            if run is None or run.finished is not None:
                self._lost = LeaseLost(
                    f"run {self.run_id} lost its lease and was ended by another process "
                    "meanwhile: this process stops without writing more"
                )
        if self._lost is not None:
            raise self._lost

    def _committed(self, entries: Sequence[Entry]) -> None:
        # Every entry queued so far is in the ledger now (a flush writes all or nothing).
        if self._summary is not None:
            s = self._summary
            self._recorded = _Recorded(
                s.artifacts, s.errors, s.skipped, s.bytes, self._queued_end, len(s.excluded)
            )
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
        self._items_done = self._items_total = 0
        try:
            collector.check_compatible(host)
        except NotCompatible as exc:
            self._problem(name, Problem("skipped", f"not compatible with this host: {exc}"))
            self._collector_ended(name, "skipped")
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
            never_collect=self._never_collect(),
            spool_dir=self._spool(),
        )
        observed = _Observed(name, collector, ctx)
        if cls.concurrent:
            self._start_beside(name, observed)
            return
        self._record(name, observed)
        if self.cancel.is_set():
            raise Cancelled("collection cancelled")
        self._collector_ended(name, observed.outcome)

    def _record(self, name: str, observations: Iterable[Observation]) -> None:
        """Hand a collector's observations to the store and the ledger in the order it yields
        them; a path this run has taken already is not taken again. The first
        :data:`LOOKAHEAD` are read before any is recorded: when they are all it yields,
        progress knows its total."""
        source = iter(observations)
        fresh = (o for o in source if not isinstance(o, FileTarget) or self._seen_paths.add(o.path))
        try:
            ahead = deque(islice(fresh, LOOKAHEAD + 1))
            self._items_done = 0
            known = len(ahead) <= LOOKAHEAD
            self._items_total = sum(isinstance(o, _ITEMS) for o in ahead) if known else None
            stream = chain(_emptied(ahead), fresh)
            held: list[Observation] = []
            for obs in stream:
                if isinstance(obs, FileTarget):
                    self._files(name, self._file_run(name, obs, stream, held))
                    if not held:
                        continue
                    obs = held.pop()
                if isinstance(obs, VolatileRecord):
                    self._volatile(name, obs)
                elif isinstance(obs, CommandRecord):
                    self._command(name, obs)
                elif isinstance(obs, SpooledRecord):
                    self._spooled(name, obs)
                elif isinstance(obs, Problem):
                    self._problem(name, obs)
        finally:
            # Stopped early (cancel, a failed write): end the collector's walk now, not when
            # its generator is collected.
            close = getattr(source, "close", None)
            if close is not None:
                close()
        if self._items_total is None:
            self._items_total = self._items_done

    def _file_run(
        self, name: str, first: FileTarget, stream: Iterator[Observation], held: list[Observation]
    ) -> Iterator[FileTarget]:
        """``first`` and the file targets after it in ``stream``, up to the next record, which
        is put in ``held`` (the archive takes one thing at a time: it is recorded once these
        files are). Problems on the way are recorded as they come."""
        yield first
        for obs in stream:
            if isinstance(obs, FileTarget):
                yield obs
            elif isinstance(obs, Problem):
                self._problem(name, obs)
            else:
                held.append(obs)
                return

    # --- collectors beside the run -----------------------------------------------------

    def _start_beside(self, name: str, observed: _Observed) -> None:
        """Start the collector of ``observed`` on its own thread; the run goes on with the
        next one. What it observes is held until it is recorded (a capture yields a few
        spooled files)."""

        def work() -> None:
            try:
                beside.observations.extend(observed)
            except BaseException as exc:  # noqa: BLE001 (handed to the run's thread, raised there)
                beside.crash = exc

        thread = threading.Thread(target=work, name=f"chainproof-{name}", daemon=True)
        beside = _Beside(name, thread, observed)
        self._beside.append(beside)
        thread.start()

    def _end_beside(self) -> None:
        """Wait for the collectors running beside the run (each ends by itself: a capture at
        its duration, or at once when cancelled) and record what they observed."""
        while self._beside:
            beside = self._beside[0]
            while beside.thread.is_alive():
                beside.thread.join(0.2)  # a Ctrl-C still reaches this thread
            self._beside.pop(0)
            if beside.crash is not None:
                raise beside.crash
            self._record(beside.name, beside.observations)
            self._collector_ended(beside.name, beside.observed.outcome)

    def _end_beside_after_stop(self) -> ChainproofError | None:
        """The run was cancelled: stop the collectors beside it and record what they have.
        A second Ctrl-C while they stop abandons their output."""
        self.cancel.set()
        try:
            self._end_beside()
        except ChainproofError as exc:
            return exc
        except KeyboardInterrupt:
            return None
        return None

    def _abandon_beside(self) -> None:
        """Stop the collectors still beside the run and discard their output (the run failed
        or was aborted before it could record them)."""
        if not self._beside:
            return
        self.cancel.set()
        spool_dir = self._spool().resolve()
        try:
            for beside in self._beside:
                beside.thread.join(30)  # a capture stops within a second once cancelled
                for obs in beside.observations:
                    path = Path(obs.path) if isinstance(obs, SpooledRecord) else None
                    if path is not None and path.parent.resolve() == spool_dir:
                        path.unlink(missing_ok=True)
        except KeyboardInterrupt:  # Ctrl-C again: seal now, without waiting for them
            pass
        self._beside.clear()

    def _item_recorded(self, collector: str, current: str) -> None:
        """Report one more of the running collector's items recorded (artifact or failure)."""
        assert self._summary is not None
        self._items_done += 1
        self.progress(
            ProgressEvent(
                "item",
                collector=collector,
                done=self._items_done,
                total=self._items_total,
                bytes_done=self._summary.bytes,
                current=current,
                errors=self._summary.errors,
            )
        )

    def _collector_ended(self, collector: str, outcome: str) -> None:
        assert self._summary is not None
        self.progress(
            ProgressEvent(
                "collector_end",
                collector=collector,
                done=self._items_done,
                total=self._items_total,
                bytes_done=self._summary.bytes,
                message=outcome,
                errors=self._summary.errors,
            )
        )

    # --- recording -------------------------------------------------------------------

    def _volatile(self, collector: str, rec: VolatileRecord) -> None:
        assert self._archive is not None
        mtime_ns = time.time_ns()
        member = self._archive.add_bytes(rec.member, rec.data, mtime_ns=mtime_ns)
        ref = _member_ref(member, mtime=ns_text(mtime_ns), mode=0o444, uid=0, gid=0)
        self._artifact(collector, "volatile", member, ref, description=rec.description)
        self._item_recorded(collector, rec.member)

    def _command(self, collector: str, rec: CommandRecord) -> None:
        assert self._archive is not None
        self.progress(ProgressEvent("item", collector=collector, current=" ".join(rec.argv)))
        result = capture_command(self._archive, rec, self._spool(), self.cancel)
        if isinstance(result, CommandNotCaptured):
            self._not_captured(
                collector, result.kind, f"{' '.join(rec.argv)}: {result.reason}", None
            )
            self._item_recorded(collector, rec.member)
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
        if result.stderr_member is not None:
            err_ref = _member_ref(
                result.stderr_member,
                mtime=ns_text(meta.mtime_ns),
                mode=meta.mode,
                uid=meta.uid,
                gid=meta.gid,
            )
            self._artifact(
                collector,
                "command",
                result.stderr_member,
                err_ref,
                command=command,
                description=f"standard error of: {rec.description}",
            )
        self._item_recorded(collector, rec.member)

    def _spooled(self, collector: str, rec: SpooledRecord) -> None:
        """Archive output a collector wrote and hashed beside the run (a capture); its bytes
        must hash, as archived, to the digests taken while it was written."""
        assert self._archive is not None
        spool = Path(rec.path)
        if spool.parent.resolve() != self._spool().resolve():
            self._not_captured(
                collector,
                "error",
                f"{rec.member}: its spool is not in the evidence's spool directory; not archived",
                None,
            )
            self._item_recorded(collector, rec.member)
            return
        sealed = SpoolSealed(spool, rec.size, Digests(rec.sha256, rec.sha1, rec.md5))
        mtime_ns = time.time_ns()
        meta = MemberMeta(mtime_ns=mtime_ns, mode=0o444, uid=0, gid=0)
        member = archive_spool(self._archive, sealed, rec.member, meta)
        ref = _member_ref(member, mtime=ns_text(mtime_ns), mode=0o444, uid=0, gid=0)
        self._artifact(
            collector,
            rec.kind,
            member,
            ref,
            description=rec.description,
            note=rec.note,
            capture=rec.facts if isinstance(rec.facts, CaptureFacts) else None,
        )
        self._item_recorded(collector, rec.member)

    def _files(self, collector: str, targets: Iterable[FileTarget]) -> None:
        assert self._archive is not None
        results = capture_files(self._archive, targets, cancel=self.cancel)
        try:
            for result in results:
                if isinstance(result, Captured):
                    self._captured(collector, result)
                else:
                    self._not_captured(collector, result.kind, result.reason, result.target.path)
                self._item_recorded(collector, os.fsdecode(result.target.path))
        finally:
            # Stopped by a failed ledger write: close the capture now, while the archive and
            # its ring are open, not when the generator is collected after the seal.
            close = getattr(results, "close", None)
            if close is not None:
                close()
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
        capture: CaptureFacts | None = None,
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
            capture=capture,
        )
        self._summary.artifacts += 1
        self._summary.bytes += member.size
        self._queued_end = max(self._queued_end, member.end)
        self._writer.append(event)
        if self._summary.artifacts == 1:
            stop_point("artifact")

    def _never_collect(self) -> NeverCollect:
        if self.never_collect is None:
            self.never_collect = never_collect(self.case.root)
        return self.never_collect

    def _problem(self, collector: str, p: Problem) -> None:
        if p.kind == EXCLUDED:
            # Recorded as a skip, once a path (two collectors may meet it).
            path = p.path or b""
            if path in self._excluded_paths:
                return
            self._excluded_paths.add(path)
            assert self._summary is not None
            self._summary.excluded.append(f"{os.fsdecode(path)}: {p.reason}")
            self._not_captured(collector, "skipped", f"excluded: {p.reason}", p.path)
            return
        self._not_captured(collector, p.kind, p.reason, p.path)

    def _not_captured(self, collector: str, kind: str, reason: str, path: bytes | None) -> None:
        assert self._writer is not None and self._summary is not None
        text, b64 = _display(path) if path is not None else (None, None)
        if kind == "skipped":
            self._summary.skipped += 1
        elif kind == "error":
            self._summary.errors += 1
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
        self.progress(
            ProgressEvent(
                "problem",
                collector=collector,
                current=text or "",
                message=f"{kind}: {reason}",
                errors=self._summary.errors,
            )
        )

    # --- the end of the run ------------------------------------------------------------

    def _seal(self, summary: RunSummary, failure: ChainproofError | None) -> ChainproofError | None:
        """Close the archive at its last recorded member and write the signed end of the run,
        whatever stopped it; the error to report (None when the run finished, or was
        interrupted, and is sealed).

        A full disk (evidence, database or WAL) must not keep the run from its end: the
        reserve is given back first; a last batch that cannot be recorded is dropped, and the
        members it described are cut off with everything else after the last recorded
        member; the run's reason says so. If even ``run_finished`` cannot be written, the
        error says that the next collection (or ``chainproof recover``) seals the run.
        """
        if self._reserve is not None:
            self._reserve.release()
        try:
            dropped = self._record_queued()
            if dropped is not None:
                self._check_lease()
        except LeaseLost:
            if self._archive is not None:
                self._archive.drop()  # another process ended the run: its archive is not ours
            raise
        writer = self._writer
        assert writer is not None
        notes: list[str] = []
        if dropped is not None:
            if failure is None:
                failure = dropped
                summary.status, summary.reason = "failed", dropped.diagnostics()
            rec = self._recorded
            problems = summary.errors + summary.skipped - rec.errors - rec.skipped
            notes.append(
                f"its last batch ({summary.artifacts - rec.artifacts} artifacts, {problems} "
                "problems) could not be recorded"
                + ("" if dropped is failure else f" ({dropped.diagnostics()})")
            )
            # The queued batch stays with the old writer, never written.
            writer = LedgerWriter(self.case.sessions, self.case.case_id, self.identity)
        writer.before_write = None
        stop_point("run_end")
        rec = self._recorded
        size, archive_sha256, end_marker, note = self._end_archive(rec.end)
        if note:
            notes.append(note)
            if failure is None and not end_marker:
                failure = StoreError(f"the archive of run {self.run_id} {note}")
                summary.status, summary.reason = "failed", failure.diagnostics()
        stop_point("archive_closed")
        if summary.status == "running":  # cannot happen; never record a run as running
            summary.status = "failed"
        summary.artifacts, summary.errors, summary.skipped = rec.artifacts, rec.errors, rec.skipped
        del summary.excluded[rec.excluded :]  # those the ledger holds
        summary.bytes = rec.bytes
        summary.reason = "; ".join([summary.reason, *notes]) if summary.reason else "; ".join(notes)
        try:
            writer.append(
                RunFinished(
                    run_id=self.run_id,
                    status=summary.status,
                    reason=summary.reason,
                    artifacts=rec.artifacts,
                    errors=rec.errors,
                    skipped=rec.skipped,
                    bytes=rec.bytes,
                    archive=f"{EVIDENCE}/{self._archive_name}",
                    archive_size=size,
                    archive_sha256=archive_sha256,
                    end_marker=end_marker,
                    finished_at=utc_now_text(),
                )
            )
        except ChainproofError as exc:
            first = f"{failure.diagnostics()}; " if failure is not None else ""
            return _reworded(
                exc,
                f"{first}run {self.run_id} could not be sealed ({exc.diagnostics()}); "
                f"its archive ends at its last recorded member ({rec.artifacts} artifacts); "
                "the next 'chainproof collect' or 'chainproof recover' on this case seals it",
            )
        stop_point("finished")
        self.progress(ProgressEvent("finished", message=summary.status, errors=summary.errors))
        if failure is None or summary.status != "failed":
            return None
        ending = [
            failure.diagnostics(),
            f"run {self.run_id} sealed as failed with {rec.artifacts} artifacts recorded",
        ]
        if size is not None:
            ending.append(f"its archive ends at its last recorded member, at {size} bytes")
        return _reworded(failure, "; ".join([*ending, *filter(None, [note])]))

    def _record_queued(self) -> ChainproofError | None:
        """Write the queued entries and the run-end checkpoint (checking the lease and
        flushing the archive first); the error when they cannot be written, then they are
        dropped. :class:`LeaseLost` is raised."""
        assert self._writer is not None
        archive = self._archive
        if archive is not None and not archive.closed and self._queued_end > archive.offset:
            # A failed write cut off buffered members that queued entries describe.
            return StoreError(
                f"members of the evidence archive were lost when writing it failed "
                f"(it ends at {archive.offset} bytes)"
            )
        try:
            self._writer.checkpoint("run end")  # checks the lease, flushes, signs the head
        except LeaseLost:
            raise
        except ChainproofError as exc:
            return exc
        return None

    def _end_archive(self, end: int) -> tuple[int | None, str | None, bool, str]:
        """Close the archive at ``end``, where its last recorded member ends: members written
        after it are cut off, and its size and SHA-256 are those of what it then holds.

        Returns size, SHA-256, whether it has its end-of-archive marker, and what the run's
        reason should add ('' when nothing was cut). Whatever happens, the archive is left
        read-only: the run will not write it again.
        """
        archive = self._archive
        cut: int | None = None
        if archive is not None and not archive.closed:
            try:
                cut = archive.offset - end
                if cut < 0:
                    raise ValueError(f"the archive ends at {archive.offset}, before {end}")
                if cut > 0:
                    archive.truncate(end)
                size = archive.close()
                if archive.sha256 is not None:
                    return size, archive.sha256, True, _cut_note(cut)
                # Its digest lost track after a failed cut: read it back below.
            except (ChainproofError, OSError, ValueError, BufferError):
                cut = None
                with contextlib.suppress(ChainproofError, OSError, BufferError):
                    archive.drop()
        # The writer could not end it: reopen it at ``end`` as recovery does.
        evidence, name = self.case.evidence, self._archive_name
        try:
            if evidence.exists(name):
                if cut is None:
                    cut = evidence.size(name) - end
                again = evidence.resume(name, end)
            elif end == 0:
                again = evidence.create(name)
            else:
                return None, None, False, f"its archive is missing from {evidence.location}"
        except (ChainproofError, OSError) as exc:
            return None, None, False, f"its archive could not be closed ({exc})"
        cut = cut or 0
        try:
            size = again.close()
            return size, again.sha256, True, _cut_note(cut)
        except ChainproofError as exc:
            with contextlib.suppress(ChainproofError, OSError, BufferError):
                again.abandon()
            with contextlib.suppress(OSError):
                again.path.chmod(0o444)
            with contextlib.suppress(OSError):
                end = evidence.size(name)
            marker = f"ends at its last recorded member without its end-of-archive marker ({exc})"
            return end, again.sha256, False, "; ".join(filter(None, [_cut_note(cut), marker]))


class _Observed:
    """What a collector observes, as it yields it, and its ``outcome`` once read: done, or
    failed (what it yielded before it failed is kept, and a last problem says why). A bug in
    a collector becomes a recorded failure, not a crash."""

    def __init__(self, name: str, collector: Collector, ctx: CollectContext) -> None:
        self.name, self.collector, self.ctx = name, collector, ctx
        self.outcome = "done"

    def __iter__(self) -> Iterator[Observation]:
        try:
            yield from self.collector.collect(self.ctx)
        except (ChainproofError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 (a collector's own fault must not lose the run)
            self.outcome = "failed"
            reason = f"{type(exc).__name__}: {exc}"
            yield Problem("error", f"collector {self.name} failed: {reason}")


def _emptied(queue: deque[Observation]) -> Iterator[Observation]:
    """The items of ``queue``, each let go of once handed on."""
    while queue:
        yield queue.popleft()


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


def _cut_note(cut: int) -> str:
    """The run's reason when unrecorded members were cut off the end of its archive."""
    if cut <= 0:
        return ""
    return f"{cut} bytes of members that were not recorded were cut off the end of its archive"


def _reworded(error: ChainproofError, message: str) -> ChainproofError:
    """``error`` with ``message`` instead (same kind, so the same exit code)."""
    try:
        new = type(error)(message)
    except TypeError:
        return error
    new.__cause__ = error
    return new
