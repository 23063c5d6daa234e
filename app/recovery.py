"""Dead runs: told from live ones, their archives closed, their end recorded.

A run without its end is recovered only once it is known to be dead. Its lease decides first
(:mod:`app.lease`): a held lease means the run is alive, whatever its host name or PID, and a
lease file that its run left behind, now free, means it is dead, whatever its PID. Where the
lease proves nothing (no lease file: a run of a version before leases, or a lease file removed;
PostgreSQL, where a free lock leaves no trace), the run's process decides: it is alive only when
a live process of this host has its PID *and* the boot id and start time the run recorded
(:class:`~custody.record.events.RunStarted`), so a PID reused in a container or after a reboot
no longer keeps a dead run from its recovery. A run that recorded neither (made before this
version) keeps the old rule: alive while its PID is alive under its host name.

Every collection recovers the dead runs of its case first (:func:`recover_unfinished_runs`);
``chainproof recover`` does it on request (:func:`recover_runs`), says why it leaves a run
alone, and with ``--force`` recovers a run of the old rule whose PID is in use, recording who
forced it.
"""

from __future__ import annotations

import datetime as dt
import enum
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from app.cases import CaseHandle
from app.lease import RunLeases
from app.set_aside import set_aside_orphans, set_aside_spool
from app.stop_points import stop_point
from custody.errors import UsageError
from custody.record.events import RunFinished, RunStarted
from custody.record.fold import RunState
from custody.record.keys import Identity
from custody.record.times import parse_utc, shown, utc_now_text, utc_text
from custody.store.storage import archive_name

#: Linux's random id of the running boot: a new one at every boot, the same in every container
#: of the machine.
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

#: How far a live process's start time may lie from the recorded one and still be the run's
#: own. Linux gives a process's start time as clock ticks after the boot plus the boot time,
#: which it keeps in whole seconds and moves when the clock is stepped (a leap second); a
#: process reusing the PID started after the run's process ended, which was after it wrote
#: ``run_started``, more than half a second after its start.
SAME_START_SECONDS = 1.0


# --------------------------------------------------------------------------- processes


def boot_id() -> str | None:
    """This machine's boot id (Linux); None elsewhere, or when it cannot be read."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        text = BOOT_ID.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def process_started_at(pid: int) -> str | None:
    """When process ``pid`` started, as the ledger writes times (``psutil``'s
    ``create_time()``); None when the process is gone or its start time cannot be read."""
    alive, started = _process_start(pid)
    if not alive or started is None:
        return None
    return utc_text(dt.datetime.fromtimestamp(started, dt.UTC))


class Alive(enum.Enum):
    """What the recorded process of a run says about the run."""

    #: Not on this host, its PID not in use, or in use by another process (another boot or
    #: another start time): the process that started the run is gone.
    NO = "no"
    #: Its PID is in use under its host name, and nothing recorded tells whether that is the
    #: run's process (a run made before boot id and start time were recorded).
    MAYBE = "maybe"
    #: A live process of this host has its PID, boot id and start time: it is the run's own.
    PROVEN = "proven"


@dataclass(frozen=True)
class Liveness:
    alive: Alive
    why: str


def liveness(started: RunStarted) -> Liveness:
    """Whether the process that started a run is alive, from what ``run_started`` recorded:
    alive only when host, boot id (if recorded) and start time (if recorded) all match a
    live process with the recorded PID."""
    pid, host = started.pid, socket.gethostname()
    if pid is None:
        return Liveness(Alive.NO, "the run recorded no process ID")
    if started.host != host:
        return Liveness(Alive.NO, f"the run's host {started.host} is not this host ({host})")
    ours = boot_id()
    if started.boot_id is not None and ours is not None and started.boot_id != ours:
        return Liveness(
            Alive.NO,
            f"the run started in another boot (boot id {started.boot_id}; this one is "
            f"{ours}): process ID {pid} is not the run's",
        )
    alive, start = _process_start(pid)
    if not alive:
        return Liveness(Alive.NO, f"no process with ID {pid} runs on this host")
    unproven = (
        f"process ID {pid} is in use on host {host}, and the run recorded no process start time "
        "to tell whether it is the run's own process"
    )
    if started.process_started_at is not None:
        recorded = _seconds(started.process_started_at)
        if recorded is None:
            unproven = (
                f"process ID {pid} is in use on host {host}, and the run's recorded process "
                f"start time {started.process_started_at!r} is not a time"
            )
        elif start is None:
            unproven = (
                f"process ID {pid} is in use on host {host}, and its start time cannot be read "
                "to tell whether it is the run's own process"
            )
        elif abs(start - recorded) > SAME_START_SECONDS:
            return Liveness(
                Alive.NO,
                f"process ID {pid} now belongs to another process, started at "
                f"{_shown(start)}, not at {shown(started.process_started_at)}",
            )
        elif started.boot_id is not None and started.boot_id != ours:  # ours unreadable
            unproven = (
                f"process ID {pid} is in use on host {host} and started at the recorded time, "
                f"and this host's boot id cannot be read to compare with the run's "
                f"({started.boot_id})"
            )
        else:
            boot = f" in the same boot ({ours})" if started.boot_id else ""
            return Liveness(
                Alive.PROVEN,
                f"its process {pid} on host {host} is still running: started at "
                f"{shown(started.process_started_at)}{boot}, as recorded",
            )
    return Liveness(Alive.MAYBE, unproven)


def _maybe_alive(started: RunStarted) -> bool:
    """The run's process may be alive (see :func:`liveness`): the check for runs whose free
    lease proves nothing."""
    return liveness(started).alive is not Alive.NO


def _process_start(pid: int) -> tuple[bool, float | None]:
    """Whether process ``pid`` is alive, and its start time in seconds since the epoch (None
    when it cannot be read)."""
    import psutil

    if not _pid_alive(pid):
        return False, None
    try:
        return True, float(psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return False, None
    except (psutil.Error, OSError):
        return True, None


def _pid_alive(pid: int) -> bool:
    import psutil

    return bool(psutil.pid_exists(pid))


def _seconds(text: str) -> float | None:
    try:
        return parse_utc(text).timestamp()
    except (ValueError, OverflowError):
        return None


def _shown(seconds: float) -> str:
    return shown(dt.datetime.fromtimestamp(seconds, dt.UTC))


# --------------------------------------------------------------------------- recovery


def recover_unfinished_runs(
    case: CaseHandle, identity: Identity, leases: RunLeases | None = None
) -> list[str]:
    """Seal the runs whose process is gone: cut the torn tail, record what is kept.

    Only a run whose lease is free is touched; a held lease means the run is alive, whatever
    its host name or PID. The fold is read again once the lease is ours, so concurrent
    recoveries of one run serialize: one records the end, the others find it ended. A run
    whose free lease proves nothing (no lease file: made before leases; or PostgreSQL, where
    a free lock leaves no trace) is left alone while its process may be alive
    (:func:`liveness`).

    Then the archives in the evidence folder that no run owns are recorded and set aside
    (:func:`app.set_aside.set_aside_orphans`).
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
    set_aside_orphans(case, identity, leases)
    leases.sweep(lambda: set(_unfinished(case)))
    return recovered


@dataclass(frozen=True)
class Outcome:
    """What ``chainproof recover`` did with one run: ``recovered``, ``alive`` (refused) or
    ``ended`` (it had ended already), and a sentence for people."""

    run_id: str
    result: str
    message: str


def recover_runs(
    case: CaseHandle,
    identity: Identity,
    run_id: str | None = None,
    *,
    force: bool = False,
) -> list[Outcome]:
    """Recover ``run_id`` (a run id or a unique start of one), or every unfinished run, on
    request: ``chainproof recover``.

    A run whose lease is held is refused ("its lease is held by another process"), and so is
    one whose process is provably alive (:data:`Alive.PROVEN`). A run whose PID is in use
    but that recorded nothing to tell (:data:`Alive.MAYBE`) is refused unless ``force``. The
    end of each run recovered here records that ``chainproof recover`` recovered it, forced
    or not, and the examiner's name (the examiner's certificate signs the entry).
    """
    state = case.state()
    if run_id is not None:
        targets = [_find_run(case, run_id)]
    else:
        targets = [r.run_id for r in state.runs.values() if r.finished is None]
    leases = RunLeases(case)
    outcomes = [_recover_one(case, identity, leases, r, force) for r in targets]
    leases.sweep(lambda: set(_unfinished(case)))
    return outcomes


def _recover_one(
    case: CaseHandle, identity: Identity, leases: RunLeases, run_id: str, force: bool
) -> Outcome:
    lease = leases.try_take(run_id)
    if lease is None:
        return Outcome(
            run_id, "alive", f"run {run_id} is alive: its lease is held by another process"
        )
    try:
        stop_point("recovery_lease")
        run = case.state().runs[run_id]
        if run.finished is not None:
            return Outcome(run_id, "ended", _ended(run))
        request = f"recovered on request by chainproof recover, examiner {identity.name}"
        if not lease.found:
            found = liveness(run.started.event)
            if found.alive is Alive.PROVEN:
                return Outcome(
                    run_id,
                    "alive",
                    f"run {run_id} is alive: {found.why}; --force does not override this",
                )
            if found.alive is Alive.MAYBE and not force:
                return Outcome(
                    run_id,
                    "alive",
                    f"run {run_id} may be alive: {found.why}; if you know that process is "
                    "not the run's, recover it with chainproof recover --force",
                )
            if found.alive is Alive.MAYBE:
                request = (
                    f"recovery forced by chainproof recover --force, examiner {identity.name}, "
                    f"who stated that the process is not the run's ({found.why})"
                )
        _recover(case, identity, run, request=request)
        return Outcome(run_id, "recovered", _recovered(case, run_id))
    finally:
        lease.release()


def _find_run(case: CaseHandle, wanted: str) -> str:
    runs = case.state().runs
    if wanted in runs:
        return wanted
    matches = [r for r in runs if wanted and r.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(
            f"{wanted} starts {len(matches)} run ids of case {case.case_id}: give more of it"
        )
    raise UsageError(f"case {case.case_id} has no run {wanted} (chainproof case show lists them)")


def _ended(run: RunState) -> str:
    assert run.finished is not None
    return (
        f"run {run.run_id} has ended already ({run.finished.event.status}, ledger entry "
        f"{run.finished.seq}): nothing to recover"
    )


def _recovered(case: CaseHandle, run_id: str) -> str:
    run = case.state().runs[run_id]
    assert run.finished is not None
    end = run.finished.event
    return (
        f"run {run_id} recovered (ledger entry {run.finished.seq}): {run.artifacts} recorded "
        f"artifacts kept, archive {end.archive} of {end.archive_size} bytes"
    )


def _unfinished(case: CaseHandle) -> list[str]:
    return [r.run_id for r in case.state().runs.values() if r.finished is None]


def _recover(
    case: CaseHandle, identity: Identity, run: RunState, *, request: str | None = None
) -> None:
    """Close a dead run's archive at its last recorded member and record its end;
    ``request`` says who asked for it, when someone did."""
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
    kept = set_aside_spool(case, identity, run.run_id)
    if kept:
        what += (
            f"; {len(kept)} partial output file(s) it was writing beside the archive set "
            "aside: " + ", ".join(k.set_aside_as for k in kept)
        )
    writer = case.writer(identity)
    writer.checkpoint("recovered")
    writer.append(
        RunFinished(
            run_id=run.run_id,
            status="recovered",
            reason=(f"{request}: " if request else "")
            + "the collecting process stopped without sealing the run; "
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
