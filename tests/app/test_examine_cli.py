"""`chainproof artifacts`, `log` and `extract` through the real CLI, on a really collected case
and its exported bundles (directory and zip)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from app.cli import main
from custody.record.keys import Identity, save_identity
from tests.conftest import PASSPHRASE

CLI = [sys.executable, "-m", "app"]
ANSI = "red\x1b[31mname"
TREE: dict[str, bytes] = {
    "a.txt": b"alpha\n",
    "sub/b.bin": os.urandom(300_000),
    "sub/new\nline": b"newline in the name\n",
    ANSI: b"an escape in the name\n",
    "setuid-tool": b"#!/bin/sh\necho hi\n",
}


def cli(
    *args: str | Path, env: dict[str, str], process: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``chainproof ARGS``: the CLI's ``main`` in this process (fast), or with ``process``
    a real ``python -m app`` process."""
    argv = [str(a) for a in args]
    if process:
        return subprocess.run(
            [*CLI, *argv], capture_output=True, text=True, env=env, errors="replace"
        )
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env), redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def ok(*args: str | Path, env: dict[str, str]) -> str:
    r = cli(*args, env=env)
    assert r.returncode == 0, f"{args} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr
    return r.stdout


def _deep_file(root: Path) -> None:
    """A file whose path is longer than PATH_MAX: the walk records an error for it, also as
    root (made with directory descriptors, as no path could name it)."""
    fd = os.open(root, os.O_RDONLY)
    for i in range(18):
        name = f"d{i:02d}" + "x" * 240
        os.mkdir(name, dir_fd=fd)
        nfd = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    out = os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(out, b"too deep\n")
    os.close(out)
    os.close(fd)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, alice_identity: Identity) -> dict[str, Any]:
    """Once per module: an examiner, a case collected with the CLI from a small tree (a
    setuid file, a symlink, a FIFO, odd names, a path too long to read), and its bundles."""
    root = tmp_path_factory.mktemp("examine")
    home = root / "home"
    home.mkdir()
    save_identity(alice_identity, home / "identity.p12", PASSPHRASE.encode())
    env = {**os.environ, "CHAINPROOF_HOME": str(home), "CHAINPROOF_PASSPHRASE": PASSPHRASE}
    src = root / "src"
    for rel, data in TREE.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (src / "setuid-tool").chmod(0o4755)
    os.symlink("a.txt", src / "link")
    os.mkfifo(src / "fifo")
    (src / "deep").mkdir()
    _deep_file(src / "deep")
    case = root / "case"
    ok("case", "new", case, "--title", "Examine", env=env)
    ok("collect", case, "--profile", "none", "--path", f"{src}/**", "--no-progress", env=env)
    bundle, zipped = root / "bundle", root / "bundle.zip"
    ok("export", case, "--out", bundle, env=env)
    ok("export", case, "--out", zipped, "--zip", env=env)
    return {"env": env, "src": src, "case": case, "bundle": bundle, "zip": zipped, "root": root}


def _artifacts(target: Path, env: dict[str, str], *extra: str) -> list[dict[str, Any]]:
    return json.loads(ok("artifacts", target, "--json", *extra, env=env))


def _by_path(arts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["path"]: a for a in arts if "path" in a}


def _log(target: Path, env: dict[str, str]) -> dict[str, Any]:
    return json.loads(ok("log", target, "--json", env=env))


# --------------------------------------------------------------------------- artifacts


@pytest.mark.parametrize("where", ["case", "bundle", "zip"])
def test_artifacts_json_lists_every_artifact_with_three_hashes(
    world: dict[str, Any], where: str
) -> None:
    env, src = world["env"], world["src"]
    arts = _artifacts(world[where], env)
    by_path = _by_path(arts)
    for rel, data in TREE.items():
        a = by_path[str(src / rel)]
        assert a["sha256"] == hashlib.sha256(data).hexdigest()
        assert a["sha1"] == hashlib.sha1(data).hexdigest()
        assert a["md5"] == hashlib.md5(data).hexdigest()
        assert a["size"] == len(data) and a["kind"] == "file"
        assert a["member"] == "files" + str(src / rel)
        assert a["mtime"] and a["run_id"] and isinstance(a["seq"], int)
    assert by_path[str(src / "setuid-tool")]["mode"] == 0o4755
    link = by_path[str(src / "link")]
    assert link["kind"] == "symlink" and link["symlink_target"] == "a.txt"
    assert link["sha256"] == hashlib.sha256(b"").hexdigest()
    # every artifact the ledger holds: the system record and each collected file
    summary = json.loads(ok("case", "show", world["case"], "--json", env=env))
    assert len(arts) == summary["artifacts"] == len(TREE) + 2


def test_artifacts_csv_and_filters(world: dict[str, Any]) -> None:
    env, case, src = world["env"], world["case"], world["src"]
    arts = _artifacts(case, env)
    rows = list(csv.DictReader(io.StringIO(ok("artifacts", case, "--csv", env=env))))
    assert len(rows) == len(arts)
    assert [r["sha256"] for r in rows] == [a["sha256"] for a in arts]
    tool = next(r for r in rows if r["path"].endswith("setuid-tool"))
    assert tool["mode"] == "4755" and tool["md5"] == hashlib.md5(TREE["setuid-tool"]).hexdigest()
    # control characters are escaped in CSV text, exactly kept in JSON
    assert any(r["path"].endswith("sub/new\\nline") for r in rows)
    assert not any("\x1b" in v for r in rows for v in r.values())

    links = _artifacts(case, env, "--kind", "symlink")
    assert [a["path"] for a in links] == [str(src / "link")]
    sub = _artifacts(case, env, "--path", f"{src}/sub/*")
    assert sorted(a["path"] for a in sub) == sorted(str(src / r) for r in TREE if "sub/" in r)
    run_id = arts[0]["run_id"]
    assert len(_artifacts(case, env, "--run", run_id[:8])) == len(arts)
    none = cli("artifacts", case, "--run", "ffffffff-no-such-run", env=env)
    assert none.returncode == 2 and "no run ffffffff-no-such-run" in none.stderr
    assert none.stdout == ""

    table = ok("artifacts", case, "--kind", "file", env=env)
    assert table.splitlines()[0].split() == ["SEQ", "KIND", "SIZE", "SHA-256", "PATH"]
    assert f"{len(TREE)} artifacts" in table.splitlines()[-1]
    assert hashlib.sha256(TREE["a.txt"]).hexdigest() in table


def test_errors_and_skipped_list_each_with_its_reason(world: dict[str, Any]) -> None:
    env, case, src = world["env"], world["case"], world["src"]
    skipped = _artifacts(case, env, "--skipped")
    fifo = [s for s in skipped if s.get("path") == str(src / "fifo")]
    assert len(fifo) == 1 and fifo[0]["kind"] == "skipped" and "FIFO" in fifo[0]["reason"]
    errors = _artifacts(case, env, "--errors")
    deep = [e for e in errors if e.get("path", "").startswith(str(src / "deep"))]
    assert deep and deep[0]["kind"] == "error" and "too long" in deep[0]["reason"]
    assert all(e["kind"] in ("error", "changed") for e in errors)
    both = ok("artifacts", case, "--errors", "--skipped", env=env)
    assert "FIFO not read" in both and "too long" in both
    rows = list(csv.DictReader(io.StringIO(ok("artifacts", case, "--skipped", "--csv", env=env))))
    assert len(rows) == len(skipped) and all(r["reason"] for r in rows)
    bad = cli("artifacts", case, "--errors", "--kind", "file", env=env)
    assert bad.returncode == 2


def test_terminal_text_is_escaped(world: dict[str, Any]) -> None:
    env, case = world["env"], world["case"]
    for args in (("artifacts", case), ("log", case)):
        out = ok(*args, env=env)
        assert "\x1b" not in out
        assert "red\\x1b[31mname" in out
        assert "sub/new\\nline" in out


# --------------------------------------------------------------------------- log


@pytest.mark.parametrize("where", ["case", "bundle", "zip"])
def test_log_shows_every_entry_and_its_verification(world: dict[str, Any], where: str) -> None:
    env = world["env"]
    doc = _log(world[where], env)
    assert doc["verified"] and doc["verification"]["findings"] == []
    entries = doc["entries"]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert doc["verification"]["entries"] == len(entries)
    assert entries[0]["description"].startswith("Case opened: Examine")
    assert entries[0]["signatures"][0]["name"] == "Alice Examiner"
    text = ok("log", world[where], env=env)
    assert text.splitlines()[0] == (
        f"ledger verified: {len(entries)} entries, signatures valid "
        f"({doc['verification']['signatures_verified']} signatures)"
    )
    assert "Alice Examiner" in text and "Case opened: Examine" in text
    acts = json.loads(ok("log", world[where], "--json", "--acts", env=env))["entries"]
    assert 0 < len(acts) < len(entries)
    assert all(e["signatures"] for e in acts)


def _tampered_bundle(world: dict[str, Any], tmp_path: Path) -> tuple[Path, int]:
    """A copy of the bundle whose ledger says another SHA-256 for ``a.txt``."""
    bundle = Path(shutil.copytree(world["bundle"], tmp_path / "bundle"))
    ledger = bundle / "ledger.jsonl"
    lines = ledger.read_bytes().splitlines(keepends=True)
    good = hashlib.sha256(TREE["a.txt"]).hexdigest().encode()
    (i,) = [i for i, line in enumerate(lines) if good in line]
    lines[i] = lines[i].replace(good, hashlib.sha256(b"forged").hexdigest().encode())
    ledger.write_bytes(b"".join(lines))
    return bundle, json.loads(lines[i])["seq"]


def test_log_of_a_tampered_ledger_names_the_entry(world: dict[str, Any], tmp_path: Path) -> None:
    env = world["env"]
    bundle, seq = _tampered_bundle(world, tmp_path)
    r = cli("log", bundle, env=env, process=True)
    assert r.returncode == 6 and "Traceback" not in r.stderr
    assert r.stdout.startswith("ledger NOT verified: ")
    assert f"entry {seq}: content does not match its entry_hash" in r.stdout
    doc = json.loads(cli("log", bundle, "--json", env=env).stdout)
    assert not doc["verified"]
    (entry,) = [e for e in doc["entries"] if e["seq"] == seq]
    assert [f["code"] for f in entry["findings"]] == ["chain.entry_hash"]
    # extract trusts no digest of a ledger that does not verify
    out = tmp_path / "out"
    refused = cli("extract", bundle, str(seq), "--to", out, env=env)
    assert refused.returncode == 6 and "does not verify" in refused.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- extract


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


def test_extract_from_a_case_checks_hashes_and_records_the_access(
    world: dict[str, Any], tmp_path: Path
) -> None:
    env, src = world["env"], world["src"]
    case = Path(shutil.copytree(world["case"], tmp_path / "case", symlinks=True))
    by_path = _by_path(_artifacts(case, env))
    a, b, tool = (by_path[str(src / r)] for r in ("a.txt", "sub/b.bin", "setuid-tool"))
    out = tmp_path / "out"
    before = len(_log(case, env)["entries"])

    no_purpose = cli("extract", case, str(a["seq"]), "--to", out, env=env)
    assert no_purpose.returncode == 2 and "--purpose" in no_purpose.stderr
    assert not out.exists() and len(_log(case, env)["entries"]) == before

    text = ok(
        "extract",
        case,
        str(a["seq"]),  # by ledger entry number
        b["sha256"],  # by content
        tool["member"],  # by member name
        str(src / "link"),  # by source path: a link is not created
        "--to",
        out,
        "--purpose",
        "hand to the malware analyst",
        env=env,
    )
    assert "3 extracted, 0 refused, 1 skipped" in text
    for art in (a, b, tool):
        written = out / art["member"]
        assert hashlib.sha256(written.read_bytes()).hexdigest() == art["sha256"]
        check = subprocess.run(["sha256sum", written], capture_output=True, text=True)
        assert check.stdout.split()[0] == art["sha256"]
    assert not os.path.lexists(out / by_path[str(src / "link")]["member"])
    assert _mode(out / tool["member"]) == 0o755  # no setuid bit
    assert (out / a["member"]).stat().st_mtime_ns == int(a["mtime"].replace(".", ""))
    entries = _log(case, env)["entries"]
    assert len(entries) == before + 1
    access = entries[-1]
    assert access["event"] == "accessed" and access["signatures"][0]["name"] == "Alice Examiner"
    assert access["payload"]["purpose"].startswith("hand to the malware analyst")
    assert str(out) in access["payload"]["purpose"]
    assert set(access["payload"]["artifacts"]) >= {a["member"], b["member"], tool["member"]}
    assert json.loads(ok("verify", case, "--json", env=env))["ok"]

    again = cli("extract", case, str(a["seq"]), "--to", out, "--purpose", "x", env=env)
    assert again.returncode == 2 and "exists" in again.stderr and "--force" in again.stderr
    assert len(_log(case, env)["entries"]) == before + 1  # refused before anything was recorded
    (out / a["member"]).write_bytes(b"something else")
    ok("extract", case, str(a["seq"]), "--to", out, "--purpose", "again", "--force", env=env)
    assert (out / a["member"]).read_bytes() == TREE["a.txt"]

    preserved = tmp_path / "preserved"
    ok(
        "extract",
        case,
        tool["member"],
        "--to",
        preserved,
        "--purpose",
        "as found",
        "--preserve-mode",
        env=env,
    )
    assert _mode(preserved / tool["member"]) == 0o4755

    unknown = cli("extract", case, "/no/such/file", "--to", out, "--purpose", "x", env=env)
    assert unknown.returncode == 2 and "/no/such/file" in unknown.stderr


def test_extract_refuses_a_tampered_archive_member(world: dict[str, Any], tmp_path: Path) -> None:
    env, src = world["env"], world["src"]
    case = Path(shutil.copytree(world["case"], tmp_path / "case", symlinks=True))
    arts = _artifacts(case, env)
    b = _by_path(arts)[str(src / "sub/b.bin")]
    (archive,) = (case / "evidence").glob("*.tar")
    archive.chmod(0o644)
    with archive.open("r+b") as f:  # one bit in the middle of b.bin's data
        f.seek(b["data_offset"] + 150_000)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))
    out = tmp_path / "out"
    r = cli("extract", case, b["member"], "--to", out, "--purpose", "review", env=env, process=True)
    assert r.returncode == 6 and "Traceback" not in r.stderr
    assert "altered" in r.stderr and b["member"] in r.stderr
    assert "REFUSED" in r.stdout
    assert not out.exists()  # no partial file, no folder made for it
    # another artifact of the same archive still comes out
    a = _by_path(arts)[str(src / "a.txt")]
    ok("extract", case, a["sha256"], "--to", out, "--purpose", "review", env=env)
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["a.txt"]


def test_extract_follows_no_link_in_the_target(world: dict[str, Any], tmp_path: Path) -> None:
    env, src = world["env"], world["src"]
    a = _by_path(_artifacts(world["bundle"], env))[str(src / "a.txt")]
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "files")
    r = cli("extract", world["bundle"], str(a["seq"]), "--to", out, env=env)
    assert r.returncode == 4 and "not followed" in r.stderr
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("where", ["bundle", "zip"])
def test_extract_from_an_exported_bundle(world: dict[str, Any], where: str, tmp_path: Path) -> None:
    env, src = world["env"], world["src"]
    by_path = _by_path(_artifacts(world[where], env))
    before = len(_log(world["case"], env)["entries"])
    out = tmp_path / "out"
    wanted = [by_path[str(src / r)] for r in ("a.txt", "sub/b.bin", "sub/new\nline")]
    r = cli("extract", world[where], *(w["member"] for w in wanted), "--to", out, env=env)
    assert r.returncode == 0, r.stderr
    assert "read-only: no ledger entry was made" in r.stdout
    for w in wanted:
        assert hashlib.sha256((out / w["member"]).read_bytes()).hexdigest() == w["sha256"]
    assert len(_log(world["case"], env)["entries"]) == before
    doc = json.loads(
        ok("extract", world[where], wanted[0]["sha256"], "--to", tmp_path / "j", "--json", env=env)
    )
    assert doc["extracted"] == 1 and doc["access_entry"] is None and doc["ledger"]["verified"]


def test_a_damaged_zip_ledger_is_a_finding(world: dict[str, Any], tmp_path: Path) -> None:
    """A byte changed in the zip's compressed ledger.jsonl: log says so (exit 6), artifacts
    warns, extract refuses."""
    env = world["env"]
    damaged = tmp_path / "bundle.zip"
    shutil.copyfile(world["zip"], damaged)
    with zipfile.ZipFile(damaged) as zf:
        info = zf.getinfo("ledger.jsonl")
    with damaged.open("r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = cli("log", damaged, env=env)
    assert r.returncode == 6 and r.stdout.startswith("ledger NOT verified")
    listed = cli("artifacts", damaged, env=env)
    assert listed.returncode == 0 and "problem(s) reading the ledger" in listed.stderr
    out = tmp_path / "out"
    refused = cli("extract", damaged, "1", "--to", out, env=env)
    assert refused.returncode in (2, 6) and not out.exists()
