"""Mail stores in the built-in profiles: their rules, run by the files collector over a host
tree laid out under a temporary root (Maildir, mbox spools, Thunderbird, Evolution)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from collectors.base import FileTarget, Problem
from collectors.profiles import load_profile

MAIL_FILES = {
    "var/mail/alice": b"From alice@example.org Mon Jan  1 00:00:00 2026\nSubject: invoice\n\nx\n",
    "var/spool/mail/bob": b"From bob@example.org Mon Jan  1 00:00:00 2026\n\nhello\n",
    "root/Maildir/cur/1700000000.1.host:2,S": b"Subject: root mail\n\nbody\n",
    "home/carol/Maildir/new/1700000001.2.host": b"Subject: phish\n\nclick\n",
    "home/carol/.thunderbird/abcd.default/Mail/Local Folders/Inbox": b"From x\n\nmsg\n",
    "home/carol/.thunderbird/abcd.default/ImapMail/imap.example.org/INBOX": b"From y\n\nmsg\n",
    "home/dave/.local/share/evolution/mail/local/cur/1700000002.3.host": b"Subject: e\n\n.\n",
}
NOT_MAIL = "home/carol/notes.txt"


def mail_rules(profile: str, root: Path) -> list[dict[str, Any]]:
    """The profile's Linux mail rules, re-rooted under ``root``."""
    rules = []
    for target in load_profile(profile).collectors["files"]["targets"]:
        rule = target if isinstance(target, dict) else {"path": target}
        path = rule["path"]
        systems = rule.get("os", ["linux"])
        systems = systems if isinstance(systems, list) else [systems]
        mailish = any(k in path for k in ("mail", "Maildir", "thunderbird", "evolution"))
        if mailish and "linux" in systems and path.startswith("/"):
            rules.append({**rule, "path": f"{root}{path}", "os": "linux"})
    return rules


@pytest.fixture
def host(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    for rel, data in {**MAIL_FILES, NOT_MAIL: b"not mail\n"}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def collected(
    run: Any, tmp_path: Path, rules: list[dict[str, Any]]
) -> tuple[set[str], list[Problem]]:
    observations = run("files", tmp_path / "case", targets=rules)
    root = str(tmp_path / "host") + "/"
    paths = {
        os.fsdecode(o.path).removeprefix(root) for o in observations if isinstance(o, FileTarget)
    }
    return paths, [o for o in observations if isinstance(o, Problem)]


@pytest.mark.parametrize("profile", ["triage", "full"])
def test_mail_stores_are_collected(profile: str, run: Any, host: Path, tmp_path: Path) -> None:
    rules = mail_rules(profile, host)
    paths, problems = collected(run, tmp_path, rules)
    assert paths == set(MAIL_FILES), problems


def test_triage_keeps_mail_within_its_size_budget(run: Any, host: Path, tmp_path: Path) -> None:
    big = host / "var/mail/erin"
    with big.open("wb") as f:
        f.truncate(51 << 20)  # over the 50 MiB budget
    paths, problems = collected(run, tmp_path, mail_rules("triage", host))
    assert "var/mail/erin" not in paths
    assert any(
        p.kind == "skipped" and p.path == os.fsencode(big) and "max_size" in p.reason
        for p in problems
    )
    full_paths, _ = collected(run, tmp_path, mail_rules("full", host))
    assert "var/mail/erin" in full_paths  # full takes mail stores whole


@pytest.mark.parametrize("profile", ["triage", "full"])
def test_outlook_stores_are_targets_on_windows(profile: str) -> None:
    targets = load_profile(profile).collectors["files"]["targets"]
    windows = [t["path"] for t in targets if isinstance(t, dict) and t.get("os") == "windows"]
    assert any("Microsoft/Outlook" in p for p in windows)
    assert any("Outlook Files" in p for p in windows)


def test_full_takes_mail_before_the_size_limited_home_tree() -> None:
    paths = [
        t["path"] if isinstance(t, dict) else t
        for t in load_profile("full").collectors["files"]["targets"]
    ]
    assert paths.index("/home/*/Maildir/**") < paths.index("/home/**")
    assert paths.index("/root/.thunderbird/**") < paths.index("/root/**")
