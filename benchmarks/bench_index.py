"""Index benchmark: compare (verify) and rebuild the index of a case with N artifact entries.

Run: .venv/bin/python benchmarks/bench_index.py [--entries N]
Each phase runs in a fresh process, so its peak RSS is its own: comparing the index with the
ledger streams both in ``seq`` order, so memory stays flat as N grows (try 100,000 and
500,000).
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make(root: Path, n: int) -> None:
    from app.cases import create_case
    from custody.record.digests import Digests
    from custody.record.events import ArtifactCollected, MemberRef, RunStarted, SourceFacts
    from custody.record.keys import create_identity

    ident = create_identity("Bench", "Bench", "bench@example.org")
    case = create_case(root, ident, title="index bench")
    writer = case.writer(ident)
    writer.append(RunStarted(run_id="bench", host="h", profile="none", archive="evidence/b.tar"))
    t0 = time.perf_counter()
    for i in range(n):
        h = hashlib.sha256(str(i).encode()).hexdigest()
        writer.append(
            ArtifactCollected(
                run_id="bench",
                collector="files",
                kind="file",
                member=MemberRef(
                    name=f"files/data/f{i:07d}",
                    header_offset=i * 1024,
                    data_offset=i * 1024 + 512,
                    size=100,
                    header_sha256=h,
                ),
                digests=Digests(h, h[:40], h[:32]),
                source=SourceFacts(
                    path=f"/data/f{i:07d}", mode=0o644, uid=0, gid=0, mtime="1700000000.1"
                ),
            )
        )
    writer.flush("run end")
    print(f"append   {n:>9,} entries  {time.perf_counter() - t0:7.2f} s")


def phase(root: Path, what: str) -> None:
    from app.cases import open_case
    from custody.db.index import rebuild_index
    from custody.verify.findings import Report
    from custody.verify.index import check_index

    case = open_case(root)
    t0 = time.perf_counter()
    if what == "check":
        report = Report("bench")
        check = check_index(case.sessions, case.case_id, report)
        result = f"{check.rows_checked:,} rows, {len(report.findings)} findings"
    else:
        rows = rebuild_index(case.sessions, case.case_id)
        result = f"{sum(rows.values()):,} rows written"
    took = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{what:8} {took:7.2f} s  peak RSS {peak:6.0f} MB  ({result})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--phase", choices=("check", "rebuild"), help=argparse.SUPPRESS)
    ap.add_argument("--case", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        phase(args.case, args.phase)
        return
    with tempfile.TemporaryDirectory(dir=str(Path(__file__).parent)) as tmp:
        root = Path(tmp) / "case"
        make(root, args.entries)
        for what in ("check", "rebuild", "check"):
            subprocess.run(
                [sys.executable, __file__, "--phase", what, "--case", str(root)], check=True
            )


if __name__ == "__main__":
    main()
