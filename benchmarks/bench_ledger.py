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
from custody.record.events import parse_payload
from custody.record.keys import create_identity
from custody.verify.case import verify


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=100_000)
    n = ap.parse_args().entries
    ident = create_identity("Bench", "Bench", "bench@example.org")
    with tempfile.TemporaryDirectory(dir=str(Path(__file__).parent)) as tmp:
        case = create_case(Path(tmp) / "case", ident, title="ledger bench")
        writer = case.writer(ident)
        t0 = time.perf_counter()
        for i in range(n):
            h = hashlib.sha256(str(i).encode()).hexdigest()
            writer.append(
                parse_payload(
                    "artifact_collected",
                    {
                        "run_id": "bench",
                        "collector": "files",
                        "kind": "file",
                        "member": f"files/data/f{i:06d}",
                        "header_offset": i * 1024,
                        "data_offset": i * 1024 + 512,
                        "size": 100,
                        "sha256": h,
                        "sha1": h[:40],
                        "md5": h[:32],
                        "path": f"/data/f{i:06d}",
                        "mode": 0o100644,
                        "uid": 0,
                        "gid": 0,
                        "mtime": "1700000000.123456789",
                    },
                )
            )
        writer.flush("run end")
        append_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        entries = list(read_entries(case.sessions, case.case_id))
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        # No run_started entry: verify the chain and signatures only (archives are not part of this).
        report = verify("bench", entries, evidence_dir=Path(tmp) / "none", case_id=case.case_id)
        verify_s = time.perf_counter() - t0
        checkpoints = sum(1 for e in entries if e.event == "checkpoint")
        bad = [f for f in report.findings if f.code != "run.unknown"]
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
