"""Recovery tells a run's process by host, boot id and start time, not by PID alone, and
``chainproof recover`` recovers a crashed run on request (issue 13).

The measured bug: a ``running`` run whose recorded PID was alive on the same host was never
recovered, though in a container or after a reboot that PID is someone else's; verify failed,
export refused, and no command forced the recovery. Real ``chainproof`` processes, real
SIGSTOP and SIGKILL, a real PID namespace (``unshare --pid``, root only: CI runs as root).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from app.cases import CaseHandle, open_case
from app.collection import CollectionRun
from app.lease import LEASES, RunLeases, lease_name
from app.recovery import Alive, boot_id, liveness, process_started_at
from app.stop_points import STOP_AT
from collectors.profiles import load_profile
from custody.errors import RunAlive
from custody.record.events import RunStarted
from custody.record.keys import Identity
from tests.app.test_live_runs import _finish
from tests.stopped import wait_stopped

CLI = [sys.executable, "-m", "app"]
ALICE = "Alice Examiner"

as_root = pytest.mark.skipif(
    os.geteuid() != 0 or not sys.platform.startswith("linux"),
    reason="a PID namespace needs root (unshare --pid) on Linux",
)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def _start_run(case: CaseHandle, who: Identity, run_id: str, **process: object) -> None:
    """What a collecting process records before it dies: ``process`` gives its pid, host,
    boot id and start time (host defaults to this one)."""
    fields: dict[str, object] = {"host": socket.gethostname(), **process}
    case.writer(who).append(
        RunStarted(
            run_id=run_id,
            profile="none",
            archive=f"evidence/{run_id}.tar",
            **fields,  # type: ignore[arg-type]
        )
    )


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this host that is not the test's own."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    proc.kill()
    proc.wait()


def _exact(pid: int) -> dict[str, object]:
    """Everything a run records of process ``pid``: PID, boot id, start time."""
    return {"pid": pid, "boot_id": boot_id(), "process_started_at": process_started_at(pid)}


def _verified_and_exported(case: Path, tmp_path: Path) -> None:
    verified = _cli("verify", str(case))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    exported = _cli("export", str(case), "--out", str(tmp_path / "bundle"), "--json")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert json.loads(exported.stdout)["verified"] is True


# --------------------------------------------------------------------------- what a run recorded


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="boot ids are Linux's")
def test_a_run_records_its_process_boot_and_start(make_case, alice: Identity) -> None:
    case = make_case()
    CollectionRun(case, alice, load_profile("none")).execute()
    [run] = case.state().runs.values()
    started = run.started.event
    assert started.pid == os.getpid() and started.host == socket.gethostname()
    assert started.boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert started.process_started_at == process_started_at(os.getpid())
    assert liveness(started).alive is Alive.PROVEN  # this very process


def test_liveness_of_a_recorded_process(
    sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    host, pid = socket.gethostname(), sleeper.pid

    def alive(**process: object) -> Alive:
        fields: dict[str, object] = {"host": host, **process}
        started = RunStarted(run_id="r", profile="none", archive="evidence/r.tar", **fields)  # type: ignore[arg-type]
        return liveness(started).alive

    exact = _exact(pid)
    assert alive(**exact) is Alive.PROVEN
    assert alive(pid=pid) is Alive.MAYBE  # a run of an older version: the PID alone
    assert alive(**{**exact, "boot_id": "another-boot"}) is Alive.NO  # rebooted since
    later = "2000-01-01T00:00:00.000000Z"
    assert alive(**{**exact, "process_started_at": later}) is Alive.NO  # PID reused
    assert alive(**{**exact, "process_started_at": "not a time"}) is Alive.MAYBE
    assert alive(**{**exact, "host": "elsewhere"}) is Alive.NO
    assert alive(host=host) is Alive.NO  # no PID recorded
    with monkeypatch.context() as m:
        m.setattr("app.recovery.boot_id", lambda: None)  # this boot's id cannot be read
        assert alive(**exact) is Alive.MAYBE
        assert alive(**{**exact, "boot_id": None}) is Alive.PROVEN  # none recorded either
    sleeper.kill()
    sleeper.wait()
    assert alive(**exact) is Alive.NO  # gone


# --------------------------------------------------------------------------- the next collection


def test_the_next_collection_recovers_a_run_whose_pid_was_reused(
    make_case, alice: Identity, sleeper: subprocess.Popen[bytes]
) -> None:
    """No lease file (it proves nothing), and the recorded PID is alive on this host: only a
    run that recorded nothing more is left alone; one whose boot id or start time differ
    from the live process is recovered."""
    case = make_case()
    exact = _exact(sleeper.pid)
    _start_run(case, alice, "legacy", pid=sleeper.pid)
    _start_run(case, alice, "same", **exact)
    _start_run(case, alice, "rebooted", **{**exact, "boot_id": "a-boot-before-this-one"})
    _start_run(case, alice, "reused", **{**exact, "process_started_at": "2001-02-03T04:05:06Z"})
    CollectionRun(case, alice, load_profile("none")).execute()
    status = {r.run_id: r.status for r in case.state().runs.values()}
    assert {k: status[k] for k in ("legacy", "same", "rebooted", "reused")} == {
        "legacy": "running",
        "same": "running",
        "rebooted": "recovered",
        "reused": "recovered",
    }
    assert not any((case.root / LEASES).glob("*.lock"))  # the probes' lease files removed


# --------------------------------------------------------------------------- chainproof recover


def test_recover_refuses_a_live_process_and_forces_a_legacy_run(
    make_case, alice: Identity, sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    case = make_case()
    _start_run(case, alice, "legacy", pid=sleeper.pid)  # made before boot id and start time
    _start_run(case, alice, "alive", **_exact(sleeper.pid))

    for force in ((), ("--force",)):  # provably alive: --force does not override it
        refused = _cli("recover", str(case.root), "--run", "alive", *force)
        assert refused.returncode == RunAlive.exit_code == 8, refused.stderr
        [line] = refused.stderr.splitlines()
        assert line.startswith(f"chainproof: run alive is alive: its process {sleeper.pid} ")
        assert "is still running" in line and "--force does not override this" in line

    refused = _cli("recover", str(case.root), "--run", "legacy")
    assert refused.returncode == 8
    [line] = refused.stderr.splitlines()
    assert f"run legacy may be alive: process ID {sleeper.pid} is in use" in line
    assert "recover it with chainproof recover --force" in line
    assert case.state().runs["legacy"].finished is None

    forced = _cli("recover", str(case.root), "--run", "legacy", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert [o["result"] for o in json.loads(forced.stdout)] == ["recovered"]
    end = open_case(case.root).state().runs["legacy"].finished
    assert end is not None and end.event.status == "recovered"
    assert end.event.reason.startswith(
        f"recovery forced by chainproof recover --force, examiner {ALICE}, who stated that "
        f"the process is not the run's (process ID {sleeper.pid} is in use on host "
    )
    assert end.actor == alice.fingerprint  # the examiner who forced it signed the end

    sleeper.kill()  # the live run's process ends without its run's end: now it is dead
    sleeper.wait()
    again = _cli("recover", str(case.root), "--run", "alive")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("run alive recovered (ledger entry ")
    state = open_case(case.root).state()
    assert state.runs["alive"].finished is not None
    assert state.runs["alive"].finished.event.reason.startswith(
        f"recovered on request by chainproof recover, examiner {ALICE}: the collecting "
        "process stopped without sealing the run"
    )
    ended = _cli("recover", str(case.root), "--run", "alive")
    assert ended.returncode == 0 and "has ended already (recovered" in ended.stdout
    unknown = _cli("recover", str(case.root), "--run", "nope")
    assert unknown.returncode == 2 and "has no run nope" in unknown.stderr
    _verified_and_exported(case.root, tmp_path)


def test_recover_refuses_a_run_whose_lease_is_held(make_case, alice: Identity) -> None:
    """A real collection paused right after ``run_started``: its lease is held."""
    case = make_case()
    env = {**os.environ, STOP_AT: "started"}
    paused = subprocess.Popen(
        [*CLI, "collect", str(case.root), "--profile", "none", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    wait_stopped(paused, "started")
    try:
        [run_id] = open_case(case.root).state().runs
        for args in (("--run", run_id[:8]), ("--run", run_id, "--force"), ()):
            refused = _cli("recover", str(case.root), *args)
            assert refused.returncode == 8, refused.stderr
            assert refused.stderr == (
                f"chainproof: run {run_id} is alive: its lease is held by another process\n"
            )
        assert open_case(case.root).state().runs[run_id].finished is None
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    _finish(paused)
    assert open_case(case.root).state().runs[run_id].status == "finished"
    assert _cli("verify", str(case.root)).returncode == 0


@as_root
def test_a_crashed_run_whose_pid_is_reused_is_recovered(
    make_case, alice: Identity, tmp_path: Path
) -> None:
    """Acceptance: a real collection in a PID namespace of its own (a container) is killed
    mid-run. Its recorded PID (2 there) belongs to another live process of this host, under
    the same host name, and its lease file is gone, so the lease proves nothing: the old rule
    called it alive forever. ``chainproof recover`` brings it back; verify and export pass."""
    case = make_case()
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(5):
        (tree / f"f{i}").write_bytes(os.urandom(3000))
    collect = [*CLI, "collect", str(case.root), "--profile", "none", "--path", f"{tree}/**"]
    # sh is the namespace's init (PID 1): the collection is its child, PID 2 there.
    namespace = ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", '"$@"; exit 0', "sh"]
    contained = subprocess.Popen(
        [*namespace, *collect],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, STOP_AT: "artifact"},  # stop after its first archive member
    )
    try:
        collector = _stopped_descendant(contained)
        collector.kill()  # SIGKILL: no clean-up
    finally:
        out, err = contained.communicate(timeout=60)
    state = open_case(case.root).state()
    [run] = state.runs.values()
    started = run.started.event
    assert run.finished is None and started.host == socket.gethostname()
    assert started.pid != collector.pid  # recorded as its namespace saw it
    if not psutil.pid_exists(started.pid or 0):
        pytest.skip(f"PID {started.pid} is not in use here: no PID to reuse ({out}{err})")
    # The old rule: alive, as the PID is in use under this host name. The start time says no.
    assert liveness(started).alive is Alive.NO
    assert "now belongs to another process" in liveness(started).why
    (case.root / LEASES / lease_name(run.run_id)).unlink()  # a lease that proves nothing
    assert not _verified(case.root)

    recovered = _cli("recover", str(case.root), "--json")
    assert recovered.returncode == 0, recovered.stderr
    [outcome] = json.loads(recovered.stdout)
    assert (outcome["run_id"], outcome["result"]) == (run.run_id, "recovered")
    end = open_case(case.root).state().runs[run.run_id].finished
    assert end is not None and end.event.status == "recovered"
    assert f"examiner {ALICE}" in end.event.reason
    _verified_and_exported(case.root, tmp_path)


def _stopped_descendant(parent: subprocess.Popen[str]) -> psutil.Process:
    """The collection under ``parent`` (unshare, then sh), once it has stopped itself."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for child in psutil.Process(parent.pid).children(recursive=True):
            try:
                if "collect" in child.cmdline() and child.status() == psutil.STATUS_STOPPED:
                    return child
            except psutil.NoSuchProcess:
                continue
        if parent.poll() is not None:
            raise AssertionError(f"exited {parent.returncode}: {parent.communicate()}")
        time.sleep(0.01)
    raise AssertionError("the contained collection never stopped")


def _verified(case: Path) -> bool:
    return _cli("verify", str(case)).returncode == 0


def test_recover_takes_the_same_leases_as_collections(make_case, alice: Identity) -> None:
    """``recover`` with no run and nothing to do; and a run held in this process is refused."""
    case = make_case()
    nothing = _cli("recover", str(case.root))
    assert nothing.returncode == 0 and "nothing to recover" in nothing.stdout
    _start_run(case, alice, "held", host="elsewhere", pid=1)
    held = RunLeases(case).try_take("held")
    assert held is not None
    try:
        refused = _cli("recover", str(case.root))
        assert refused.returncode == 8 and "run held is alive: its lease is held" in refused.stderr
    finally:
        held.release()
    assert _cli("recover", str(case.root)).returncode == 0  # another host's dead run
    assert open_case(case.root).state().runs["held"].status == "recovered"
