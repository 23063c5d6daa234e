"""Ledger benchmark: append 100,000 artifact entries with their checkpoints, then verify them.

Run: .venv/bin/python benchmarks/bench_ledger.py [--entries N]
Targets (DESIGN.md): append at 5,000 entries/s or more; verify in 5 s or less.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.cases import create_case
from custody.db.ledger import read_entries
from custody.record.digests import Digests
from custody.record.events import (
    ArtifactCollected,
    Checkpoint,
    MemberRef,
    RunFinished,
    RunStarted,
    SourceFacts,
)
from custody.record.keys import create_identity
from custody.store.storage import LocalEvidenceStore
from custody.verify.case import verify


def artifact(i: int) -> ArtifactCollected:
    """An artifact event as a collection run builds it for a small file."""
    h = hashlib.sha256(str(i).encode()).hexdigest()
    return ArtifactCollected(
        run_id="bench",
        collector="files",
        kind="file",
        member=MemberRef(
            name=f"files/data/f{i:06d}",
            header_offset=i * 1024,
            data_offset=i * 1024 + 512,
            size=100,
            header_sha256=h,
        ),
        digests=Digests(h, h[:40], h[:32]),
        source=SourceFacts(
            path=f"/data/f{i:06d}",
            rule="/data/**",
            mode=0o644,
            uid=0,
            gid=0,
            uname="root",
            gname="root",
            mtime="1700000000.123456789",
            atime="1700000000.123456789",
            ctime="1700000000.123456789",
            inode=str(1000 + i),
            device="2049",
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=100_000)
    n = ap.parse_args().entries
    ident = create_identity("Bench", "Bench", "bench@example.org")
    with tempfile.TemporaryDirectory(dir=str(Path(__file__).parent)) as tmp:
        case = create_case(Path(tmp) / "case", ident, title="ledger bench")
        writer = case.writer(ident)
        writer.append(
            RunStarted(run_id="bench", host="bench", profile="none", archive="evidence/bench.tar")
        )
        t0 = time.perf_counter()
        for i in range(n):
            writer.append(artifact(i))
        writer.flush("run end")
        append_s = time.perf_counter() - t0
        writer.append(
            RunFinished(
                run_id="bench",
                status="finished",
                artifacts=n,
                errors=0,
                skipped=0,
                bytes=100 * n,
                archive="evidence/bench.tar",
            )
        )
        t0 = time.perf_counter()
        entries = list(read_entries(case.sessions, case.case_id))
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        # No archive is written: the archive checks report it missing; the chain, the
        # signatures and the fold are what is measured.
        report = verify(
            "bench", entries, evidence=LocalEvidenceStore(Path(tmp) / "none"), case_id=case.case_id
        )
        verify_s = time.perf_counter() - t0
        checkpoints = sum(1 for e in entries if e.event == Checkpoint.EVENT)
        bad = [f for f in report.findings if not f.code.startswith("archive.")]
        print(f"entries appended      {n:>10,}  (+{checkpoints} signed checkpoints)")
        print(
            f"append                {append_s:>10.2f} s  {n / append_s:>10,.0f} entries/s  (target >= 5,000/s)"
        )
        print(f"read back             {read_s:>10.2f} s")
        print(
            f"verify chain+sigs     {verify_s:>10.2f} s  {len(entries) / verify_s:>10,.0f} entries/s  (target <= 5 s)"
        )
        print(f"read + verify         {read_s + verify_s:>10.2f} s")
        print(f"verification          {'OK' if not bad else bad[:3]}")


if __name__ == "__main__":
    main()
