"""Run leases in one process: the lock files, the file system check, and what recovery may touch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.cases import CaseHandle, open_case
from app.collection import CollectionRun
from app.lease import (
    LEASES,
    FileLease,
    RunLeases,
    file_system_type,
    lease_name,
    lock_unsafe_file_system,
)
from app.recovery import recover_unfinished_runs
from app.verification import verify_case
from collectors.profiles import load_profile
from custody.errors import UnreliableLocks
from custody.record.events import RunStarted
from custody.record.keys import Identity

MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /mnt/share rw,relatime shared:5 - nfs4 srv:/export rw,vers=4.2
41 40 0:51 / /mnt/share/local rw,relatime - ext4 /dev/vdb rw
42 27 0:52 / /mnt/my\040cases rw - cifs //srv/cases rw
43 27 0:53 / /mnt/ssh rw - fuse.sshfs me@host:/ rw
44 27 0:54 / /mnt/stacked rw - nfs srv:/a rw
45 27 0:55 / /mnt/stacked rw - ext4 /dev/vdc rw
"""


@pytest.mark.parametrize(
    ("path", "fstype", "unsafe"),
    [
        ("/home/x/case", "ext4", False),
        ("/mnt/share/case", "nfs4", True),
        ("/mnt/share/local/case", "ext4", False),  # a local disk mounted inside the share
        ("/mnt/shared/case", "ext4", False),  # a prefix of the name is not a parent
        ("/mnt/my cases/c1", "cifs", True),  # \040 in mountinfo is a space
        ("/mnt/ssh/c", "fuse.sshfs", True),
        ("/mnt/stacked/c", "ext4", False),  # the later mount hides the earlier one
    ],
)
def test_file_system_of_a_path_from_mountinfo(path: str, fstype: str, unsafe: bool) -> None:
    assert file_system_type(Path(path), MOUNTINFO) == fstype
    assert lock_unsafe_file_system(Path(path), MOUNTINFO) == (fstype if unsafe else None)


def test_this_machine_is_detected(tmp_path: Path) -> None:
    assert file_system_type(tmp_path, Path("/proc/self/mountinfo").read_text())
    assert lock_unsafe_file_system(tmp_path) is None


def test_a_case_on_a_network_share_is_refused(
    make_case, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = make_case()
    monkeypatch.setattr("app.lease.lock_unsafe_file_system", lambda _p: "nfs4")
    with pytest.raises(UnreliableLocks, match=r"nfs4 file system, where file locks cannot be"):
        CollectionRun(case, alice, load_profile("none")).execute()
    assert case.state().runs == {}
    assert UnreliableLocks("x").exit_code == 3


def test_a_file_lease_is_exclusive_and_removed_when_released(tmp_path: Path) -> None:
    path = tmp_path / LEASES / "r1.lock"
    first = FileLease.try_take(path)
    assert first is not None and not first.found and path.exists()
    assert FileLease.try_take(path) is None  # another open file: flock refuses, same process too
    # Another process cannot take it either.
    probe = (
        "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError: sys.exit(7)\n"
    )
    assert subprocess.run([sys.executable, "-c", probe, str(path)]).returncode == 7
    first.release()
    assert not path.exists()
    again = FileLease.try_take(path)
    assert again is not None and not again.found
    again.release(remove=False)
    found = FileLease.try_take(path)
    assert found is not None and found.found  # a lease file left by a dead process
    found.release()


def test_lease_names_stay_in_their_folder() -> None:
    assert lease_name("3f1c-9a") == "3f1c-9a.lock"
    for hostile in ("../../x", "a/b", ".hidden", "", "x" * 300):
        name = lease_name(hostile)
        assert "/" not in name and not name.startswith(".") and len(name) == 45


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    return int(proc.stdout)


def _start_run(case: CaseHandle, who: Identity, run_id: str, *, host: str, pid: int) -> None:
    """What a collecting process records before it dies (or while it lives elsewhere)."""
    archive = f"evidence/{run_id}.tar"
    case.writer(who).append(
        RunStarted(run_id=run_id, host=host, profile="none", archive=archive, pid=pid)
    )


def test_a_run_whose_lease_is_held_is_never_touched(make_case, alice: Identity) -> None:
    case = make_case()
    # Another machine's live run: a host name that is not ours, a PID that is not alive here.
    _start_run(case, alice, "live", host="elsewhere", pid=_dead_pid())
    held = RunLeases(case).try_take("live")
    assert held is not None
    assert recover_unfinished_runs(case, alice) == []
    assert case.state().runs["live"].finished is None
    assert not (case.evidence_dir / "live.tar").exists()
    held.release()
    # Its process died (the lease is free, the lease file gone): now it is recovered.
    assert recover_unfinished_runs(case, alice) == ["live"]
    assert case.state().runs["live"].status == "recovered"


def test_a_run_without_a_lease_keeps_the_old_rule(make_case, alice: Identity) -> None:
    case = make_case()
    _start_run(case, alice, "mine", host=socket.gethostname(), pid=os.getpid())  # alive
    _start_run(case, alice, "gone", host=socket.gethostname(), pid=_dead_pid())
    assert recover_unfinished_runs(case, alice) == ["gone"]
    assert case.state().runs["mine"].finished is None
    assert not (case.root / LEASES / lease_name("mine")).exists()  # its probe lease removed


def test_a_dead_lease_file_wins_over_a_live_looking_pid(make_case, alice: Identity) -> None:
    """A lease file that its run left behind proves the run held a lease, now free: the PID
    (reused by another process) no longer matters."""
    case = make_case()
    left = FileLease.try_take(case.root / LEASES / lease_name("reused"))
    assert left is not None
    _start_run(case, alice, "reused", host=socket.gethostname(), pid=os.getpid())
    left.release(remove=False)  # the process died: its lock went, its file stayed
    assert recover_unfinished_runs(case, alice) == ["reused"]


def test_concurrent_recoveries_of_one_run_record_one_end(make_case, alice: Identity) -> None:
    case = make_case()
    _start_run(case, alice, "crashed", host="h", pid=_dead_pid())
    other = open_case(case.root)
    ended: list[list[str]] = []

    class Racing(RunLeases):
        def try_take(self, run_id: str):  # type: ignore[no-untyped-def]
            # Between this recovery's look at the ledger and its lease, another recovers.
            ended.append(recover_unfinished_runs(other, alice))
            return super().try_take(run_id)

    assert recover_unfinished_runs(case, alice, Racing(case)) == []
    assert ended == [["crashed"]]
    finished = [e for e in verify_case(case).findings if e.code == "run.finished_twice"]
    assert finished == []
    assert case.state().runs["crashed"].status == "recovered"
    assert verify_case(case).ok


def test_a_run_killed_before_its_archive_existed_verifies(make_case, alice: Identity) -> None:
    case = make_case()
    _start_run(case, alice, "early", host="h", pid=_dead_pid())
    assert recover_unfinished_runs(case, alice) == ["early"]
    run = case.state().runs["early"]
    assert run.finished is not None and run.finished.event.archive_size == 1024
    assert "empty archive was written" in run.finished.event.reason
    report = verify_case(case)
    assert report.ok, report.render()


def test_stray_lease_files_are_swept(make_case, alice: Identity) -> None:
    case = make_case()
    folder = case.root / LEASES
    folder.mkdir()
    (folder / "never-started.lock").touch()  # killed between its lease and run_started
    held = FileLease.try_take(folder / "starting.lock")  # a run that is about to start
    assert held is not None
    CollectionRun(case, alice, load_profile("none")).execute()
    assert sorted(p.name for p in folder.iterdir()) == ["starting.lock"]
    held.release()
