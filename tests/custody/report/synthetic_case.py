"""A synthetic case ledger built in memory, for the CASE/UCO tests and
benchmarks/bench_caseuco.py (which puts the checkout on ``sys.path`` and imports this module):
a case, an examiner, a run with ``n`` artifacts, and a second run without any.

Artifacts are regular files with distinct digests and paths, ``/home/u/dNNNN/file N.txt``,
a thousand to a folder; with ``link_every=k`` every k-th is a symbolic link and the one
after it a directory (the kinds a graph gives other nodes). Entries are chained as the
ledger writer chains them (no signatures: the graph does not look at them).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from custody.record.digests import Digests
from custody.record.entry import GENESIS_HASH, Entry, make_entry
from custody.record.events import (
    ArtifactCollected,
    CaseFields,
    CaseOpened,
    Event,
    IdentityAdded,
    MemberRef,
    RunFinished,
    RunStarted,
    SourceFacts,
)
from custody.record.times import utc_text
from custody.report.caseuco import ArchiveCopy

CASE_ID = "6f1c2a4e-8d1b-4b4e-9a31-2f4c6d7e8f90"
RUN_ID = "11111111-2222-3333-4444-555555555555"
RUN2 = "22222222-2222-3333-4444-555555555555"
FP = "ab" * 32
ARCHIVES = {RUN_ID: ArchiveCopy(10240, "c" * 64), RUN2: ArchiveCopy(1024, "d" * 64)}
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
#: case-utils' case_validate beside this Python (the venv), else on the PATH.
CASE_VALIDATE = Path(sys.executable).with_name("case_validate")


def artifact(i: int, *, run_id: str = RUN_ID, link_every: int = 0) -> ArtifactCollected:
    """The ``i``-th artifact (from 0): a file, or with ``link_every`` a link or directory."""
    path = f"/home/u/d{i // 1000:04d}/file {i}.txt"
    kind, size, target = "file", 200 + i % 1800, None
    if link_every and i % link_every == link_every - 1:
        kind, size, target = "symlink", 0, f"../d0000/file {i - 1}.txt"
    elif link_every and i % link_every == 0 and i:
        kind, size, path = "directory", 0, f"/home/u/d{i // 1000:04d}/dir {i}"
    return ArtifactCollected(
        run_id=run_id,
        collector="files",
        kind=kind,
        member=MemberRef(
            name="files" + path,
            header_offset=1024 * i,
            data_offset=1024 * i + 512,
            size=size,
        ),
        digests=Digests(f"{i:064x}", f"{i:040x}", f"{i:032x}"),
        source=SourceFacts(path=path, symlink_target=target),
    )


def events(n: int, *, link_every: int = 0) -> Iterator[Event]:
    """The case's events: opened, an examiner, run 1 with ``n`` artifacts, run 2 empty."""
    yield CaseOpened(
        case_id=CASE_ID,
        fields=CaseFields(title="Stolen laptop", status="reported", incident_ref="INC-1"),
        created_at=utc_text(START),
    )
    yield IdentityAdded(fingerprint=FP, name="Alice Examiner", certificate_pem="PEM")
    archive = f"evidence/{RUN_ID}.tar"
    yield RunStarted(run_id=RUN_ID, host="host1", profile="none", archive=archive, examiner=FP)
    for i in range(n):
        yield artifact(i, link_every=link_every)
    yield RunFinished(run_id=RUN_ID, status="finished", archive=archive)
    archive = f"evidence/{RUN2}.tar"
    yield RunStarted(run_id=RUN2, host="", profile="none", archive=archive)
    yield RunFinished(run_id=RUN2, status="finished", archive=archive)


def chain(evs: Iterator[Event] | list[Event]) -> list[Entry]:
    """The events as ledger entries, one second apart, each chained to the one before."""
    entries: list[Entry] = []
    prev = GENESIS_HASH
    for seq, ev in enumerate(evs, 1):
        at = utc_text(START + dt.timedelta(seconds=seq))
        e = make_entry(CASE_ID, seq, at, FP, ev.EVENT, ev.payload(), prev)
        entries.append(e)
        prev = e.entry_hash
    return entries


def ledger(n: int = 2, *, link_every: int = 0) -> list[Entry]:
    """The ledger of :func:`events`."""
    return chain(events(n, link_every=link_every))


def case_validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the real case_validate (case-utils) with ``args``; fail when it is not installed."""
    exe = CASE_VALIDATE
    if not exe.exists():
        found = shutil.which("case_validate")
        if found is None:
            raise FileNotFoundError("case_validate (case-utils) is not installed")
        exe = Path(found)
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)
