"""The processes collector on this machine's real processes."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psutil

from collectors.base import CollectContext, Host
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
    assert problems(obs) == []
    records = {r["pid"]: r for r in jsonl(obs, "volatile/processes.jsonl")}
    root_owned = records[os.getpid()]  # still root's: the child only dropped its own rights
    assert "exe" in root_owned["denied"] and root_owned["exe"] is None
    assert root_owned["name"]  # readable fields are still there
    assert "exe_sha256" not in root_owned
