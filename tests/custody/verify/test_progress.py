"""Progress and cancellation of a verification (issue 14 item 3, issue 16 item 6): a real
case with a few MiB of archives, verified through the service the CLI and the GUI use."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from app.cases import CaseHandle, create_case
from app.collection import CollectionRun
from app.verification import verify_case, verify_target
from collectors.profiles import load_profile
from custody.db.ledger import head
from custody.errors import Cancelled
from custody.record.keys import Identity
from custody.verify.progress import Monitor

MIB = 1 << 20


def _collect(case: CaseHandle, alice: Identity, src: Path, files: int, size: int) -> None:
    src.mkdir(parents=True)
    for i in range(files):
        (src / f"f{i}.bin").write_bytes(os.urandom(size))
    profile = load_profile("none").with_paths([f"{src}/**"])
    assert CollectionRun(case, alice, profile).execute().status == "finished"


@pytest.fixture
def big_case(tmp_path: Path, alice: Identity) -> CaseHandle:
    """Two runs, about 3 MiB and 2 MiB of archives."""
    case = create_case(tmp_path / "case", alice, title="Progress")
    _collect(case, alice, tmp_path / "one", 3, MIB)
    _collect(case, alice, tmp_path / "two", 4, MIB // 2)
    return case


def _archive_bytes(case: CaseHandle) -> int:
    return sum(p.stat().st_size for p in (case.root / "evidence").iterdir())


def _snapshot(case: CaseHandle) -> dict[str, bytes]:
    return {
        str(p.relative_to(case.root)): p.read_bytes()
        for p in sorted(case.root.rglob("*"))
        if p.is_file() and not p.name.endswith(("-journal", "-wal", "-shm"))
    }


def test_progress_rises_to_the_total_in_each_phase(big_case: CaseHandle) -> None:
    """Every update heard (no rate limit): across both runs' archives, ``done`` never goes
    back and ends at the sum of the archives' sizes."""
    calls: list[tuple[str, int, int]] = []
    report = verify_case(big_case, monitor=Monitor(lambda *c: calls.append(c), interval=0))
    assert report.ok, report.render()
    phases = [p for p, _, _ in calls]
    assert phases == sorted(phases, key=["ledger", "archives"].index)  # ledger, then archives
    total = _archive_bytes(big_case)
    assert total > 4 * MIB
    for phase, expected in (
        ("ledger", head(big_case.sessions, big_case.case_id)[0]),
        ("archives", total),
    ):
        mine = [(d, t) for p, d, t in calls if p == phase]
        done = [d for d, _ in mine]
        assert done == sorted(done), (phase, done)  # never goes back
        assert {t for _, t in mine} == {expected}
        assert mine[0][0] == 0 and mine[-1] == (expected, expected)
    assert len([p for p in phases if p == "archives"]) >= 5  # a call per MiB read


def test_progress_calls_are_rate_limited(big_case: CaseHandle) -> None:
    """Each 1 MiB block offers an update; the callback hears at most one per interval."""
    times = iter(range(0, 10_000))
    heard: list[tuple[str, int, int]] = []
    monitor = Monitor(lambda *c: heard.append(c), interval=1000.0, clock=lambda: next(times))
    verify_case(big_case, monitor=monitor)
    # start and end of each phase only: the clock never moved 1000 "seconds" in between
    assert [(p, d == t) for p, d, t in heard] == [
        ("ledger", False),
        ("ledger", True),
        ("archives", False),
        ("archives", True),
    ]


@pytest.mark.parametrize("after", [None, 0, 3 * MIB])
def test_cancel_raises_and_changes_nothing(
    big_case: CaseHandle, alice: Identity, after: int | None
) -> None:
    """Cancelled as it starts (None), as the archives start (0) or within them (3 MiB):
    Cancelled at the next 1 MiB at most, no ``verified`` entry even with a signer, and not
    one byte of the case changed."""
    threads = threading.active_count()
    before = _snapshot(big_case)
    entries = head(big_case.sessions, big_case.case_id)
    stop = threading.Event()
    heard: list[tuple[str, int, int]] = []

    def progress(phase: str, done: int, total: int) -> None:
        heard.append((phase, done, total))
        if after is None or (phase == "archives" and done >= after):
            stop.set()

    with pytest.raises(Cancelled, match="cancelled"):
        verify_case(big_case, sign_with=alice, monitor=Monitor(progress, stop, interval=0))
    phase, done, total = heard[-1]
    assert phase == ("ledger" if after is None else "archives")
    if after is not None:
        assert after <= done <= after + MIB < total  # stopped within the next block
    assert head(big_case.sessions, big_case.case_id) == entries
    assert _snapshot(big_case) == before
    assert threading.active_count() <= threads  # no hashing thread left behind


def test_cancel_by_a_callable_stops_a_bundle_too(
    big_case: CaseHandle, alice: Identity, tmp_path: Path
) -> None:
    from app.export_service import export_case

    bundle = tmp_path / "bundle"
    export_case(big_case, alice, bundle)
    calls: list[tuple[str, int, int]] = []
    report = verify_target(bundle, progress=lambda *c: calls.append(c))
    assert report.ok, report.render()
    assert [p for p, _, _ in calls][-1] == "bundle"
    assert ("archives", _archive_bytes(big_case), _archive_bytes(big_case)) in calls
    with pytest.raises(Cancelled):
        verify_target(bundle, cancel=lambda: len(calls) > 0)
