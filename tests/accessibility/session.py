"""A desktop session a screen reader would see: Xvfb, a private D-Bus session bus, the AT-SPI
bus, a window manager (openbox), the application with Qt's accessibility on, and an AT-SPI
client process (the system python3 with pyatspi) that reads it.

Each process is started here and stopped here by its PID (D-Bus re-parents the helpers it
activates to init, so a process tree is not enough).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CLIENT = Path(__file__).with_name("atspi_client.py")
SYSTEM_PYTHON = "/usr/bin/python3"
LAUNCHER = "/usr/libexec/at-spi-bus-launcher"
#: What scripts/setup.sh --dev installs for this test (Debian/Ubuntu package names).
PACKAGES = "xvfb dbus-daemon at-spi2-core python3-pyatspi openbox"


def missing_tools() -> list[str]:
    """The programs this session needs that are not installed."""
    missing = [p for p in ("Xvfb", "dbus-daemon", "openbox") if shutil.which(p) is None]
    if not Path(LAUNCHER).exists():
        missing.append(LAUNCHER)
    probe = (
        subprocess.run([SYSTEM_PYTHON, "-c", "import pyatspi"], capture_output=True, check=False)
        if Path(SYSTEM_PYTHON).exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        missing.append(f"{SYSTEM_PYTHON} with pyatspi")
    return missing


class Client:
    """The AT-SPI client process: one JSON command in, one JSON answer out."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        first = self._read(60)
        if not first.get("ok"):
            raise RuntimeError(f"AT-SPI client did not start: {first}")
        self.app_name = first["result"]

    def _read(self, timeout: float) -> dict[str, Any]:
        import selectors

        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError(f"the AT-SPI client did not answer in {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the AT-SPI client ended (exit {self.proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, timeout: float = 60, **command: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        answer = self._read(timeout)
        if not answer["ok"]:
            raise AssertionError(f"AT-SPI {command['cmd']}: {answer['error']}")
        return answer["result"]


def _stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _stop_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _bus_has(env: dict[str, str], name: str) -> bool:
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import sys; from gi.repository import Gio;"
            "b = Gio.bus_get_sync(Gio.BusType.SESSION, None);"
            "r = b.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',"
            " 'org.freedesktop.DBus', 'NameHasOwner', __import__('gi.repository.GLib',"
            " fromlist=['Variant']).Variant('(s)', (sys.argv[1],)), None, 0, 5000, None);"
            "sys.exit(0 if r.unpack()[0] else 1)",
            name,
        ],
        env=env,
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@contextmanager
def desktop(tmp: Path) -> Iterator[dict[str, str]]:
    """Xvfb, a session bus, the AT-SPI bus and openbox; yields the environment to run in."""
    runtime = tmp / "run"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ)
    for key in ("QT_QPA_PLATFORM", "DBUS_SESSION_BUS_ADDRESS", "AT_SPI_BUS_ADDRESS", "DISPLAY"):
        env.pop(key, None)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    procs: list[subprocess.Popen[Any]] = []
    pids: list[int] = []
    try:
        read_fd, write_fd = os.pipe()
        xvfb = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                "1400x900x24",
                "-nolisten",
                "tcp",
            ],
            pass_fds=(write_fd,),
            stderr=subprocess.DEVNULL,
        )
        procs.append(xvfb)
        os.close(write_fd)
        with os.fdopen(read_fd) as f:
            display = f.readline().strip()
        if not display:
            raise RuntimeError("Xvfb did not start")
        env["DISPLAY"] = f":{display}"
        bus = runtime / "bus"
        dbus = subprocess.Popen(
            ["dbus-daemon", "--session", f"--address=unix:path={bus}", "--nofork", "--print-pid"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(dbus)
        assert dbus.stdout is not None
        dbus.stdout.readline()
        env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={bus}"
        launcher = subprocess.Popen(
            [LAUNCHER, "--launch-immediately"], env=env, stderr=subprocess.DEVNULL
        )
        procs.append(launcher)
        for _ in range(100):
            if _bus_has(env, "org.a11y.Bus"):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the AT-SPI bus did not start")
        wm = subprocess.Popen(
            ["openbox", "--sm-disable"],
            env=env,
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        procs.append(wm)
        time.sleep(0.5)
        yield env
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for pid in pids:
            _stop_pid(pid)
        _stop_helpers(runtime)


def _stop_helpers(runtime: Path) -> None:
    """Stop the registry daemon and the AT-SPI dbus-daemon the launcher started (they are
    re-parented to init): found by their environment's XDG_RUNTIME_DIR, this session's."""
    marker = f"XDG_RUNTIME_DIR={runtime}".encode()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            _stop_pid(int(entry.name))


@contextmanager
def running_app(
    env: dict[str, str], args: list[str], home: Path
) -> Iterator[tuple[subprocess.Popen[str], Client]]:
    """The application (``python -m app ARGS``) with Qt's accessibility on, and a client."""
    app_env = dict(env)
    app_env.update(
        QT_QPA_PLATFORM="xcb",
        QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1",
        QT_ACCESSIBILITY="1",
        CHAINPROOF_HOME=str(home),
    )
    app = subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        env=app_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    client_proc = subprocess.Popen(
        [SYSTEM_PYTHON, str(CLIENT), str(app.pid)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield app, Client(client_proc)
    finally:
        if client_proc.stdin is not None:
            client_proc.stdin.close()
        _stop(client_proc)
        _stop(app)
