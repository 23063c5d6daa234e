"""The processes collector on this machine's real processes."""

from __future__ import annotations

import base64
import hashlib
import mmap
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from collectors.base import CollectContext, Host, VolatileRecord
from collectors.processes import Processes, process_tree
from tests.collectors.helpers import as_nobody, jsonl, member, problems


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_includes_this_process_and_its_parent_with_details(run, tmp_path: Path) -> None:
    held = (tmp_path / "held-open.txt").open("w")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        records = {r["pid"]: r for r in jsonl(run("processes"), "volatile/processes.jsonl")}
    finally:
        held.close()
        listener.close()
    me, parent = records[os.getpid()], records[os.getppid()]
    assert me["ppid"] == os.getppid()
    assert parent["pid"] == os.getppid()
    assert me["exe"] == os.path.realpath(psutil.Process().exe())
    assert me["exe_sha256"] == sha256(me["exe"])
    assert me["cmdline"] == psutil.Process().cmdline()
    assert me["create_time"].endswith("Z")
    assert me["uids"][0] == os.getuid()
    assert me["denied"] == []
    assert me["memory"]["rss"] > 0
    assert str(tmp_path / "held-open.txt") in [f["path"] for f in me["open_files"]]
    assert any(
        c["laddr"] == {"ip": "127.0.0.1", "port": port} and c["status"] == "LISTEN"
        for c in me["connections"]
    )


def test_process_tree_text_nests_children(run) -> None:
    text = member(run("processes"), "volatile/process_tree.txt").decode()
    lines = text.splitlines()
    mine = next(line for line in lines if line.lstrip().startswith(f"{os.getpid()} "))
    parents = next(line for line in lines if line.lstrip().startswith(f"{os.getppid()} "))
    indent = len(mine) - len(mine.lstrip())
    assert indent == len(parents) - len(parents.lstrip()) + 2
    assert lines.index(parents) < lines.index(mine)


def test_process_tree_survives_cycles_and_orphans() -> None:
    records = [
        {"pid": 1, "ppid": 0, "name": "init", "cmdline": ["init"], "username": "root"},
        {"pid": 5, "ppid": 6, "name": "a", "cmdline": [], "username": None},
        {"pid": 6, "ppid": 5, "name": "b", "cmdline": [], "username": None},
        {"pid": 7, "ppid": 99, "name": "orphan", "cmdline": ["o"], "username": "u"},
    ]
    text = process_tree(records)
    assert text.splitlines()[0] == "1 init (root) init"
    assert all(f"{pid} " in text for pid in (5, 6, 7))


def test_deleted_executable_is_hashed_from_what_runs(run, tmp_path: Path) -> None:
    copy = tmp_path / "sleeper"
    shutil.copy2(shutil.which("sleep"), copy)
    expected = sha256(str(copy))
    proc = subprocess.Popen([str(copy), "30"])
    try:
        time.sleep(0.2)
        copy.unlink()
        records = {r["pid"]: r for r in jsonl(run("processes"), "volatile/processes.jsonl")}
    finally:
        proc.kill()
        proc.wait()
    rec = records[proc.pid]
    assert rec["exe_deleted"] is True
    assert rec["exe_sha256"] == expected


def test_hashing_can_be_turned_off(run) -> None:
    records = jsonl(run("processes", hash_executables=False), "volatile/processes.jsonl")
    assert not any("exe_sha256" in r for r in records)


def test_access_denied_is_recorded_per_field_not_fatal(tmp_path: Path) -> None:
    def collect() -> list:
        ctx = CollectContext(Host.this(), {}, Path("/nonexistent-case"))
        return list(Processes().collect(ctx))

    obs = as_nobody(collect)
    # Root's processes keep their environment, maps and descriptors from nobody: each kind
    # is one error naming the pids, never a silent gap.
    reasons = [p.reason for p in problems(obs)]
    assert all(p.kind == "error" and p.path is None for p in problems(obs))
    for what in ("environment", "memory maps", "descriptors"):
        assert any(
            r.startswith(f"processes: {what} of ") and "Permission denied" in r for r in reasons
        ), reasons
    records = {r["pid"]: r for r in jsonl(obs, "volatile/processes.jsonl")}
    root_owned = records[os.getpid()]  # still root's: the child only dropped its own rights
    assert "exe" in root_owned["denied"] and root_owned["exe"] is None
    assert root_owned["name"]  # readable fields are still there
    assert "exe_sha256" not in root_owned


# --- Linux /proc details: environment, maps, descriptors, unlinked executables --------


def _sleeper(path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", path)
    proc = subprocess.Popen([str(path), "30"], env=env)
    # Wait until the copy runs and sleeps: exec maps the file after the exe link changes,
    # and that mapping updates its atime.
    for _ in range(250):
        if os.readlink(f"/proc/{proc.pid}/exe").startswith(str(path)) and (
            psutil.Process(proc.pid).status() == psutil.STATUS_SLEEPING
        ):
            break
        time.sleep(0.02)
    return proc


def _by_pid(obs: list, name: str) -> dict[int, dict]:
    return {r["pid"]: r for r in jsonl(obs, name)}


def _volatile(obs: list) -> dict[str, bytes]:
    return {o.member: o.data for o in obs if isinstance(o, VolatileRecord)}


def test_environment_is_kept_raw_and_split(run, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CHAINPROOF_SECRET": "s3cr=t with spaces"}
    env_b = {b"PATH": b"/usr/bin", b"ODD": b"caf\xe9"}  # not UTF-8: kept byte for byte
    one = _sleeper(tmp_path / "sleep-a", env)
    two = subprocess.Popen([shutil.which("sleep") or "/bin/sleep", "30"], env=env_b)
    time.sleep(0.2)
    try:
        records = _by_pid(run("processes"), "volatile/process_environ.jsonl")
    finally:
        for p in (one, two):
            p.kill()
            p.wait()
    rec = records[one.pid]
    assert rec["variables"] == ["PATH=/usr/bin:/bin", "CHAINPROOF_SECRET=s3cr=t with spaces"]
    raw = base64.b64decode(rec["raw_b64"])
    assert raw == b"PATH=/usr/bin:/bin\0CHAINPROOF_SECRET=s3cr=t with spaces\0"
    assert rec["size"] == len(raw)
    odd = records[two.pid]
    assert base64.b64decode(odd["raw_b64"]) == b"PATH=/usr/bin\0ODD=caf\xe9\0"
    assert [os.fsencode(v) for v in odd["variables"]] == [b"PATH=/usr/bin", b"ODD=caf\xe9"]


def test_own_and_passphrase_environments_are_excluded_with_a_reason(run, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CHAINPROOF_PASSPHRASE": "examiner-secret"}
    shell = _sleeper(tmp_path / "sleep-shell", env)
    try:
        obs = run("processes")
    finally:
        shell.kill()
        shell.wait()
    records = _by_pid(obs, "volatile/process_environ.jsonl")
    assert records[os.getpid()] == {
        "pid": os.getpid(),
        "name": psutil.Process().name(),
        "excluded": "the running program's own environment",
    }
    assert records[shell.pid]["excluded"] == (
        "the examiner's launch environment: it holds CHAINPROOF_PASSPHRASE"
    )
    assert b"examiner-secret" not in _volatile(obs)["volatile/process_environ.jsonl"]
    excluded = {p.path: p for p in problems(obs) if p.kind == "excluded"}
    assert excluded[f"/proc/{shell.pid}/environ".encode()].reason.startswith("the examiner's")
    assert f"/proc/{os.getpid()}/environ".encode() in excluded


def test_maps_raw_parsed_and_libraries_with_deleted_mapping(run, tmp_path: Path) -> None:
    mapped = tmp_path / "mapped.bin"
    mapped.write_bytes(b"x" * 8192)
    with mapped.open("rb") as f:
        view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    mapped.unlink()
    try:
        obs = run("processes")
    finally:
        view.close()
    data = _volatile(obs)
    raw = data["volatile/process_maps.txt"].decode()
    mine = raw.split(f"==> /proc/{os.getpid()}/maps <==\n", 1)[1].split("==> ", 1)[0]
    parsed = _by_pid(obs, "volatile/process_maps.jsonl")[os.getpid()]["mappings"]
    assert len(parsed) == len(mine.splitlines())
    assert parsed == [m for m in parsed if int(m["end"], 16) > int(m["start"], 16)]
    libs = [r for r in jsonl(obs, "volatile/process_libraries.jsonl") if r["pid"] == os.getpid()]
    by_path = {lib["path"]: lib for lib in libs}
    gone = by_path[str(mapped)]
    assert gone["deleted"] is True and gone["executable"] is False
    assert gone["inode"] > 0
    assert any("libc" in p and by_path[p]["executable"] for p in by_path)
    assert len(libs) == len({(lib["path"], lib["dev"], lib["inode"]) for lib in libs})


def test_descriptors_lsof_like_with_sockets_pipes_and_deleted_files(run, tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    unix_path = tmp_path / "s.sock"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(unix_path))
    unix.listen()
    read_end, write_end = os.pipe()
    doomed = tmp_path / "doomed.txt"
    held = doomed.open("w+")
    held.write("still here")
    held.flush()
    doomed.unlink()
    event = os.eventfd(0)
    try:
        rows = jsonl(run("processes"), "volatile/process_fds.jsonl")
    finally:
        for closer in (listener.close, unix.close, held.close):
            closer()
        for fd in (read_end, write_end, event):
            os.close(fd)
    mine = {r["fd"]: r for r in rows if r["pid"] == os.getpid()}
    tcp_rows = [r for r in mine.values() if (r.get("socket") or {}).get("proto") == "tcp"]
    assert any(
        r["socket"]["local"] == {"ip": "127.0.0.1", "port": port}
        and r["socket"]["state"] == "LISTEN"
        for r in tcp_rows
    )
    unix_rows = [r for r in mine.values() if (r.get("socket") or {}).get("proto") == "unix"]
    assert any(r["socket"]["path"] == str(unix_path) for r in unix_rows)
    assert mine[read_end]["type"] == "pipe" and mine[read_end]["access"] == "r"
    assert mine[write_end]["type"] == "pipe" and mine[write_end]["access"] == "w"
    assert mine[write_end]["target"] == mine[read_end]["target"]
    gone = next(r for r in mine.values() if r["target"] == f"{doomed} (deleted)")
    assert gone["deleted"] is True and gone["type"] == "file"
    assert gone["size"] == len("still here") and gone["pos"] == len("still here")
    assert gone["links"] == 0
    assert mine[event]["type"] == "anon_inode" and "eventfd" in mine[event]["target"]
    assert "eventfd-count" in mine[event]["fdinfo_raw"]
    assert all(r["user"] and r["name"] for r in mine.values())


def test_deleted_executable_is_copied_from_proc_with_its_bytes(run, tmp_path: Path) -> None:
    copy = tmp_path / "sleeper"
    proc = _sleeper(copy)
    original = copy.read_bytes()
    copy.unlink()
    try:
        obs = run("processes")
    finally:
        proc.kill()
        proc.wait()
    row = next(r for r in jsonl(obs, "volatile/executables.jsonl") if r["pid"] == proc.pid)
    assert row["reason"] == "deleted"
    assert row["original_path"] == str(copy)
    assert row["link"] == f"{copy} (deleted)"
    assert row["sha256"] == hashlib.sha256(original).hexdigest()
    assert row["size"] == len(original)
    assert _volatile(obs)[row["member"]] == original
    assert row["member"] == f"volatile/executables/{proc.pid}-sleeper"
    record = _by_pid(obs, "volatile/processes.jsonl")[proc.pid]
    assert record["exe_not_on_disk"] == "deleted"
    assert record["exe_sha256"] == row["sha256"]


def test_memfd_executable_is_copied(run) -> None:
    sleep = shutil.which("sleep") or "/bin/sleep"
    code = (
        "import os, sys\n"
        "fd = os.memfd_create('implant', 0)\n"
        f"os.write(fd, open({sleep!r}, 'rb').read())\n"
        "os.execv(f'/proc/self/fd/{fd}', ['implant', '30'])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(200):
        if os.readlink(f"/proc/{proc.pid}/exe").startswith("/memfd:"):
            break
        time.sleep(0.02)
    try:
        obs = run("processes")
    finally:
        proc.kill()
        proc.wait()
    row = next(r for r in jsonl(obs, "volatile/executables.jsonl") if r["pid"] == proc.pid)
    assert row["reason"] == "memfd"
    assert row["link"] == "/memfd:implant (deleted)"
    assert _volatile(obs)[row["member"]] == Path(sleep).read_bytes()
    assert row["member"] == f"volatile/executables/{proc.pid}-memfd_implant"


def test_moved_executable_is_copied_without_touching_its_atime(run, tmp_path: Path) -> None:
    proc = _sleeper(tmp_path / "before")
    moved = tmp_path / "after"  # another link to the file that runs; its first name is gone
    os.link(tmp_path / "before", moved)
    (tmp_path / "before").unlink()
    st = moved.stat()
    os.utime(moved, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))  # relatime would update it
    before = moved.stat()
    try:
        obs = run("processes")
    finally:
        proc.kill()
        proc.wait()
    row = next(r for r in jsonl(obs, "volatile/executables.jsonl") if r["pid"] == proc.pid)
    after = moved.stat()
    assert (after.st_atime_ns, after.st_mtime_ns) == (before.st_atime_ns, before.st_mtime_ns)
    assert row["reason"] == "moved"
    assert row["link"] == f"{tmp_path / 'before'} (deleted)"
    assert _volatile(obs)[row["member"]] == moved.read_bytes()


def test_same_unlinked_executable_is_copied_once(run, tmp_path: Path) -> None:
    copy = tmp_path / "twice"
    first = _sleeper(copy)
    second = subprocess.Popen([str(copy), "30"])
    time.sleep(0.2)
    copy.unlink()
    try:
        obs = run("processes")
    finally:
        for p in (first, second):
            p.kill()
            p.wait()
    rows = [
        r for r in jsonl(obs, "volatile/executables.jsonl") if r["pid"] in (first.pid, second.pid)
    ]
    assert len(rows) == 2 and rows[0]["member"] == rows[1]["member"]
    assert sum(1 for m in _volatile(obs) if m == rows[0]["member"]) == 1


def test_oversized_unlinked_executable_is_an_error_not_a_gap(run, tmp_path: Path) -> None:
    copy = tmp_path / "big"
    proc = _sleeper(copy)
    copy.unlink()
    try:
        obs = run("processes", executable_max_size="1KiB")
    finally:
        proc.kill()
        proc.wait()
    row = next(r for r in jsonl(obs, "volatile/executables.jsonl") if r["pid"] == proc.pid)
    assert "over executable_max_size" in row["error"] and "member" not in row
    assert any(
        p.kind == "error"
        and f"pid {proc.pid} not copied" in p.reason
        and p.path == f"/proc/{proc.pid}/exe".encode()
        for p in problems(obs)
    )


def test_details_can_be_left_out(run) -> None:
    obs = run(
        "processes",
        environment=False,
        memory_maps=False,
        descriptors=False,
        copy_unlinked_executables=False,
    )
    assert sorted(_volatile(obs)) == ["volatile/process_tree.txt", "volatile/processes.jsonl"]
