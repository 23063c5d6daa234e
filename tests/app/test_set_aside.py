"""An archive that no run owns is recorded and set aside by the next recovery, not a finding
for ever (issue 20).

Older versions created a run's archive before its signed ``run_started`` entry, so a kill in
between left an archive no run owns in ``<case>/evidence``; ``verify`` then reported
``archive.orphan`` for ever and export refused the case. Real cases, real collections, real
``chainproof`` processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cases import CaseHandle, open_case
from app.collection import RunSummary
from app.recovery import boot_id, process_started_at, recover_unfinished_runs
from app.set_aside import set_aside_orphans
from app.stop_points import STOP_AT
from app.verification import verify_case
from custody.db.ledger import read_entries
from custody.record.describe import describe
from custody.record.events import ArchiveSetAside, RunStarted
from custody.record.keys import Identity
from custody.store.setaside import NO_RUN_OWNS_IT, SET_ASIDE
from tests.stopped import wait_stopped

CLI = [sys.executable, "-m", "app"]
Collected = Callable[..., tuple[CaseHandle, RunSummary, Path]]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=180)


def _codes(report_json: str) -> list[str]:
    return sorted(f["code"] for f in json.loads(report_json)["findings"])


def _verify(case: Path) -> tuple[int, list[str]]:
    done = _cli("verify", str(case), "--json")
    assert done.returncode in (0, 6), done.stdout + done.stderr
    return done.returncode, _codes(done.stdout)


def _orphans(case: CaseHandle) -> dict[str, bytes]:
    """A 0-byte archive named like a run that never reached the ledger (what a kill between
    creating the archive and ``run_started`` left), and one a person dropped, of random
    bytes."""
    orphans = {f"{uuid.uuid4()}.tar": b"", "stray.tar": os.urandom(3000)}
    for name, data in orphans.items():
        (case.evidence_dir / name).write_bytes(data)
    return orphans


def _set_aside(case: CaseHandle) -> list[ArchiveSetAside]:
    return [r.event for r in open_case(case.root).state().set_aside]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_next_collection_sets_orphans_aside_and_the_case_verifies_and_exports(
    collected_case: Collected, tmp_path: Path
) -> None:
    case, _, tree = collected_case()
    orphans = _orphans(case)
    rc, codes = _verify(case.root)
    assert rc == 6 and codes == ["archive.orphan", "archive.orphan"]

    collected = _cli(
        "collect", str(case.root), "--profile", "none", "--path", f"{tree}/**", "--json"
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert json.loads(collected.stdout)["status"] == "finished"

    assert sorted(p.name for p in case.evidence_dir.iterdir()) == sorted(
        r.archive.rpartition("/")[2] for r in open_case(case.root).state().runs.values()
    )
    folder = case.root / SET_ASIDE
    assert sorted(p.name for p in folder.iterdir()) == sorted(orphans)
    for name, data in orphans.items():
        moved = folder / name
        assert moved.read_bytes() == data
        assert not moved.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)

    records = {ev.archive: ev for ev in _set_aside(case)}
    assert set(records) == {f"evidence/{n}" for n in orphans}
    for name, data in orphans.items():
        ev = records[f"evidence/{name}"]
        assert ev.set_aside_as == f"set-aside/{name}"
        assert (ev.size, ev.sha256, ev.reason) == (len(data), _sha256(data), NO_RUN_OWNS_IT)
        assert describe(ev).startswith(f"Archive evidence/{name} ({len(data):,} bytes")
    # Each is a signed act, before the run it preceded.
    entries = list(read_entries(case.sessions, case.case_id))
    marks = [e for e in entries if e.event == ArchiveSetAside.EVENT]
    assert len(marks) == 2 and all(e.signatures for e in marks)
    last_start = max(e.seq for e in entries if e.event == RunStarted.EVENT)
    assert all(e.seq < last_start for e in marks)

    assert _verify(case.root) == (0, [])
    out = tmp_path / "bundle"
    exported = _cli("export", str(case.root), "--out", str(out), "--json")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert json.loads(exported.stdout)["verified"] is True
    assert _verify(out) == (0, [])
    zipped = _cli("export", str(case.root), "--out", str(tmp_path / "bundle.zip"))
    assert zipped.returncode == 0, zipped.stdout + zipped.stderr
    assert _verify(tmp_path / "bundle.zip") == (0, [])


def test_a_changed_or_missing_set_aside_archive_is_a_finding(
    collected_case: Collected, alice: Identity
) -> None:
    case, _, _ = collected_case()
    orphans = _orphans(case)
    assert recover_unfinished_runs(case, alice) == []  # no run to recover; both set aside
    assert verify_case(case).ok
    empty, stray = (case.root / SET_ASIDE / n for n in orphans)

    stray.chmod(0o644)
    data = bytearray(stray.read_bytes())
    data[1234] ^= 0x01
    stray.write_bytes(bytes(data))
    report = verify_case(case)
    assert [f.code for f in report.findings] == ["archive.set_aside_changed"]
    finding = report.findings[0]
    assert "set-aside/stray.tar" in finding.where and "3000 bytes" in finding.message
    assert finding.seq is not None

    empty.chmod(0o644)
    empty.write_bytes(b"planted")
    stray.unlink()
    report = verify_case(case)
    assert sorted(f.code for f in report.findings) == [
        "archive.set_aside_changed",
        "archive.set_aside_missing",
    ]
    missing = next(f for f in report.findings if f.code == "archive.set_aside_missing")
    assert "set-aside/stray.tar" in missing.where and "removed or moved" in missing.message
    # Nothing is set aside twice, and a changed file is not "recovered" away.
    assert set_aside_orphans(case, alice) == []
    assert len(_set_aside(case)) == 2


def test_names_taken_in_the_set_aside_folder_get_a_suffix(
    collected_case: Collected, alice: Identity
) -> None:
    case, _, _ = collected_case()
    folder = case.root / SET_ASIDE
    folder.mkdir()
    (folder / "stray.tar").write_bytes(b"someone else's file")
    (folder / "stray-2.tar").mkdir()  # a folder of that name
    (case.evidence_dir / "stray.tar").write_bytes(b"first")
    done = set_aside_orphans(case, alice)
    assert [d.set_aside_as for d in done] == ["set-aside/stray-3.tar"]
    assert (folder / "stray.tar").read_bytes() == b"someone else's file"
    assert (folder / "stray-2.tar").is_dir()
    assert (folder / "stray-3.tar").read_bytes() == b"first"

    # The same name found again (dropped anew) never replaces what was set aside before.
    (case.evidence_dir / "stray.tar").write_bytes(b"second")
    [again] = set_aside_orphans(case, alice)
    assert again.set_aside_as == "set-aside/stray-4.tar"
    assert (folder / "stray-3.tar").read_bytes() == b"first"
    assert (folder / "stray-4.tar").read_bytes() == b"second"
    assert "set aside (ledger entry" in again.message
    assert verify_case(case).ok


def test_a_set_aside_folder_that_cannot_be_made_leaves_the_orphan_and_the_run_goes_on(
    collected_case: Collected, alice: Identity
) -> None:
    case, _, _ = collected_case()
    (case.root / SET_ASIDE).write_bytes(b"a file where the folder would be")
    (case.evidence_dir / "stray.tar").write_bytes(b"x")
    assert set_aside_orphans(case, alice) == []
    assert _set_aside(case) == []
    assert [f.code for f in verify_case(case).findings] == ["archive.orphan"]


def test_only_archives_without_a_run_are_touched(
    collected_case: Collected, alice: Identity
) -> None:
    """A run in the ledger owns its archive whatever its state: a live run's archive, and
    the archive of a run that wrote ``run_started`` and has not yet created it, stay."""
    case, run, _ = collected_case()
    live, starting = str(uuid.uuid4()), str(uuid.uuid4())
    me = {
        "pid": os.getpid(),
        "boot_id": boot_id(),
        "process_started_at": process_started_at(os.getpid()),
    }
    for run_id in (live, starting):
        case.writer(alice).append(
            RunStarted(
                run_id=run_id,
                host=socket.gethostname(),
                profile="none",
                archive=f"evidence/{run_id}.tar",
                **me,  # type: ignore[arg-type]
            )
        )
    (case.evidence_dir / f"{live}.tar").write_bytes(b"\0" * 1024)
    (case.evidence_dir / "link.tar").symlink_to(run.archive)
    (case.evidence_dir / "folder.tar").mkdir()
    assert recover_unfinished_runs(case, alice) == []  # both runs are alive: this process
    assert (case.evidence_dir / f"{live}.tar").is_file()
    assert not (case.evidence_dir / f"{starting}.tar").exists()
    assert _set_aside(case) == []  # a link and a folder are not archives to move
    assert {p.name for p in case.evidence_dir.iterdir()} == {
        run.archive.name,
        f"{live}.tar",
        "link.tar",
        "folder.tar",
    }


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="stop points need SIGSTOP")
def test_a_recovery_killed_before_the_move_is_finished_by_the_next(
    collected_case: Collected,
) -> None:
    case, _, _ = collected_case()
    (case.evidence_dir / "stray.tar").write_bytes(b"abc" * 1000)
    proc = subprocess.Popen(
        [*CLI, "recover", str(case.root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, STOP_AT: "set_aside_recorded"},
    )
    wait_stopped(proc, "set_aside_recorded")
    proc.kill()
    proc.communicate(timeout=30)
    [recorded] = _set_aside(case)
    assert (case.evidence_dir / "stray.tar").exists()
    # Recorded, not yet moved: the bytes are where they were, as recorded.
    assert _verify(case.root) == (0, [])

    again = _cli("recover", str(case.root), "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    [done] = json.loads(again.stdout)
    assert done["result"] == "set_aside" and done["set_aside_as"] == recorded.set_aside_as
    assert "recorded move to the set-aside folder finished" in done["message"]
    assert not (case.evidence_dir / "stray.tar").exists()
    assert (case.root / recorded.set_aside_as).read_bytes() == b"abc" * 1000
    assert len(_set_aside(case)) == 1  # recorded once
    assert _verify(case.root) == (0, [])


def test_recover_says_what_it_set_aside(collected_case: Collected) -> None:
    case, _, _ = collected_case()
    (case.evidence_dir / "stray.tar").write_bytes(b"")
    done = _cli("recover", str(case.root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "archive evidence/stray.tar (0 bytes, SHA-256 " + _sha256(b"") in done.stdout
    assert "now set-aside/stray.tar (read-only)" in done.stdout
