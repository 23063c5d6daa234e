"""What the command line tells its user (issue 15): collection progress that fits the
terminal, plain progress lines without one, refusals before anything is signed, and a
desktop application that says how to install it. Real processes, real files."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import sqlite3
import struct
import subprocess
import sys
import termios
import zipfile
from contextlib import closing
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from app.collection import ProgressEvent
from app.progress import TerminalProgress, _row_cells, human_bytes, human_duration
from custody.record.keys import Identity

CLI = [sys.executable, "-m", "app"]
#: A control sequence of the terminal (colour, cursor movement, show/hide cursor).
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _tree(root: Path, n: int = 120) -> Path:
    for i in range(n):
        d = root / f"d{i % 6}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:04d}.bin").write_bytes(os.urandom(24_000))
    return root


@pytest.fixture
def case(alice: Identity, tmp_path: Path) -> Path:
    """A new case of Alice's, nothing collected yet."""
    path = tmp_path / "case"
    run("case", "new", path, "--title", "feedback")
    return path


@pytest.fixture
def collected(case: Path, tmp_path: Path) -> Path:
    run("collect", case, "--profile", "none", "--path", f"{_tree(tmp_path / 'src', 10)}/**")
    return case


def _entries(case: Path) -> int:
    """How many entries the case's ledger holds (read with sqlite3, not through Chainproof)."""
    with closing(sqlite3.connect(f"file:{case / 'case.db'}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM ledger_entries").fetchone()[0])


# --------------------------------------------------------------------------- progress


def _collect_in_a_terminal(case: Path, src: Path, columns: int) -> tuple[int, str]:
    """``chainproof collect`` with its stderr on a pseudo-terminal ``columns`` wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [*CLI, "collect", str(case), "--profile", "none", "--path", f"{src}/**"],
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
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=120), out.decode("utf-8")


@pytest.mark.parametrize("columns", [80, 60])
def test_live_progress_fits_the_terminal(case: Path, tmp_path: Path, columns: int) -> None:
    code, shown = _collect_in_a_terminal(case, _tree(tmp_path / "src"), columns)
    assert code == 0, shown
    assert "\x1b[" in shown  # a live display, not plain lines
    lines = [line for line in re.split(r"[\r\n]+", CSI.sub("", shown)) if line.strip()]
    too_wide = [line for line in lines if cell_len(line) > columns]
    assert not too_wide, too_wide
    assert "0/?" not in shown
    # The last frame: each collector done, with counts and human units.
    last = {line.split()[0]: line for line in lines}
    assert re.search(r"^system +done +1/1 +[\d.]+ KiB", last["system"]), last["system"]
    assert re.search(r"^files +done +120/120 +2\.7 MiB", last["files"]), last["files"]
    assert re.search(r"^run +finished +121 files +2\.[78] MiB", last["run"]), last["run"]


def _feed(progress: TerminalProgress, clock: list[float]) -> None:
    """A run seen by the display: a done collector, one busy on its 1,234th of 56,789 files."""
    progress.update(ProgressEvent("started"))
    progress.update(ProgressEvent("collector", collector="system", message="System"))
    clock[0] += 0.2
    progress.update(
        ProgressEvent("item", collector="system", done=1, total=1, bytes_done=1900, current="x")
    )
    progress.update(
        ProgressEvent("collector_end", collector="system", done=1, total=1, bytes_done=1900)
    )
    progress.update(ProgressEvent("collector", collector="files", message="Files"))
    progress.update(ProgressEvent("item", collector="files", message="files: /home/**"))
    clock[0] += 1
    hostile = "/home/ann/" + "deep/" * 30 + "evil\x1b[2J\nname-日本語.txt"
    for done in range(1, 1235):
        clock[0] += 0.005
        progress.update(
            ProgressEvent(
                "item",
                collector="files",
                done=done,
                total=56_789,
                bytes_done=1900 + done * 40_000,
                current=hostile,
            )
        )


@pytest.mark.parametrize("width", [120, 80, 60, 40])
def test_rows_fit_any_width_with_human_units(width: int) -> None:
    clock = [100.0]
    out = io.StringIO()
    console = Console(width=width, file=out, force_terminal=True, color_system=None)
    progress = TerminalProgress(True, stream=io.StringIO(), live=True, clock=lambda: clock[0])
    _feed(progress, clock)
    console.print(progress)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # system, files, run
    assert all(cell_len(line) <= width for line in lines), lines
    assert "\x1b" not in out.getvalue() and "\n" not in "".join(lines)  # the name is defused
    system, files, total = lines
    assert system.startswith("system") and "done" in system and "1/1" in system
    assert "1,234/56,789" in files and "0/?" not in files
    assert "1,235 files" in total
    if width >= 60:
        assert "1.9 KiB" in system and "47.1 MiB" in files and "ETA" in files
        assert files.endswith(".txt")  # the current item keeps its end
    if width >= 80:
        assert "MiB/s" in files and "╌" * 12 in files  # the bar, 2% of it done
    if width >= 120:
        assert "files/s" in files


def test_plain_lines_without_a_terminal(case: Path, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", 30)
    proc = run("collect", case, "--profile", "none", "--path", f"{src}/**")
    lines = proc.stderr.splitlines()
    assert lines == [
        line for line in lines if line.startswith("chainproof: ") and line.isprintable()
    ], proc.stderr
    assert any(re.search(r" system done: 1 file, [\d.]+ KiB in \d+:\d\d$", x) for x in lines)
    assert any(re.search(r" files done: 30 files, 703\.1 KiB in \d+:\d\d$", x) for x in lines)
    assert re.search(r": 31 artifacts, [\d.]+ KiB \([\d,]+ bytes\), 0 errors", proc.stdout)
    for quiet in (["--no-progress"], ["--json"]):
        again = run("collect", case, "--profile", "none", *quiet)
        assert again.stderr == "", again.stderr


def test_plain_lines_come_every_interval() -> None:
    """While a collector runs, one line each interval (here 50 ms), with its counts."""
    clock = [0.0]
    out = io.StringIO()
    with TerminalProgress(True, stream=out, live=False, interval=0.05, clock=lambda: clock[0]) as p:
        _feed(p, clock)
        import time

        time.sleep(0.3)
        p.update(ProgressEvent("finished", message="finished"))
        time.sleep(0.15)
    lines = out.getvalue().splitlines()
    periodic = [line for line in lines if " files: 1,234/56,789, 47.1 MiB," in line]
    assert len(periodic) >= 2, lines
    assert all(line.isprintable() for line in lines)
    assert "ETA " in periodic[0] and "files/s" in periodic[0] and "MiB/s" in periodic[0]
    assert any(line.endswith(" system done: 1 file, 1.9 KiB in 0:00") for line in lines)
    # after the run's end, no more lines
    assert lines[-1] == periodic[-1]


def test_a_capture_beside_the_others_keeps_its_own_bytes_and_shows_its_counts() -> None:
    """A capture starts first, runs while the files are recorded and is recorded after
    them: its row counts its own bytes, and the plain line says what it has so far."""
    clock = [0.0]
    out = io.StringIO()
    p = TerminalProgress(True, stream=out, live=False, clock=lambda: clock[0])
    p.update(ProgressEvent("started"))
    p.update(ProgressEvent("collector", collector="capture", message="Packet capture"))
    p.update(ProgressEvent("item", collector="capture", message="12 packets, 3.4 KiB on lo"))
    p.update(ProgressEvent("collector", collector="files", message="Files"))
    for i in (1, 2):
        ev = ProgressEvent("item", collector="files", done=i, total=2, bytes_done=1000 * i)
        p.update(ev)
    line = p._status_line(clock[0])
    assert " files: 2/2, 2.0 KiB" in line and "; capture: 12 packets, 3.4 KiB on lo" in line
    p.update(ProgressEvent("collector_end", collector="files", done=2, total=2, bytes_done=2000))
    p.update(ProgressEvent("item", collector="capture", done=1, total=1, bytes_done=2200))
    p.update(ProgressEvent("collector_end", collector="capture", done=1, total=1, bytes_done=2200))
    ends = out.getvalue().splitlines()
    assert ends[0].endswith(" files done: 2 files, 2.0 KiB in 0:00"), ends
    assert ends[1].endswith(" capture done: 1 file, 200 B in 0:00"), ends


def test_a_collector_still_finding_its_files_shows_counts_without_a_bar() -> None:
    """Past the run's look-ahead a collector's total is not known while it yields: its row
    counts what is recorded, with no bar, percentage or ETA, and its end gives the count."""
    clock = [0.0]
    out = io.StringIO()
    p = TerminalProgress(True, stream=out, live=False, clock=lambda: clock[0])
    p.update(ProgressEvent("started"))
    p.update(ProgressEvent("collector", collector="files", message="Files"))
    for i in range(1, 3001):
        clock[0] = i / 1000
        p.update(ProgressEvent("item", collector="files", done=i, bytes_done=100 * i, current="f"))
    line = p._status_line(clock[0])
    assert " files: 3,000 files, 293.0 KiB, " in line and "files/s" in line, line
    assert "ETA" not in line and "%" not in line
    cells = _row_cells(p._rows["files"], clock[0], unicode=True)
    assert cells["count"][0] == "3,000 files" and cells["bar"][0] == "" and cells["state"][0] == ""
    p.update(ProgressEvent("collector_end", collector="files", done=3000, total=3000))
    assert out.getvalue().splitlines()[-1].endswith(" files done: 3,000 files, 293.0 KiB in 0:03")


def test_human_units() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 1536, 5 << 20, 3 << 30)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 KiB",
        "5.0 MiB",
        "3.0 GiB",
    ]
    assert [human_duration(s) for s in (0, 65, 3725)] == ["0:00", "1:05", "1:02:05"]


# --------------------------------------------------------------------------- refusals


def test_access_to_an_unknown_artifact_is_refused_unsigned(collected: Path) -> None:
    before = _entries(collected)
    for artifacts in (["no/such"], ["volatile/system.json", "no/such", "also/missing"]):
        refused = run(
            "access",
            collected,
            "--purpose",
            "triage",
            *(a for name in artifacts for a in ("--artifact", name)),
            check=False,
        )
        assert refused.returncode == 2, refused.stderr
        [line] = refused.stderr.splitlines()
        named = line.split(" has no artifact named ", 1)[1].split("; nothing was recorded")[0]
        assert named == ", ".join(repr(a) for a in artifacts if a != "volatile/system.json")
        assert _entries(collected) == before
    src = next(p for p in (collected.parent / "src").rglob("*") if p.is_file())
    hinted = run("access", collected, "--purpose", "p", "--artifact", str(src), check=False)
    assert hinted.returncode == 2 and f"(its member: 'files{src}')" in hinted.stderr
    assert _entries(collected) == before
    ok = run(
        "access", collected, "--purpose", "p", "--artifact", f"files{src}", "--artifact",
        "volatile/system.json",
    )  # fmt: skip
    assert "ledger entry" in ok.stdout and _entries(collected) == before + 1


def test_export_out_ending_in_zip_writes_a_zip(collected: Path, tmp_path: Path) -> None:
    before = _entries(collected)
    target = tmp_path / "Bundle.ZIP"
    done = run("export", collected, "--out", target, "--json")
    doc = json.loads(done.stdout)
    assert doc["format"] == "zip" and zipfile.is_zipfile(target)
    assert run("verify", target).returncode == 0
    after = _entries(collected)
    assert after == before + 2  # export_started, exported
    plain = tmp_path / "bundle"
    refused = run("export", collected, "--out", plain, "--zip", check=False)
    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.splitlines()
    assert f"--out {plain}.zip" in line and not plain.exists()
    assert _entries(collected) == after
    helped = run("export", "--help").stdout
    assert "ends in .zip" in " ".join(helped.split())


def test_gui_without_pyside6_says_how_to_install_it() -> None:
    """As after ``pip install .`` without the gui extra: PySide6 cannot be found."""
    hide = (
        "import sys, runpy\n"
        "class NoQt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in ('PySide6', 'shiboken6'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoQt())\n"
        "sys.argv = ['chainproof', 'gui']\n"
        "runpy.run_module('app', run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line == (
        "chainproof: the desktop application needs PySide6, which is not installed: "
        "pip install 'chainproof[gui]'"
    )
