"""Cold start of the desktop application (target: <= 1.5 s to a usable window).

Measures, from before the process is started to the main window shown, painted once and the
event loop idle, ``python -m app gui`` (the case list, three cases under the root folder)
and ``python -m app gui CASE_DIR`` (a case opened at start, off the GUI thread; also the
time until the case and its artifact table are shown). Each is run
``--reps`` times in a fresh process; prints every time, the median and the median CPU time (user + system, whole process:
less swayed than the wall time by other work on the machine). Offscreen by default
(``QT_QPA_PLATFORM``); under ``xvfb-run -a`` set ``QT_QPA_PLATFORM=xcb`` for a real X window.

    .venv/bin/python benchmarks/bench_ui_start.py [--reps 7] [--imports]

``--imports`` also prints the slowest modules imported (``python -X importtime``, cumulative
milliseconds), to see what to defer; the list includes what the case list imports off the
GUI thread while the window is already usable.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_S = 1.5

#: Runs in the measured process: the app's own entry point (``python -m app gui ...``),
#: with QApplication.exec wrapped to say READY once the main window has been painted and
#: the events queued behind that paint have been handled; then the window is closed.
CHILD = r"""
import runpy, sys
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

_exec = QApplication.exec

class _Painted(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and not getattr(self, "seen", False):
            self.seen = True
            QTimer.singleShot(0, _ready)
        return False

def _ready():
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    _wait_case()

def _wait_case():
    app = QApplication.instance()
    window = next(w for w in app.topLevelWidgets() if isinstance(w, QMainWindow))
    if len(sys.argv) > 2 and getattr(window, "case", None) is None:
        QTimer.singleShot(5, _wait_case)  # the case given opens off the GUI thread
        return
    if len(sys.argv) > 2:  # chainproof gui CASE_DIR
        window.artifact_view.model.rowCount()  # its rows are read when it is shown
        sys.stdout.write("CASE\n")
        sys.stdout.flush()
    window.close()  # waits for the work it started (the case list), then the app quits

def exec_(*_args):
    app = QApplication.instance()
    windows = [w for w in app.topLevelWidgets() if isinstance(w, QMainWindow) and w.isVisible()]
    if not windows:
        raise SystemExit("no main window is shown")
    app._painted = _Painted()
    windows[0].installEventFilter(app._painted)
    windows[0].update()
    return _exec()

QApplication.exec = exec_
sys.argv = ["chainproof", "gui", *sys.argv[1:]]
runpy.run_module("app", run_name="__main__")
"""


def setup(work: Path) -> tuple[dict[str, str], Path]:
    """An examiner identity, three cases under a root folder (one with a small collection),
    and GUI settings that look there: what an examiner's second start sees."""
    home = work / "home"
    os.environ["CHAINPROOF_HOME"] = str(home)
    from app.cases import create_case
    from app.collection import CollectionRun
    from app.identity import create_identity, save_examiner_identity
    from app.paths import identity_file
    from app.profiles import load_profile

    identity = create_identity("Bench Examiner", "Bench", "bench@example.org")
    save_examiner_identity(identity, b"bench passphrase, not a secret", identity_file())
    cases = work / "cases"
    tree = work / "tree"
    for i in range(200):
        d = tree / f"d{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:04d}.txt").write_bytes(b"x" * (100 + i))
    handles = [create_case(cases / f"case{i}", identity, title=f"Case {i}") for i in range(3)]
    profile = load_profile("none").with_paths([f"{tree}/**"])
    CollectionRun(handles[0], identity, profile).execute()
    for h in handles:
        h.sessions.kw["bind"].dispose()
    (home / "gui.ini").write_text(f"[cases]\nroot={cases}\n")
    env = {
        **os.environ,
        "CHAINPROOF_HOME": str(home),
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        "PYTHONDONTWRITEBYTECODE": "",
    }
    return env, handles[0].root


def once(env: dict[str, str], args: list[str]) -> tuple[float, float | None, float]:
    """(wall seconds to a usable window, to the case shown (None: no case given), CPU
    seconds of the whole process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    ready = time.perf_counter() - start
    shown = None
    if args:
        case_line = proc.stdout.readline()
        shown = time.perf_counter() - start if case_line.strip() == "CASE" else None
    proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)  # the CPU time, less swayed by other load
    proc.returncode = os.waitstatus_to_exitcode(status)
    if line.strip() != "READY" or (args and shown is None):
        raise SystemExit(f"the window did not come up (exit {proc.returncode}):\n{err}")
    return ready, shown, usage.ru_utime + usage.ru_stime


def import_times(env: dict[str, str], args: list[str], top: int = 25) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CHILD, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|", 2)
        rows.append((int(cumulative), name.rstrip()))
    print(f"  slowest imports (cumulative ms) for gui {' '.join(args)}:")
    for us, name in sorted(rows, reverse=True)[:top]:
        print(f"    {us / 1000:8.1f}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--imports", action="store_true", help="show the slowest imports")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cp-bench-start-"))
    env, case = setup(work)
    once(env, [])  # warm the page cache and the bytecode caches: a "cold" start of the app
    print(f"Cold start to a usable window, {args.reps} runs each, {env['QT_QPA_PLATFORM']}:")
    worst = 0.0
    for label, argv in (("gui (case list)", []), ("gui CASE_DIR (artifacts)", [str(case)])):
        runs = [once(env, argv) for _ in range(args.reps)]
        median = statistics.median(t for t, _s, _c in runs)
        cpu = statistics.median(c for _t, _s, c in runs)
        worst = max(worst, median)
        shown = " ".join(f"{t:.2f}" for t, _s, _c in runs)
        print(f"  {label:<26} median {median:.2f} s, CPU {cpu:.2f} s   (runs: {shown})")
        if argv:
            case = statistics.median(s or 0.0 for _t, s, _c in runs)
            print(f"  {'  ... its case shown':<26} median {case:.2f} s")
        if args.imports:
            import_times(env, argv)
    verdict = "meets" if worst <= TARGET_S else "misses"
    print(f"target <= {TARGET_S:.1f} s: {verdict} it (slowest median {worst:.2f} s)")
    print(f"(data in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
