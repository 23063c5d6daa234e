"""The mounts collector on this machine's real mount tables and block devices."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from collectors.base import CollectContext, CommandRecord, Host
from collectors.mounts import SECTOR, Mounts, parse_mountinfo
from tests.collectors.helpers import as_nobody, jsonl, member, problems


def _own_namespace(obs: list) -> list[dict]:
    ns = os.readlink("/proc/self/ns/mnt")
    return [m for m in jsonl(obs, "volatile/mounts.jsonl") if m["namespace"] == ns]


def test_mountinfo_raw_and_parsed(run) -> None:
    obs = run("mounts")
    raw = member(obs, "volatile/mountinfo.txt")
    ours = Path("/proc/self/mountinfo").read_bytes()
    header = f"==> /proc/{os.getpid()}/mountinfo ({os.readlink('/proc/self/ns/mnt')}) <==\n"
    assert raw.startswith(header.encode() + ours)
    mounts = _own_namespace(obs)
    assert len(mounts) == len(ours.splitlines())
    by_point = {m["mount_point"]: m for m in mounts}
    assert by_point["/proc"]["fstype"] == "proc"
    assert "/" in by_point
    assert all(m["pid"] == os.getpid() for m in mounts)
    assert member(obs, "volatile/partitions.txt") == Path("/proc/partitions").read_bytes()


def test_escaped_mount_point_is_decoded(run, tmp_path: Path) -> None:
    point = tmp_path / "a dir\twith tab"
    point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "chainproof test", str(point)], check=True
    )
    try:
        obs = run("mounts")
    finally:
        subprocess.run(["umount", str(point)], check=True)
    raw = member(obs, "volatile/mountinfo.txt")
    assert b"a\\040dir\\011with\\040tab" in raw
    mine = next(m for m in _own_namespace(obs) if m["mount_point"] == str(point))
    assert mine["source"] == "chainproof test" and mine["fstype"] == "tmpfs"
    assert "size=1024k" in mine["super_options"]


def test_every_mount_namespace_is_listed(run) -> None:
    inner = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "30"])
    try:
        for _ in range(100):
            ns = os.readlink(f"/proc/{inner.pid}/ns/mnt")
            if ns != os.readlink("/proc/self/ns/mnt"):
                break
            time.sleep(0.02)
        obs = run("mounts")
        only_ours = run("mounts", namespaces=False)
    finally:
        inner.kill()
        inner.wait()
    theirs = [m for m in jsonl(obs, "volatile/mounts.jsonl") if m["namespace"] == ns]
    assert theirs and {m["pid"] for m in theirs} <= {inner.pid}
    assert f"/proc/{inner.pid}/mountinfo ({ns})".encode() in member(obs, "volatile/mountinfo.txt")
    assert {m["namespace"] for m in jsonl(only_ours, "volatile/mounts.jsonl")} == {
        os.readlink("/proc/self/ns/mnt")
    }


def test_unknown_namespaces_are_errors_naming_the_pids() -> None:
    def collect() -> list:
        ctx = CollectContext(Host.this(), {"lsblk": False}, Path("/nonexistent-case"))
        return list(Mounts().collect(ctx))

    obs = as_nobody(collect)  # root's processes hide their namespace from nobody
    unknown = [p for p in problems(obs) if "mount namespace of" in p.reason]
    assert len(unknown) == 1 and unknown[0].kind == "error"
    assert re.match(
        r"mounts: mount namespace of \d+ processes not known: Permission denied \(pids 1, ",
        unknown[0].reason,
    )  # PID 1 is root's
    assert jsonl(obs, "volatile/mounts.jsonl")  # its own namespace is still read


def test_block_devices_from_sysfs(run) -> None:
    obs = run("mounts")
    devices = {d["name"]: d for d in jsonl(obs, "volatile/block_devices.jsonl")}
    assert set(devices) == set(os.listdir("/sys/class/block"))
    for name in os.listdir("/sys/block"):
        disk = devices[name]
        sysfs = Path("/sys/block", name)
        assert disk["whole_disk"] is True
        assert disk["size_bytes"] == int((sysfs / "size").read_text()) * SECTOR
        assert disk["read_only"] == ((sysfs / "ro").read_text().strip() == "1")
        assert disk["removable"] == ((sysfs / "removable").read_text().strip() == "1")
        assert disk["dev"] == (sysfs / "dev").read_text().strip()
    for device in devices.values():
        if device["partition"] is not None:
            assert devices[device["parent"]]["whole_disk"] is True


def test_lsblk_command_or_its_absence(run) -> None:
    obs = run("mounts")
    commands = [o for o in obs if isinstance(o, CommandRecord)]
    if shutil.which("lsblk"):
        assert [c.argv for c in commands] == [("lsblk", "--json", "--bytes", "--output-all")]
        assert not any("lsblk" in p.reason for p in problems(obs))
    else:
        absent = [p for p in problems(obs) if "lsblk" in p.reason]
        assert [(p.kind, p.reason) for p in absent] == [
            ("skipped", "not present: lsblk is not installed")
        ]
    assert not any(isinstance(o, CommandRecord) for o in run("mounts", lsblk=False))


def test_parse_mountinfo_fields() -> None:
    raw = (
        b"36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 shared:7 - ext3 /dev/root "
        b"rw,errors=continue\n"
        b"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    )
    first, second = parse_mountinfo(raw)
    assert first == {
        "mount_id": 36,
        "parent_id": 35,
        "major": 98,
        "minor": 0,
        "root": "/mnt1",
        "mount_point": "/mnt 2",
        "mount_options": ["rw", "noatime"],
        "optional": ["master:1", "shared:7"],
        "fstype": "ext3",
        "source": "/dev/root",
        "super_options": ["rw", "errors=continue"],
    }
    assert second["optional"] == [] and second["mount_point"] == "/proc"
