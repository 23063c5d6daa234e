"""One line for people about every kind of ledger entry (custody/record/describe.py)."""

from __future__ import annotations

import pytest

from custody.record.describe import describe, describe_unreadable, name_of
from custody.record.digests import Digests
from custody.record.events import (
    REGISTRY,
    Accessed,
    ArchiveSetAside,
    ArtifactCollected,
    CaseFields,
    CaseOpened,
    CaseUpdated,
    Checkpoint,
    CollectionProblem,
    Decision,
    Event,
    Exported,
    ExportFailed,
    ExportStarted,
    IdentityAdded,
    IndexRebuilt,
    MemberRef,
    Note,
    RunFinished,
    RunStarted,
    Sealed,
    SourceFacts,
    Timestamped,
    ToolFootprint,
    Transferred,
    Verified,
)

ALICE = "a1" * 32
BOB = "b0" * 32
MALLORY = "ee" * 32
NAMES = {ALICE: "Alice Examiner", BOB: "Bob Receiver"}
RUN = "9fcc32c4-4fc1-40ff-96e7-07fae61124d6"
HEAD = "c1d5e6286a3d7350" + "0" * 48
DIGESTS = Digests("5" * 64, "1" * 40, "d" * 32)
MEMBER = MemberRef(name="files/etc/hosts", header_offset=0, data_offset=512, size=220)

#: One event of every kind, and the line it reads as.
SAMPLES: list[tuple[Event, str]] = [
    (
        CaseOpened(
            case_id="c-1", fields=CaseFields(title="Payroll intrusion"), created_at="2025-01-01"
        ),
        "Case opened: Payroll intrusion",
    ),
    (
        CaseUpdated(changes={"status": "contained", "scope": None}, reason="host isolated"),
        "Case record updated: scope = (cleared); status = contained. Reason: host isolated",
    ),
    (
        IdentityAdded(
            fingerprint=BOB,
            name="Bob Receiver",
            organisation="Example Legal",
            role="receiving examiner",
            certificate_pem="-----BEGIN CERTIFICATE-----",
        ),
        f"Bob Receiver, Example Legal recorded as receiving examiner (certificate {BOB[:16]}...)",
    ),
    (
        RunStarted(
            run_id=RUN,
            host="ws-fin-042",
            profile="triage",
            archive=f"evidence/{RUN}.tar",
            tool_version="0.2.0",
            tool_unpacked=ToolFootprint(
                unpacked_to="/tmp/_MEI1",
                bytes=61234567,
                files=812,
                filesystem="tmpfs",
                in_memory=True,
            ),
        ),
        "Collection run 9fcc32c4 started on host ws-fin-042, profile triage, tool chainproof "
        "0.2.0; the one-file binary unpacked 61,234,567 bytes into /tmp/_MEI1 (tmpfs, in memory)",
    ),
    (
        ArtifactCollected(
            run_id=RUN,
            collector="files",
            kind="file",
            member=MEMBER,
            digests=DIGESTS,
            source=SourceFacts(path="/etc/hosts"),
            changed="size changed while read",
        ),
        "files: /etc/hosts (220 bytes) [changed while read]",
    ),
    (
        CollectionProblem(
            run_id=RUN, collector="files", kind="error", reason="permission denied", path="/root/x"
        ),
        "files error: /root/x: permission denied",
    ),
    (
        RunFinished(
            run_id=RUN,
            status="interrupted",
            reason="cancelled by the examiner",
            artifacts=9,
            errors=1,
            skipped=2,
            archive=f"evidence/{RUN}.tar",
            archive_size=89600,
        ),
        f"Run 9fcc32c4 interrupted: 9 artifacts, 1 errors, 2 skipped; archive evidence/{RUN}.tar "
        "(89600 bytes); reason: cancelled by the examiner",
    ),
    (
        Checkpoint(covers_from=4, covers_to=13, head=HEAD, reason="run end"),
        "Checkpoint (run end) over entries 4-13",
    ),
    (
        Note(journal_kind="event_reported", text="Suspicious login on ws-fin-042"),
        "[event_reported] Suspicious login on ws-fin-042",
    ),
    (
        Decision(journal_kind="decision", text="Isolate the host", reason="Lateral movement"),
        "Decision: Isolate the host. Reason: Lateral movement",
    ),
    (
        Transferred(from_fp=ALICE, to_fp=MALLORY, reason="legal review", location="Room B"),
        f"Custody transferred from Alice Examiner to {MALLORY[:16]}... at Room B. "
        "Reason: legal review",
    ),
    (
        Accessed(purpose="viewed the contents", by=ALICE, artifacts=("files/etc/hosts",)),
        "Evidence accessed by Alice Examiner, 1 artifact: files/etc/hosts. "
        "Purpose: viewed the contents",
    ),
    (
        Sealed(reason="case closed", ledger_head=HEAD, ledger_entries=31),
        "Case sealed after entry 31 (head c1d5e6286a3d7350...); no collection may follow. "
        "Reason: case closed",
    ),
    (
        Verified(result="verified", findings=0, entries=28, artifacts=14, ledger_head=HEAD),
        "Verification recorded: verified, 0 finding(s), 28 entries, 14 artifacts",
    ),
    (
        Exported(
            bundle_id="b-1",
            generated_at="2025-03-14T15:00:00.000000Z",
            path="/x/bundle.zip",
            format="zip",
            manifest_sha256="a" * 64,
            sha256sums_sha256="b" * 64,
            ledger_entries=28,
            ledger_head=HEAD,
            files=12,
            bytes=12345,
            verification="verified",
            findings=0,
        ),
        "Bundle b-1 exported (zip, 12 files, 12,345 bytes, ledger entries 1-28) to "
        "/x/bundle.zip; manifest SHA-256 aaaaaaaaaaaaaaaa...; verification verified, 0 finding(s)",
    ),
    (
        Exported(
            bundle_id="b-1",
            generated_at="2025-03-14T15:00:00.000000Z",
            path="/x/bundle.zip.p7m",
            format="zip",
            manifest_sha256="a" * 64,
            sha256sums_sha256="b" * 64,
            ledger_entries=28,
            ledger_head=HEAD,
            files=12,
            bytes=12345,
            verification="verified",
            findings=0,
            encrypted_to=("c" * 64, "d" * 64),
            p7m_sha256="e" * 64,
        ),
        "Bundle b-1 exported (zip, 12 files, 12,345 bytes, ledger entries 1-28) to "
        "/x/bundle.zip.p7m; manifest SHA-256 aaaaaaaaaaaaaaaa...; verification verified, "
        "0 finding(s); encrypted to 2 recipient(s) (cccccccccccccccc..., dddddddddddddddd...), "
        "envelope SHA-256 eeeeeeeeeeeeeeee...",
    ),
    (
        ExportStarted(
            bundle_id="b-2",
            generated_at="2025-03-14T15:00:00.000000Z",
            path="/x/bundle",
            format="directory",
            staging="/x/.bundle.chainproof-export-b-2",
            host="lab-1",
            ledger_entries=30,
            ledger_head=HEAD,
            verification="verified",
            findings=0,
        ),
        "Export of bundle b-2 (directory, ledger entries 1-30) to /x/bundle started on host "
        "lab-1; staged in /x/.bundle.chainproof-export-b-2",
    ),
    (
        ExportFailed(
            bundle_id="b-2",
            path="/x/bundle",
            reason="the exporting process stopped before the bundle was in place",
            staging="/x/.bundle.chainproof-export-b-2",
            staging_files=7,
            staging_bytes=123456,
            recovered=True,
        ),
        "Export of bundle b-2 to /x/bundle did not complete: the exporting process stopped "
        "before the bundle was in place; its staging folder /x/.bundle.chainproof-export-b-2 "
        "was removed (7 files, 123,456 bytes); recorded by a later command",
    ),
    (
        IndexRebuilt(
            ledger_head=HEAD, ledger_entries=28, rows={"artifacts": 14}, mismatches=2, reason="x"
        ),
        "Index rebuilt from entries 1-28 (2 difference(s) found before). Reason: x",
    ),
    (
        ArchiveSetAside(
            archive="evidence/stray.tar",
            set_aside_as="set-aside/stray-2.tar",
            size=10240,
            sha256="e" * 64,
            reason="no run in the ledger owns this archive",
        ),
        "Archive evidence/stray.tar (10,240 bytes, SHA-256 eeeeeeeeeeeeeeee...) set aside as "
        "set-aside/stray-2.tar: no run in the ledger owns this archive",
    ),
    (
        Timestamped(seqs=(1, 2, 5), tsa="https://tsa.example/tsr", reason="the TSA was down"),
        "Timestamps added late by https://tsa.example/tsr for 3 signed entries that had none "
        "when written (1, 2, 5). Reason: the TSA was down",
    ),
]


def test_every_kind_has_a_sample() -> None:
    assert {type(ev) for ev, _ in SAMPLES} == set(REGISTRY.values())


@pytest.mark.parametrize(("event", "line"), SAMPLES, ids=[type(e).EVENT for e, _ in SAMPLES])
def test_describe(event: Event, line: str) -> None:
    assert describe(event, NAMES) == line
    assert "\n" not in describe(event)


@pytest.mark.parametrize(("event", "_line"), SAMPLES, ids=[type(e).EVENT for e, _ in SAMPLES])
def test_describe_reads_a_written_payload_alike(event: Event, _line: str) -> None:
    """What the ledger gives back reads as what was written."""
    again = type(event).from_payload(event.payload())
    assert describe(again, NAMES) == describe(event, NAMES)


def test_access_to_many_artifacts_names_the_first_five() -> None:
    members = tuple(f"files/m{i}" for i in range(8))
    line = describe(Accessed(purpose="p", by=BOB, artifacts=members), NAMES)
    assert line == (
        "Evidence accessed by Bob Receiver, 8 artifacts: files/m0, files/m1, files/m2, "
        "files/m3, files/m4 and 3 more. Purpose: p"
    )
    assert describe(Accessed(purpose="p", by=BOB), NAMES).endswith("the whole case. Purpose: p")


def test_names_and_limits() -> None:
    assert name_of(MALLORY, NAMES) == f"{MALLORY[:16]}..."
    transfer = Transferred(from_fp=ALICE, from_name="A. Named", to_fp=BOB, reason="r", location="l")
    assert describe(transfer).startswith("Custody transferred from A. Named to b0b0")
    long = describe(Note(journal_kind="note", text="x" * 1000), NAMES)
    assert long == "[note] " + "x" * 597 + "..."
    assert describe_unreadable("note", "entry 7: note payload field 'text' is missing") == (
        "Unreadable note entry: entry 7: note payload field 'text' is missing"
    )
