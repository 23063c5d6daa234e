"""The logs collector, pointed at a temporary log tree."""

from __future__ import annotations

import gzip
import os
import platform
import shutil
from pathlib import Path

import pytest

from collectors.base import CommandRecord, FileTarget
from tests.collectors.helpers import problems


def make_logs(root: Path) -> Path:
    (root / "apt").mkdir(parents=True)
    (root / "syslog").write_text("now\n")
    (root / "syslog.1").write_text("before\n")
    (root / "syslog.2.gz").write_bytes(gzip.compress(b"long ago\n"))
    (root / "apt/history.log").write_text("apt\n")
    (root / "big.log").write_bytes(b"x" * 5000)
    os.symlink("syslog", root / "current")
    return root


def test_every_log_file_is_a_target_and_big_ones_are_skipped(run, tmp_path: Path) -> None:
    root = make_logs(tmp_path / "log")
    obs = run("logs", root=str(root), max_file_size="4KiB", journal=False)
    files = sorted(o.path for o in obs if isinstance(o, FileTarget))
    assert files == sorted(
        os.fsencode(root / n)
        for n in ("apt/history.log", "current", "syslog", "syslog.1", "syslog.2.gz")
    )
    assert all(o.rule == "logs" for o in obs if isinstance(o, FileTarget))
    [big] = problems(obs)
    assert big.kind == "skipped" and big.path == os.fsencode(root / "big.log")
    assert "max_file_size" in big.reason
    assert not [o for o in obs if isinstance(o, CommandRecord)]


def test_own_output_directory_inside_the_log_root(run, tmp_path: Path) -> None:
    root = make_logs(tmp_path / "log")
    out = root / "case"
    (out / "evidence").mkdir(parents=True)
    (out / "evidence/run.tar").write_bytes(b"t")
    obs = run("logs", output_dir=out, root=str(root), journal=False)
    assert not any(b"/case/" in o.path for o in obs if isinstance(o, FileTarget))
    assert [p.reason for p in problems(obs)] == ["the case's own output directory"]


def test_missing_root_is_reported(run, tmp_path: Path) -> None:
    obs = run("logs", root=str(tmp_path / "none"), journal=False)
    assert [(p.kind, p.reason) for p in problems(obs)] == [("skipped", "log directory not found")]


@pytest.mark.skipif(
    platform.system() != "Linux" or not shutil.which("journalctl"), reason="needs journalctl"
)
def test_journal_export_command(run, tmp_path: Path) -> None:
    obs = run("logs", root=str(make_logs(tmp_path / "log")), since="-2d")
    [journal] = [o for o in obs if isinstance(o, CommandRecord)]
    assert journal.member == "logs/journal.export"
    assert journal.argv == ("journalctl", "-o", "export", "--no-pager", "--since", "-2d")


@pytest.mark.skipif(platform.system() != "Windows", reason="Windows event logs")
def test_windows_event_logs(run) -> None:  # pragma: no cover - Windows only
    obs = run("logs", event_logs=["Microsoft-Windows-Sysmon/Operational"])
    argvs = [o.argv for o in obs if isinstance(o, CommandRecord)]
    assert ("wevtutil", "qe", "Security", "/f:xml") in argvs
    assert len(argvs) == 5


@pytest.mark.skipif(platform.system() != "Darwin", reason="macOS unified log")
def test_macos_unified_log(run) -> None:  # pragma: no cover - macOS only
    obs = run("logs", last="1h")
    argvs = [o.argv for o in obs if isinstance(o, CommandRecord)]
    assert ("log", "show", "--style", "json", "--last", "1h") in argvs
