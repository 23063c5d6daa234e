"""An export is atomic and recorded, whatever stops it (issue 13).

Real ``chainproof export`` processes, stopped right after a named step
(``CHAINPROOF_STOP_AT=<step>``, :func:`app.stop_points.stop_point`) and killed there with
SIGKILL: before and after the move into place, while staging, and while the next command
recovers the interrupted export. After the next export: nothing is left beside ``--out``,
every bundle on disk has its ``exported`` entry (and every other export its
``export_failed``), and both ``chainproof verify CASE`` and ``chainproof verify BUNDLE`` pass.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cases import CaseHandle, create_case, open_case
from app.collection import CollectionRun
from app.export_recovery import export_lease, open_exports, recover_exports, staging_path
from app.export_service import export_case
from app.stop_points import STOP_AT
from collectors.profiles import load_profile
from custody.db.ledger import read_entries
from custody.errors import ExportError
from custody.record.events import Exported, ExportFailed, ExportStarted, parse
from custody.record.keys import Identity
from tests.app.conftest import make_tree
from tests.pg_server import pg_bin, postgres_server
from tests.stopped import wait_stopped

CLI = [sys.executable, "-m", "app"]

#: Steps of an export (E) and of the recovery of an interrupted one (R), in an order where
#: each recovery step meets a dead export left by the kill before it: started and nothing
#: staged, half staged, fully staged, recovered half-way, moved into place without its entry.
DIRECTORY_SWEEP = (
    "export_lease",
    "export_begun",
    "export_staging",
    "export_recovery_lease",  # R
    "export_staged",
    "export_recovery_staging",  # R
    "export_done",
    "export_moved",
)
ZIP_SWEEP = (
    "export_begun",
    "export_staging",
    "export_staged",
    "export_zipped",
    "export_done",
    "export_moved",
)
#: Steps after which the killed process has no export_started entry of its own.
NOT_STARTED = ("export_lease", "export_recovery_lease", "export_recovery_staging")


# --------------------------------------------------------------------------- processes


def _run(*args: str | Path, stop_at: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != STOP_AT}
    if stop_at is not None:
        env[STOP_AT] = stop_at
    return subprocess.Popen(
        [*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _export(
    case: Path, out: Path, *, as_zip: bool, stop_at: str | None = None
) -> subprocess.Popen[str]:
    return _run("export", case, "--out", out, *(["--zip"] if as_zip else []), stop_at=stop_at)


def _finish(proc: subprocess.Popen[str], code: int = 0) -> tuple[str, str]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == code, f"exit {proc.returncode}\n{out}\n{err}"
    return out, err


def _kill_at(case: Path, out: Path, step: str, *, as_zip: bool) -> str:
    """Export, SIGKILL the process right after ``step``; what it said before."""
    proc = _export(case, out, as_zip=as_zip, stop_at=step)
    wait_stopped(proc, step)
    proc.kill()  # no handler, no clean-up
    _out, err = proc.communicate(timeout=60)
    return err


# --------------------------------------------------------------------------- the record


def _events(case: Path) -> list[tuple[int, object]]:
    handle = open_case(case)
    return [(e.seq, parse(e)) for e in read_entries(handle.sessions, handle.case_id)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_settled(case: Path, parent: Path) -> list[str]:
    """Nothing beside the bundles, every export ended once, every bundle on disk recorded
    (and every recorded bundle on disk), case and bundles verify. The outcome of each
    export, in the order they started."""
    hidden = sorted(p.name for p in parent.iterdir() if p.name.startswith("."))
    assert hidden == [], f"left beside --out: {hidden}"
    events = _events(case)
    started = {ev.bundle_id: seq for seq, ev in events if isinstance(ev, ExportStarted)}
    ends: dict[str, list[object]] = {}
    for seq, ev in events:
        if isinstance(ev, Exported | ExportFailed):
            assert seq > started[ev.bundle_id], f"entry {seq} ends an export not yet started"
            ends.setdefault(ev.bundle_id, []).append(ev)
    assert set(ends) == set(started), "an export without its end, or an end without its start"
    assert all(len(e) == 1 for e in ends.values()), ends
    assert open_case(case).state().open_exports == {}
    exported = {e.path: e for [e] in ends.values() if isinstance(e, Exported)}
    on_disk = {str(p) for p in parent.iterdir()}
    assert on_disk == set(exported), "a bundle without its entry, or an entry without its bundle"
    for path, e in exported.items():
        bundle = Path(path)
        if e.format == "zip":
            assert e.zip_sha256 == _sha256(bundle)
        else:
            assert e.manifest_sha256 == _sha256(bundle / "manifest.json")
            assert e.sha256sums_sha256 == _sha256(bundle / "SHA256SUMS")
        r = subprocess.run([*CLI, "verify", path], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([*CLI, "verify", str(case)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    order = sorted(started, key=started.__getitem__)
    return ["exported" if isinstance(ends[b][0], Exported) else "failed" for b in order]


@pytest.fixture
def case(collected_case: object) -> Path:
    handle, _result, _tree = collected_case()  # type: ignore[operator]
    return Path(handle.root)


@pytest.fixture
def outs(tmp_path: Path) -> Path:
    parent = tmp_path / "bundles"
    parent.mkdir()
    return parent


# --------------------------------------------------------------------------- kills


@pytest.mark.slow
@pytest.mark.parametrize(
    ("as_zip", "sweep"), [(False, DIRECTORY_SWEEP), (True, ZIP_SWEEP)], ids=["dir", "zip"]
)
def test_a_kill_at_any_step_leaves_no_staging_and_no_unrecorded_bundle(
    case: Path, outs: Path, as_zip: bool, sweep: tuple[str, ...]
) -> None:
    """Each export is killed after its step; the next one (itself killed after the next
    step) finds what the kill left and closes it. The last one is killed just after its
    bundle was moved into place."""
    suffix = ".zip" if as_zip else ""
    said = []
    for i, step in enumerate(sweep):
        said.append(_kill_at(case, outs / f"{i}-{step}{suffix}", step, as_zip=as_zip))
    # The bundle is complete at its path, its entry missing: exporting to that path again
    # completes the pair, then refuses (the path is taken), naming the recorded bundle.
    moved = outs / f"{len(sweep) - 1}-export_moved{suffix}"
    assert moved.exists()
    _out, err = _finish(_export(case, moved, as_zip=as_zip), code=7)
    assert f"to {moved} (entry" in err and "had put its bundle in place: recorded as entry" in err
    assert "recorded as exported by entry" in err
    out, _err = _finish(_export(case, outs / f"final{suffix}", as_zip=as_zip))
    assert "Exported bundle" in out
    outcomes = _assert_settled(case, outs)
    # what each killed export became: exported once its bundle was in place, else failed
    assert outcomes == [
        "exported" if s in ("export_done", "export_moved") else "failed"
        for s in sweep
        if s not in NOT_STARTED
    ] + ["exported"]
    # a recovery of a staged export says what it removed
    assert any("removed the staging folder" in e and " bytes)" in e for e in said), said


@pytest.mark.slow
def test_collect_and_a_signed_verify_close_an_interrupted_export(case: Path, outs: Path) -> None:
    _kill_at(case, outs / "moved", "export_moved", as_zip=False)
    # verify without a key records nothing, and says the export has no end yet
    r = subprocess.run([*CLI, "verify", str(case)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "has no end yet" in r.stderr
    handle = open_case(case)
    # the export entries alone tell what the whole ledger's fold tells
    assert open_exports(handle) == handle.state().open_exports != {}
    # a collection completes the pair before it starts its run
    tree = next(case.parent.glob("*-src"))
    _out, err = _finish(_run("collect", case, "--profile", "none", "--path", f"{tree}/**"))
    assert "had put its bundle in place" in err
    _kill_at(case, outs / "staging.zip", "export_staging", as_zip=True)
    _out, err = _finish(_run("verify", case, "--sign"))
    assert "did not complete" in err and "removed the staging folder" in err
    assert _assert_settled(case, outs) == ["exported", "failed"]


@pytest.mark.slow
def test_a_live_export_is_never_taken_for_an_interrupted_one(case: Path, outs: Path) -> None:
    first = _export(case, outs / "first", as_zip=False, stop_at="export_staged")
    wait_stopped(first, "export_staged")  # paused: its lease held, its staging complete
    try:
        _out, err = _finish(_export(case, outs / "second.zip", as_zip=True))
        assert "interrupted" not in err
        assert len(open_case(case).state().open_exports) == 1  # the paused one, left alone
        assert any(p.name.startswith(".first.") for p in outs.iterdir())
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _finish(first)
    assert _assert_settled(case, outs) == ["exported", "exported"]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    with postgres_server() as url:
        yield url


@pytest.mark.slow
@pytest.mark.postgres
def test_on_postgres_a_dead_export_is_closed_and_a_live_one_left_alone(
    tmp_path: Path, alice: Identity, pg_url: str
) -> None:
    """In team mode the lease is an advisory lock, held by the exporting process's session."""
    case = tmp_path / "case"
    handle = create_case(case, alice, title="Issue 13 on PostgreSQL", db_url=pg_url)
    tree = make_tree(tmp_path / "src", {"a.txt": b"alpha\n", "b.bin": os.urandom(3000)})
    run = CollectionRun(handle, alice, load_profile("none").with_paths([f"{tree}/**"]))
    assert run.execute().status == "finished"
    outs = tmp_path / "bundles"
    outs.mkdir()
    _kill_at(case, outs / "dead", "export_moved", as_zip=False)
    live = _export(case, outs / "live.zip", as_zip=True, stop_at="export_staged")
    wait_stopped(live, "export_staged")
    try:
        _out, err = _finish(_export(case, outs / "next", as_zip=False))
        assert "interrupted" not in err
        assert len(open_case(case).state().open_exports) == 1  # the live one, left alone
    finally:
        os.kill(live.pid, signal.SIGCONT)
    _out, err = _finish(live)
    assert "had put its bundle in place" in err  # the live one closed the dead one first
    assert _assert_settled(case, outs) == ["exported", "exported", "exported"]


# --------------------------------------------------------------------------- failures


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A tmpfs of ``request.param`` (a mount size) for the bundles."""
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a small tmpfs, and mounting one needs root")
    where = tmp_path / "small"
    _mount_tmpfs(where, request.param)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


#: The bundle of a case holding 1 MiB of random bytes takes about 1.2 MiB, its zip as much:
#: 256 KiB fills while staging, 1800 KiB while writing the zip beside the staged tree.
@pytest.mark.parametrize(
    ("as_zip", "small_disk"),
    [(False, "256k"), (True, "256k"), (True, "1800k")],
    ids=["dir-staging", "zip-staging", "zip-writing"],
    indirect=["small_disk"],
)
def test_a_full_disk_removes_the_staging_and_records_the_failure(
    collected_case: object, small_disk: Path, as_zip: bool
) -> None:
    handle, _r, _t = collected_case({"big.bin": os.urandom(1 << 20), "a.txt": b"a\n"})  # type: ignore[operator]
    out = small_disk / ("bundle.zip" if as_zip else "bundle")
    _out, err = _finish(_export(handle.root, out, as_zip=as_zip), code=7)
    assert "No space left on device" in err, err
    assert "removed the staging folder" in err and "recorded as entry" in err
    assert list(small_disk.iterdir()) == []
    failed = [ev for _s, ev in _events(handle.root) if isinstance(ev, ExportFailed)]
    assert len(failed) == 1 and not failed[0].recovered
    assert "No space left on device" in failed[0].reason and failed[0].staging_files
    assert _assert_settled(handle.root, small_disk) == ["failed"]


def test_a_failure_in_process_removes_the_staging_and_records_it(
    collected_case: object, alice: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.export_service as service

    handle, _r, _t = collected_case()  # type: ignore[operator]

    def full(path: Path, *_a: object, **_k: object) -> None:
        path.write_bytes(b"PK" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(service, "write_zip", full)
    out = tmp_path / "out" / "b.zip"
    out.parent.mkdir()
    with pytest.raises(ExportError, match=r"No space left on device.*removed the staging folder"):
        export_case(handle, alice, out, as_zip=True, bundle_id="b-1")
    assert list(out.parent.iterdir()) == []
    kinds = [type(ev) for _s, ev in _events(handle.root)][-2:]
    assert kinds == [ExportStarted, ExportFailed]
    [failed] = handle.state().failed_exports
    assert failed.event.staging == str(staging_path(out, "b-1"))
    assert failed.event.staging_files and failed.event.staging_files > 10


# --------------------------------------------------------------------------- recovery


def _open_export(handle: CaseHandle, alice: Identity, out: Path, **fields: str) -> ExportStarted:
    state = handle.state()
    started = ExportStarted(
        **{
            "bundle_id": "b-9",
            "generated_at": "2026-01-01T00:00:00.000000Z",
            "path": str(out),
            "format": "directory",
            "staging": str(staging_path(out, fields.get("bundle_id", "b-9"))),
            "host": socket.gethostname(),
            "ledger_entries": state.entries,
            "ledger_head": state.head,
            "verification": "verified",
            "findings": 0,
            **fields,
        }
    )
    handle.writer(alice).append(started)
    return started


def test_what_is_at_the_path_must_be_the_started_bundle(
    collected_case: object, alice: Identity, tmp_path: Path
) -> None:
    handle, _r, _t = collected_case()  # type: ignore[operator]
    other = export_case(handle, alice, tmp_path / "other")  # a real bundle, but another one
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x").write_text("not a bundle")
    _open_export(handle, alice, other.path, bundle_id="b-other")
    _open_export(handle, alice, junk, bundle_id="b-junk")
    staging = staging_path(junk, "b-junk")
    (staging / "bundle" / "evidence").mkdir(parents=True)
    (staging / "bundle" / "evidence" / "r.tar").write_bytes(b"\0" * 4096)
    done = {r.bundle_id: r for r in recover_exports(handle, alice)}
    assert {b: r.outcome for b, r in done.items()} == {"b-other": "failed", "b-junk": "failed"}
    assert "bundle_id" in done["b-other"].message  # its manifest names another bundle
    assert done["b-junk"].removed == (1, 4096) and not staging.exists()
    assert (junk / "x").read_text() == "not a bundle"  # what is at the path is left alone
    assert (other.path / "manifest.json").is_file()
    assert handle.state().open_exports == {}


def test_an_export_started_on_another_host_is_left_for_that_host(
    collected_case: object, alice: Identity, tmp_path: Path
) -> None:
    handle, _r, _t = collected_case()  # type: ignore[operator]
    _open_export(handle, alice, tmp_path / "b", host="elsewhere")
    [r] = recover_exports(handle, alice)
    assert r.outcome == "left" and "host elsewhere" in r.message and r.seq is None
    assert list(handle.state().open_exports) == ["b-9"]


def test_a_held_lease_means_the_export_is_alive(
    collected_case: object, alice: Identity, tmp_path: Path
) -> None:
    from app.lease import RunLeases

    handle, _r, _t = collected_case()  # type: ignore[operator]
    _open_export(handle, alice, tmp_path / "b")
    lease = RunLeases(handle).try_take(export_lease("b-9"))
    assert lease is not None
    try:
        assert recover_exports(handle, alice) == []
    finally:
        lease.release()
    [r] = recover_exports(handle, alice)
    assert r.outcome == "failed" and r.removed is None
    assert json.dumps(r.message)  # printable
