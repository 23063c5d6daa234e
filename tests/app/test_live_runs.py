"""Live runs are never cut, and a kill at any step leaves a case that verifies (issue 20).

Real ``chainproof collect`` processes, real SIGSTOP and SIGKILL, on SQLite and on a real
PostgreSQL server. Host names differ through separate UTS namespaces (``unshare --uts``,
root only: CI runs as root). ``CHAINPROOF_STOP_AT=<step>`` makes a process stop itself right
after a named step (:func:`app.stop_points.stop_point`); the test then kills it there, or lets
it go on.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.cases import create_case, open_case
from app.lease import LEASES
from app.stop_points import STOP_AT
from app.verification import verify_case
from custody.db.lease import lease_key
from custody.record.keys import Identity
from tests.pg_server import pg_bin, postgres_server
from tests.stopped import wait_stopped

CLI = [sys.executable, "-m", "app"]
FILES = 1200  # more than a ledger batch (1,000 entries): a run commits before its end

#: Every named step of a run's start and end (S) and of a dead run's recovery (R), in an
#: order where each recovery step meets a dead run left by the kill before it: a run without
#: its archive, with an empty one, with recorded members and a torn tail, with a sealed
#: archive but no end.
SWEEP = (
    "lease",
    "started",
    "recovery_lease",  # R
    "archive",
    "recovery_archive",  # R
    "artifact",
    "batch",
    "recovered",  # R
    "run_end",
    "archive_closed",
    "finished",
)
#: Rounds of the sweep: CHAINPROOF_SWEEP_ROUNDS=10 for a long run.
ROUNDS = int(os.environ.get("CHAINPROOF_SWEEP_ROUNDS", "1"))

as_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="separate host names need a UTS namespace (root and unshare)",
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    for i in range(FILES):
        d = root / f"d{i % 20:02d}"
        d.mkdir(exist_ok=True)
        (d / f"f{i:04d}").write_bytes(os.urandom(64 + i % 300))
    return root


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    with postgres_server() as url:
        yield url


def _collect(
    case: Path, tree: Path | None = None, *, host: str | None = None, stop_at: str | None = None
) -> subprocess.Popen[str]:
    args = [*CLI, "collect", str(case), "--profile", "none", "--json"]
    if tree is not None:
        args += ["--path", f"{tree}/**"]
    if host is not None:  # a host name of its own: a separate UTS namespace
        args = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host, *args]
    env = {k: v for k, v in os.environ.items() if k != STOP_AT}
    if stop_at is not None:
        env[STOP_AT] = stop_at
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    return out


def _kill_at(case: Path, tree: Path | None, step: str) -> None:
    proc = _collect(case, tree, stop_at=step)
    wait_stopped(proc, step, timeout=60)
    proc.kill()  # SIGKILL: no handler, no clean-up, right after the step
    proc.communicate(timeout=30)


def _verified(case: Path) -> None:
    report = verify_case(open_case(case))
    assert report.ok, report.render()


def _new_case(root: Path, who: Identity, db_url: str | None = None) -> Path:
    create_case(root, who, title="Issue 20", db_url=db_url)
    return root


def _two_live_collections(case: Path, tree: Path) -> None:
    first = _collect(case, tree, host="host-a", stop_at="artifact")
    wait_stopped(first, "artifact", timeout=60)  # paused mid-run: lease held, archive open
    try:
        _finish(_collect(case, host="host-b"))  # starts, looks for crashed runs, finishes
        runs = open_case(case).state().runs
        [a] = [r for r in runs.values() if r.started.event.host == "host-a"]
        assert a.finished is None  # the paused run was not "recovered"
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _finish(first)
    runs = open_case(case).state().runs
    assert sorted((r.started.event.host, r.status) for r in runs.values()) == [
        ("host-a", "finished"),
        ("host-b", "finished"),
    ]
    assert [r.artifacts for r in runs.values() if r.started.event.host == "host-a"] == [FILES + 1]
    _verified(case)


@as_root
def test_two_live_collections_on_one_case_directory(
    tmp_path: Path, alice: Identity, tree: Path
) -> None:
    _two_live_collections(_new_case(tmp_path / "case", alice), tree)


@as_root
@pytest.mark.postgres
def test_two_live_collections_on_postgres(
    tmp_path: Path, alice: Identity, tree: Path, pg_url: str
) -> None:
    _two_live_collections(_new_case(tmp_path / "case", alice, pg_url), tree)


def test_two_recoveries_of_one_crashed_run_record_one_end(
    tmp_path: Path, alice: Identity, tree: Path
) -> None:
    case = _new_case(tmp_path / "case", alice)
    _kill_at(case, tree, "batch")  # a crashed run
    [crashed] = open_case(case).state().runs
    first = _collect(case, stop_at="recovery_lease")  # holds the crashed run's lease
    wait_stopped(first, "recovery_lease", timeout=60)
    try:
        _finish(_collect(case))  # the lease is held: it leaves the crashed run alone
        assert open_case(case).state().runs[crashed].finished is None
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _finish(first)
    state = open_case(case).state()
    assert state.runs[crashed].status == "recovered" and state.problems == []
    _verified(case)


@as_root
@pytest.mark.postgres
def test_a_run_that_lost_its_lease_stops_without_writing(
    tmp_path: Path, alice: Identity, tree: Path, pg_url: str
) -> None:
    """The lease's connection drops, another host recovers the run meanwhile: when the run
    goes on, it stops at its next batch and writes no contradiction into the record."""
    case = _new_case(tmp_path / "case", alice, pg_url)
    first = _collect(case, tree, host="host-a", stop_at="archive")
    wait_stopped(first, "archive", timeout=60)
    handle = open_case(case)
    [run_id] = handle.state().runs
    _end_session_holding(pg_url, lease_key(handle.case_id, run_id))
    _finish(_collect(case, host="host-b"))  # the lease is free: the run is recovered
    os.kill(first.pid, signal.SIGCONT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 4, err
    assert "lost its lease and was ended by another process" in err
    state = open_case(case).state()
    assert state.runs[run_id].status == "recovered"
    assert state.problems == []  # no second end, no entry after the end


def _end_session_holding(url: str, key: int) -> None:
    """End the database session that holds advisory lock ``key`` (a dropped connection)."""
    held = text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = :c "
        "AND objid::bigint = :o AND objsubid = 1"
    )
    where = {"c": (key >> 32) & 0xFFFFFFFF, "o": key & 0xFFFFFFFF}
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        [pid] = conn.execute(held, where).scalars().all()
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        deadline = time.monotonic() + 10
        while conn.execute(held, where).first() is not None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    engine.dispose()


def _sweep(case: Path, tree: Path) -> int:
    """Kill a collection right after each step of :data:`SWEEP`. Each next collection first
    recovers what the kill left, then is itself killed at the next step; after each kill,
    every finding may only concern the run just killed (still without its end), and after
    the last, a whole collection leaves a case with no finding at all. Returns the kills."""
    kills = 0
    for _ in range(ROUNDS):
        for step in SWEEP:
            _kill_at(case, tree, step)
            kills += 1
            state = open_case(case).state()
            unfinished = {r.run_id for r in state.runs.values() if r.finished is None}
            assert len(unfinished) <= 1, step
            report = verify_case(open_case(case))
            permanent = [f for f in report.findings if f.run_id not in unfinished]
            assert permanent == [], f"after a kill at {step}: {report.render()}"
    _finish(_collect(case))
    _verified(case)
    runs = open_case(case).state().runs.values()
    assert all(r.finished is not None for r in runs)
    # Every run killed between run_started and its end was recovered (six a round); killed
    # after its lease or while recovering another, a run had not begun.
    assert sum(r.status == "recovered" for r in runs) == 6 * ROUNDS
    assert max(r.artifacts for r in runs if r.status == "recovered") >= 1000
    assert not any((case / LEASES).glob("*.lock"))  # none left behind
    return kills


def test_kill_at_every_step_leaves_a_case_that_verifies(
    tmp_path: Path, alice: Identity, tree: Path
) -> None:
    case = _new_case(tmp_path / "case", alice)
    assert _sweep(case, tree) == len(SWEEP) * ROUNDS


@pytest.mark.postgres
def test_kill_at_every_step_on_postgres(
    tmp_path: Path, alice: Identity, tree: Path, pg_url: str
) -> None:
    case = _new_case(tmp_path / "case", alice, pg_url)
    assert _sweep(case, tree) == len(SWEEP) * ROUNDS
