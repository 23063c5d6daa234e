"""Custody report at scale: 10,000 artifacts rendered and signed (target: 10 s or less).

Builds a real signed ledger (run_started, 10,000 artifact entries with a checkpoint every
1,000, 200 errors and skips, run_finished, journal entries, a two-party transfer) over a
real run archive, verifies it, then times ``build_signed_report`` (render + sign) and
checks the result with ``pdfsig`` when poppler is installed.

    .venv/bin/python benchmarks/bench_report.py [N_ARTIFACTS [KEEP_PDF_AS]]
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custody.db.ledger import CHECKPOINT_EVERY
from custody.record.canonical import sha256_hex
from custody.record.digests import Digests
from custody.record.entry import GENESIS_HASH, Entry, make_entry
from custody.record.events import (
    ArtifactCollected,
    CaseFields,
    CaseOpened,
    Checkpoint,
    CollectionProblem,
    Event,
    IdentityAdded,
    MemberRef,
    Note,
    RunFinished,
    RunStarted,
    Transferred,
)
from custody.record.keys import Identity, create_identity
from custody.record.times import ns_text, utc_text
from custody.report.build import build_signed_report
from custody.store.archive import RunArchive
from custody.store.storage import LocalEvidenceStore
from custody.verify.case import verify

TARGET_SECONDS = 10.0


class Ledger:
    """A ledger built in memory, entry by entry, as the writer would chain and sign it."""

    def __init__(self, case_id: str, actor: Identity) -> None:
        self.case_id, self.actor = case_id, actor
        self.entries: list[Entry] = []
        self.t = dt.datetime(2025, 3, 14, 9, 0, tzinfo=dt.UTC)

    def add(self, event: Event, *cosigners: Identity) -> Entry:
        self.t += dt.timedelta(milliseconds=3)
        prev = self.entries[-1].entry_hash if self.entries else GENESIS_HASH
        signers = (self.actor, *cosigners) if event.SIGNED else ()
        e = make_entry(
            self.case_id,
            len(self.entries) + 1,
            utc_text(self.t),
            self.actor.fingerprint,
            event.EVENT,
            event.payload(),
            prev,
            signers,
        )
        self.entries.append(e)
        return e

    def checkpoint(self, first: int) -> None:
        last = self.entries[-1]
        self.add(Checkpoint(covers_from=first, covers_to=last.seq, head=last.entry_hash))


def build(root: Path, n: int) -> tuple[list[Entry], Path, Identity]:
    alice = create_identity("Alice Examiner", "Example Forensics", "alice@example.org")
    bob = create_identity("Bob Receiver", "Example Legal", "bob@example.org")
    case_id = str(uuid.uuid4())
    led = Ledger(case_id, alice)
    led.add(
        CaseOpened(
            case_id=case_id,
            fields=CaseFields(
                title="Benchmark case",
                incident_ref="INC-BENCH",
                severity="high",
                status="assessed",
                legal_basis="Engagement letter",
            ),
            created_at="2025-03-14T09:00:00.000000Z",
        )
    )
    for who, role in ((alice, "case opener"), (bob, "receiving examiner")):
        led.add(
            IdentityAdded(
                fingerprint=who.fingerprint,
                name=who.name,
                organisation=who.organisation,
                email=who.email,
                role=role,
                certificate_pem=who.certificate_pem(),
            )
        )
    evidence = root / "evidence"
    evidence.mkdir(parents=True)
    run_id = str(uuid.uuid4())
    archive = RunArchive(evidence / f"{run_id}.tar")
    led.add(
        RunStarted(
            run_id=run_id,
            host="bench-host",
            profile="triage",
            profile_sha256="cd" * 32,
            collectors=("system", "processes", "network", "files"),
            archive=f"evidence/{run_id}.tar",
            command_line=("chainproof", "collect", "case", "--profile", "triage"),
            tool_version="0.1.0",
            tool_sha256="ab" * 32,
            pid=4242,
        )
    )
    facts = {
        "clock": {"utc": "2025-03-14T09:00:00.010000Z", "monotonic_ns": "123456789"},
        "host": {"hostname": "bench-host", "os": "Linux"},
        "time_zone": {"name": "UTC", "utc_offset_seconds": 0},
    }
    first = len(led.entries) + 1
    total = 0
    for i in range(n):
        if i == 0:
            name, data = "volatile/system.json", json.dumps(facts).encode()
        else:
            name = f"files/var/log/app/service-{i // 100:03d}/events-{i:05d}.log"
            data = f"line {i}\n".encode() * (1 + i % 7)
        mtime = time.time_ns()
        m = archive.add_bytes(name, data, mtime_ns=mtime)
        total += m.size
        d = m.digests
        led.add(
            ArtifactCollected(
                run_id=run_id,
                collector="system" if i == 0 else "files",
                kind="volatile",
                member=MemberRef(
                    name=m.name,
                    header_offset=m.header_offset,
                    data_offset=m.data_offset,
                    size=m.size,
                    header_sha256=m.header_sha256,
                    mtime=ns_text(mtime),
                    mode=0o444,
                    uid=0,
                    gid=0,
                ),
                digests=Digests(d.sha256, d.sha1, d.md5),
            )
        )
        if len(led.entries) - first + 1 >= CHECKPOINT_EVERY:
            led.checkpoint(first)
            first = len(led.entries) + 1
    for i in range(200):
        led.add(
            CollectionProblem(
                run_id=run_id,
                collector="files",
                kind="error" if i % 2 else "skipped",
                reason="permission denied" if i % 2 else "socket: not a regular file",
                path=f"/var/lib/private/{i}",
            )
        )
    led.checkpoint(first)
    size = archive.close()
    led.add(
        RunFinished(
            run_id=run_id,
            status="finished",
            artifacts=n,
            errors=100,
            skipped=100,
            bytes=total,
            archive=f"evidence/{run_id}.tar",
            archive_size=size,
            archive_sha256=archive.sha256,
            finished_at="2025-03-14T09:10:00.000000Z",
        )
    )
    led.add(Note(journal_kind="assessment", text="Collection complete"))
    led.add(
        Transferred(
            from_fp=alice.fingerprint,
            from_name=alice.name,
            to_fp=bob.fingerprint,
            to_name=bob.name,
            reason="handover",
            location="lab",
        ),
        bob,
    )
    return led.entries, evidence, alice


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        entries, evidence, alice = build(root, n)
        report = verify("bench", entries, evidence=LocalEvidenceStore(evidence))
        assert report.ok, report.render()
        out = root / "custody-report.pdf"
        t0 = time.perf_counter()
        build_signed_report(
            entries=entries,
            verification=report,
            manifest_sha256=sha256_hex(b"manifest"),
            bundle_id="bench",
            generated_at=dt.datetime.now(dt.UTC),
            evidence=LocalEvidenceStore(evidence),
            identity=alice,
            out=out,
        )
        seconds = time.perf_counter() - t0
        size = out.stat().st_size
        status = ""
        if shutil.which("pdfsig"):
            text = subprocess.run(["pdfsig", str(out)], capture_output=True, text=True).stdout
            status = (
                "pdfsig: Signature is Valid."
                if "Signature is Valid." in text
                else "pdfsig: NOT VALID"
            )
        if shutil.which("pdfinfo"):
            info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
            pages = next(
                (line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")), "?"
            )
            status += f", {pages} pages"
        if len(sys.argv) > 2:
            shutil.copyfile(out, sys.argv[2])
        verdict = "OK" if seconds <= TARGET_SECONDS else "OVER TARGET"
        print(
            f"custody report, {n:,} artifacts ({len(entries):,} ledger entries): "
            f"render + sign {seconds:.2f} s (target <= {TARGET_SECONDS:.0f} s: {verdict}); "
            f"{size / 1e6:.1f} MB; {status}"
        )


if __name__ == "__main__":
    main()
