"""The timeline collector on real trees: the bodyfile as mactime reads it, the sweeps, soundness."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cases import create_case
from app.collection import CollectionRun
from app.verification import verify_case
from collectors import REGISTRY
from collectors.base import CollectContext, Host, Observation, SpooledRecord, VolatileRecord
from collectors.exclusions import ExcludedRoot, NeverCollect
from collectors.profiles import load_profile
from collectors.timeline import (
    BODYFILE,
    SWEEP_CAPS,
    SWEEP_SUID,
    SWEEP_WRITABLE,
    body_line,
    escape_name,
    mode_text,
    nested_roots,
)
from custody.db.ledger import read_entries
from custody.record.events import ArtifactCollected, parse
from custody.record.keys import Identity
from tests.collectors.helpers import as_nobody, jsonl, member, problems

MACTIME = shutil.which("mactime")  # sleuthkit, installed by scripts/setup.sh --dev
# security.capability for cap_net_raw=ep (revision 2, effective), as setcap writes it.
NET_RAW_EP = bytes.fromhex("0100000200200000000000000000000000000000")
ODD = b"odd|name%\nline"


def make_tree(root: Path) -> Path:
    """A tree with the cases the sweeps look for, a FIFO, a symlink and an awkward name."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "plain").write_bytes(b"plain\n")
    (root / "bin" / "suid").write_bytes(b"#!/bin/sh\n")
    (root / "bin" / "suid").chmod(0o4755)
    (root / "bin" / "sgid").write_bytes(b"#!/bin/sh\n")
    (root / "bin" / "sgid").chmod(0o2755)
    (root / "bin" / "ping").write_bytes(b"\x7fELF")
    (root / "bin" / "ping").chmod(0o755)
    os.setxattr(root / "bin" / "ping", "security.capability", NET_RAW_EP)
    (root / "drop").mkdir()
    (root / "drop").chmod(0o777)
    (root / "shared").mkdir()
    (root / "shared").chmod(0o1777)
    (root / "shared" / "open.txt").write_bytes(b"anyone\n")
    (root / "shared" / "open.txt").chmod(0o666)
    os.mkfifo(root / "fifo")
    (root / "link").symlink_to("bin/plain")
    (Path(os.fsdecode(os.fsencode(root) + b"/" + ODD))).write_bytes(b"odd\n")
    return root


def entries(root: Path) -> dict[bytes, os.stat_result]:
    """lstat of ``root`` and everything below it, by path bytes."""
    found = {os.fsencode(root): os.lstat(root)}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            found[path] = os.lstat(path)
    return found


def timeline(ctx: CollectContext) -> list[Observation]:
    return list(REGISTRY["timeline"]().collect(ctx))


@pytest.fixture
def ctx_for(tmp_path: Path) -> Callable[..., CollectContext]:
    def make(*, never: NeverCollect | None = None, **options: object) -> CollectContext:
        out = tmp_path / "case"
        out.mkdir(exist_ok=True)
        return CollectContext(
            host=Host.this(), options=options, output_dir=out, never_collect=never or NeverCollect()
        )

    return make


def test_bodyfile_lines_are_tsk_format_and_match_lstat(tmp_path: Path, ctx_for) -> None:
    tree = make_tree(tmp_path / "tree")
    expected = entries(tree)
    obs = timeline(ctx_for(roots=[str(tree)]))
    body = member(obs, BODYFILE)
    lines = body.splitlines()
    assert len(lines) == len(expected)
    by_name: dict[bytes, list[bytes]] = {}
    for line in lines:
        fields = line.split(b"|")
        assert len(fields) == 11, line
        by_name[fields[1]] = fields
    for path, st in expected.items():
        fields = by_name[escape_name(path)]
        assert fields[0] == b"0"
        assert int(fields[2]) == st.st_ino
        assert fields[3] == mode_text(st.st_mode)
        assert [int(f) for f in fields[4:7]] == [st.st_uid, st.st_gid, st.st_size]
        assert int(fields[7]) == st.st_atime_ns // 10**9
        assert int(fields[8]) == st.st_mtime_ns // 10**9
        assert int(fields[9]) == st.st_ctime_ns // 10**9
        assert fields[10] == b"0"  # no birth time through os.stat on Linux, Python 3.11
    base = os.fsencode(tree)
    assert by_name[base + b"/bin/suid"][3] == b"r/rrwsr-xr-x"
    assert by_name[base + b"/shared"][3] == b"d/drwxrwxrwt"
    assert by_name[base + b"/fifo"][3] == b"p/prw-r--r--"
    assert by_name[base + b"/link"][3] == b"l/lrwxrwxrwx"
    assert by_name[base + b"/odd%7Cname%25^line"][6] == b"4"
    assert not problems(obs)


def test_mactime_reads_the_bodyfile_with_every_name(tmp_path: Path, ctx_for) -> None:
    tree = make_tree(tmp_path / "tree")
    for path in entries(tree):  # distinct times, so that each entry has its own rows
        os.utime(path, (1_500_000_000, 1_600_000_000), follow_symlinks=False)
    body = member(timeline(ctx_for(roots=[str(tree)])), BODYFILE)
    (tmp_path / "body").write_bytes(body)
    assert MACTIME is not None, (
        "install sleuthkit (scripts/setup.sh --dev): mactime reads the bodyfile"
    )
    out = subprocess.run(
        [MACTIME, "-b", str(tmp_path / "body"), "-d", "-z", "UTC"],
        capture_output=True,
        check=True,
    ).stdout
    # Every entry is there under its name: %XX decoded, a control character as ^ (as fls).
    for path in entries(tree):
        assert b',"' + path.replace(b"\n", b"^") + b'"\n' in out, path
    assert os.fsencode(tree) + b"/odd|name%^line" in out
    # -d dates every row: one "m..." row per entry at the mtime that was set
    assert out.count(b"\nSun Sep 13 2020 12:26:40,") == len(entries(tree))


def test_etc_passwd_has_a_line_and_mactime_reads_it(tmp_path: Path, ctx_for) -> None:
    obs = timeline(ctx_for(roots=["/etc"], sweeps=False))
    body = member(obs, BODYFILE)
    line = next(line for line in body.splitlines() if line.split(b"|")[1] == b"/etc/passwd")
    assert line + b"\n" == body_line(b"/etc/passwd", os.lstat("/etc/passwd"))
    (tmp_path / "body").write_bytes(body)
    assert MACTIME is not None, (
        "install sleuthkit (scripts/setup.sh --dev): mactime reads the bodyfile"
    )
    out = subprocess.run([MACTIME, "-b", str(tmp_path / "body"), "-d"], capture_output=True)
    assert out.returncode == 0, out.stderr
    assert b'"/etc/passwd"' in out.stdout
    assert {m.member for m in obs if isinstance(m, VolatileRecord)} == {BODYFILE}


def test_sweeps_find_suid_sgid_world_writable_and_capabilities(tmp_path: Path, ctx_for) -> None:
    tree = make_tree(tmp_path / "tree")
    obs = timeline(ctx_for(roots=[str(tree)]))
    suid = {Path(r["path"]).name: r for r in jsonl(obs, SWEEP_SUID)}
    assert set(suid) == {"suid", "sgid"}
    assert (suid["suid"]["suid"], suid["suid"]["sgid"], suid["suid"]["mode"]) == (
        True,
        False,
        "4755",
    )
    assert (suid["sgid"]["suid"], suid["sgid"]["sgid"]) == (False, True)
    writable = {Path(r["path"]).name: r for r in jsonl(obs, SWEEP_WRITABLE)}
    assert set(writable) == {"drop", "shared", "open.txt"}  # the symlink's 777 is not a finding
    assert writable["drop"]["sticky"] is False and writable["shared"]["sticky"] is True
    assert "sticky" not in writable["open.txt"]
    caps = jsonl(obs, SWEEP_CAPS)
    assert [Path(c["path"]).name for c in caps] == ["ping"]
    assert caps[0]["capabilities"] == "cap_net_raw=ep"
    assert caps[0]["raw_hex"] == NET_RAW_EP.hex()
    assert (caps[0]["revision"], caps[0]["effective"], caps[0]["permitted"]) == (2, True, "0x2000")


def test_no_atime_or_mtime_changes(tmp_path: Path, ctx_for) -> None:
    """relatime updates an atime older than the mtime on any read: set them so, then walk."""
    tree = make_tree(tmp_path / "tree")
    paths = sorted(entries(tree), reverse=True)  # listed once, before the times are set
    for path in paths:
        os.utime(path, ns=(1_000_000_000 * 10**9, 1_600_000_000 * 10**9), follow_symlinks=False)
    before = {p: (os.lstat(p).st_atime_ns, os.lstat(p).st_mtime_ns) for p in paths}
    obs = timeline(ctx_for(roots=[str(tree)]))
    assert len(member(obs, BODYFILE).splitlines()) == len(before)
    after = {p: (os.lstat(p).st_atime_ns, os.lstat(p).st_mtime_ns) for p in paths}
    assert after == before


def test_exclusions_own_output_and_nested_roots(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    keys = tree / "keys"
    keys.mkdir()
    (keys / "id.p12").write_bytes(b"secret")
    out = tree / "case"
    out.mkdir()
    (out / "case.db").write_bytes(b"db")
    ctx = CollectContext(
        host=Host.this(),
        options={"roots": [str(tree), str(tree / "bin")]},
        output_dir=out,
        never_collect=NeverCollect(roots=(ExcludedRoot(str(keys), "the examiner's keys"),)),
    )
    obs = timeline(ctx)
    names = [line.split(b"|")[1] for line in member(obs, BODYFILE).splitlines()]
    assert len(names) == len(set(names)), "a nested root was walked twice"
    assert not any(b"/keys" in n or b"/case" in n for n in names)
    reasons = {(p.kind, p.path): p.reason for p in problems(obs)}
    assert reasons[("excluded", os.fsencode(keys))].startswith("the examiner's keys (1 file")
    assert reasons[("skipped", os.fsencode(out))] == "the case's own output directory"
    assert nested_roots(["/etc/", "/", "/etc"]) == [b"/"]


def test_pseudo_file_systems_are_not_entered(ctx_for) -> None:
    obs = timeline(ctx_for(roots=["/", "/etc"], time_budget_s=2, sweeps=False))
    lines = member(obs, BODYFILE).splitlines()
    names = {line.split(b"|")[1] for line in lines}
    assert {b"/", b"/proc", b"/sys", b"/dev"} <= names
    assert not any(n.startswith((b"/proc/", b"/sys/", b"/dev/")) for n in names)
    pseudo = {p.path for p in problems(obs) if "pseudo" in p.reason}
    assert pseudo == {b"/proc", b"/sys", b"/dev"}


def test_the_time_budget_stops_the_walk_and_says_what_was_not_walked(
    tmp_path: Path, ctx_for
) -> None:
    tree = make_tree(tmp_path / "tree")
    other = tmp_path / "other"
    other.mkdir()
    obs = timeline(ctx_for(roots=[str(tree), str(other)], time_budget_s=0))
    assert member(obs, BODYFILE).splitlines() == [body_line(os.fsencode(tree), os.lstat(tree))[:-1]]
    [budget] = [p for p in problems(obs) if "time budget" in p.reason]
    assert budget.kind == "skipped"
    assert budget.reason.endswith(f"2 directories not walked: {tree}, {other}")
    assert "partial" in next(o.description for o in obs if isinstance(o, VolatileRecord))


def test_an_unreadable_directory_is_an_error_not_a_silence(public_tmp: Path) -> None:
    (public_tmp / "closed").mkdir()
    (public_tmp / "closed" / "inside").write_bytes(b"x")
    (public_tmp / "closed").chmod(0o700)

    def walk(root: str) -> list[tuple[str, str, bytes | None]]:
        ctx = CollectContext(
            host=Host.this(), options={"roots": [root]}, output_dir=Path("/nonexistent")
        )
        return [(p.kind, p.reason, p.path) for p in problems(timeline(ctx))]

    found = as_nobody(walk, str(public_tmp))
    assert (
        "error",
        "timeline: cannot list directory: Permission denied",
        os.fsencode(public_tmp / "closed"),
    ) in found


def test_streamed_to_the_spool_when_the_run_gives_one(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    spool = tmp_path / "spool"
    out = tmp_path / "case"
    out.mkdir()
    streamed = timeline(CollectContext(Host.this(), {"roots": [str(tree)]}, out, spool_dir=spool))
    record = next(o for o in streamed if isinstance(o, SpooledRecord))
    data = Path(record.path).read_bytes()
    assert record.member == BODYFILE and record.kind == "volatile" and record.size == len(data)
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    in_memory = member(timeline(CollectContext(Host.this(), {"roots": [str(tree)]}, out)), BODYFILE)
    assert data == in_memory


def test_cancelled_walk_leaves_no_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    cancel = threading.Event()
    cancel.set()
    ctx = CollectContext(
        Host.this(), {"roots": ["/usr"]}, tmp_path / "case", cancel=cancel, spool_dir=spool
    )
    assert timeline(ctx) == []
    assert list(spool.iterdir()) == []


def test_a_run_archives_and_records_the_bodyfile(tmp_path: Path, alice: Identity) -> None:
    tree = make_tree(tmp_path / "tree")
    case = create_case(tmp_path / "case", alice, title="Timeline")
    profile = load_profile("none")
    profile.collectors["timeline"] = {"roots": [str(tree)]}
    result = CollectionRun(case, alice, profile).execute()
    assert result.status == "finished", result.reason
    arts = [
        e
        for e in (parse(x) for x in read_entries(case.sessions, case.case_id))
        if isinstance(e, ArtifactCollected)
    ]
    body = next(a for a in arts if a.member.name.endswith(BODYFILE))
    assert body.kind == "volatile" and body.member.size > 0
    assert {a.member.name.rsplit("/", 1)[-1] for a in arts} >= {
        "timeline.bodyfile",
        "sweep_suid_sgid.jsonl",
        "sweep_world_writable.jsonl",
        "sweep_capabilities.jsonl",
    }
    assert not list((case.root / "evidence").glob("**/.spool-*"))
    assert verify_case(case).ok
    assert stat.S_IMODE(os.stat(tree / "bin" / "suid").st_mode) == 0o4755


def test_a_tree_deeper_than_path_max_is_walked(tmp_path: Path, ctx_for) -> None:
    """Paths longer than PATH_MAX (4096) cannot be opened in one call: the walk goes down."""
    name = b"d" * 200
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(25):  # 25 * 201 bytes: past 4096
            os.mkdir(name, dir_fd=fd)
            below = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
        leaf = os.open(b"leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.close(leaf)
    finally:
        os.close(fd)
    obs = timeline(ctx_for(roots=[str(tmp_path / os.fsdecode(name))], sweeps=False))
    deepest = os.fsencode(tmp_path) + (b"/" + name) * 25 + b"/leaf"
    assert len(deepest) > 4096
    names = [line.split(b"|")[1] for line in member(obs, BODYFILE).splitlines()]
    assert deepest in names and len(names) == 26
    assert not problems(obs)
