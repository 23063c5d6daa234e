"""User traces and configuration in the triage profile: its Linux rules, run by the files
collector over a host tree laid out under a temporary root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from collectors.base import FileTarget
from collectors.profiles import load_profile

TRACES = (
    "etc/nftables.conf",
    "etc/systemd/system/evil.service",
    "usr/local/etc/app.conf",
    "usr/lib/systemd/system/backup.timer",
    "usr/lib/systemd/system/backup.service",
    "root/.bash_history",
    "root/.ssh/id_ed25519",
    "root/.config/systemd/user/agent.service",
    "home/eve/.zsh_history",
    "home/eve/.local/share/fish/fish_history",
    "home/eve/.lesshst",
    "home/eve/.viminfo",
    "home/eve/.wget-hsts",
    "home/eve/.ssh/id_rsa",
    "home/eve/.ssh/id_rsa.pub",
    "home/eve/.ssh/authorized_keys",
    "home/eve/.ssh/known_hosts",
    "home/eve/.local/share/recently-used.xbel",
    "home/eve/.mozilla/firefox/x1y2.default-release/places.sqlite",
    "home/eve/.mozilla/firefox/x1y2.default-release/places.sqlite-wal",
    "home/eve/.config/google-chrome/Default/History",
    "home/eve/.config/google-chrome/Profile 1/History-journal",
    "home/eve/.config/chromium/Default/History",
)
NOT_TAKEN = (
    "usr/lib/systemd/system/backup.socket",
    "home/eve/.config/google-chrome/Default/Cookies",
    "home/eve/.mozilla/firefox/x1y2.default-release/cookies.sqlite",
)


def linux_rules(root: Path) -> list[dict[str, Any]]:
    """The triage profile's Linux file rules, re-rooted under ``root``."""
    rules = []
    for target in load_profile("triage").collectors["files"]["targets"]:
        rule = target if isinstance(target, dict) else {"path": target}
        systems = rule.get("os", ["linux"])
        systems = systems if isinstance(systems, list) else [systems]
        if "linux" in systems and rule["path"].startswith("/"):
            rules.append({**rule, "path": f"{root}{rule['path']}", "os": "linux"})
    return rules


def test_triage_takes_configuration_units_and_user_traces(run, tmp_path: Path) -> None:
    root = tmp_path / "host"
    for rel in TRACES + NOT_TAKEN:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rel.encode() + b"\n")
    observations = run("files", tmp_path / "case", targets=linux_rules(root))
    prefix = f"{root}/"
    taken = {
        os.fsdecode(o.path).removeprefix(prefix) for o in observations if isinstance(o, FileTarget)
    }
    assert set(TRACES) <= taken
    assert not taken & set(NOT_TAKEN)
