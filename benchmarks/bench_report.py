"""Custody report at scale: 10,000 artifacts by default (target: 10 s or less, 40 pages at
most at any size).

Builds a real signed ledger (run_started, N artifact entries, files under many directories
with one symlink in 200, with a checkpoint every 1,000, 200 errors and skips, run_finished,
journal entries, a two-party transfer) over a real run archive, verifies it, then times
``build_signed_report`` (inventory files, render, attach, sign) and, unless
``--report-only``, the whole bundle (``write_bundle``: archive copy, ledger, inventory,
case.jsonld, manifest, report, VERIFY.md, SHA256SUMS). Checks the PDF with ``pdfsig``,
``pdfinfo`` and ``pdfdetach`` when poppler is installed, and prints the peak memory.

    .venv/bin/python benchmarks/bench_report.py [N_ARTIFACTS [KEEP_PDF_AS]] [--report-only]
"""

from __future__ import annotations

import datetime as dt
import json
import resource
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
    SourceFacts,
    Transferred,
)
from custody.record.keys import Identity, create_identity
from custody.record.times import ns_text, utc_text
from custody.report.build import build_signed_report
from custody.store.archive import RunArchive
from custody.store.storage import LocalEvidenceStore
from custody.store.tarheader import MemberMeta
from custody.verify.case import verify

TARGET_SECONDS = 10.0
MAX_PAGES = 40


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
        mtime = time.time_ns()
        if i == 0:
            name, data = "volatile/system.json", json.dumps(facts).encode()
            m = archive.add_bytes(name, data, mtime_ns=mtime)
            ref = MemberRef(
                name=m.name,
                header_offset=m.header_offset,
                data_offset=m.data_offset,
                size=m.size,
                header_sha256=m.header_sha256,
                mtime=ns_text(mtime),
                mode=0o444,
                uid=0,
                gid=0,
            )
            kind, collector, source = "volatile", "system", None
        else:
            path = f"/var/log/app-{i % 40:02d}/service-{i // 100:03d}/events-{i:06d}.log"
            meta = MemberMeta(mtime_ns=mtime, mode=0o640, uid=0, gid=4, uname="root", gname="adm")
            target = None
            if i % 200 == 0:
                target = f"../current/events-{i:06d}.log"
                m = archive.add_symlink("files" + path, target, meta)
            else:
                data = f"line {i}\n".encode() * (1 + i % 7)
                m = archive.add_member("files" + path, data, meta)
            ref = MemberRef(
                name=m.name,
                header_offset=m.header_offset,
                data_offset=m.data_offset,
                size=m.size,
                header_sha256=m.header_sha256,
            )
            kind = "symlink" if target else "file"
            collector = "files"
            source = SourceFacts(
                path=path,
                mode=0o640,
                uid=0,
                gid=4,
                uname="root",
                gname="adm",
                mtime=ns_text(mtime),
                symlink_target=target,
            )
        total += m.size
        d = m.digests
        led.add(
            ArtifactCollected(
                run_id=run_id,
                collector=collector,
                kind=kind,
                member=ref,
                digests=Digests(d.sha256, d.sha1, d.md5),
                source=source,
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


def _poppler(out: Path) -> tuple[str, int | None]:
    """What pdfsig, pdfdetach and pdfinfo say of the report, and its page count."""
    status, pages = "", None
    if shutil.which("pdfsig"):
        text = subprocess.run(["pdfsig", str(out)], capture_output=True, text=True).stdout
        valid = "Signature is Valid." in text and "Total document signed" in text
        status = "pdfsig: Signature is Valid." if valid else "pdfsig: NOT VALID"
    if shutil.which("pdfdetach"):
        text = subprocess.run(["pdfdetach", "-list", str(out)], capture_output=True, text=True)
        status += (
            f", attached: {', '.join(x.split(': ', 1)[1] for x in text.stdout.splitlines()[1:])}"
        )
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
        found = [line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")]
        pages = int(found[0]) if found else None
    return status, pages


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    report_only = "--report-only" in sys.argv
    n = int(args[0]) if args else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        entries, evidence, alice = build(root, n)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = verify("bench", entries, evidence=LocalEvidenceStore(evidence))
        t_verify = time.perf_counter() - t0
        assert report.ok, report.render()
        out = root / "custody-report.pdf"
        when = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        build_signed_report(
            entries=entries,
            verification=report,
            manifest_sha256=sha256_hex(b"manifest"),
            bundle_id="bench",
            generated_at=when,
            evidence=LocalEvidenceStore(evidence),
            identity=alice,
            out=out,
        )
        seconds = time.perf_counter() - t0
        size = out.stat().st_size
        status, pages = _poppler(out)
        if len(args) > 1:
            shutil.copyfile(out, args[1])
        verdict = "OK" if seconds <= TARGET_SECONDS * max(1, n / 10_000) else "OVER TARGET"
        short = "OK" if pages is not None and pages <= MAX_PAGES else "OVER"
        print(
            f"custody report, {n:,} artifacts ({len(entries):,} ledger entries; built in "
            f"{t_build:.1f} s, verified in {t_verify:.1f} s): inventory + render + attach + "
            f"sign {seconds:.2f} s ({verdict}); {size / 1e6:.1f} MB; {pages} pages "
            f"(at most {MAX_PAGES}: {short}); {status}"
        )
        if not report_only:
            from custody.bundle.writer import write_bundle

            t0 = time.perf_counter()
            bundle = write_bundle(
                root / "bundle",
                entries=entries,
                evidence=LocalEvidenceStore(evidence),
                verification=report,
                identity=alice,
                bundle_id="bench-bundle",
                generated_at=when,
                tool_version="bench",
            )
            seconds = time.perf_counter() - t0
            _status, pages = _poppler(root / "bundle" / "custody-report.pdf")
            print(
                f"whole bundle (write_bundle, without the case's verification): {seconds:.2f} s, "
                f"{bundle.files:,} files, {bundle.bytes / 1e6:.1f} MB; report {pages} pages"
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory (max RSS of this process, ledger in memory included): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
