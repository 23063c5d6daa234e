"""Team mode under fire: four writers on one PostgreSQL case, one SIGKILLed inside a
transaction (issue 13).

Real ``chainproof`` processes write at once: two collections of different trees, one
looping ``chainproof note`` and one looping ``chainproof transfer`` (Alice to Bob and back,
each signed by both). The first collection runs with ``CHAINPROOF_STOP_AT=ledger_tx``
(:data:`custody.db.ledger.STOP_AT`): it stops itself inside each ledger transaction, after
its rows are written and before the commit, holding the case's lock. The test lets it go on
until its ``KILL_AT``-th transaction (a batch of artifacts in the middle of its run) and
SIGKILLs it there. Then the chain is linear, every entry a surviving process reported is
there, the killed run keeps exactly what it had committed (its open batch left nothing),
every bulk entry lies in a batch closed by a signed checkpoint, the next collection recovers
the killed run, and ``chainproof verify CASE`` exits 0.

``CHAINPROOF_TEAM_ROUNDS=N`` repeats the whole scenario N times on new cases (one by
default); ``CHAINPROOF_TEAM_KILL_AT=K`` kills at another transaction::

    CHAINPROOF_TEAM_ROUNDS=10 .venv/bin/python -m pytest -q tests/faults/test_team_writers.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.cases import create_case, open_case
from custody.db.ledger import STOP_AT, read_entries
from custody.record.entry import GENESIS_HASH, Entry
from custody.record.events import (
    ArtifactCollected,
    Checkpoint,
    CollectionProblem,
    Note,
    Transferred,
    parse,
)
from custody.record.keys import Identity, save_identity
from tests.conftest import PASSPHRASE
from tests.pg_server import pg_bin, postgres_server

pytestmark = pytest.mark.postgres

if pg_bin() is None and os.environ.get("CI") != "true":
    pytest.skip(
        "PostgreSQL server binaries not installed (scripts/setup.sh --dev installs them)",
        allow_module_level=True,
    )

CLI = [sys.executable, "-m", "app"]
ROUNDS = int(os.environ.get("CHAINPROOF_TEAM_ROUNDS", "1"))
#: The killed collection's transactions: 1 is run_started, 2 and on its batches of
#: artifacts (1,000 entries or 1 s each), the last two its run end.
KILL_AT = int(os.environ.get("CHAINPROOF_TEAM_KILL_AT", "3"))
FILES = {"a": 2500, "b": 2000}
#: Each looping writer makes at least this many acts, and goes on while a collection runs.
MIN_ACTS = 2


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    made = {}
    for name, count in FILES.items():
        root = made[name] = tmp_path_factory.mktemp(f"tree-{name}")
        for i in range(count):
            d = root / f"d{i % 25:02d}"
            d.mkdir(exist_ok=True)
            (d / f"{name}{i:04d}").write_bytes(os.urandom(64 + (i * 53) % 2000))
    return made


@dataclass
class Loop:
    """A writer that runs one command after another and keeps what each reported."""

    name: str
    reported: list[tuple[int, str]] = field(default_factory=list)  # (seq, what was asked)
    failures: list[str] = field(default_factory=list)
    busy: bool = False  # a command of this writer is running


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != STOP_AT}
    env["CHAINPROOF_TO_PASSPHRASE"] = PASSPHRASE
    env.update(extra)
    return env


def _popen(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _loop(
    loop: Loop, commands: Iterator[tuple[list[str], dict[str, str], str]], go_on: threading.Event
) -> None:
    """Run ``commands`` one after another while ``go_on`` is set (at least MIN_ACTS)."""
    for done, (args, env, what) in enumerate(commands):
        if done >= MIN_ACTS and not go_on.is_set():
            return
        loop.busy = True
        proc = _popen(args, env)
        out, err = proc.communicate(timeout=300)
        loop.busy = False
        found = re.search(r"ledger entry (\d+)", out)
        if proc.returncode != 0 or "Traceback" in err or found is None:
            loop.failures.append(f"{args[0]} exited {proc.returncode}\n{out}\n{err}")
            return
        loop.reported.append((int(found[1]), what))


def _notes(case: Path) -> Iterator[tuple[list[str], dict[str, str], str]]:
    for i in range(10**6):
        text = f"team note {i}"
        yield ["note", str(case), text], _env(), text


def _transfers(
    case: Path, homes: dict[str, Path]
) -> Iterator[tuple[list[str], dict[str, str], str]]:
    for i in range(10**6):
        giver, taker = ("alice", "bob") if i % 2 == 0 else ("bob", "alice")
        reason = f"hand-over {i} from {giver} to {taker}"
        args = ["transfer", str(case), "--to", str(homes[taker] / "identity.p12")]
        args += ["--reason", reason, "--location", "evidence room"]
        yield args, _env(CHAINPROOF_HOME=str(homes[giver])), reason


def _step_to_kill(proc: subprocess.Popen[str], case: Path) -> dict[int, str]:
    """Let ``proc`` run through its ledger transactions until the KILL_AT-th; SIGKILL it
    there, inside the transaction. What the ledger held (seq: entry hash) at that instant."""
    for tx in range(1, KILL_AT + 1):
        while True:
            pid, status = os.waitpid(proc.pid, os.WUNTRACED)
            if pid == proc.pid:
                break
        if not os.WIFSTOPPED(status):
            proc.returncode = os.waitstatus_to_exitcode(status)
            out, err = proc.communicate()
            raise AssertionError(f"the collection ended before transaction {tx}:\n{out}\n{err}")
        if tx < KILL_AT:
            os.kill(proc.pid, signal.SIGCONT)
    held = {e.seq: e.entry_hash for e in _entries(case)}
    proc.kill()  # SIGKILL: inside its open transaction, holding the case's lock
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    return held


def _entries(case: Path) -> list[Entry]:
    handle = open_case(case)
    try:
        return list(read_entries(handle.sessions, handle.case_id))
    finally:
        handle.sessions.kw["bind"].dispose()


def _collect(case: Path, tree: Path | None, env: dict[str, str]) -> subprocess.Popen[str]:
    args = ["collect", str(case), "--profile", "none", "--json"]
    if tree is not None:
        args += ["--path", f"{tree}/**"]
    return _popen(args, env)


def _finished(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err, f"{proc.args!r}\n{out}\n{err}"
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def _round(
    root: Path, alice: Identity, homes: dict[str, Path], trees: dict[str, Path], pg_url: str
) -> str:
    case = create_case(root, alice, title="Team under fire", db_url=pg_url).root
    go_on = threading.Event()
    go_on.set()
    notes, transfers = Loop("notes"), Loop("transfers")
    loops = [
        threading.Thread(target=_loop, args=(notes, _notes(case), go_on)),
        threading.Thread(target=_loop, args=(transfers, _transfers(case, homes), go_on)),
    ]
    victim = _collect(case, trees["a"], _env(**{STOP_AT: "ledger_tx"}))
    other = _collect(case, trees["b"], _env())
    for t in loops:
        t.start()
    try:
        held = _step_to_kill(victim, case)
        # Who else was writing at the kill, for the report.
        at_kill = [w.name for w in (notes, transfers) if w.busy]
        at_kill += ["the other collection"] * (other.poll() is None)
        survivor = _finished(other)
    finally:
        go_on.clear()
        for t in loops:
            t.join(300)
        for proc in (victim, other):  # only when something failed on the way
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert notes.failures == [] and transfers.failures == []
    assert len(notes.reported) >= MIN_ACTS and len(transfers.reported) >= MIN_ACTS

    state = open_case(case).state()
    [killed] = [r for r in state.runs.values() if r.finished is None]
    assert killed.started.event.pid == victim.pid  # the run the kill cut, without its end
    entries = _entries(case)
    by_seq = {e.seq: e for e in entries}

    # Linear: seq 1..N, each entry naming the one before.
    prev = GENESIS_HASH
    for n, e in enumerate(entries, start=1):
        assert (e.seq, e.prev_hash) == (n, prev)
        prev = e.entry_hash
    # Nothing committed before the kill changed or went away.
    assert {s: by_seq[s].entry_hash for s in held if s in by_seq} == held

    # The killed run keeps exactly what it had committed: its open batch left nothing.
    def run_of(e: Entry) -> str | None:
        ev = parse(e)
        return ev.run_id if isinstance(ev, ArtifactCollected | CollectionProblem) else None

    killed_after = {e.seq for e in entries if run_of(e) == killed.run_id}
    killed_before = {s for s in held if run_of(by_seq[s]) == killed.run_id}
    assert killed_after == killed_before
    artifacts = [s for s in killed_after if parse(by_seq[s]).EVENT == ArtifactCollected.EVENT]
    assert killed.artifacts == len(artifacts) > 0  # it had committed a batch before
    # Every bulk entry lies in a batch closed by a signed checkpoint: batches are whole.
    covered: set[int] = set()
    for e in entries:
        ev = parse(e)
        if isinstance(ev, Checkpoint):
            assert e.signatures
            covered |= set(range(ev.covers_from, ev.covers_to + 1))
    assert {e.seq for e in entries if run_of(e) is not None} <= covered
    # Every act a surviving writer reported is there, as reported.
    for seq, text in notes.reported:
        ev = parse(by_seq[seq])
        assert isinstance(ev, Note) and ev.text == text
    for seq, reason in transfers.reported:
        ev = parse(by_seq[seq])
        assert isinstance(ev, Transferred) and ev.reason == reason
        assert len(by_seq[seq].signatures) == 2
    run = state.runs[str(survivor["run_id"])]
    assert run.status == "finished" and run.artifacts == survivor["artifacts"]
    assert run.artifacts > FILES["b"]  # its files and the system facts

    # The next collection recovers the killed run; the case verifies.
    _finished(_collect(case, None, _env()))
    after = open_case(case).state()
    assert after.runs[killed.run_id].status == "recovered"
    assert after.runs[killed.run_id].artifacts == killed.artifacts
    assert after.problems == []
    verify = _popen(["verify", str(case)], _env())
    out, err = verify.communicate(timeout=300)
    assert verify.returncode == 0 and "Traceback" not in err, f"{out}\n{err}"
    return (
        f"running at the kill: {', '.join(at_kill) or 'no other writer'}; "
        f"{len(after.runs)} runs, killed run kept {killed.artifacts} artifacts, "
        f"{len(notes.reported)} notes, {len(transfers.reported)} transfers, "
        f"{after.head_seq} entries"
    )


def test_four_writers_one_killed_inside_a_transaction(
    tmp_path: Path,
    alice: Identity,
    bob_identity: Identity,
    chainproof_home: Path,
    trees: dict[str, Path],
    pg_url: str,
) -> None:
    bob_home = tmp_path / "bob-home"
    bob_home.mkdir()
    save_identity(bob_identity, bob_home / "identity.p12", PASSPHRASE.encode())
    homes = {"alice": chainproof_home, "bob": bob_home}
    for i in range(ROUNDS):
        began = time.monotonic()
        said = _round(tmp_path / f"case{i}", alice, homes, trees, pg_url)
        print(f"round {i}: {said} ({time.monotonic() - began:.1f} s)")
