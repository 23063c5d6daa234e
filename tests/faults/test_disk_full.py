"""A full disk anywhere: evidence archive, database, WAL, export target (issue 13).

Each test mounts a small tmpfs (root only: CI runs as root) as the case's disk, or as part
of it, and runs the real ``chainproof collect`` as a process over a generated tree outside
it that is larger than the disk. Then, whatever filled first:

- the process ends with an exit code from the README's table and one line on stderr,
  never a traceback;
- no run stays ``running`` (except when even the seal could not be written: the message
  says so, and the next command seals it);
- the failed run's archive ends at its last recorded member and is read-only;
- once the disk has room again (the tmpfs is grown), ``chainproof verify CASE`` exits 0,
  ``chainproof export`` succeeds without ``--force``, and a later collection works and
  verifies.

The commands after the failed collection run in this process through ``app.cli.main``
(the CLI without its start-up). The default run sweeps ``CHAINPROOF_DISK_SIZES`` (2) sizes of
a single case disk, between one where little more than the run's seal reserve fits and one
where the archive fills in the middle of the run; the long run::

    CHAINPROOF_DISK_SIZES=10 .venv/bin/python -m pytest -q -p no:cacheprovider \\
        tests/faults/test_disk_full.py

which prints one line per size: where it filled, exit code, artifacts recorded. Without
root, the tests that mount a tmpfs skip (saying why); the one that fails an archive write
in this process runs anyway.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cases import create_case, open_case
from app.cli import main
from app.collection import CollectionRun
from app.profiles import load_profile
from app.reserve import SEAL_RESERVE
from app.stop_points import STOP_AT
from custody.errors import StoreError
from custody.record.fold import RunState
from custody.record.keys import Identity, save_identity
from custody.store.archive import RunArchive
from tests.conftest import PASSPHRASE
from tests.stopped import wait_stopped

CLI = [sys.executable, "-m", "app"]
MIB = 1 << 20
FILES = 1200  # about 31 MB: more than the largest disk of the sweep
#: Sizes of the single case disk swept (CHAINPROOF_DISK_SIZES=10 for the long run): from a
#: little more than the seal reserve to a disk that the archive fills in mid-run.
COUNT = max(2, int(os.environ.get("CHAINPROOF_DISK_SIZES", "2")))
LOW, HIGH = SEAL_RESERVE + MIB // 2, 18 * MIB
SIZES = [int(LOW * (HIGH / LOW) ** (i / (COUNT - 1))) // 4096 * 4096 for i in range(COUNT)]
#: Exit codes a full disk may end with (README): case or database error, evidence store
#: error, export error.
FULL_DISK_EXITS = {3, 4, 7}

needs_root = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None,
    reason="a small tmpfs as the case disk needs Linux and root (mount -t tmpfs)",
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files of 200 B to 30 KB, and one of 1 MB in every hundred (streamed, not in the ring)."""
    root = tmp_path_factory.mktemp("tree")
    rng = random.Random(13)
    for i in range(FILES):
        d = root / f"d{i % 15:02d}"
        d.mkdir(exist_ok=True)
        size = MIB if i % 100 == 50 else 200 + (i * 7919) % 30000
        (d / f"f{i:05d}").write_bytes(rng.randbytes(size))
    return root


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, alice_identity: Identity) -> Path:
    """An empty case, copied onto each disk (creating one per disk would double the time)."""
    root = tmp_path_factory.mktemp("template") / "case"
    handle = create_case(root, alice_identity, title="Disk full", incident_ref="INC-13")
    handle.sessions.kw["bind"].dispose()  # the last connection folds the WAL into case.db
    return root


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory, alice_identity: Identity) -> Path:
    """Alice's key file, saved once (600,000 PBKDF2 rounds take a while)."""
    path = tmp_path_factory.mktemp("key") / "identity.p12"
    save_identity(alice_identity, path, PASSPHRASE.encode())
    return path


@pytest.fixture
def alice(key_file: Path, chainproof_home: Path, alice_identity: Identity) -> Identity:
    """Alice as this test's examiner: her key file copied into its home."""
    shutil.copy(key_file, chainproof_home / "identity.p12")
    return alice_identity


@pytest.fixture(scope="module")
def collected(
    tmp_path_factory: pytest.TempPathFactory, template: Path, tree: Path, alice_identity: Identity
) -> Path:
    """A case with one finished run of about 6 MB, for the export tests to copy."""
    case = tmp_path_factory.mktemp("collected") / "case"
    shutil.copytree(template, case)
    handle = open_case(case)
    try:
        profile = load_profile("none").with_paths([f"{tree}/d0[0-4]/*"])
        assert CollectionRun(handle, alice_identity, profile).execute().status == "finished"
    finally:
        handle.sessions.kw["bind"].dispose()
    return case


@contextlib.contextmanager
def tmpfs(where: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted at ``where`` (created), unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        # Lazy: a connection this process still holds must not make the test fail here.
        subprocess.run(["umount", "-l", str(where)], check=False)


def grow(where: Path, size: int = 1 << 30) -> None:
    """Give the disk at ``where`` room again (its files stay)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(where)], check=True)


def collect(
    case: Path, *paths: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    args = [*CLI, "collect", str(case), "--profile", "none", "--json"]
    for p in paths:
        args += ["--path", p]
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=600,
        env=env if env is not None else _env(),
        check=False,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != STOP_AT}
    env.update(extra)
    return env


def one_line_failure(rc: int, err: str, codes: set[int] = FULL_DISK_EXITS) -> str:
    """Check a failed command's ending: a documented exit code, one line, no traceback."""
    assert "Traceback" not in err, err
    assert rc in codes, f"exit {rc}: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainproof: "), err
    return lines[0]


def runs(case: Path) -> list[RunState]:
    handle = open_case(case)
    try:
        return list(handle.state().runs.values())
    finally:
        handle.sessions.kw["bind"].dispose()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``chainproof ARGS`` in this process; exit code, stdout, stderr."""
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return rc, out, err


def check_failed_run(case: Path) -> RunState:
    """The case's one run ended (not ``running``), failed, with a reason that says why;
    its archive ends at its last recorded member and is read-only."""
    (run,) = runs(case)
    assert run.finished is not None, "the run was left running"
    end = run.finished.event
    assert run.status == "failed", (run.status, end.reason)
    assert "full" in end.reason, end.reason
    archive = case / run.archive
    assert archive.stat().st_mode & 0o777 == 0o444
    assert end.archive_size == archive.stat().st_size
    assert end.end_marker
    assert end.archive_size == run.recorded_end + 1024  # its last recorded member, then the end
    return run


def recovers(
    capsys: pytest.CaptureFixture[str], case: Path, tree: Path, where: Path, bundle: Path
) -> None:
    """With room again: a new run is taken (sealing a run left unsealed first), the case
    verifies and exports without --force."""
    grow(where)
    if any(r.finished is None for r in runs(case)):
        rc, out, err = cli(capsys, "recover", str(case))
        assert rc == 0, out + err
    rc, out, err = cli(capsys, "verify", str(case))
    assert rc == 0, out + err
    rc, out, err = cli(capsys, "export", str(case), "--out", str(bundle))
    assert rc == 0, out + err
    rc, out, err = cli(
        capsys, "collect", str(case), "--profile", "none", "--path", f"{tree}/d00/*", "--json"
    )
    assert rc == 0, out + err
    assert runs(case)[-1].status == "finished"
    rc, out, err = cli(capsys, "verify", str(case))
    assert rc == 0, out + err


def where_it_filled(err: str) -> str:
    if "could not be sealed" in err:
        return "seal"
    if "keeps" in err and "free there" in err:
        return "reserve"
    if "database" in err:
        return "database"
    if "evidence disk full" in err:
        return "archive"
    return "?"


# --------------------------------------------------------------------------- the sweep


@needs_root
@pytest.mark.parametrize("size", SIZES, ids=[f"{s // 1024}k" for s in SIZES])
def test_case_disk_fills(
    size: int,
    tree: Path,
    template: Path,
    alice: Identity,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The whole case on one small disk: the archive, case.db and its WAL compete."""
    with tmpfs(tmp_path / "disk", size) as disk:
        case = disk / "case"
        shutil.copytree(template, case)
        done = collect(case, f"{tree}/**")
        line = one_line_failure(done.returncode, done.stderr, {3, 4})
        filled = where_it_filled(line)
        if filled == "reserve":  # no room for the seal's reserve: refused, nothing recorded
            assert runs(case) == [] and not any((case / "evidence").iterdir())
            recorded = 0
        elif filled == "seal":  # even the seal did not fit: said so, and sealed next
            (run,) = runs(case)
            assert run.finished is None and "next 'chainproof collect'" in line, line
            recorded = run.artifacts
        else:
            run = check_failed_run(case)
            recorded = run.artifacts
            assert str(run.run_id) in line and "sealed as failed" in line, line
        recovers(capsys, case, tree, disk, tmp_path / "bundle")
        if "CHAINPROOF_DISK_SIZES" in os.environ:  # the long run prints what it saw
            with capsys.disabled():
                print(
                    f"\n  {size / MIB:5.1f} MiB: filled {filled}, exit {done.returncode}, "
                    f"{recorded} artifacts recorded; then verify 0, export 0, new run 0",
                    end="",
                )


# --------------------------------------------------------------------------- one place full


@needs_root
@pytest.mark.parametrize("reserve", [SEAL_RESERVE, 0], ids=["reserve", "no-reserve"])
def test_database_disk_fills_first(
    reserve: int,
    tree: Path,
    template: Path,
    alice: Identity,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """case.db and its WAL on a disk with room for the reserve and a quarter of a megabyte,
    the evidence on a large one: the database refuses a batch (1,000 entries or 1 s). With
    the reserve given back the seal records that batch; without one
    (``CHAINPROOF_SEAL_RESERVE=0``) the batch is dropped, the members it described are cut
    off, and the run's end says so."""
    with tmpfs(tmp_path / "disk", reserve + MIB // 4) as disk:
        case = disk / "case"
        shutil.copytree(template, case)
        with tmpfs(case / "evidence", 1 << 30):
            done = collect(case, f"{tree}/**", env=_env(CHAINPROOF_SEAL_RESERVE=str(reserve)))
            line = one_line_failure(done.returncode, done.stderr, {3})
            assert "database or disk is full" in line and "sealed as failed" in line, line
            run = check_failed_run(case)
            reason = run.finished.event.reason  # type: ignore[union-attr]
            assert reason.startswith("database error") and "database or disk is full" in reason
            if reserve:  # the batch the database refused is recorded by the seal
                assert run.artifacts > 0 and "could not be recorded" not in reason, reason
            else:
                assert "could not be recorded" in reason and "cut off" in reason, reason
            recovers(capsys, case, tree, disk, tmp_path / "bundle")


@needs_root
def test_evidence_disk_fills_first(
    tree: Path, template: Path, alice: Identity, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The evidence folder on a small disk of its own: the archive fills mid-run; members
    written after the last recorded one are cut off."""
    case = tmp_path / "case"
    shutil.copytree(template, case)
    with tmpfs(case / "evidence", 6 * MIB) as evidence:
        done = collect(case, f"{tree}/**")
        line = one_line_failure(done.returncode, done.stderr, {4})
        assert "evidence disk full" in line and "sealed as failed" in line, line
        run = check_failed_run(case)
        assert 0 < run.artifacts < FILES
        recovers(capsys, case, tree, evidence, tmp_path / "bundle")


@needs_root
def test_no_room_for_the_seal_reserve(
    tree: Path, template: Path, alice: Identity, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A disk with less free room than the seal's reserve: the run is refused before anything
    is recorded (exit 4); no run, no archive."""
    with tmpfs(tmp_path / "disk", SEAL_RESERVE // 2) as disk:
        case = disk / "case"
        shutil.copytree(template, case)
        done = collect(case, f"{tree}/**")
        line = one_line_failure(done.returncode, done.stderr, {4})
        assert "is full" in line, line
        assert runs(case) == []
        assert not any((case / "evidence").iterdir())
        recovers(capsys, case, tree, disk, tmp_path / "bundle")


@needs_root
def test_a_seal_that_cannot_be_written_is_made_by_the_next_command(
    tree: Path, template: Path, alice: Identity, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The disk is filled to the last byte just before ``run_finished`` (the process stopped
    after closing its archive): the run cannot be sealed. The message says so and that the
    next command seals it (exit 3); the next collection does, from what is recorded."""
    with tmpfs(tmp_path / "disk", 16 * MIB) as disk:
        case = disk / "case"
        shutil.copytree(template, case)
        proc = subprocess.Popen(
            [
                *CLI,
                "collect",
                str(case),
                "--profile",
                "none",
                "--path",
                f"{tree}/d0[0-2]/*",
                "--no-progress",  # stderr is then only the failure, checked to be one line
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(**{STOP_AT: "archive_closed"}),
        )
        try:
            wait_stopped(proc, "its stop point")
            _fill(disk / "ballast")
        finally:
            os.kill(proc.pid, signal.SIGCONT)
            _, err = proc.communicate(timeout=300)
        line = one_line_failure(proc.returncode, err, {3})
        assert "could not be sealed" in line and "database or disk is full" in line, line
        assert "next 'chainproof collect'" in line, line
        (run,) = runs(case)
        assert run.finished is None  # the one state a full disk may leave: said, and sealed next
        archive = case / run.archive
        assert archive.stat().st_mode & 0o777 == 0o444
        (disk / "ballast").unlink()
        grow(disk)
        done = collect(case, f"{tree}/d00/*")  # the next command seals it
        assert done.returncode == 0, done.stderr
        first = runs(case)[0]
        assert first.status == "recovered" and first.artifacts == run.artifacts
        rc, out, err = cli(capsys, "verify", str(case))
        assert rc == 0, out + err


def _fill(path: Path) -> None:
    """Write ``path`` until its disk has not one byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for chunk in (b"\0" * MIB, b"\0" * 4096, b"\0"):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- export target


@needs_root
@pytest.mark.parametrize(("fraction", "fmt"), [(0.5, "dir"), (0.9, "zip")])
def test_export_target_fills(
    fraction: float,
    fmt: str,
    collected: Path,
    alice: Identity,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``export --out`` onto a disk too small for the bundle: a one-line failure (exit 7),
    nothing left on that disk, the case still verifies, and the export then succeeds."""
    case = tmp_path / "case"
    shutil.copytree(collected, case)
    size = sum((case / r.archive).stat().st_size for r in runs(case))
    zipped = ["--zip"] if fmt == "zip" else []
    name = "bundle.zip" if zipped else "bundle"
    with tmpfs(tmp_path / "target", int(size * fraction) // 4096 * 4096) as target:
        rc, out, err = cli(capsys, "export", str(case), "--out", str(target / name), *zipped)
        one_line_failure(rc, err, {7})
        left = sorted(p.name for p in target.iterdir())
        assert left == [], f"left on the export disk: {left}"
        rc, out, err = cli(capsys, "verify", str(case))
        assert rc == 0, out + err
        grow(target)
        rc, out, err = cli(capsys, "export", str(case), "--out", str(target / name), *zipped)
        assert rc == 0, out + err
        rc, out, err = cli(capsys, "verify", str(target / name))
        assert rc == 0, out + err


# --------------------------------------------------------------------------- no root needed


def test_members_lost_with_a_failed_write_are_never_recorded(
    tree: Path,
    template: Path,
    alice: Identity,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first write of the archive fails (disk full): it held members already handed
    to the ledger's queue (the system record). Their entries are dropped, not written: the
    run's end says so, and the case verifies."""
    case = tmp_path / "case"
    shutil.copytree(template, case)
    real = RunArchive._write
    failed: list[int] = []

    def write(self: RunArchive, data: bytes, *, feed: bool = True, stable: bool = True) -> None:
        if not failed:
            failed.append(len(data))
            raise self._fail(OSError(errno.ENOSPC, "No space left on device"), self.offset)
        real(self, data, feed=feed, stable=stable)

    monkeypatch.setattr(RunArchive, "_write", write)
    handle = open_case(case)
    profile = load_profile("none").with_paths([f"{tree}/d00/*"])
    try:
        with pytest.raises(StoreError, match=r"evidence disk full.*sealed as failed") as caught:
            CollectionRun(handle, alice, profile).execute()
    finally:
        handle.sessions.kw["bind"].dispose()
    assert failed and "Traceback" not in str(caught.value)
    (run,) = runs(case)
    assert run.status == "failed" and run.artifacts == 0
    assert "could not be recorded" in run.finished.event.reason  # type: ignore[union-attr]
    assert (case / run.archive).stat().st_size == 1024  # nothing recorded: the end blocks only
    rc, out, err = cli(capsys, "verify", str(case))
    assert rc == 0, out + err
