"""The one-file binary (build.spec, scripts/build.sh) does what the package does.

One build per test session at most: ``dist/chainproof`` is reused when it is newer than every
file it is built from, else ``scripts/build.sh`` rebuilds it (about a minute). The tests run a
copy, so that another session rebuilding ``dist/`` cannot change the binary under them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.tool import MEMORY_FILESYSTEMS, filesystem_of
from app.version import __version__
from tests.conftest import PASSPHRASE

ROOT = Path(__file__).resolve().parent.parent
EXE = ".exe" if sys.platform == "win32" else ""
DIST = ROOT / "dist" / f"chainproof{EXE}"
#: What the binary is built from: a change to any of these makes dist/chainproof stale.
SOURCES = (
    "app",
    "collectors",
    "custody",
    "ui",
    "resources",
    "build.spec",
    "scripts/build.sh",
    "scripts/frozen_main.py",
    "scripts/pyi_rth_qt.py",
    "scripts/prune_icu.py",
    "scripts/elf.py",
    "pyproject.toml",
)
LINUX = sys.platform.startswith("linux")

pytest.importorskip(
    "PyInstaller", reason="PyInstaller is a dev dependency (pip install -e '.[dev]')"
)


def _newest_source() -> float:
    newest = 0.0
    for rel in SOURCES:
        path = ROOT / rel
        files = path.rglob("*") if path.is_dir() else [path]
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                newest = max(newest, f.stat().st_mtime)
    return newest


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Serialise builds between test sessions sharing this tree."""
    if sys.platform == "win32":
        yield
        return
    import fcntl

    lock = ROOT / "build" / ".frozen-test.lock"
    lock.parent.mkdir(exist_ok=True)
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of an up-to-date dist/chainproof."""
    with _build_lock():
        if not DIST.exists() or DIST.stat().st_mtime <= _newest_source():
            env = {k: v for k, v in os.environ.items() if k != "CHAINPROOF_BUILD_GUI"}
            build = subprocess.run(
                ["bash", str(ROOT / "scripts" / "build.sh")],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=1200,
            )
            assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        copy = tmp_path_factory.mktemp("frozen") / DIST.name
        shutil.copy2(DIST, copy)
    return copy


@pytest.fixture(scope="module")
def frozen_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment of its own: Chainproof home, passphrase, offscreen Qt."""
    env = dict(os.environ)
    env["CHAINPROOF_HOME"] = str(tmp_path_factory.mktemp("frozen-home"))
    env["CHAINPROOF_PASSPHRASE"] = PASSPHRASE
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def run(
    cmd: list[str | Path], env: dict[str, str], timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def frozen_case(
    binary: Path, frozen_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A case made only by the binary: key, case, one minimal collection."""
    case = tmp_path_factory.mktemp("frozen-case") / "case"
    run(
        [
            binary,
            "keys",
            "init",
            "--name",
            "Fay Frozen",
            "--org",
            "Lab",
            "--email",
            "fay@example.org",
        ],
        frozen_env,
    )
    run([binary, "case", "new", case, "--title", "Frozen build"], frozen_env)
    collected = run([binary, "collect", case, "--profile", "minimal", "--json"], frozen_env)
    return {"case": case, "run": json.loads(collected.stdout), "stderr": collected.stderr}


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def test_version(binary: Path, frozen_env: dict[str, str]) -> None:
    assert run([binary, "--version"], frozen_env).stdout.strip() == f"chainproof {__version__}"


@pytest.mark.skipif(not LINUX, reason="LD_DEBUG is glibc's")
def test_version_loads_neither_qt_nor_sqlalchemy(binary: Path, frozen_env: dict[str, str]) -> None:
    # The one-file binary unpacks everything on each start; what matters is what is loaded.
    env = {**frozen_env, "LD_DEBUG": "libs"}
    loaded = run([binary, "--version"], env).stderr
    assert "calling init:" in loaded  # the trace works
    for lib in ("libQt6", "libicu", "libpyside6", "sqlalchemy", "_rust.abi3"):
        assert lib not in loaded, f"--version loads {lib}"


def test_minimal_collection(
    binary: Path, frozen_env: dict[str, str], frozen_case: dict[str, Any]
) -> None:
    r = frozen_case["run"]
    assert r["status"] == "finished"
    assert r["artifacts"] > 0
    # The only errors allowed are the host's own refusals: a process whose environment, maps
    # or descriptors even root may not read (PID 1 of some sandboxes), recorded as errors.
    listed = run([binary, "artifacts", frozen_case["case"], "--errors", "--json"], frozen_env)
    errors = json.loads(listed.stdout)
    assert len(errors) == r["errors"]
    for e in errors:
        assert e["collector"] == "processes" and "Permission denied" in e["reason"], e


def test_run_records_the_binarys_own_sha256(binary: Path, frozen_case: dict[str, Any]) -> None:
    digest = _sha256(binary)
    with tarfile.open(frozen_case["run"]["archive"]) as tar:
        member = tar.extractfile("volatile/system.json")
        assert member is not None
        tool = json.load(member)["tool"]
    assert tool["frozen"] is True
    assert tool["sha256_of"] == "executable"
    assert tool["sha256"] == digest
    assert Path(tool["hashed_path"]).resolve() == binary.resolve()
    assert tool["version"] == __version__

    db = sqlite3.connect(f"file:{frozen_case['case'] / 'case.db'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT payload FROM ledger_entries WHERE event = 'run_started'"
        ).fetchall()
    finally:
        db.close()
    payloads = [json.loads(payload) for (payload,) in rows]
    ours = [p for p in payloads if p["run_id"] == frozen_case["run"]["run_id"]]
    assert len(ours) == 1
    started = ours[0]
    assert started["tool_sha256"] == digest
    assert Path(started["tool_path"]).resolve() == binary.resolve()
    assert started["tool_version"] == __version__

    # Its footprint on the system examined: where it unpacked itself, how much, on what.
    tmp = tempfile.gettempdir()
    fstype = filesystem_of(tmp)
    for unpacked in (tool["unpacked"], started["tool_unpacked"]):
        assert unpacked["unpacked_to"].startswith(os.path.join(tmp, "_MEI"))
        assert not Path(unpacked["unpacked_to"]).exists()  # removed when the binary exited
        assert 50_000_000 < unpacked["bytes"] < 200_000_000 and unpacked["files"] > 100
        assert unpacked["filesystem"] == fstype
        assert unpacked["in_memory"] is (fstype in MEMORY_FILESYSTEMS)
    assert tool["unpacked"]["bytes"] == started["tool_unpacked"]["bytes"]
    if fstype not in MEMORY_FILESYSTEMS:
        assert "unpacked itself" in frozen_case["stderr"]
        assert tool["unpacked"]["unpacked_to"] in frozen_case["stderr"]


@pytest.mark.skipif(not LINUX, reason="tmpfs")
def test_unpacking_into_memory_is_recorded_without_a_note(
    binary: Path, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    if filesystem_of("/dev/shm") != "tmpfs":
        pytest.skip("/dev/shm is not a tmpfs here")
    shm = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        env = {**frozen_env, "TMPDIR": str(shm)}
        case = tmp_path / "case"
        run([binary, "case", "new", case, "--title", "tmpfs"], env)
        collected = run([binary, "collect", case, "--profile", "none", "--json"], env)
        assert "unpacked itself" not in collected.stderr
        archive = json.loads(collected.stdout)["archive"]
        with tarfile.open(archive) as tar:
            member = tar.extractfile("volatile/system.json")
            assert member is not None
            unpacked = json.load(member)["tool"]["unpacked"]
        assert unpacked["unpacked_to"].startswith(str(shm / "_MEI"))
        assert unpacked["filesystem"] == "tmpfs" and unpacked["in_memory"] is True
    finally:
        shutil.rmtree(shm)


def test_frozen_case_verifies_with_binary_and_package(
    binary: Path, frozen_env: dict[str, str], frozen_case: dict[str, Any]
) -> None:
    case = frozen_case["case"]
    frozen = json.loads(run([binary, "verify", case, "--json"], frozen_env).stdout)
    package = json.loads(
        run([sys.executable, "-m", "app", "verify", case, "--json"], frozen_env).stdout
    )
    assert frozen["ok"] is True
    assert package["ok"] is True


def test_export_and_verify_bundle(
    binary: Path,
    frozen_env: dict[str, str],
    frozen_case: dict[str, Any],
    tmp_path: Path,
) -> None:
    if "export" not in run([binary, "--help"], frozen_env).stdout:
        pytest.fail("the binary has no export command")
    bundle = tmp_path / "bundle"
    run([binary, "export", frozen_case["case"], "--out", bundle], frozen_env)
    assert (bundle / "SHA256SUMS").is_file()
    run([binary, "verify", bundle], frozen_env)
    run([sys.executable, "-m", "app", "verify", bundle], frozen_env)
    pdfsig = shutil.which("pdfsig")
    if pdfsig:
        pdfs = list(bundle.rglob("*.pdf"))
        assert pdfs, "the bundle has no PDF report"
        out = subprocess.run([pdfsig, pdfs[0]], capture_output=True, text=True).stdout
        assert "Signature is Valid." in out, out


def _stays_up(cmd: list[str | Path], env: dict[str, str], seconds: float = 5) -> str:
    """Start ``cmd``, check it still runs after ``seconds`` (a GUI waiting), stop it; its stderr."""
    proc = subprocess.Popen(
        [str(c) for c in cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass
    alive = proc.poll() is None
    if alive:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    assert alive, f"{cmd} exited with {proc.returncode}:\n{err}"
    for bad in (
        "ImportError",
        "ModuleNotFoundError",
        "Traceback",
        "Could not load the Qt platform plugin",
    ):
        assert bad not in err, err
    return err


def test_gui_starts_offscreen(
    binary: Path, frozen_env: dict[str, str], frozen_case: dict[str, Any]
) -> None:
    _stays_up([binary, "gui", frozen_case["case"]], frozen_env)


@pytest.mark.skipif(not (LINUX and shutil.which("xvfb-run")), reason="needs xvfb-run")
def test_gui_opens_a_window_on_x11(
    binary: Path, frozen_env: dict[str, str], frozen_case: dict[str, Any]
) -> None:
    """The bundled xcb plugin and X libraries load (a real X server, not offscreen)."""
    env = {k: v for k, v in frozen_env.items() if k != "QT_QPA_PLATFORM"}
    proc = run(
        [
            "xvfb-run",
            "-a",
            "-s",
            "-screen 0 1280x800x24",
            "timeout",
            "-s",
            "TERM",
            "6",
            binary,
            "gui",
            frozen_case["case"],
        ],
        env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 124, f"exit {proc.returncode} before 6 s:\n{proc.stderr}"  # still up
    assert "Could not load the Qt platform plugin" not in proc.stderr, proc.stderr
    assert "qt.qpa.plugin" not in proc.stderr, proc.stderr


def test_no_arguments_without_display_prints_help(binary: Path, frozen_env: dict[str, str]) -> None:
    env = {
        k: v
        for k, v in frozen_env.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env.pop("SSH_CONNECTION", None)
    if sys.platform in ("win32", "darwin"):
        env["SSH_CONNECTION"] = "10.0.0.1 22 10.0.0.2 22"  # a remote shell: no window
    out = run([binary], env).stdout
    assert out.startswith("usage: chainproof")


def test_no_arguments_with_display_opens_the_gui(binary: Path, frozen_env: dict[str, str]) -> None:
    _stays_up([binary], frozen_env)


@pytest.mark.skipif(not LINUX, reason="LD_LIBRARY_PATH is set by the Linux bootloader")
def test_commands_run_with_the_hosts_library_path(
    binary: Path, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    """The host's tools run by collectors must not load the bundle's libraries."""
    fake = tmp_path / "bin"
    fake.mkdir()
    journalctl = fake / "journalctl"
    journalctl.write_text('#!/bin/sh\necho "LD_LIBRARY_PATH=[${LD_LIBRARY_PATH-unset}]"\n')
    journalctl.chmod(0o755)
    logs = tmp_path / "logs"
    logs.mkdir()
    profile = tmp_path / "journal.yaml"
    profile.write_text(
        f"name: journal\ndescription: journal only\ncollectors:\n  logs:\n    root: {logs}\n"
    )
    env = {
        **frozen_env,
        "PATH": f"{fake}{os.pathsep}{frozen_env['PATH']}",
        "LD_LIBRARY_PATH": "/opt/host-libs",
    }
    case = tmp_path / "case"
    run([binary, "case", "new", case, "--title", "Library path"], env)
    result = json.loads(run([binary, "collect", case, "--profile", profile, "--json"], env).stdout)
    with tarfile.open(result["archive"]) as tar:
        member = tar.extractfile("logs/journal.export")
        assert member is not None
        assert member.read().decode().strip() == "LD_LIBRARY_PATH=[/opt/host-libs]"
