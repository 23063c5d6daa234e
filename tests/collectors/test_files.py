"""The files collector on real trees: globs, odd names, symlinks, FIFOs, filters, permissions."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from collectors import files as files_module
from collectors.base import CollectContext, FileTarget, Host
from collectors.files import Files, Glob
from tests.collectors.helpers import as_nobody, problems


def targets(observations: list) -> list[bytes]:
    return [o.path for o in observations if isinstance(o, FileTarget)]


def tree(root: Path, spec: dict[str, str | bytes | None]) -> Path:
    """Create files (str/bytes content) and directories (None) under root."""
    for rel, content in spec.items():
        path = root / rel
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def test_double_star_recurses_and_matches_hidden_files(run, tmp_path: Path) -> None:
    tree(tmp_path / "t", {"a.txt": "1", ".hidden": "2", "d/e/f.log": "3", "d/.g/h": "4"})
    found = targets(run("files", targets=[f"{tmp_path}/t/**"]))
    names = sorted(os.fsdecode(p)[len(str(tmp_path)) + 3 :] for p in found)
    assert names == [".hidden", "a.txt", "d/.g/h", "d/e/f.log"]


def test_star_question_and_class_in_the_middle(run, tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "home/alice/.bash_history": "a",
            "home/bob/.bash_history": "b",
            "home/bob/notes": "n",
            "home/carol/sub/.bash_history": "c",
            "logs/app1.log": "1",
            "logs/app2.log": "2",
            "logs/appX.log": "x",
        },
    )
    obs = run(
        "files", targets=[f"{tmp_path}/home/*/.bash_history", f"{tmp_path}/logs/app[0-9].lo?"]
    )
    found = sorted(os.fsdecode(p).removeprefix(str(tmp_path)) for p in targets(obs))
    assert found == [
        "/home/alice/.bash_history",
        "/home/bob/.bash_history",
        "/logs/app1.log",
        "/logs/app2.log",
    ]
    assert {o.rule for o in obs if isinstance(o, FileTarget)} == {
        f"{tmp_path}/home/*/.bash_history",
        f"{tmp_path}/logs/app[0-9].lo?",
    }


def test_double_star_in_the_middle_matches_zero_or_more_directories(run, tmp_path: Path) -> None:
    tree(tmp_path, {"r/key": "0", "r/a/key": "1", "r/a/b/key": "2", "r/a/b/other": "x"})
    found = targets(run("files", targets=[f"{tmp_path}/r/**/key"]))
    assert sorted(found) == sorted(
        os.fsencode(tmp_path / p) for p in ("r/key", "r/a/key", "r/a/b/key")
    )


def test_non_utf8_names_survive_as_exact_bytes(run, tmp_path: Path) -> None:
    root = os.fsencode(tmp_path / "raw")
    os.mkdir(root)
    odd_dir = root + b"/dir-\xff\xfe"
    os.mkdir(odd_dir)
    names = [root + b"/caf\xe9.txt", odd_dir + b"/\x80\x81", root + b"/new\nline"]
    for name in names:
        with open(name, "wb") as handle:
            handle.write(b"x")
    found = targets(run("files", targets=[os.fsdecode(root) + "/**"]))
    assert sorted(found) == sorted(names)


def test_symlink_loop_is_detected_and_reported(run, tmp_path: Path) -> None:
    tree(tmp_path, {"loop/a/file": "x"})
    os.symlink("..", tmp_path / "loop/a/up")  # a/up -> loop (an ancestor)
    obs = run("files", targets=[f"{tmp_path}/loop/**"])
    loops = [p for p in problems(obs) if p.reason.startswith("symlink loop:")]
    assert len(loops) == 1
    assert loops[0].kind == "skipped"
    assert loops[0].path == os.fsencode(tmp_path / "loop/a/up")
    assert f"-> .. revisits {tmp_path}/loop" in loops[0].reason
    # the link itself is recorded; nothing below it is walked again
    assert sorted(targets(obs)) == sorted(
        [os.fsencode(tmp_path / "loop/a/file"), os.fsencode(tmp_path / "loop/a/up")]
    )


def test_symlink_to_directory_outside_root_is_not_followed(run, tmp_path: Path) -> None:
    tree(tmp_path, {"outside/secret": "s", "root/inside": "i"})
    os.symlink(tmp_path / "outside", tmp_path / "root/escape")
    obs = run("files", targets=[f"{tmp_path}/root/**"])
    found = targets(obs)
    assert os.fsencode(tmp_path / "root/escape") in found  # the link, as a link
    assert not any(b"secret" in p for p in found)
    assert any("outside the selected root" in p.reason for p in problems(obs))


def test_symlinked_directory_inside_root_is_followed(run, tmp_path: Path) -> None:
    # root/*/x: root/deep/er/x is too deep to match, but root/short -> deep/er makes it match
    tree(tmp_path, {"root/deep/er/x": "x", "root/plain/x": "p"})
    os.symlink("deep/er", tmp_path / "root/short")
    found = targets(run("files", targets=[f"{tmp_path}/root/*/x"]))
    assert sorted(found) == sorted(
        [os.fsencode(tmp_path / "root/plain/x"), os.fsencode(tmp_path / "root/short/x")]
    )


def test_fifo_is_yielded_without_being_opened(run, tmp_path: Path) -> None:
    tree(tmp_path, {"f/regular": "r"})
    os.mkfifo(tmp_path / "f/pipe")
    result: list = []
    worker = threading.Thread(
        target=lambda: result.extend(run("files", targets=[f"{tmp_path}/f/**"])), daemon=True
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "collection blocked on a FIFO"
    assert os.fsencode(tmp_path / "f/pipe") in targets(result)


def test_own_output_directory_is_skipped_once(run, tmp_path: Path) -> None:
    out = tmp_path / "scan/case"
    tree(
        tmp_path, {"scan/evidence": "e", "scan/case/case.db": "db", "scan/case/evidence/r.tar": "t"}
    )
    obs = run("files", output_dir=out, targets=[f"{tmp_path}/scan/**", f"{tmp_path}/scan/*/**"])
    assert set(targets(obs)) == {os.fsencode(tmp_path / "scan/evidence")}  # once a rule
    own = [p for p in problems(obs) if p.reason == "the case's own output directory"]
    assert len(own) == 1 and own[0].kind == "skipped"


def test_literal_path_inside_output_directory_is_skipped(run, tmp_path: Path) -> None:
    out = tmp_path / "case"
    tree(tmp_path, {"case/case.db": "db"})
    obs = run("files", output_dir=out, targets=[f"{out}/case.db"])
    assert targets(obs) == []
    assert [p.reason for p in problems(obs)] == ["the case's own output directory"]


def test_size_and_age_filters_name_each_file_left_out(run, tmp_path: Path) -> None:
    tree(tmp_path, {"s/small": "x" * 10, "s/medium": "x" * 2000, "s/big": "x" * 50_000})
    old = time.time() - 40 * 86400
    os.utime(tmp_path / "s/medium", (old, old))
    rule = {"path": f"{tmp_path}/s/**", "max_size": "10KiB", "min_size": 100, "max_age_days": 30}
    obs = run("files", targets=[rule])
    assert targets(obs) == []  # small: too small; medium: too old; big: too big
    pattern = f"{tmp_path}/s/**"
    assert [(p.kind, p.path, p.reason) for p in problems(obs)] == [
        (
            "skipped",
            os.fsencode(tmp_path / "s/big"),
            f"outside the size/age filters of rule {pattern}: 50,000 bytes, over max_size 10,240",
        ),
        (
            "skipped",
            os.fsencode(tmp_path / "s/medium"),
            f"outside the size/age filters of rule {pattern}: modified 40.0 days ago, "
            "over max_age_days 30",
        ),
        (
            "skipped",
            os.fsencode(tmp_path / "s/small"),
            f"outside the size/age filters of rule {pattern}: 10 bytes, under min_size 100",
        ),
    ]
    obs = run("files", targets=[{"path": f"{tmp_path}/s/**", "max_size": "1KB"}])
    assert targets(obs) == [os.fsencode(tmp_path / "s/small")]
    assert [p.path for p in problems(obs)] == [
        os.fsencode(tmp_path / "s/big"),
        os.fsencode(tmp_path / "s/medium"),
    ]


def test_files_left_out_by_filters_are_named_up_to_a_limit(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files_module, "NAMED_PER_RULE", 3)
    tree(tmp_path, {f"s/big{i}": "x" * 100 for i in range(5)})
    obs = run("files", targets=[{"path": f"{tmp_path}/s/**", "max_size": 10}])
    assert targets(obs) == []
    found = problems(obs)
    assert [p.path for p in found[:3]] == [os.fsencode(tmp_path / f"s/big{i}") for i in range(3)]
    assert [(p.path, p.reason) for p in found[3:]] == [
        (
            None,
            f"2 more files outside the size/age filters of rule {tmp_path}/s/**, not named "
            "(5 in all; the first 3 are named, each in its own record)",
        )
    ]


def test_target_matching_nothing_is_a_problem(run, tmp_path: Path) -> None:
    obs = run("files", targets=[f"{tmp_path}/nope/**", f"{tmp_path}/nothing.txt"])
    assert targets(obs) == []
    assert [(p.kind, p.reason) for p in problems(obs)] == [
        ("skipped", f"no match for {tmp_path}/nope/**"),
        ("skipped", f"no match for {tmp_path}/nothing.txt"),
    ]


def test_literal_file_and_literal_directory(run, tmp_path: Path) -> None:
    tree(tmp_path, {"etc/passwd": "p", "etc/ssh/sshd_config": "s", "etc/ssh/keys/k": "k"})
    found = targets(run("files", targets=[f"{tmp_path}/etc/passwd", f"{tmp_path}/etc/ssh"]))
    assert sorted(found) == sorted(
        os.fsencode(tmp_path / p) for p in ("etc/passwd", "etc/ssh/sshd_config", "etc/ssh/keys/k")
    )


def test_a_path_is_yielded_for_each_rule_that_matches_it(run, tmp_path: Path) -> None:
    # The run takes each path once, for the first rule (tests/app/test_collection_stream.py).
    tree(tmp_path, {"d/a": "a", "d/b": "b"})
    rules = [f"{tmp_path}/d/a", f"{tmp_path}/d/*", f"{tmp_path}/d/**"]
    obs = run("files", targets=rules)
    a, b = os.fsencode(tmp_path / "d/a"), os.fsencode(tmp_path / "d/b")
    assert [(o.path, o.rule) for o in obs if isinstance(o, FileTarget)] == [
        (a, rules[0]),
        (a, rules[1]),
        (b, rules[1]),
        (a, rules[2]),
        (b, rules[2]),
    ]
    assert problems(obs) == []


def test_exclude_prunes_directories_and_files(run, tmp_path: Path) -> None:
    tree(tmp_path, {"h/u/.cache/big": "c", "h/u/keep": "k", "h/u/x.tmp": "t", "h/v/.cache/z": "z"})
    obs = run(
        "files",
        targets=[f"{tmp_path}/h/**"],
        exclude=[f"{tmp_path}/h/*/.cache", f"{tmp_path}/h/**/*.tmp"],
    )
    assert targets(obs) == [os.fsencode(tmp_path / "h/u/keep")]


def test_targets_for_another_os_are_ignored(run, tmp_path: Path) -> None:
    tree(tmp_path, {"a": "a"})
    other = "windows" if Host.this().system != "Windows" else "linux"
    obs = run("files", targets=[{"path": f"{tmp_path}/a", "os": other}])
    assert obs == []


def test_permission_denied_directory_is_an_error_and_the_walk_goes_on(public_tmp: Path) -> None:
    tree(public_tmp, {"open/readable": "r", "locked/secret": "s"})
    (public_tmp / "locked").chmod(0)

    def walk(root: str) -> list:
        ctx = CollectContext(Host.this(), {"targets": [f"{root}/**"]}, Path(root) / "case")
        return list(Files().collect(ctx))

    obs = as_nobody(walk, str(public_tmp))
    assert targets(obs) == [os.fsencode(public_tmp / "open/readable")]
    errors = [p for p in problems(obs) if p.kind == "error"]
    assert len(errors) == 1
    assert errors[0].path == os.fsencode(public_tmp / "locked")
    assert "Permission denied" in errors[0].reason


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_proc_and_sys_are_not_entered_from_above(run) -> None:
    obs = run("files", targets=["/*/self/status", "/proc/self/status"])
    assert targets(obs) == [b"/proc/self/status"]  # the second, rooted inside /proc
    pseudo = [b"/proc"] + ([b"/sys"] if Path("/sys").is_dir() else [])
    assert [(p.reason, p.path) for p in problems(obs)] == [
        *(("kernel pseudo file system, not walked", d) for d in pseudo),
        ("no match for /*/self/status", None),
    ]


def test_glob_matching_rules() -> None:
    g = Glob("/a/**/b*/[!x]?")
    assert g.root == b"/a"
    assert g.matches(b"/a/b1/yz")
    assert g.matches(b"/a/p/q/bee/zz")
    assert not g.matches(b"/a/b1/xz")
    assert not g.matches(b"/a/b1/yzz")
    assert not g.matches(b"/other/b1/yz")
    literal = Glob("/etc/ssh")
    assert literal.literal and literal.matches(b"/etc/ssh/sshd_config")
    assert not literal.matches(b"/etc/sshd")
    assert Glob("relative/*.txt").root == os.fsencode(os.path.abspath("relative"))


@pytest.mark.skipif(Host.this().system != "Windows", reason="Windows paths need Windows")
def test_windows_paths(run) -> None:  # pragma: no cover - Windows only
    root = os.environ.get("SYSTEMROOT", r"C:\Windows")
    obs = run("files", targets=[root + r"\System32\drivers\etc\hosts"])
    assert len(targets(obs)) == 1


def test_walking_leaves_directory_atimes_unchanged(run, tmp_path: Path) -> None:
    """relatime updates a directory's atime older than its mtime when it is listed."""
    root = tree(tmp_path / "src", {"a/b/c/deep.txt": "d", "a/top.txt": "t", "z/other": "o"})
    dirs = sorted((p for p in [root, *root.rglob("*")] if p.is_dir()), reverse=True)
    for d in dirs:  # deepest first: a child's utime does not change its parent's mtime
        st = d.stat()
        os.utime(d, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))
    before = {d: (d.stat().st_atime_ns, d.stat().st_mtime_ns) for d in dirs}
    found = targets(run("files", targets=[{"path": f"{root}/**"}]))
    assert len(found) == 3
    assert {d: (d.stat().st_atime_ns, d.stat().st_mtime_ns) for d in dirs} == before
