"""Profiles: the four built-ins load; malformed files fail naming file, line and problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from collectors import REGISTRY
from collectors.profiles import (
    BUILTIN_PROFILES,
    Profile,
    builtin_profile_text,
    load_profile,
    parse_profile,
    parse_size,
)
from custody.errors import ProfileError


@pytest.mark.parametrize("name", BUILTIN_PROFILES)
def test_builtin_profiles_load(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.description
    assert next(iter(profile.collectors)) == "system"
    assert set(profile.collectors) <= set(REGISTRY)
    assert Path(profile.source).name == f"{name}.yaml"
    assert builtin_profile_text(name).startswith("#")


def test_builtin_profile_contents() -> None:
    assert list(load_profile("none").collectors) == ["system"]
    assert list(load_profile("minimal").collectors) == ["system", "processes", "network"]
    triage = load_profile("triage")
    assert list(triage.collectors) == [
        "system",
        "processes",
        "network",
        "firewall",
        "containers",
        "kernel",
        "mounts",
        "persistence",
        "packages",
        "logs",
        "timeline",
        "files",
    ]
    paths = [t if isinstance(t, str) else t["path"] for t in triage.collectors["files"]["targets"]]
    assert {"/etc/passwd", "/etc/shadow", "/etc/sudoers", "/tmp/**", "/etc/**"} <= set(paths)
    assert {"/home/*/.ssh/**", "/home/*/.mozilla/firefox/*/places.sqlite*"} <= set(paths)
    assert triage.collectors["packages"] == {"verify": False}
    assert "/etc" in triage.collectors["timeline"]["roots"]
    assert triage.collectors["logs"]["root"] == "/var/log"
    full = load_profile("full")
    full_paths = [t["path"] for t in full.collectors["files"]["targets"]]
    assert {"/etc/**", "/home/**"} <= set(full_paths)
    assert full.collectors["timeline"] == {"roots": ["/"]}
    assert full.collectors["packages"] == {"verify": True}


def test_with_paths_adds_targets_or_the_files_collector() -> None:
    none = load_profile("none")
    extended = none.with_paths(["/srv/**", "/x"])
    assert extended.collectors["files"] == {"targets": ["/srv/**", "/x"]}
    assert "files" not in none.collectors  # the original is unchanged
    triage = load_profile("triage")
    more = triage.with_paths(["/opt/app/**"])
    assert more.collectors["files"]["targets"][-1] == "/opt/app/**"
    assert (
        len(more.collectors["files"]["targets"]) == len(triage.collectors["files"]["targets"]) + 1
    )
    assert none.with_paths([]) is none


def test_profile_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("collectors:\n  files:\n    targets: ['/etc/hosts']\n    exclude: []\n")
    profile = load_profile(str(path))
    assert profile == Profile(
        "mine", "", {"files": {"targets": ["/etc/hosts"], "exclude": []}}, str(path)
    )


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            """
            name: x
            collectors:
              system: {}
              processes: [1
            """,
            r"bad\.yaml line 5: YAML syntax error",
        ),
        (
            """
            name: x
            description: y
            collectors:
              system: {}
              proccesses: {}
            """,
            r"bad\.yaml line 5: unknown collector 'proccesses' \(known: system, capture, "
            r"containers, processes, firewall, network, kernel, mounts, persistence, packages, "
            r"logs, files, timeline\)",
        ),
        (
            """
            collectors:
              processes:
                hash_exes: true
            """,
            r"bad\.yaml line 3: unknown option 'hash_exes' for processes "
            r"\(allowed: hash_executables, open_files, environment, memory_maps, descriptors, "
            r"copy_unlinked_executables, executable_max_size\)",
        ),
        (
            """
            collectors:
              processes:
                hash_executables: "yes please"
            """,
            r"line 3: hash_executables must be of type bool, got 'yes please'",
        ),
        (
            """
            collectors:
              logs:
                root: /var/log
                max_file_size: big
            """,
            r"line 4: max_file_size must be a size like 10MiB, got 'big'",
        ),
        (
            """
            collectors:
              files:
                targets:
                  - /etc/passwd
                  - path: /tmp/**
                    max_size: 10 potatoes
            """,
            r"line 6: max_size must be a size like 10MiB, got '10 potatoes'",
        ),
        (
            """
            collectors:
              files:
                targets:
                  - {max_size: 1MiB}
            """,
            r"line 4: a target mapping needs a 'path'",
        ),
        (
            """
            collectors:
              files:
                targets: [{path: /x, max_age: 3}]
            """,
            r"line 3: unknown target key 'max_age'",
        ),
        (
            """
            collectors:
              files:
                targets: /etc/passwd
            """,
            r"line 3: targets must be a list",
        ),
        (
            """
            collectors:
              files:
                exclude: [1, 2]
            """,
            r"line 3: exclude must be a list of strings",
        ),
        (
            """
            name: x
            collector:
              system: {}
            """,
            r"line 2: unknown top-level key 'collector'",
        ),
        (
            """
            collectors:
              system: {}
              system: {}
            """,
            r"line 3: collector 'system' given twice",
        ),
        (
            """
            name: [a]
            collectors: {}
            """,
            r"line 1: name must be text",
        ),
        ("name: x\n", r"bad\.yaml line 1: missing 'collectors'"),
        ("- a\n- b\n", r"line 1: a profile must be a mapping"),
        ("", r"bad\.yaml: the profile is empty"),
        ("a: 1\n---\nb: 2\n", r"bad\.yaml line \d: YAML syntax error"),
    ],
)
def test_malformed_profiles_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        load_profile(write(tmp_path, text))


def test_unknown_profile_name() -> None:
    with pytest.raises(ProfileError, match="unknown profile 'triag'"):
        load_profile("triag")


def test_errors_in_builtin_text_name_the_builtin_file() -> None:
    with pytest.raises(ProfileError, match=r"^triage\.yaml line 2: unknown collector"):
        parse_profile("collectors:\n  nope: {}\n", "/somewhere/triage.yaml", display="triage.yaml")


def test_parse_size_is_exported() -> None:
    assert parse_size("10MiB") == 10 * 1024 * 1024


def test_with_paths_makes_relative_globs_absolute_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/dana")
    extended = load_profile("none").with_paths(["src/**", "~/notes.txt", "/abs/x"])
    assert extended.collectors["files"]["targets"] == [
        f"{tmp_path}/src/**",
        "/home/dana/notes.txt",
        "/abs/x",
    ]
