"""How long `case_validate` takes on a bundle's CASE/UCO files, before and after the split.

Builds a synthetic ledger of N artifacts in memory (no collection: only the graph matters),
writes its CASE/UCO files as Chainproof does, and times the real `case_validate` (case-utils)
over them, each row a whole command line:

| row | files | command |
|---|---|---|
| after | case.jsonld + case-inventory-NNNN.jsonld (5,000 artifacts each) | VERIFY.md's: `ls case*.jsonld \\| xargs -n 1 -P 2 case_validate --ontology-graph uco-shapes-off.ttl` |
| before | one case.jsonld, 7 nodes per artifact (the layout before the split) | `case_validate case.jsonld` |
| before+settings | the same file | `case_validate --ontology-graph uco-shapes-off.ttl case.jsonld` |

    .venv/bin/python benchmarks/bench_caseuco.py                       # after, 1k 5k 20k
    .venv/bin/python benchmarks/bench_caseuco.py --rows before --artifacts 100 200
    .venv/bin/python benchmarks/bench_caseuco.py --rows after before+settings --artifacts 1000

It prints wall time, CPU time (user + system of every process: on a busy machine the wall
time grows, the CPU time much less) and the peak RSS of the largest process. Target (issue
14): the "after" row of a 20,000-artifact case in <= 2 minutes on a 2-core machine. A row
still running after ``--timeout`` seconds (default 900) is stopped and printed as such.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from custody.bundle.facts import artifacts, read_facts  # noqa: E402
from custody.record.digests import Digests  # noqa: E402
from custody.record.entry import GENESIS_HASH, Entry, make_entry  # noqa: E402
from custody.record.events import (  # noqa: E402
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
from custody.report.caseuco import (  # noqa: E402
    SHAPES_OFF,
    SHAPES_OFF_TEXT,
    ArchiveCopy,
    case_uco_chunks,
    case_uco_files,
    case_uco_nodes,
)

CASE_VALIDATE = Path(sys.executable).with_name("case_validate")
CASE_ID = "6f1c2a4e-8d1b-4b4e-9a31-2f4c6d7e8f90"
RUN_ID = "11111111-2222-3333-4444-555555555555"
FP = "ab" * 32
ARCHIVES = {RUN_ID: ArchiveCopy(10240, "c" * 64)}
COMMANDS = {
    "after": f"ls case*.jsonld | xargs -n 1 -P 2 {CASE_VALIDATE} --ontology-graph {SHAPES_OFF}",
    "before": f"{CASE_VALIDATE} case.jsonld",
    "before+settings": f"{CASE_VALIDATE} --ontology-graph {SHAPES_OFF} case.jsonld",
}


def events(n: int) -> Iterator[Event]:
    yield CaseOpened(
        case_id=CASE_ID,
        fields=CaseFields(title="CASE/UCO benchmark"),
        created_at="2024-01-01T00:00:00.000000Z",
    )
    yield IdentityAdded(fingerprint=FP, name="Bench Examiner", certificate_pem="PEM")
    yield RunStarted(
        run_id=RUN_ID, host="bench", profile="none", archive=f"evidence/{RUN_ID}.tar", examiner=FP
    )
    for i in range(n):
        yield ArtifactCollected(
            run_id=RUN_ID,
            collector="files",
            kind="file",
            member=MemberRef(
                name=f"files/data/d{i // 1000:04d}/f{i:07d}",
                header_offset=1024 * i,
                data_offset=1024 * i + 512,
                size=200 + i % 1800,
            ),
            digests=Digests(f"{i:064x}", f"{i:040x}", f"{i:032x}"),
            source=SourceFacts(path=f"/data/d{i // 1000:04d}/f{i:07d}"),
        )
    yield RunFinished(run_id=RUN_ID, status="finished", archive=f"evidence/{RUN_ID}.tar")


def ledger(n: int) -> list[Entry]:
    entries, prev = [], GENESIS_HASH
    for seq, ev in enumerate(events(n), 1):
        e = make_entry(
            CASE_ID, seq, "2024-01-01T00:00:00.000000Z", FP, ev.EVENT, ev.payload(), prev
        )
        entries.append(e)
        prev = e.entry_hash
    return entries


def write(folder: Path, n: int, row: str) -> None:
    """The CASE/UCO files of an ``n``-artifact case, as the row's layout has them."""
    folder.mkdir(parents=True)
    entries = ledger(n)
    state = read_facts(entries).state
    if row == "after":
        for name, pieces in case_uco_files(state, artifacts(entries), ARCHIVES, "bench"):
            with open(folder / name, "wb") as f:
                f.writelines(pieces)
        return
    nodes = case_uco_nodes(state, artifacts(entries), ARCHIVES, "bench")
    with open(folder / "case.jsonld", "wb") as f:
        f.writelines(case_uco_chunks(nodes))
    (folder / SHAPES_OFF).write_bytes(SHAPES_OFF_TEXT)


def timed(command: str, cwd: Path, timeout: float) -> tuple[str, float, float, float]:
    """(outcome, wall s, CPU s, peak RSS MB of the largest process) of a shell command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        shell=True,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        outcome = "conforms" if proc.returncode == 0 else f"FAILED ({proc.returncode})"
        if proc.returncode == 0 and b"Conforms: False" in out:
            outcome = "FAILED (Conforms: False)"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        outcome = f"stopped after {timeout:.0f} s"
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return outcome, wall, cpu, after.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifacts", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--rows", nargs="+", choices=sorted(COMMANDS), default=["after"])
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true", help="keep the files (prints where)")
    args = parser.parse_args()
    if not CASE_VALIDATE.exists():
        raise SystemExit(f"{CASE_VALIDATE} is missing: run scripts/setup.sh --dev")
    base = Path(tempfile.mkdtemp(prefix="bench-caseuco-", dir=os.environ.get("BENCH_DIR")))
    print(f"case_validate, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("| artifacts | row | files | MB | outcome | wall s | CPU s | peak RSS MB |")
    print("|---:|---|---:|---:|---|---:|---:|---:|")
    try:
        for n in args.artifacts:
            for row in args.rows:
                folder = base / f"{row}-{n}"
                write(folder, n, row)
                graphs = list(folder.glob("*.jsonld"))
                mb = sum(p.stat().st_size for p in graphs) / 1e6
                outcome, wall, cpu, rss = timed(COMMANDS[row], folder, args.timeout)
                print(
                    f"| {n:,} | {row} | {len(graphs)} | {mb:.1f} | {outcome} | {wall:.1f} | "
                    f"{cpu:.1f} | {rss:.0f} |",
                    flush=True,
                )
    finally:
        if args.keep:
            print(f"files kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
