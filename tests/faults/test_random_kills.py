"""SIGKILL at random moments of ``collect``, ``export`` and ``verify --sign`` (issue 13).

Real ``chainproof`` processes (``python -m app``) are killed with SIGKILL after a seeded
random delay within the measured length of an unkilled run of the same command (for a
collection: half the kills within its start-up, half within its run, from its committed
``run_started`` to its ``run_finished``; six kills a case, then a new case). Just before the
kill the process is frozen (SIGSTOP) and what the ledger claims at that instant is noted.
After every second kill the command runs to its end: it recovers what the kills left (the
second kill may have hit the recovery of the first), and its length is the window of the
next kills. Every artifact entry the ledger
ever claimed stays, unchanged (so its digests too), and each run a kill cut is recovered
with exactly the artifacts it had committed; nothing is left beside a bundle's ``--out``
after the next export, every bundle on disk verifies and has its ``exported`` entry; the
ledger stays linear; ``chainproof verify CASE`` exits 0; no command writes a traceback.

The default run makes ``CHAINPROOF_KILLS`` kills of each command (4); the documented long
run is::

    CHAINPROOF_KILLS=50 .venv/bin/python -m pytest -q tests/faults/test_random_kills.py

``CHAINPROOF_KILL_SEED`` picks another sequence of moments (the seed is printed on failure).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.cases import create_case, open_case
from app.collection import CollectionRun
from app.profiles import load_profile
from app.verification import verify_target
from custody.db.ledger import STOP_AT, read_entries
from custody.record.entry import GENESIS_HASH
from custody.record.events import (
    ArtifactCollected,
    Exported,
    RunFinished,
    RunStarted,
    Verified,
    parse,
)
from custody.record.keys import Identity
from tests.app.conftest import make_tree

CLI = [sys.executable, "-m", "app"]
KILLS = int(os.environ.get("CHAINPROOF_KILLS", "4"))
SEED = int(os.environ.get("CHAINPROOF_KILL_SEED", "20261213"))
FILES = 2000  # a run of a few batches (1,000 entries or 1 s each)
#: Kills of collections on one case; then a new case. Every command's start-up folds the
#: whole ledger, so on a case that only grows, start-up would become most of every run.
ROUND = 6


@dataclass(frozen=True)
class Claim:
    """An artifact entry as the ledger held it at some instant."""

    entry_hash: str
    member: str
    sha256: str
    path: str | None


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    rng = random.Random(1)
    for i in range(FILES):
        d = root / f"d{i % 15:02d}"
        d.mkdir(exist_ok=True)
        (d / f"f{i:04d}").write_bytes(rng.randbytes(64 + (i * 37) % 3000))
    return root


def _start(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != STOP_AT}
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _done(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for ``proc``; its exit code and output, after checking it wrote no traceback."""
    out, err = proc.communicate(timeout=300)
    assert "Traceback" not in err, f"seed {SEED}: {proc.args!r}\n{err}"
    return proc.returncode, out, err


def _run(*args: str) -> str:
    rc, out, err = _done(_start(*args))
    assert rc == 0, f"seed {SEED}: chainproof {' '.join(args)} exited {rc}\n{out}\n{err}"
    return out


def _head(case: Path) -> int:
    handle = open_case(case)
    try:
        return handle.state().head_seq
    finally:
        handle.sessions.kw["bind"].dispose()


def _wait_for(
    case: Path, after: int, proc: subprocess.Popen[str], event: str, run_id: str | None = None
) -> tuple[float, str | None]:
    """Wait until an ``event`` entry after entry ``after`` is committed (of run ``run_id``,
    if given) or ``proc`` ended: the time then, and the run the entry names."""
    handle = open_case(case)
    try:
        while proc.poll() is None:
            for entry in read_entries(handle.sessions, handle.case_id, events=[event], after=after):
                ev = parse(entry)
                named = ev.run_id if isinstance(ev, RunStarted | RunFinished) else None
                if run_id is None or named == run_id:
                    return time.monotonic(), named
            time.sleep(0.01)
        return time.monotonic(), None
    finally:
        handle.sessions.kw["bind"].dispose()


def _timed_collect(case: Path, *args: str) -> tuple[float, float]:
    """Run a collection to its end: the seconds of its start-up (until its ``run_started``
    was committed) and of its run (until its ``run_finished`` was)."""
    seen = _head(case)
    began = time.monotonic()
    proc = _start(*args)
    started, run_id = _wait_for(case, seen, proc, RunStarted.EVENT)
    finished, _ = _wait_for(case, seen, proc, RunFinished.EVENT, run_id)
    rc, out, err = _done(proc)
    assert rc == 0 and run_id is not None, f"seed {SEED}: {args} exited {rc}\n{out}\n{err}"
    return started - began, finished - started


def _timed(*args: str) -> float:
    began = time.monotonic()
    _run(*args)
    return time.monotonic() - began


def _fractions(salt: int) -> list[float]:
    """``KILLS`` random points of a run (0 its start, 1 its end), one in each of ``KILLS``
    equal slices, in random order: start-up, the work and the end all get hit."""
    rng = random.Random(SEED + salt)
    slices = list(range(KILLS))
    rng.shuffle(slices)
    return [(i + rng.random()) / KILLS for i in slices]


def _collect_moments() -> list[tuple[int, float]]:
    """``KILLS`` random moments of a collection: half (phase 0) in its start-up (opening the
    case, unlocking the key, recovering the runs before) as a fraction of its measured
    length from the process's start, half (phase 1) in its run as a fraction of the run's
    measured length from its committed ``run_started``, until ``run_finished``; each half
    stratified as in
    :func:`_fractions`. Start-up is most of a short collection, and its length varies with
    the load and the case; the run is where artifacts are claimed."""
    rng = random.Random(SEED)
    moments = []
    for phase in (0, 1):
        n = (KILLS + 1 - phase) // 2
        moments += [(phase, (j + rng.random()) / n) for j in range(n)]
    rng.shuffle(moments)
    return moments


def _completes_after(i: int, kills: int = KILLS) -> bool:
    """A command runs to its end after every second kill and after the last: it recovers
    what the kills left (the kill between may land in the recovery of the one before), and
    its duration is the window of the next kills (it grows with the case and the load)."""
    return i % 2 == 1 or i == kills - 1


def _kill_at(
    proc: subprocess.Popen[str], at: float, note: Callable[[], None] | None = None
) -> bool:
    """SIGKILL ``proc`` at monotonic time ``at``. It is frozen first (SIGSTOP), so ``note``
    reads the case as the kill leaves it. False when the command ended before (then it
    must have succeeded)."""
    time.sleep(max(0.0, at - time.monotonic()))
    if proc.poll() is None:  # not reaped: the PID is still this process
        os.kill(proc.pid, signal.SIGSTOP)
        while True:
            pid, status = os.waitpid(proc.pid, os.WUNTRACED)
            if pid and os.WIFSTOPPED(status):
                if note is not None:
                    note()
                proc.kill()
                _done(proc)
                return True
            if pid:  # it ended between the check and the signal
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
    rc, out, err = _done(proc)
    assert rc == 0, f"seed {SEED}: {proc.args!r} exited {rc}\n{out}\n{err}"
    return False


def _artifacts(case: Path) -> dict[int, Claim]:
    handle = open_case(case)
    try:
        claims = {}
        for entry in read_entries(
            handle.sessions, handle.case_id, events=[ArtifactCollected.EVENT]
        ):
            ev = parse(entry)
            assert isinstance(ev, ArtifactCollected)
            path = ev.source.path if ev.source else None
            claims[entry.seq] = Claim(entry.entry_hash, ev.member.name, ev.digests.sha256, path)
        return claims
    finally:
        handle.sessions.kw["bind"].dispose()


def _linear(case: Path) -> int:
    """Check that the ledger is one chain: seq 1..N, each entry naming the one before."""
    handle = open_case(case)
    try:
        prev, n = GENESIS_HASH, 0
        for n, entry in enumerate(read_entries(handle.sessions, handle.case_id), start=1):
            assert entry.seq == n, f"seed {SEED}: entry {entry.seq} where {n} was expected"
            assert entry.prev_hash == prev, f"seed {SEED}: entry {n} does not chain"
            prev = entry.entry_hash
        return n
    finally:
        handle.sessions.kw["bind"].dispose()


def _verified_by_cli(case: Path) -> None:
    rc, out, err = _done(_start("verify", str(case)))
    assert rc == 0, f"seed {SEED}: verify exited {rc}\n{out}\n{err}"


def _small_case(root: Path, who: Identity) -> Path:
    """A case with one finished run over a small tree (made in this process: fast)."""
    src = make_tree(
        root / "src", {f"d{i % 3}/f{i:02d}": os.urandom(200 + 50 * i) for i in range(12)}
    )
    case = create_case(root / "case", who, title="Random kills", incident_ref="INC-13")
    profile = load_profile("none").with_paths([f"{src}/**"])
    assert CollectionRun(case, who, profile).execute().status == "finished"
    case.sessions.kw["bind"].dispose()
    return case.root


@dataclass
class Cuts:
    """What the kills of collections did, over all rounds."""

    killed: int = 0
    #: For each kill inside a run: the artifacts the run had committed.
    in_run: list[int] = field(default_factory=list)
    claimed: int = 0
    entries: list[int] = field(default_factory=list)


def _kill_collections(case: Path, tree: Path, moments: list[tuple[int, float]], cuts: Cuts) -> None:
    """Kill a collection into ``case`` at each of ``moments`` (see :func:`_collect_moments`)."""
    collect = ("collect", str(case), "--profile", "none", "--json", "--path", f"{tree}/**")
    lengths = _timed_collect(case, *collect)  # of start-up and run, measured again below
    claimed: dict[int, Claim] = {}
    cut: dict[str, int] = {}  # run cut by a kill: the artifacts it had committed

    def note() -> None:
        claimed.update(_artifacts(case))
        runs = open_case(case).state().runs
        cut.update((r, runs[r].artifacts) for r in set(runs) - known if not runs[r].finished)

    for i, (phase, fraction) in enumerate(moments):
        known = set(open_case(case).state().runs)
        seen = _head(case)
        proc = _start(*collect)
        began = _wait_for(case, seen, proc, RunStarted.EVENT)[0] if phase else time.monotonic()
        cuts.killed += _kill_at(proc, began + fraction * lengths[phase], note)
        now = _artifacts(case)
        assert {s: c for s, c in claimed.items() if now.get(s) != c} == {}, f"seed {SEED}"
        if _completes_after(i, len(moments)):
            lengths = _timed_collect(case, *collect)
            runs = open_case(case).state().runs
            assert all(r.finished for r in runs.values()), f"seed {SEED}, kill {i}"
            # Each run a kill cut is recovered with exactly what it had committed.
            kept = {r: (runs[r].status, runs[r].artifacts) for r in cut}
            assert kept == {r: ("recovered", n) for r, n in cut.items()}, f"seed {SEED}"
    now = _artifacts(case)
    assert {s: c for s, c in claimed.items() if now.get(s) != c} == {}, f"seed {SEED}"
    for claim in claimed.values():  # what was claimed is what the source holds
        if claim.path is not None:  # else a volatile record (system facts)
            assert hashlib.sha256(Path(claim.path).read_bytes()).hexdigest() == claim.sha256
    state = open_case(case).state()
    assert state.problems == []
    cuts.entries.append(_linear(case))
    _verified_by_cli(case)
    cuts.in_run += cut.values()
    cuts.claimed += len(claimed)


def test_collect_killed_at_random_moments(tmp_path: Path, alice: Identity, tree: Path) -> None:
    moments, cuts = _collect_moments(), Cuts()
    for n, first in enumerate(range(0, KILLS, ROUND)):
        case = create_case(tmp_path / f"case{n}", alice, title="Random kills").root
        _kill_collections(case, tree, moments[first : first + ROUND], cuts)
    print(
        f"collect: {cuts.killed} of {KILLS} killed, {len(cuts.in_run)} inside a run "
        f"(artifacts committed then: {sorted(cuts.in_run)}), {cuts.claimed} claimed "
        f"artifacts kept; cases of {cuts.entries} entries"
    )


def test_export_killed_at_random_moments(tmp_path: Path, alice: Identity) -> None:
    case = _small_case(tmp_path, alice)
    out = tmp_path / "bundles"
    out.mkdir()
    window = _timed("export", str(case), "--out", str(out / "b0"))
    names = {"b0"}
    left: list[str] = []
    killed = 0
    for i, fraction in enumerate(_fractions(1)):
        ext, zipped = (".zip", ("--zip",)) if i % 2 else ("", ())
        proc = _start("export", str(case), "--out", str(out / f"k{i}{ext}"), *zipped)
        killed += _kill_at(proc, time.monotonic() + fraction * window)
        names.add(f"k{i}{ext}")
        if _completes_after(i):
            window = _timed("export", str(case), "--out", str(out / f"n{i}{ext}"), *zipped)
            names.add(f"n{i}{ext}")
            # Whatever the killed exports left beside their --out, the next export removed.
            left += [f"after kill {i}: {p.name}" for p in out.iterdir() if p.name not in names]
    bundles = sorted(p for p in out.iterdir() if p.name in names)
    broken = [f"{b.name}: {r.render()}" for b in bundles if not (r := verify_target(b)).ok]
    handle = open_case(case)
    recorded = set()
    for entry in read_entries(handle.sessions, handle.case_id, events=[Exported.EVENT]):
        ev = parse(entry)
        assert isinstance(ev, Exported)
        recorded.add(ev.path)
    unrecorded = [b.name for b in bundles if str(b) not in recorded]
    _linear(case)
    _verified_by_cli(case)
    print(
        f"export: {killed} of {KILLS} killed, {len(bundles)} bundles on disk; "
        f"last export {window:.1f} s"
    )
    assert left == [], f"seed {SEED}: left beside --out after the next export: {left}"
    assert broken == [], f"seed {SEED}: bundles that do not verify: {broken}"
    assert unrecorded == [], f"seed {SEED}: bundles on disk without their exported entry"


def test_verify_sign_killed_at_random_moments(tmp_path: Path, alice: Identity) -> None:
    case = _small_case(tmp_path, alice)
    window = _timed("verify", str(case), "--sign")
    killed = completed = 0
    for i, fraction in enumerate(_fractions(2)):
        proc = _start("verify", str(case), "--sign")
        killed += _kill_at(proc, time.monotonic() + fraction * window)
        _linear(case)
        assert open_case(case).state().problems == [], f"seed {SEED}, kill {i}"
        if _completes_after(i):
            window = _timed("verify", str(case), "--sign")
            completed += 1
    _linear(case)
    _verified_by_cli(case)
    handle = open_case(case)
    signed = list(read_entries(handle.sessions, handle.case_id, events=[Verified.EVENT]))
    # One from each command that ended, and from each killed after its commit.
    assert 1 + completed + KILLS - killed <= len(signed) <= 1 + completed + KILLS
    print(f"verify --sign: {killed} of {KILLS} killed, {len(signed)} signed entries")


def test_opening_a_case_again_keeps_its_database_locks(tmp_path: Path, alice: Identity) -> None:
    """Found by the kills above: ``open_case`` read the header of case.db with a plain open
    and close, which drops every POSIX lock this process holds on the file, SQLite's too. A
    second handle of the case (``chainproof verify`` opens it twice) left the first one's
    connection unlocked, and another process closing its last connection then deleted the
    WAL under it (sqlite.org/howtocorrupt.html, 2.2): lost commits, a malformed database."""
    case = create_case(tmp_path / "case", alice, title="Two handles").root
    first = open_case(case)
    first.state()  # its connection stays open in the pool, holding SQLite's shared lock
    second = open_case(case)
    _run("note", str(case), "written by another process")
    assert (case / "case.db-wal").exists()  # the other process saw this one's lock
    assert second.state().head_seq == first.state().head_seq == 3
