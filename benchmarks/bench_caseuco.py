"""How long `case_validate` takes on a bundle's CASE/UCO files, by layout.

Builds a synthetic ledger of N artifacts in memory (no collection: only the graph matters;
the ledger is tests/custody/report/synthetic_case.py's, which the CASE/UCO tests use too),
writes its CASE/UCO files as Chainproof does, and times the real `case_validate`
(case-utils) over them, each row a whole command line:

| row | files | command |
|---|---|---|
| after | case.jsonld + case-inventory-NNNN.jsonld (5,000 artifacts each, three nodes per artifact) | VERIFY.md's: `ls case*.jsonld \\| xargs -n 1 -P 2 case_validate --ontology-graph uco-shapes-off.ttl` (six shapes off) |
| split-4 | the same files with four nodes per artifact (FileFacet and ContentDataFacet apart) | the same command, three shapes off (the layout before this one) |
| before | one case.jsonld, 7 nodes per artifact (the layout before the split) | `case_validate case.jsonld` |
| before+settings | the same file | `case_validate --ontology-graph uco-shapes-off.ttl case.jsonld` (three shapes off) |

    .venv/bin/python benchmarks/bench_caseuco.py                       # after, 1k 5k 20k
    .venv/bin/python benchmarks/bench_caseuco.py --rows after split-4 --artifacts 20000
    .venv/bin/python benchmarks/bench_caseuco.py --rows before --artifacts 100 200
    .venv/bin/python benchmarks/bench_caseuco.py --links 20 --artifacts 5000  # 1 in 20 a link

It prints wall time, CPU time (user + system of every process: on a busy machine the wall
time grows, the CPU time much less), the peak RSS of the largest process and the load
average before the row. Target (issue 14): the "after" row of a 20,000-artifact case in
<= 2 minutes on a 2-core machine. A row still running after ``--timeout`` seconds (default
900) is stopped and printed as such.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from custody.bundle.facts import artifacts, read_facts  # noqa: E402
from custody.report.caseuco import (  # noqa: E402
    CASE_UCO,
    SHAPES_OFF,
    SHAPES_OFF_TEXT,
    SHAPES_OFF_TEXT_4,
    case_uco_chunks,
    case_uco_files,
    case_uco_nodes,
    inventory_graphs,
)
from tests.custody.report.synthetic_case import ARCHIVES, CASE_VALIDATE, ledger  # noqa: E402

SPLIT = f"ls case*.jsonld | xargs -n 1 -P 2 {CASE_VALIDATE} --ontology-graph {SHAPES_OFF}"
COMMANDS = {
    "after": SPLIT,
    "split-4": SPLIT,
    "before": f"{CASE_VALIDATE} case.jsonld",
    "before+settings": f"{CASE_VALIDATE} --ontology-graph {SHAPES_OFF} case.jsonld",
}


def write(folder: Path, n: int, row: str, links: int = 0) -> None:
    """The CASE/UCO files of an ``n``-artifact case, as the row's layout has them."""
    folder.mkdir(parents=True)
    entries = ledger(n, link_every=links)
    state = read_facts(entries).state
    if row == "after":
        for name, pieces in case_uco_files(state, artifacts(entries), ARCHIVES, "bench"):
            with open(folder / name, "wb") as f:
                f.writelines(pieces)
        return
    if row == "split-4":
        for name, pieces in case_uco_files(state, [], ARCHIVES, "bench"):
            if name == CASE_UCO:
                with open(folder / name, "wb") as f:
                    f.writelines(pieces)
        for name, nodes in inventory_graphs(state, artifacts(entries), "bench", four=True):
            with open(folder / name, "wb") as f:
                f.writelines(case_uco_chunks(nodes))
        (folder / SHAPES_OFF).write_bytes(SHAPES_OFF_TEXT_4)
        return
    nodes = case_uco_nodes(state, artifacts(entries), ARCHIVES, "bench")
    with open(folder / CASE_UCO, "wb") as f:
        f.writelines(case_uco_chunks(nodes))
    (folder / SHAPES_OFF).write_bytes(
        SHAPES_OFF_TEXT_4 if row == "before+settings" else SHAPES_OFF_TEXT
    )


def timed(command: str, cwd: Path, files: int, timeout: float) -> tuple[str, float, float, float]:
    """(outcome, wall s, CPU s, peak RSS MB of the largest process) of a shell command that
    validates ``files`` files: the shell's ``wait4`` counts every process under it, and only
    those."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        shell=True,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        if proc.stdout is not None:
            proc.stdout.close()
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if stopped.is_set():
        outcome = f"stopped after {timeout:.0f} s"
    elif code != 0:
        outcome = f"FAILED ({code})"
    elif b"Conforms: False" in out or out.count(b"Conforms: True") != files:
        outcome = "FAILED (Conforms: False)"
    else:
        outcome = "conforms"
    return outcome, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifacts", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--rows", nargs="+", choices=sorted(COMMANDS), default=["after"])
    parser.add_argument("--links", type=int, default=0, help="every k-th artifact a link")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true", help="keep the files (prints where)")
    args = parser.parse_args()
    if not CASE_VALIDATE.exists():
        raise SystemExit(f"{CASE_VALIDATE} is missing: run scripts/setup.sh --dev")
    base = Path(tempfile.mkdtemp(prefix="bench-caseuco-", dir=os.environ.get("BENCH_DIR")))
    print(f"case_validate, {os.cpu_count()} cores")
    print("| artifacts | row | files | MB | outcome | wall s | CPU s | peak RSS MB | load |")
    print("|---:|---|---:|---:|---|---:|---:|---:|---:|")
    try:
        for n in args.artifacts:
            for row in args.rows:
                folder = base / f"{row}-{n}"
                write(folder, n, row, args.links)
                graphs = list(folder.glob("*.jsonld"))
                mb = sum(p.stat().st_size for p in graphs) / 1e6
                load = os.getloadavg()[0]
                outcome, wall, cpu, rss = timed(COMMANDS[row], folder, len(graphs), args.timeout)
                print(
                    f"| {n:,} | {row} | {len(graphs)} | {mb:.1f} | {outcome} | {wall:.1f} | "
                    f"{cpu:.1f} | {rss:.0f} | {load:.1f} |",
                    flush=True,
                )
    finally:
        if args.keep:
            print(f"files kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
