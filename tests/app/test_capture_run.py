"""A packet capture in a real collection run: beside the other collectors, archived with its
hashes, recorded with its facts, cancelled cleanly, extracted and read back."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from app.cases import CaseHandle, create_case, open_case
from app.cli import main
from app.collection import CollectionRun, ProgressEvent
from app.verification import verify_case
from collectors.profiles import load_profile
from custody.db.ledger import read_entries
from custody.record.events import ArtifactCollected, CollectionProblem, RunStarted, parse
from custody.record.keys import Identity
from custody.report.build import render_report
from custody.store.storage import LocalEvidenceStore
from tests.app.conftest import make_tree
from tests.collectors.pcapng_reader import read_pcapng
from tests.collectors.test_capture import TCPDUMP, drop_cap_net_raw
from tests.custody.report.test_report import pdftext

pytestmark = pytest.mark.skipif(
    not (platform.system() == "Linux" and hasattr(os, "geteuid") and os.geteuid() == 0),
    reason="native capture runs as root on Linux (as CI does)",
)


class Sender:
    """Sends numbered UDP payloads to a local server once told to, and keeps what it sent."""

    def __init__(self) -> None:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.server.bind(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sent: list[bytes] = []
        self.go = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)
        self._thread.start()

    def _send(self) -> None:
        self.go.wait(60)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(5):
                payload = f"CHAINPROOF-RUN-{self.port}-{i}".encode()
                s.sendto(payload, ("127.0.0.1", self.port))
                self.sent.append(payload)
                time.sleep(0.02)

    def close(self) -> None:
        self.go.set()
        self._thread.join(10)
        self.server.close()


def open_case_state(case: CaseHandle) -> Any:
    """The case's state as a new process reads it (the database written by another)."""
    return open_case(case.root).state()


def events(case: CaseHandle) -> list[object]:
    return [parse(e) for e in read_entries(case.sessions, case.case_id)]


def capture_artifact(case: CaseHandle) -> ArtifactCollected:
    found = [e for e in events(case) if isinstance(e, ArtifactCollected) and e.kind == "capture"]
    assert len(found) == 1
    assert found[0].capture is not None
    return found[0]


def extract(case: CaseHandle, member: str, to: Path) -> bytes:
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["extract", str(case.root), member, "--to", str(to), "--purpose", "test"])
    assert code == 0, err.getvalue()
    return (to / member).read_bytes()


def test_capture_runs_beside_the_files_and_is_archived_recorded_and_verified(
    tmp_path: Path, alice: Identity
) -> None:
    tree = make_tree(
        tmp_path / "src", {f"d{i % 20}/f{i}.bin": os.urandom(4096) for i in range(600)}
    )
    case = create_case(tmp_path / "case", alice, title="Capture")
    profile = load_profile("none").with_paths([f"{tree}/**"])
    profile.collectors["capture"] = {"seconds": 3, "interfaces": ["lo"]}
    sender = Sender()
    seen: list[tuple[float, ProgressEvent]] = []

    def progress(e: ProgressEvent) -> None:
        seen.append((time.monotonic(), e))
        if e.collector == "capture" and e.kind == "item" and "packets" in e.message:
            sender.go.set()  # the capture is running: send the known payloads now

    try:
        result = CollectionRun(case, alice, profile, progress=progress).execute()
    finally:
        sender.close()
    ended = time.monotonic()
    assert result.status == "finished", result.reason
    art = capture_artifact(case)
    facts = art.capture
    assert facts is not None
    cap_start, cap_end = float(facts.started_monotonic), float(facts.finished_monotonic)
    turn = next(t for t, e in seen if e.kind == "collector" and e.collector == "capture")
    files_start = next(t for t, e in seen if e.kind == "collector" and e.collector == "files")
    files_end = next(t for t, e in seen if e.kind == "collector_end" and e.collector == "files")
    # Beside, not after: the capture started at its turn, the files were collected while it
    # ran, and the run ended soon after the later of the two.
    assert turn < files_start < cap_end and cap_start < files_end
    assert ended - max(files_end, cap_end) < 3.0  # recording and sealing, not another capture
    # Live counts reached the progress display.
    assert any(e.collector == "capture" and "packets" in e.message for _t, e in seen)
    # The archive holds what was hashed while written, and an independent reader finds the payloads.
    data = extract(case, art.member.name, tmp_path / "out")
    assert art.member.size == len(data)
    cap = read_pcapng(data)
    assert facts.packets == len(cap.packets) and facts.bytes == sum(
        len(p.data) for p in cap.packets
    )
    assert sender.sent and all(any(p in pkt.data for pkt in cap.packets) for p in sender.sent)
    assert (facts.interfaces, facts.method, facts.ended, facts.dropped) == (
        ("lo",),
        "native",
        "duration",
        0,
    )
    assert 2.9 < cap_end - cap_start < 4.0
    if TCPDUMP:
        out = subprocess.run(
            [TCPDUMP, "-n", "-r", str(tmp_path / "out" / art.member.name)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.count(f"127.0.0.1.{sender.port}: UDP") == len(sender.sent)
    report = verify_case(case)
    assert report.ok, report.render()
    assert not list(case.evidence_dir.glob(".spool-*"))  # the spool is gone once archived
    # The custody report lists the capture: duration, packets, drops, how, and its hash.
    entries = list(read_entries(case.sessions, case.case_id))
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(
        render_report(
            entries=entries,
            verification=report,
            manifest_sha256="0" * 64,
            bundle_id="capture-report",
            generated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
            evidence=LocalEvidenceStore(case.evidence_dir),
            identity=alice,
        )
    )
    text = " ".join(pdftext(pdf))
    assert "Packet captures" in text and "1 packet capture(s)" in text
    assert art.digests.sha256 in text.replace("\n", "")
    assert "native" in text and "duration" in text


def test_cancel_mid_capture_keeps_the_partial_capture_sealed(
    tmp_path: Path, alice: Identity
) -> None:
    case = create_case(tmp_path / "case", alice, title="Cancel")
    profile = load_profile("none")
    profile.collectors["capture"] = {"seconds": 120, "interfaces": ["lo"]}
    sender = Sender()
    run = CollectionRun(case, alice, profile)

    def progress(e: ProgressEvent) -> None:
        if e.collector == "capture" and e.kind == "item" and "packets" in e.message:
            sender.go.set()
            if len(sender.sent) == 5:
                run.cancel.set()

    run.progress = progress
    started = time.monotonic()
    try:
        result = run.execute()
    finally:
        sender.close()
    assert time.monotonic() - started < 20
    assert result.status == "interrupted"
    art = capture_artifact(case)
    assert art.capture is not None and art.capture.ended == "cancelled"
    assert "cancelled" in (art.note or "")
    data = extract(case, art.member.name, tmp_path / "out")
    cap = read_pcapng(data)
    assert all(any(p in pkt.data for pkt in cap.packets) for p in sender.sent)
    assert art.capture.packets == len(cap.packets)
    report = verify_case(case)
    assert report.ok, report.render()


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_cli_capture_options_reach_the_run(tmp_path: Path, alice: Identity) -> None:
    case = create_case(tmp_path / "case", alice, title="CLI")
    code, _out, err = run_cli(
        "collect", str(case.root), "--profile", "none", "--no-progress",
        "--capture-seconds", "0.5", "--capture-interface", "lo",
        "--capture-filter", "udp port 9", "--capture-snaplen", "128",
        "--capture-max-bytes", "1MiB",
    )  # fmt: skip
    assert code == 0, err
    started = next(e for e in events(case) if isinstance(e, RunStarted))
    assert started.profile_collectors["capture"] == {
        "seconds": 0.5,
        "interfaces": ["lo"],
        "filter": "udp port 9",
        "snaplen": 128,
        "max_bytes": "1MiB",
    }
    art = capture_artifact(case)
    assert art.capture is not None
    assert (art.capture.filter, art.capture.snaplen) == ("udp port 9", 128)


def test_cli_capture_options_without_a_duration_are_refused(
    tmp_path: Path, alice: Identity
) -> None:
    case = create_case(tmp_path / "case", alice, title="CLI")
    code, _out, err = run_cli(
        "collect", str(case.root), "--profile", "none", "--no-progress", "--capture-filter", "udp"
    )
    assert code == 2 and "--capture-seconds" in err and "Traceback" not in err
    code, _out, err = run_cli(
        "collect", str(case.root), "--profile", "none", "--no-progress",
        "--capture-seconds", "1", "--capture-snaplen", "0",
    )  # fmt: skip
    assert code == 2 and "snaplen" in err


def test_without_cap_net_raw_the_run_records_a_skip_and_finishes(
    tmp_path: Path, alice: Identity
) -> None:
    case = create_case(tmp_path / "case", alice, title="No capability")
    argv = [sys.executable, "-m", "app", "collect", str(case.root), "--profile", "none",
            "--no-progress", "--capture-seconds", "1", "--capture-interface", "lo"]  # fmt: skip
    done = subprocess.run(
        drop_cap_net_raw(argv),
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "finished" in done.stdout and "1 skipped" in done.stdout
    skips = [e for e in events(case) if isinstance(e, CollectionProblem)]
    assert [(s.collector, s.kind, s.reason) for s in skips] == [
        ("capture", "skipped", "capture needs CAP_NET_RAW")
    ]
    assert verify_case(case).ok


def test_a_run_killed_mid_capture_has_its_partial_capture_set_aside_by_recovery(
    tmp_path: Path, alice: Identity
) -> None:
    """SIGKILL while the capture writes its spool: the next recovery records the partial
    file (size, SHA-256) and moves it to set-aside/; the run ends as recovered and the case
    verifies and exports."""
    case = create_case(tmp_path / "case", alice, title="Killed capture")
    collect = [sys.executable, "-m", "app", "collect", str(case.root), "--profile", "none",
               "--no-progress", "--capture-seconds", "60", "--capture-interface", "lo"]  # fmt: skip
    proc = subprocess.Popen(collect, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        spooled: list[Path] = []
        while not spooled and time.monotonic() < deadline:
            spooled = [p for p in case.evidence_dir.glob(".spool-*/*") if p.stat().st_size]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"CHAINPROOF-KILLED", ("127.0.0.1", 9))  # a packet to capture
            time.sleep(0.1)
        assert spooled, proc.stderr.read() if proc.poll() is not None else "no spool"
    finally:
        proc.kill()
        proc.wait(30)
    [run] = list(open_case_state(case).runs.values())
    assert run.finished is None
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["recover", str(case.root)])
    assert code == 0, err.getvalue()
    state = open_case_state(case)
    end = state.runs[run.run_id].finished
    assert end is not None and end.event.status == "recovered"
    assert "partial output file(s)" in end.event.reason
    [kept] = state.set_aside
    assert kept.event.archive.startswith(f"evidence/.spool-{run.run_id}/")
    assert kept.event.reason.startswith(f"partial output left by run {run.run_id}")
    moved = case.root / kept.event.set_aside_as
    data = moved.read_bytes()
    assert len(data) == kept.event.size and hashlib.sha256(data).hexdigest() == kept.event.sha256
    assert not (case.evidence_dir / f".spool-{run.run_id}").exists()
    report = verify_case(case)
    assert report.ok, report.render()
