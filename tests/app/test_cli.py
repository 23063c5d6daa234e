"""The command line as a user runs it: real processes, real files, real SQLite."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE

CLI = [sys.executable, "-m", "app"]
PREIMPORT = (
    "importlib.readers",
    "importlib.resources.readers",
    "sqlite3",
    "getpass",
    "tempfile",
    "tarfile",
    "concurrent.futures",
    "subprocess",
    "pwd",
    "grp",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "alembic.command",
    "alembic.config",
    "alembic.runtime.migration",
    "alembic.script",
    "alembic.ddl.sqlite",
    "app.cli",
    "app.cases",
    "app.collection",
    "app.verification",
    "app.journal",
    "app.progress",
    "collectors",
    "collectors.profiles",
    "custody.store.archive",
    "custody.store.capture",
    "custody.verify.case",
    "custody.record.events",
    "custody.record.fold",
    "custody.db.projection",
    "_strptime",
    "platformdirs",
    "psutil",
    "yaml",
    "rich.progress",
    "rich.table",
    "rich.console",
    "cryptography.hazmat.primitives.serialization.pkcs12",
)


def run(
    *args: str, check: bool = True, env: dict | None = None, **kw
) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def cli_home(chainproof_home: Path) -> Path:
    run("keys", "init", "--name", "Carol CLI", "--org", "Example", "--email", "carol@example.org")
    return chainproof_home


def test_version_is_fast_and_imports_no_qt() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app", "--version"],
        capture_output=True,
        text=True,
    )
    assert proc.stdout.strip().startswith("chainproof ")
    assert "PySide6" not in proc.stderr and "sqlalchemy" not in proc.stderr


def test_keys_init_show_and_errors(cli_home: Path) -> None:
    shown = json.loads(run("keys", "show", "--json").stdout)
    assert shown["name"] == "Carol CLI" and len(shown["fingerprint_sha256"]) == 64
    assert (cli_home / "identity.p12").stat().st_mode & 0o777 == 0o600
    bad = run(
        "keys", "show", "--unlock", check=False, env={**os.environ, "CHAINPROOF_PASSPHRASE": "nope"}
    )
    assert bad.returncode == 5 and "wrong passphrase" in bad.stderr
    again = run("keys", "init", "--name", "x", "--org", "y", "--email", "z", check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    r, w = os.pipe()
    os.write(w, PASSPHRASE.encode() + b"\n")
    os.close(w)
    env = {k: v for k, v in os.environ.items() if k != "CHAINPROOF_PASSPHRASE"}
    via_fd = run("keys", "show", "--unlock", "--passphrase-fd", str(r), env=env, pass_fds=(r,))
    assert "Carol CLI" in via_fd.stdout


def test_collect_show_verify(cli_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "one.txt").write_bytes(b"one\n")
    (src / "two.bin").write_bytes(os.urandom(70000))
    # atime older than mtime, so a read would update it on a relatime mount (PLATFORM.md)
    for p in (src / "d" / "one.txt", src / "two.bin"):
        st = p.stat()
        os.utime(p, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))
    before = {
        p: (p.stat().st_atime_ns, p.stat().st_mtime_ns) for p in src.rglob("*") if p.is_file()
    }
    case = tmp_path / "case"
    run(
        "case",
        "new",
        str(case),
        "--title",
        "CLI case",
        "--incident",
        "INC-42",
        "--severity",
        "high",
    )
    out = json.loads(
        run("collect", str(case), "--profile", "none", "--path", f"{src}/**", "--json").stdout
    )
    assert out["status"] == "finished" and out["errors"] == 0 and out["artifacts"] == 3
    after = {p: (p.stat().st_atime_ns, p.stat().st_mtime_ns) for p in before}
    assert after == before
    shown = json.loads(run("case", "show", str(case), "--json").stdout)
    assert shown["incident_ref"] == "INC-42" and shown["runs"][0]["status"] == "finished"
    # The archive's members equal sha256sum of their sources.
    listing = run("case", "list", str(tmp_path), "--json").stdout
    assert json.loads(listing)[0]["title"] == "CLI case"
    archive = case / shown["runs"][0]["archive"]
    assert archive.stat().st_mode & 0o222 == 0
    x = tmp_path / "x"
    x.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(x)], check=True)
    for p in before:
        extracted = x / "files" / str(p).lstrip("/")
        coreutils = subprocess.run(
            ["sha256sum", str(p)], capture_output=True, text=True
        ).stdout.split()[0]
        assert hashlib.sha256(extracted.read_bytes()).hexdigest() == coreutils
    ok = run("verify", str(case))
    assert "RESULT: VERIFIED" in ok.stdout
    report = json.loads(run("verify", str(case), "--json").stdout)
    assert report["ok"] and report["artifacts"] == 3
    run("note", str(case), "Handed the laptop to the lab", "--kind", "communication")
    dec = run("note", str(case), "Isolate the host", "--kind", "decision", check=False)
    assert dec.returncode == 2 and "reason" in dec.stderr
    run(
        "note", str(case), "Isolate the host", "--kind", "decision", "--reason", "active C2 traffic"
    )
    signed = run("verify", str(case), "--sign")
    assert signed.returncode == 0
    archive.chmod(0o644)
    with archive.open("r+b") as f:
        f.seek(-2048, os.SEEK_END)
        f.write(b"X")
    bad = run("verify", str(case), check=False)
    assert bad.returncode == 6 and "RESULT: FAILED" in bad.stdout


def test_transfer_signed_by_both(cli_home: Path, tmp_path: Path, bob_identity) -> None:
    from custody.record.keys import save_identity

    case = tmp_path / "case"
    run("case", "new", str(case), "--title", "Transfer")
    bob_p12 = tmp_path / "bob.p12"
    save_identity(bob_identity, bob_p12, b"bob pass")
    (tmp_path / "bob.pem").write_text(bob_identity.certificate_pem())
    env = {**os.environ, "CHAINPROOF_TO_PASSPHRASE": "bob pass"}
    out = run(
        "transfer",
        str(case),
        "--to",
        str(tmp_path / "bob.pem"),
        "--to-key",
        str(bob_p12),
        "--reason",
        "to the lab",
        "--location",
        "Room 101",
        env=env,
    )
    assert "signed by both" in out.stdout
    report = json.loads(run("verify", str(case), "--json").stdout)
    assert report["ok"] and len(report["signers"]) == 2
    wrong = run(
        "transfer",
        str(case),
        "--to",
        str(tmp_path / "bob.pem"),
        "--to-key",
        str(bob_p12),
        "--reason",
        "x",
        "--location",
        "y",
        check=False,
        env={**os.environ, "CHAINPROOF_TO_PASSPHRASE": "wrong"},
    )
    assert wrong.returncode == 5 and "wrong passphrase" in wrong.stderr


def test_clear_errors(cli_home: Path, tmp_path: Path) -> None:
    nocase = run("collect", str(tmp_path / "nope"), check=False)
    assert nocase.returncode == 3 and "not a Chainproof case" in nocase.stderr
    case = tmp_path / "case"
    run("case", "new", str(case), "--title", "x")
    badprof = tmp_path / "p.yaml"
    badprof.write_text("name: p\ncollectors:\n  proccesses: {}\n")
    out = run("collect", str(case), "--profile", str(badprof), check=False)
    assert out.returncode == 2 and "line 3" in out.stderr and "proccesses" in out.stderr
    (case / "case.db").write_bytes(b"this is not a database at all" * 100)
    corrupt = run("case", "show", str(case), check=False)
    assert corrupt.returncode == 3 and "corrupt" in corrupt.stderr
    assert "Traceback" not in corrupt.stderr


def _grower(path: Path, stop: threading.Event) -> None:
    """Append to ``path`` until stopped, at a bounded rate and size, as a busy log does."""
    with path.open("ab") as f:
        for _ in range(20000):  # at most 80 MiB
            if stop.wait(0.0005):
                return
            f.write(b"x" * 4096)
            f.flush()


def test_hostile_tree(cli_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "hostile"
    src.mkdir()
    os.mkfifo(src / "fifo")
    os.mknod(src / "null-dev", 0o600 | 0o020000, os.makedev(1, 3))
    (src / "loop").mkdir()
    os.symlink("..", src / "loop" / "up")
    os.symlink("missing-target", src / "dangling")
    (src / "empty").write_bytes(b"")
    weird = os.fsencode(str(src)) + b"/caf\xe9-\xff name\nwith newline"
    with open(weird, "wb") as f:
        f.write(b"latin-1 name\n")
    with open(src / "sparse", "wb") as f:
        f.truncate(2 * 1024**3)
    growing = src / "growing.log"
    growing.write_bytes(b"y" * (8 * 1024 * 1024))
    stop = threading.Event()
    t = threading.Thread(target=_grower, args=(growing, stop))
    t.start()
    try:
        case = tmp_path / "case"
        run("case", "new", str(case), "--title", "hostile")
        out = json.loads(
            run(
                "collect",
                str(case),
                "--profile",
                "none",
                "--path",
                f"{src}/**",
                "--json",
                timeout=300,
            ).stdout
        )
    finally:
        stop.set()
        t.join()
    assert out["status"] == "finished"
    from sqlalchemy import text as sql

    from app.cases import open_case

    handle = open_case(case)
    with handle.sessions() as s:
        errors = {
            r[0].rsplit("/", 1)[-1]: (r[1], r[2])
            for r in s.execute(
                sql("SELECT path, kind, reason FROM collection_errors WHERE path IS NOT NULL")
            )
        }
        arts = {
            r[0].rsplit("/", 1)[-1]: r
            for r in s.execute(
                sql(
                    "SELECT source_path, sha256, size, kind, changed, source_path_b64 FROM artifacts "
                    "WHERE source_path IS NOT NULL"
                )
            )
        }
    assert errors["fifo"][0] == "skipped" and "FIFO" in errors["fifo"][1]
    assert errors["null-dev"][0] == "skipped" and "device" in errors["null-dev"][1]
    assert errors["up"][0] == "skipped" and "loop" in errors["up"][1]
    assert errors["growing.log"][0] == "changed"
    assert arts["growing.log"][4]  # why it changed while read
    assert arts["empty"][1] == hashlib.sha256(b"").hexdigest()
    assert arts["dangling"][3] == "symlink"
    zeros = hashlib.sha256()
    block = bytes(1 << 20)
    for _ in range(2048):
        zeros.update(block)
    assert arts["sparse"][1] == zeros.hexdigest() and arts["sparse"][2] == 2 * 1024**3
    weird_rows = [r for r in arts.values() if r[5] and base64.b64decode(r[5]) == weird]
    assert (
        len(weird_rows) == 1 and weird_rows[0][1] == hashlib.sha256(b"latin-1 name\n").hexdigest()
    )
    assert json.loads(run("verify", str(case), "--json").stdout)["ok"]


def test_permission_denied_is_recorded(tmp_path: Path) -> None:
    """As root everything is readable: run the whole CLI as nobody (PLATFORM.md)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to nobody; as a normal user see test_unreadable_as_user")
    nobody = pwd.getpwnam("nobody")
    base = tmp_path / "nobody"
    base.mkdir()
    src = base / "src"
    src.mkdir()
    (src / "readable.txt").write_bytes(b"ok\n")
    secret = src / "secret.txt"
    secret.write_bytes(b"root only\n")
    secret.chmod(0o600)
    for p in (base, src, src / "readable.txt"):
        os.chown(p, nobody.pw_uid, nobody.pw_gid)
    tmp_path.chmod(0o755)
    for parent in tmp_path.parents:
        if parent.stat().st_mode & 0o001 == 0:
            parent.chmod(parent.stat().st_mode | 0o001)
    env = {
        "CHAINPROOF_HOME": str(base / "home"),
        "CHAINPROOF_PASSPHRASE": PASSPHRASE,
        "HOME": str(base),
    }

    # The interpreter and its libraries live under /root, which nobody cannot read: import what
    # the commands need before dropping privileges.
    import codecs
    import importlib

    for mod in PREIMPORT:
        importlib.import_module(mod)
    import pkgutil

    import app
    import collectors
    import custody

    for package in (app, collectors, custody):  # and every module a command imports lazily
        for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if found.name not in ("app.__main__", "app.gui") and ".migrations" not in found.name:
                importlib.import_module(found.name)
    for name in ("ascii", "utf-8", "latin-1", "idna", "utf-16-be"):
        codecs.lookup(name)  # the codec registry caches a lookup, not an import

    def as_nobody(*args: str) -> subprocess.CompletedProcess:
        """Fork this interpreter, drop to nobody, run the CLI's main (no exec: the venv is under /root)."""
        out_path, err_path = base / "out.txt", base / "err.txt"
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.chdir(base)
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                os.environ.update(env)
                out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                sys.stdout = os.fdopen(out, "w")  # pytest's capture objects are not fd 1 and 2
                sys.stderr = os.fdopen(err, "w")
                from app.cli import main

                code = main(list(args))
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            except BaseException:
                import traceback

                traceback.print_exc()
                sys.stderr.flush()
                os._exit(99)
        _, status = os.waitpid(pid, 0)
        return subprocess.CompletedProcess(
            args, os.waitstatus_to_exitcode(status), out_path.read_text(), err_path.read_text()
        )

    made = as_nobody("keys", "init", "--name", "Nobody", "--org", "Lab", "--email", "n@lab.example")
    assert made.returncode == 0, made.stderr
    assert as_nobody("case", "new", str(base / "case"), "--title", "perm").returncode == 0
    out = as_nobody(
        "collect", str(base / "case"), "--profile", "none", "--path", f"{src}/**", "--json"
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["artifacts"] == 2 and summary["errors"] == 1  # system.json + readable.txt
    shown = as_nobody("verify", str(base / "case"), "--json")
    assert shown.returncode == 0, shown.stderr + shown.stdout
    assert json.loads(shown.stdout)["ok"]
    import sqlite3

    db = sqlite3.connect(base / "case" / "case.db")
    ((kind, reason),) = db.execute(
        "SELECT kind, reason FROM collection_errors WHERE path LIKE '%secret.txt'"
    )
    assert kind == "error" and "permission denied" in reason.lower()


def _big_tree(root: Path, n: int) -> None:
    for i in range(n):
        d = root / f"d{i % 50:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}").write_bytes(os.urandom(2048))


def _start_collect(case: Path, src: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "collect", str(case), "--profile", "none", "--path", f"{src}/**", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_artifacts(case: Path, proc: subprocess.Popen, at_least: int = 1) -> None:
    import sqlite3

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(case / "case.db", timeout=1) as db:
                if db.execute("SELECT count(*) FROM artifacts").fetchone()[0] >= at_least:
                    return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.02)
    raise AssertionError("collection did not start recording artifacts")


def test_ctrl_c_seals_an_interrupted_run(cli_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "many"
    _big_tree(src, 40000)
    case = tmp_path / "case"
    run("case", "new", str(case), "--title", "interrupt")
    proc = _start_collect(case, src)
    _wait_for_artifacts(case, proc, 1000)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    summary = json.loads(out)
    assert summary["status"] == "interrupted" and 0 < summary["artifacts"] < 40001
    shown = json.loads(run("case", "show", str(case), "--json").stdout)
    assert shown["runs"][0]["status"] == "interrupted"
    assert shown["artifacts"] == summary["artifacts"]
    assert json.loads(run("verify", str(case), "--json").stdout)["ok"]


def test_killed_run_is_incomplete_then_recovered(cli_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "many"
    _big_tree(src, 40000)
    case = tmp_path / "case"
    run("case", "new", str(case), "--title", "crash")
    proc = _start_collect(case, src)
    _wait_for_artifacts(case, proc, 2000)
    proc.kill()
    proc.wait()
    before = json.loads(run("verify", str(case), "--json", check=False).stdout)
    assert not before["ok"]
    assert "run.incomplete" in {f["code"] for f in before["findings"]}
    # The next collection seals the crashed run first: the torn tail is cut, what was recorded kept.
    run("collect", str(case), "--profile", "none", "--json")
    shown = json.loads(run("case", "show", str(case), "--json").stdout)
    statuses = sorted(r["status"] for r in shown["runs"])
    assert statuses == ["finished", "recovered"]
    recovered = next(r for r in shown["runs"] if r["status"] == "recovered")
    assert recovered["artifacts"] >= 2000
    after = json.loads(run("verify", str(case), "--json").stdout)
    assert after["ok"], after["findings"]
    shutil.rmtree(src)


def test_access_and_seal(cli_home: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    run("case", "new", str(case), "--title", "seal me")
    run("collect", str(case), "--profile", "none")
    out = run(
        "access", str(case), "--purpose", "malware triage", "--artifact", "volatile/system.json"
    )
    assert "ledger entry" in out.stdout
    no_purpose = run("access", str(case), "--purpose", " ", check=False)
    assert no_purpose.returncode == 2
    run("seal", str(case), "--reason", "collection complete, handed to counsel")
    shown = json.loads(run("case", "show", str(case), "--json").stdout)
    assert shown["sealed"] is True
    again = run("collect", str(case), "--profile", "none", check=False)
    assert again.returncode == 3 and "sealed" in again.stderr
    twice = run("seal", str(case), "--reason", "x", check=False)
    assert twice.returncode == 3 and "already sealed" in twice.stderr
    report = json.loads(run("verify", str(case), "--json").stdout)
    assert report["ok"], report["findings"]
    from app.cases import open_case
    from custody.db.ledger import read_entries

    handle = open_case(case)
    events = list(read_entries(handle.sessions, handle.case_id))
    accessed = next(e for e in events if e.event == "accessed")
    sealed = next(e for e in events if e.event == "sealed")
    assert accessed.payload["artifacts"] == ["volatile/system.json"] and accessed.signatures
    assert sealed.payload["ledger_head"] == events[sealed.seq - 2].entry_hash and sealed.signatures
