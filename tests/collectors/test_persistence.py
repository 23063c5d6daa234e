"""The persistence collector on this machine (Linux), and its parsers."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

from collectors.base import CommandRecord, FileTarget
from collectors.persistence import parse_modules
from tests.collectors.helpers import jsonl

LINUX = platform.system() == "Linux"


@pytest.mark.skipif(not LINUX, reason="the Linux code path")
def test_linux_persistence_on_this_machine(run) -> None:
    obs = run("persistence")
    files = [o for o in obs if isinstance(o, FileTarget)]
    paths = [f.path for f in files]
    assert len(paths) == len(set(paths)), "a path was yielded twice"
    assert all(os.path.lexists(p) for p in paths)
    assert all(f.rule.startswith("persistence:") for f in files)
    for expected in ("/etc/crontab", "/etc/profile", "/etc/bash.bashrc", "/root/.bashrc"):
        if os.path.lexists(expected):
            assert os.fsencode(expected) in paths, expected
    for cron_file in Path("/etc/cron.d").glob("*") if Path("/etc/cron.d").is_dir() else []:
        assert os.fsencode(cron_file) in paths
    units = jsonl(obs, "volatile/persistence_systemd_units.jsonl")
    wants = Path("/etc/systemd/system")
    links = [p for p in wants.rglob("*") if p.is_symlink()] if wants.is_dir() else []
    for link in links:
        assert os.fsencode(link) in paths
        target = os.path.normpath(link.parent / os.readlink(link))
        if os.path.isfile(target):
            assert os.fsencode(target) in paths, target
            assert any(u["path"] == target and u["enabled_target"] for u in units)
    if Path("/proc/modules").exists():
        modules = jsonl(obs, "volatile/persistence_kernel_modules.jsonl")
        assert len(modules) == len(Path("/proc/modules").read_text().splitlines())
    systemd = Path("/run/systemd/system").is_dir()
    commands = [o for o in obs if isinstance(o, CommandRecord)]
    assert bool(commands) == (systemd and bool(os.path.exists("/usr/bin/systemctl")))


def test_parse_modules() -> None:
    text = (
        "nf_tables 348160 2 nft_chain_nat,nft_compat, Live 0xffffffffc0a00000\n"
        "loop 40960 0 - Live 0x0000000000000000 (E)\n"
    )
    assert parse_modules(text) == [
        {
            "name": "nf_tables",
            "size": 348160,
            "refcount": 2,
            "used_by": ["nft_chain_nat", "nft_compat"],
            "state": "Live",
            "address": "0xffffffffc0a00000",
            "taint": "",
        },
        {
            "name": "loop",
            "size": 40960,
            "refcount": 0,
            "used_by": [],
            "state": "Live",
            "address": "0x0000000000000000",
            "taint": "E",
        },
    ]


@pytest.mark.skipif(platform.system() != "Windows", reason="Windows services and tasks")
def test_windows_persistence(run) -> None:  # pragma: no cover - Windows only
    obs = run("persistence")
    services = jsonl(obs, "volatile/persistence_services.jsonl")
    assert services and all("name" in s for s in services)
    argvs = [o.argv for o in obs if isinstance(o, CommandRecord)]
    assert ("schtasks", "/query", "/fo", "CSV", "/v") in argvs


@pytest.mark.skipif(platform.system() != "Darwin", reason="macOS launchd")
def test_macos_persistence(run) -> None:  # pragma: no cover - macOS only
    obs = run("persistence")
    assert any(o.rule == "persistence:launchd" for o in obs if isinstance(o, FileTarget))
    assert ("launchctl", "list") in [o.argv for o in obs if isinstance(o, CommandRecord)]
