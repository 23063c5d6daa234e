"""What a collection never collects, through the real command line (issue 15): the program
itself, the case being written, other cases and bundles, the examiner's configuration and
identity; each exclusion and each file a filter left out named in the ledger; relative paths
taken from the current directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from app.cases import open_case
from custody.db.ledger import read_entries
from custody.record.events import ArtifactCollected, CollectionProblem, RunFinished, parse
from custody.record.keys import Identity

CLI = [sys.executable, "-m", "app"]
ROOT = Path(__file__).resolve().parents[2]
BUNDLE_FILES = ("manifest.json", "ledger.jsonl", "SHA256SUMS", "SHA256SUMS.sig")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert proc.returncode == 0, f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def ledger(case: Path) -> tuple[list[str], dict[str, str], list[RunFinished]]:
    """Collected source paths, problems (path: reason) and run ends, from the ledger."""
    handle = open_case(case)
    paths: list[str] = []
    problems: dict[str, str] = {}
    ends: list[RunFinished] = []
    for entry in read_entries(handle.sessions, handle.case_id):
        event = parse(entry)
        if isinstance(event, ArtifactCollected) and event.source is not None:
            paths.append(event.source.path)
        elif isinstance(event, CollectionProblem):
            problems[event.path or ""] = f"{event.kind}: {event.reason}"
        elif isinstance(event, RunFinished):
            ends.append(event)
    return paths, problems, ends


def test_collect_never_takes_cases_bundles_keys_or_the_case_being_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = tmp_path / "scan"
    home = scan / "home"  # the examiner's configuration, inside what is collected
    monkeypatch.setenv("CHAINPROOF_HOME", str(home))
    run("keys", "init", "--name", "Dana", "--org", "Example", "--email", "dana@example.org")
    assert (home / "identity.p12").is_file()
    run("case", "new", str(scan / "older"), "--title", "an older case")
    run("case", "new", str(scan / "now"), "--title", "this case")
    write(scan, {"keep/a.txt": b"alpha\n", "keep/sub/b.txt": b"beta\n"})
    write(scan / "bundle", {name: name.encode() for name in BUNDLE_FILES})
    write(scan / "bundle", {"evidence/r.tar": b"tar"})
    with zipfile.ZipFile(scan / "bundle.zip", "w") as zf:
        for name in (*BUNDLE_FILES, "evidence/r.tar"):
            zf.writestr(name, name)

    out = run(
        "collect", str(scan / "now"), "--profile", "none", "--path", f"{scan}/**", "--json"
    ).stdout
    doc = json.loads(out)
    assert doc["status"] == "finished"

    paths, problems, ends = ledger(scan / "now")
    assert sorted(paths) == [str(scan / "keep/a.txt"), str(scan / "keep/sub/b.txt")]
    excluded = {p: r for p, r in problems.items() if r.startswith("skipped: excluded: ")}
    assert set(excluded) == {
        str(home),
        str(scan / "now"),
        str(scan / "older"),
        str(scan / "bundle"),
        str(scan / "bundle.zip"),
    }
    prefix = "skipped: excluded: "
    assert excluded[str(home)] == (
        f"{prefix}the examiner's Chainproof configuration and identity "
        "(2 files below it, not walked)"  # identity.p12 and its certificate
    )
    assert excluded[str(scan / "older")].startswith(f"{prefix}another Chainproof case (")
    assert excluded[str(scan / "now")].startswith(f"{prefix}the case being written (")
    assert excluded[str(scan / "bundle")] == (
        f"{prefix}a Chainproof bundle (5 files in 1 directory below it, not walked)"
    )
    assert excluded[str(scan / "bundle.zip")] == (
        f"{prefix}a Chainproof bundle (1 file, not collected)"
    )
    # Exclusions are skips: the run's counts and the summary say so.
    assert ends[-1].skipped == doc["skipped"] == len(problems) == 5
    assert sorted(line.split(": ", 1)[0] for line in doc["excluded"]) == sorted(excluded)
    text = run(
        "collect", str(scan / "now"), "--profile", "none", "--path", f"{scan}/keep/../home/**"
    ).stdout
    assert "Excluded (never collected; 1 of the skipped):" in text
    assert f"  {home}: the examiner's Chainproof configuration and identity" in text
    run("verify", str(scan / "now"))


def test_the_running_virtual_environment_is_never_collected(
    tmp_path: Path, alice: Identity
) -> None:
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run in a virtual environment")
    case = tmp_path / "case"
    run("case", "new", str(case), "--title", "venv")
    venv = Path(sys.prefix)
    out = json.loads(
        run(
            "collect",
            str(case),
            "--profile",
            "none",
            "--path",
            f"{venv}/pyvenv.cfg",
            "--path",
            f"{venv}/*.cfg",
            "--json",
        ).stdout
    )
    paths, problems, _ = ledger(case)
    assert paths == []
    assert problems[f"{venv}/pyvenv.cfg"] == (
        f"skipped: excluded: inside Chainproof's own virtual environment {venv} "
        "(1 file, not collected)"
    )
    reason = problems[str(venv)]
    assert reason.startswith("skipped: excluded: Chainproof's own virtual environment (")
    assert reason.endswith(" below it, not walked)")
    assert len(out["excluded"]) == 2
    run("verify", str(case))


def test_files_left_out_by_size_and_age_filters_are_named_in_the_ledger(
    tmp_path: Path, alice: Identity
) -> None:
    src = tmp_path / "src"
    write(src, {"small.txt": b"s", "big.bin": b"b" * 5000, "old.txt": b"old"})
    old = time.time() - 10 * 86400
    os.utime(src / "old.txt", (old, old))
    profile = tmp_path / "filters.yaml"
    profile.write_text(
        "name: filters\ncollectors:\n  files:\n    targets:\n"
        f"      - {{path: '{src}/**', max_size: 1000, max_age_days: 5}}\n",
        encoding="utf-8",
    )
    case = tmp_path / "case"
    run("case", "new", str(case), "--title", "filters")
    run("collect", str(case), "--profile", str(profile))
    paths, problems, ends = ledger(case)
    rule = f"rule {src}/**"
    assert paths == [str(src / "small.txt")]
    assert problems == {
        str(src / "big.bin"): (
            f"skipped: outside the size/age filters of {rule}: 5,000 bytes, over max_size 1,000"
        ),
        str(src / "old.txt"): (
            f"skipped: outside the size/age filters of {rule}: modified 10.0 days ago, "
            "over max_age_days 5"
        ),
    }
    assert ends[-1].skipped == 2
    run("verify", str(case))


def test_relative_case_dirs_and_paths_are_taken_from_the_current_directory(
    tmp_path: Path, alice: Identity
) -> None:
    work = tmp_path / "work"
    write(work, {"src/a.txt": b"a"})
    run("case", "new", "cases/rel", "--title", "relative", cwd=work)
    assert (work / "cases/rel/case.json").is_file()
    run("collect", "cases/rel", "--profile", "none", "--path", "src/**", cwd=work)
    paths, _, _ = ledger(work / "cases/rel")
    assert paths == [str(work / "src/a.txt")]
    handle = open_case(work / "cases/rel")
    (run_state,) = handle.state().runs.values()
    # The run's record names the absolute glob, not one relative to somewhere unsaid.
    targets = run_state.started.event.profile_collectors["files"]["targets"]
    assert targets == [f"{work}/src/**"]
    run("verify", "cases/rel", cwd=work)


def test_a_relative_sqlite_database_url_is_kept_absolute(tmp_path: Path, alice: Identity) -> None:
    """``--db sqlite:///rel.db`` names a file from the current directory at ``case new``;
    the case finds it later from anywhere."""
    work = tmp_path / "work"
    (work / "dbs").mkdir(parents=True)
    run("case", "new", "case", "--title", "own db", "--db", "sqlite:///dbs/case.sqlite", cwd=work)
    pointer = json.loads((work / "case/case.json").read_text())
    assert pointer["database"] == f"sqlite:///{work}/dbs/case.sqlite"
    assert (work / "dbs/case.sqlite").is_file()
    run("verify", str(work / "case"), cwd=tmp_path)


def test_collect_this_machine_takes_a_relative_case_dir_from_where_it_is_run(
    tmp_path: Path,
) -> None:
    """scripts/collect-this-machine.sh changes into the checkout; a relative CASE_DIR is
    still the caller's. Run on a copy whose setup and CLI are stand-ins that log their
    arguments."""
    fake = tmp_path / "checkout"
    (fake / "scripts").mkdir(parents=True)
    script = fake / "scripts/collect-this-machine.sh"
    script.write_bytes((ROOT / "scripts/collect-this-machine.sh").read_bytes())
    (fake / "scripts/setup.sh").write_text("#!/bin/sh\nexit 0\n")
    log = tmp_path / "calls.log"
    stand_in = fake / ".venv/bin/python"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> {log}\necho >> {log}\n')
    for path in (script, fake / "scripts/setup.sh", stand_in):
        path.chmod(0o755)
    caller = tmp_path / "caller"
    caller.mkdir()
    subprocess.run([str(script), "cases/here"], cwd=caller, check=True, timeout=60)
    subprocess.run([str(script), str(tmp_path / "abs")], cwd=caller, check=True, timeout=60)
    calls = log.read_text().splitlines()
    news = [c.split("|") for c in calls if c.startswith("-m|app|case|new|")]
    assert [c[4] for c in news] == [str(caller / "cases/here"), str(tmp_path / "abs")]
    collects = [c.split("|")[3] for c in calls if c.startswith("-m|app|collect|")]
    assert collects == [str(caller / "cases/here"), str(tmp_path / "abs")]


def test_what_is_never_collected_is_computed_from_this_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import self_exclusion

    case = tmp_path / "case"
    never = self_exclusion.never_collect(case)
    roots = {r.path: r.reason for r in never.roots}
    assert roots[str(ROOT)] == "Chainproof's own source checkout"  # pyproject.toml says so
    assert roots[str(ROOT / "app")] == "Chainproof's own program files, package app"
    assert roots[str(case.resolve())] == "the case being written"
    if sys.prefix != sys.base_prefix:
        assert roots[sys.prefix] == "Chainproof's own virtual environment"
    assert never.markers == self_exclusion.MARKERS
    # A configuration directory shared with other files: only Chainproof's files are kept out.
    shared = tmp_path / "shared"
    write(shared, {"identity.p12": b"k", "identity.pem": b"c", "notes.txt": b"n"})
    monkeypatch.setenv("CHAINPROOF_HOME", str(shared))
    assert sorted(r.path for r in self_exclusion.config_roots()) == [
        str(shared / "identity.p12"),
        str(shared / "identity.pem"),
    ]
    # Never the whole home directory, whatever CHAINPROOF_HOME says.
    monkeypatch.setenv("HOME", str(shared))
    (shared / "notes.txt").unlink()
    assert len(self_exclusion.config_roots()) == 2
    dedicated = tmp_path / "chainproof"
    write(dedicated, {"identity.p12": b"k", "settings.json": b"{}"})
    monkeypatch.setenv("CHAINPROOF_HOME", str(dedicated))
    assert [r.path for r in self_exclusion.config_roots()] == [str(dedicated)]


def test_a_frozen_build_keeps_out_its_executable_and_unpack_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import self_exclusion

    usb = tmp_path / "usb"
    write(usb, {"chainproof": b"ELF", "evidence-from-elsewhere.txt": b"keep"})
    unpacked = tmp_path / "_MEI12345"
    unpacked.mkdir()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(unpacked), raising=False)
    monkeypatch.setattr(sys, "executable", str(usb / "chainproof"))
    roots = {r.path: r.reason for r in self_exclusion.program_roots()}
    assert roots[str(usb / "chainproof")] == "Chainproof's own executable"
    assert roots[str(unpacked)] == "Chainproof's own unpacked program files"
    assert str(usb) not in roots  # a one-file build: the stick's other files are not ours
    assert str(ROOT) not in roots and sys.prefix not in roots
    # A one-folder build: the folder is the program's.
    monkeypatch.setattr(sys, "_MEIPASS", str(usb / "_internal"))
    (usb / "_internal").mkdir()
    roots = {r.path: r.reason for r in self_exclusion.program_roots()}
    assert roots[str(usb)] == "Chainproof's own program folder"
