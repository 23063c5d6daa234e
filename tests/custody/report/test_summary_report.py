"""The report stays short at any case size: 20,000 artifacts (and many runs, reasons, accesses,
notes and transfers) give at most 40 pages, with an outline, a linked contents page with page
numbers, "page X of Y" on every page, and the inventory attached in full.

The ledger is built in memory, chained and signed as the writer would (bulk entries covered
by signed checkpoints), without run archives: the report's content comes from the ledger.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from custody.db.ledger import CHECKPOINT_EVERY
from custody.record.digests import Digests
from custody.record.entry import GENESIS_HASH, Entry, make_entry
from custody.record.events import (
    Accessed,
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
    Sealed,
    SourceFacts,
    Transferred,
)
from custody.record.keys import Identity
from custody.record.times import ns_text, utc_text
from custody.report.build import build_signed_report
from custody.store.storage import LocalEvidenceStore
from custody.verify.findings import Report
from tests.custody.report.test_report import attachments, pdfsig, pdftext

pytestmark = pytest.mark.skipif(
    shutil.which("pdfdetach") is None or shutil.which("pdfinfo") is None,
    reason="poppler-utils (pdfinfo, pdfdetach, pdftotext) is part of the dev setup",
)

GENERATED = dt.datetime(2025, 3, 14, 15, 9, 26, tzinfo=dt.UTC)
MANIFEST = "5e" * 32
MAX_PAGES = 40
SECTIONS = (
    "1. Examiner attestation",
    "2. Custody log",
    "3. Collection runs",
    "4. Errors and skips",
    "5. Evidence inventory",
    "6. Integrity",
    "7. Authority and scope",
    "8. Personnel",
    "9. Storage and preservation",
    "10. Time integrity",
    "11. How the record is produced",
    "12. Independent verification",
    "13. Annexes",
)


class Ledger:
    """A ledger built in memory, entry by entry, chained and signed as the writer would."""

    def __init__(self, case_id: str, actor: Identity) -> None:
        self.case_id, self.actor = case_id, actor
        self.entries: list[Entry] = []
        self.t = dt.datetime(2025, 3, 14, 9, 0, tzinfo=dt.UTC)
        self.bulk_from: int | None = None

    def add(self, event: Event, *cosigners: Identity, actor: Identity | None = None) -> Entry:
        self.t += dt.timedelta(milliseconds=3)
        who = actor or self.actor
        prev = self.entries[-1].entry_hash if self.entries else GENESIS_HASH
        e = make_entry(
            self.case_id,
            len(self.entries) + 1,
            utc_text(self.t),
            who.fingerprint,
            event.EVENT,
            event.payload(),
            prev,
            (who, *cosigners) if event.SIGNED else (),
        )
        self.entries.append(e)
        if not event.SIGNED:
            self.bulk_from = self.bulk_from or e.seq
            if e.seq - self.bulk_from + 1 >= CHECKPOINT_EVERY:
                self.checkpoint()
        return e

    def checkpoint(self) -> None:
        if self.bulk_from is None:
            return
        last = self.entries[-1]
        first, self.bulk_from = self.bulk_from, None
        self.add(Checkpoint(covers_from=first, covers_to=last.seq, head=last.entry_hash))


@dataclass
class Big:
    entries: list[Entry]
    report: Report
    artifacts: int
    link: tuple[str, str]


REASONS = (
    ("skipped", "character device not read: reading could block, never end or alter the device"),
    ("skipped", "FIFO not read: reading could block or consume data"),
    ("skipped", "directory: not copied itself (the files under it are targets of their own)"),
    ("error", "permission denied (open the file)"),
)


def _digests(i: int) -> Digests:
    h = f"{i:08x}"
    return Digests(h * 8, h * 5, h * 4)


def _artifacts(run_id: str, n: int, start: int) -> Iterator[ArtifactCollected]:
    offset = 0
    for i in range(start, start + n):
        if i % 500 == 7:
            kind, path, target = "symlink", f"/etc/alternatives/tool-{i}", f"/usr/bin/tool-{i}"
        else:
            kind, target = "file", None
            path = f"/srv/area-{i % 60:02d}/dir-{i % 7}/file-{i:06d}.log"
        yield ArtifactCollected(
            run_id=run_id,
            collector="files",
            kind=kind,
            member=MemberRef(
                name="files" + path,
                header_offset=offset,
                data_offset=offset + 512,
                size=0 if target else 100 + i % 900,
                header_sha256="ab" * 32,
            ),
            digests=_digests(i),
            source=SourceFacts(
                path=path,
                mode=0o777 if target else 0o640,
                uid=0,
                gid=0,
                uname="root",
                gname="root",
                mtime=ns_text(1_700_000_000_123_456_789 + i),
                symlink_target=target,
            ),
        )
        offset += 2048


def build_big(alice: Identity, bob: Identity, n: int, runs: int = 6) -> Big:
    case_id = str(uuid.uuid4())
    led = Ledger(case_id, alice)
    led.add(
        CaseOpened(
            case_id=case_id,
            fields=CaseFields(title="A very large case", incident_ref="INC-BIG", severity="high"),
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
    per_run = n // runs
    made = 0
    link: tuple[str, str] = ("", "")
    for r in range(runs):
        run_id = str(uuid.uuid4())
        archive = f"evidence/{run_id}.tar"
        led.add(
            RunStarted(
                run_id=run_id,
                host=f"host-{r}",
                profile="triage",
                collectors=("system", "processes", "files"),
                archive=archive,
                command_line=("chainproof", "collect", "case", "--profile", "triage"),
                tool_version="0.1.0",
                tool_sha256="ab" * 32,
                pid=4000 + r,
            )
        )
        count = per_run if r < runs - 1 else n - made
        size = 0
        for a in _artifacts(run_id, count, made):
            led.add(a)
            size += a.member.size
            if a.kind == "symlink" and not link[0]:
                assert a.source is not None and a.source.symlink_target is not None
                link = (a.source.path, a.source.symlink_target)
        made += count
        errors = skipped = 0
        for i in range(300):
            kind, reason = REASONS[i % len(REASONS)]
            if i % 50 == 49:  # many distinct reasons too
                kind, reason = "error", f"[Errno 5] Input/output error: device {i}"
            led.add(
                CollectionProblem(
                    run_id=run_id,
                    collector="files",
                    kind=kind,
                    reason=reason,
                    path=f"/dev/thing-{r}-{i}" + "/deeper" * (i % 30),
                )
            )
            errors += kind == "error"
            skipped += kind == "skipped"
        led.checkpoint()
        led.add(
            RunFinished(
                run_id=run_id,
                status="finished",
                artifacts=count,
                errors=errors,
                skipped=skipped,
                bytes=size,
                archive=archive,
                archive_size=2048 * count + 1024,
                archive_sha256="cd" * 32,
                finished_at=utc_text(led.t),
            )
        )
    for _ in range(300):  # the desktop app records one access per artifact viewed
        led.add(Accessed(purpose="review in the desktop app", by=bob.fingerprint), actor=bob)
    for i in range(60):
        led.add(Note(journal_kind="note", text=f"Observation {i}: " + "details " * 40))
        led.add(Accessed(purpose=f"spot check {i}", by=alice.fingerprint))
    for i in range(30):
        a, b = (alice, bob) if i % 2 == 0 else (bob, alice)
        led.add(
            Transferred(
                from_fp=a.fingerprint,
                from_name=a.name,
                to_fp=b.fingerprint,
                to_name=b.name,
                reason=f"handover {i}",
                location="evidence room",
            ),
            b,
            actor=a,
        )
    head = led.entries[-1]
    led.add(
        Sealed(reason="collection complete", ledger_head=head.entry_hash, ledger_entries=head.seq)
    )
    report = Report(
        "big",
        entries=len(led.entries),
        signatures=sum(len(e.signatures) for e in led.entries),
        artifacts=n,
        runs=runs,
        head=led.entries[-1].entry_hash,
        signers={alice.fingerprint: alice.name, bob.fingerprint: bob.name},
    )
    return Big(led.entries, report, n, link)


def outline(pdf: Path) -> list[tuple[int, str]]:
    """The PDF's bookmarks: (level, title), in order."""
    with pdf.open("rb") as f:
        root = PdfFileReader(f).root
        found: list[tuple[int, str]] = []

        def walk(node: Any, level: int) -> None:
            while node is not None:
                item = node.get_object()
                found.append((level, str(item["/Title"])))
                if "/First" in item:
                    walk(item["/First"], level + 1)
                node = item.get("/Next")

        walk(root["/Outlines"].get_object().get("/First"), 0)
        return found


def _pages(node: Any) -> Iterator[Any]:
    node = node.get_object()
    if node.get("/Type") == "/Pages":
        for kid in node["/Kids"]:
            yield from _pages(kid)
    else:
        yield node


def links_on(pdf: Path, page: int) -> int:
    """Internal links (to a named destination) on a page (0-based)."""
    with pdf.open("rb") as f:
        page_obj = list(_pages(PdfFileReader(f).root["/Pages"]))[page]
        return sum(
            1
            for a in page_obj.get("/Annots", [])
            if a.get_object().get("/Subtype") == "/Link"
            and ("/Dest" in a.get_object() or "/A" in a.get_object())
        )


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def big(alice_identity: Identity, bob_identity: Identity) -> Big:
    return build_big(alice_identity, bob_identity, 20_000)


def test_20000_artifacts_give_a_short_signed_report(
    big: Big, alice_identity: Identity, tmp_path: Path
) -> None:
    out = tmp_path / "custody-report.pdf"
    build_signed_report(
        entries=big.entries,
        verification=big.report,
        manifest_sha256=MANIFEST,
        bundle_id="big-bundle",
        generated_at=GENERATED,
        evidence=LocalEvidenceStore(tmp_path / "no-evidence"),
        identity=alice_identity,
        out=out,
    )
    assert "Signature Validation: Signature is Valid." in pdfsig(out)
    pages = pdftext(out)
    n = page_count(out)
    assert n == len(pages) <= MAX_PAGES, n

    # "page X of Y" on every page
    for i, page in enumerate(pages, start=1):
        assert f"page {i} of {n}" in page, i

    # The outline: cover, contents, every section, and parts under them.
    marks = outline(out)
    titles = [t for level, t in marks if level == 0]
    assert titles == ["Cover", "Contents", *SECTIONS], titles
    assert (1, "Annex A. Inventory of the artifacts") in marks
    assert (1, "3.1 Run " + big.entries[3].payload["run_id"][:8] + " on host-0") in marks

    # The contents page lists every section with the page its heading is on, each linked.
    contents = subprocess.run(
        ["pdftotext", "-layout", "-f", "2", "-l", "2", str(out), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Contents" in contents
    for title in SECTIONS:
        line = next(x for x in contents.splitlines() if x.strip().startswith(title + " "))
        number = int(line.rsplit(".", 1)[-1])
        heading = next(
            i
            for i, p in enumerate(pages, start=1)
            if i > 2 and re.search(rf"^{re.escape(title)}$", p, re.M)
        )
        assert number == heading, (title, number, heading)
    assert links_on(out, 1) >= len(SECTIONS)

    # The inventory: attached in full, one row per artifact, its hashes printed in the PDF.
    whole = "\n".join(pages)
    files = attachments(out, tmp_path / "att")
    assert sorted(files) == ["inventory.csv", "inventory.jsonl"]
    rows = list(csv.DictReader(io.StringIO(files["inventory.csv"].decode("utf-8"))))
    assert len(rows) == big.artifacts
    assert len(files["inventory.jsonl"].splitlines()) == big.artifacts
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        assert digest in re.sub(r"\s+", "", whole), name
    link = next(r for r in rows if r["kind"] == "symlink")
    assert (link["path"], link["link_target"]) == big.link
    assert link["mode"] == "0777" and link["mtime"].endswith(".123456796")
    first = json.loads(files["inventory.jsonl"].splitlines()[0])
    assert first["sha256"] == rows[0]["sha256"] and first["mode"] == 0o640

    # Kinds as what they are: the link and its target, the skipped devices and FIFOs.
    flat = re.sub(r"\s+", " ", whole)
    assert "20,000 artifacts" in flat
    assert big.link[0] in flat and big.link[1] in flat
    for what in ("character device not read", "FIFO not read", "directory"):
        assert what in flat
    assert "Evidence accessed 300 times by Bob Receiver" in flat
    # No per-artifact listing: a hash of an artifact in the middle is not on the pages.
    assert _digests(12_345).sha256 not in whole


def test_full_inventory_lists_every_artifact_in_the_pdf(
    alice_identity: Identity, bob_identity: Identity, tmp_path: Path
) -> None:
    small = build_big(alice_identity, bob_identity, 600, runs=2)
    out = tmp_path / "full.pdf"
    build_signed_report(
        entries=small.entries,
        verification=small.report,
        manifest_sha256=MANIFEST,
        bundle_id="full-bundle",
        generated_at=GENERATED,
        evidence=LocalEvidenceStore(tmp_path / "no-evidence"),
        identity=alice_identity,
        out=out,
        full_inventory=True,
    )
    assert "Signature Validation: Signature is Valid." in pdfsig(out)
    whole = re.sub(r"\s+", " ", "\n".join(pdftext(out)))
    for i in (0, 299, 599):
        d = _digests(i)
        assert d.sha256 in whole and d.sha1 in whole and d.md5 in whole
    assert "Annex B. The full ledger" in whole
    for e in small.entries:
        assert e.entry_hash in whole
    assert f"{small.link[0]} -> {small.link[1]}" in whole
