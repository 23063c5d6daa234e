"""What ``chainproof verify`` tells its user while it runs (issue 14 item 3): a live line in
a terminal that fits it, plain lines without one, nothing with --no-progress or --json, and
Ctrl-C as one line and exit 130. Real processes and real cases."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from rich.cells import cell_len

from app import cli
from app.progress import VerifyProgress
from custody.record.keys import Identity

CLI = [sys.executable, "-m", "app"]
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MIB = 1 << 20


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def case(alice: Identity, tmp_path: Path) -> Path:
    """A case with one run of about 3 MiB."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.bin").write_bytes(os.urandom(MIB))
    path = tmp_path / "case"
    assert run("case", "new", path, "--title", "verify feedback").returncode == 0
    done = run("collect", path, "--profile", "none", "--no-progress", "--path", f"{src}/**")
    assert done.returncode == 0, done.stderr
    return path


def test_quiet_with_no_progress_or_json(case: Path) -> None:
    for quiet in (["--no-progress"], ["--json"]):
        proc = run("verify", case, *quiet)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stderr == "", proc.stderr
    plain = run("verify", case)  # stderr a pipe, done within 5 s: no line either
    assert plain.returncode == 0 and plain.stderr == "", plain.stderr


def _verify_in_a_terminal(case: Path, columns: int) -> tuple[int, str]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [*CLI, "verify", str(case)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=120), out.decode("utf-8")


@pytest.mark.parametrize("columns", [80])
def test_live_line_fits_the_terminal(case: Path, columns: int) -> None:
    code, shown = _verify_in_a_terminal(case, columns)
    assert code == 0, shown
    assert "\x1b[" in shown
    lines = [line for line in re.split(r"[\r\n]+", CSI.sub("", shown)) if line.strip()]
    assert lines, shown
    assert all(line.startswith("verifying ") for line in lines), lines
    too_wide = [line for line in lines if cell_len(line) > columns]
    assert not too_wide, too_wide
    assert re.search(r"archives .*100% 3\.0 MiB/3\.0 MiB", lines[-1]), lines


def test_line_at_any_width_with_bytes_speed_and_eta() -> None:
    clock = [100.0]
    p = VerifyProgress(True, stream=io.StringIO(), live=False, clock=lambda: clock[0])
    p.update("ledger", 0, 12_345)
    p.update("ledger", 1_000, 12_345)
    assert p.line(80) == f"verifying 0:00 ledger {'╌' * 12} 8% 1,000/12,345 entries"
    assert p.line(40) == "verifying 0:00 ledger 8%"
    p.update("archives", 0, 3 * 1024 * MIB)
    clock[0] += 10
    p.update("archives", 1024 * MIB, 3 * 1024 * MIB)
    wide = p.line(80)
    assert "archives" in wide and "33%" in wide and "1.0 GiB/3.0 GiB" in wide, wide
    assert "102.4 MiB/s" in wide and "ETA 0:20" in wide, wide
    for width in range(20, 81):
        assert cell_len(p.line(width)) <= width, width
    assert p.line(40) == "verifying 0:10 archives 33%", p.line(40)
    assert p.line(50) == "verifying 0:10 archives 33% 1.0 GiB/3.0 GiB", p.line(50)
    plain = p.plain_line()
    assert (
        plain == "chainproof: 0:10 verifying archives: 33%, 1.0 GiB/3.0 GiB, 102.4 MiB/s, ETA 0:20"
    )


def test_plain_lines_come_every_interval() -> None:
    out = io.StringIO()
    with VerifyProgress(True, stream=out, live=False, interval=0.05) as p:
        p.update("archives", MIB, 4 * MIB)
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2, lines
    assert all(line.startswith("chainproof: ") and line.isprintable() for line in lines)
    assert all("verifying archives: 25%, 1.0 MiB/4.0 MiB" in line for line in lines), lines


def test_ctrl_c_is_one_line_and_exit_130(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGINT during the archive phase: the check stops, one line, exit 130, no traceback."""
    original = VerifyProgress.update
    sent: list[str] = []

    def update(self: VerifyProgress, phase: str, done: int, total: int) -> None:
        if phase == "archives" and not sent:
            sent.append(phase)
            os.kill(os.getpid(), signal.SIGINT)
        original(self, phase, done, total)

    monkeypatch.setattr(VerifyProgress, "update", update)
    before = signal.getsignal(signal.SIGINT)
    assert threading.current_thread() is threading.main_thread()
    code = cli.main(["verify", str(case), "--no-progress"])
    out, err = capsys.readouterr()
    assert sent and code == 130
    assert err == "chainproof: verification cancelled\n", err
    assert out == ""
    assert signal.getsignal(signal.SIGINT) is before  # restored
