"""A whole triage leaves the host as it was (issue 17's soundness rule), on this real host.

The real ``chainproof collect --profile triage`` runs twice as a subprocess, the second under
strace, with its working directory, ``TMPDIR`` and ``HOME`` in fresh directories (CI and these
machines run as root, as an examiner does). The first run names the sources (the case's
artifacts, skips and errors); before the second, every source that is not a symlink, and every
directory above it, gets an access time of 2000-01-01, so that under ``relatime`` any read
would move it. After the second run none may have moved, and no mtime. Planted trees in
``/tmp``, ``/var/tmp`` and ``/dev/shm`` (files, a directory tree, symlinks, a FIFO, a file above
the profile's size limit) stand for the shared temporary directories, whose other files belong
to other processes and are left alone. Both runs see a private ``/tmp`` (a mount namespace
with an empty tmpfs holding only the test's own directories, its planted tree and the checkout
if it lies there): the other tests' and sessions' files would only make them slower.

The machine is shared (other tests, other sessions), so a change outside the planted trees is
ours only if our process tree read the path without ``O_NOATIME``, ran it or wrote it: strace
says which (``-y`` names every descriptor's file). Every read by our processes is checked for
``O_NOATIME`` too, and every open for writing and every call that creates, renames, removes or
changes the metadata of a file must name a path in the case directory, or one of
:data:`WRITES_ALLOWED_EXACT` and the interpreter's ``__pycache__`` of the program.

Known limits, stated in docs/DESIGN.md (soundness): a symlink's own access time moves whenever
its target is read or the link is followed, and no flag prevents it
(:func:`test_reading_a_symlink_moves_its_atime_on_this_kernel`), so symlinks are checked for
their mtime only; the dynamic loader, the C library and the interpreter read
:data:`READ_BY_THE_RUNTIME` without ``O_NOATIME`` at every process start, and the name service
reads :data:`READ_BY_NSS`; running a tool reads its executable.
"""

from __future__ import annotations

import codecs
import ctypes
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE

STRACE = shutil.which("strace")
CLI = [sys.executable, "-m", "app"]
OLD_ATIME_NS = 946_684_800 * 10**9  # 2000-01-01: relatime updates an atime over a day old
CHECKOUT = Path(__file__).resolve().parents[2]

#: Syscalls traced: every open, exec and call that creates, renames, removes or changes a
#: file's metadata ("?": not every architecture has the old path-only calls).
TRACED = ",".join(
    [
        "openat", "?open", "?creat", "?openat2", "execve", "execveat",
        "?rename", "renameat", "?renameat2", "?unlink", "unlinkat", "?rmdir",
        "?mkdir", "mkdirat", "?mknod", "mknodat", "?link", "linkat", "?symlink", "symlinkat",
        "truncate", "ftruncate", "?chmod", "fchmod", "fchmodat", "?chown", "?lchown", "fchown",
        "fchownat", "?utimes", "?utime", "utimensat", "?futimesat", "setxattr", "lsetxattr",
        "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    ]
)  # fmt: skip
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_TMPFILE", "O_APPEND")
_CHANGES = {
    "creat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "mkdir",
    "mkdirat", "mknod", "mknodat", "link", "linkat", "symlink", "symlinkat", "truncate",
    "ftruncate", "chmod", "fchmod", "fchmodat", "chown", "lchown", "fchown", "fchownat",
    "utimes", "utime", "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr",
}  # fmt: skip

#: Read without O_NOATIME by the dynamic loader, the C library, OpenSSL or the interpreter
#: when the program or a tool it runs starts: no flag of ours reaches these opens.
READ_BY_THE_RUNTIME = (
    b"/etc/ld.so.cache",
    b"/etc/ld.so.preload",
    b"/etc/localtime",  # tzset() at the interpreter's start (and in each tool)
    b"/etc/ssl/openssl.cnf",
    b"/usr/lib/ssl/openssl.cnf",  # /etc/ssl/openssl.cnf through /usr/lib/ssl's symlink
    b"/etc/gai.conf",
    b"/etc/locale.alias",  # setlocale(), through /usr/share/locale/locale.alias
)
#: Shared libraries, the C library's character set modules and locales, time zone files.
_RUNTIME = re.compile(
    rb"^/(usr/)?lib(32|64)?/(.+\.so(\.[0-9]+)*|[^/]+-linux-gnu[^/]*/gconv/.+|locale/.+)$"
    rb"|^/usr/share/(locale|zoneinfo)/.+$"  # zoneinfo: /etc/localtime's target
)

#: Read without O_NOATIME through the C library's name service (NSS) by ``lsblk
#: --output-all`` (its OWNER and GROUP columns), and by custody.store.accounts only for a
#: uid or gid the files do not name when nsswitch.conf names another source.
READ_BY_NSS = (b"/etc/passwd", b"/etc/group", b"/etc/nsswitch.conf")

#: Written by us outside the case directory, and why.
WRITES_ALLOWED_EXACT = (b"/dev/null",)  # the tools' stdin, opened read-write by subprocess
#: The interpreter caches compiled modules of the program and its libraries (``*.pyc``,
#: written under a temporary name, then renamed) in __pycache__ beside their sources.
_PYCACHE = re.compile(rb"/__pycache__(/[^/]+\.pyc(\.\d+)?)?$")
#: Anonymous memory (memfd_create: the evidence store's ring buffer), on no file system.
_MEMFD = b"/memfd:"

#: Kernel interfaces, not files: reading them changes nothing stored.
_VIRTUAL = (b"/proc/", b"/sys/", b"/dev/")
_SHARED_TMP = (b"/tmp/", b"/var/tmp/", b"/dev/shm/")

#: Trees where a run could leave something (for the find of files newer than the run).
NEWER_ROOTS = ("/etc", "/var/log", "/var/spool", "/var/lib/dpkg", "/root", "/home", "/usr/local",
               "/opt", "/srv", "/boot", "/tmp", "/var/tmp", "/dev/shm")  # fmt: skip


# ------------------------------------------------------------------------------- traces


@dataclass
class Trace:
    """What one run's process tree did, from strace's per-thread files."""

    opened: set[bytes] = field(default_factory=set)  # every path opened or executed
    read_with_atime: dict[bytes, str] = field(default_factory=dict)  # path -> flags
    executed: set[bytes] = field(default_factory=set)
    written: dict[bytes, str] = field(default_factory=dict)  # path -> the syscall line

    def moves_atime(self) -> set[bytes]:
        """The paths whose atime or mtime our process tree could have moved: read without
        O_NOATIME, executed, written."""
        return set(self.read_with_atime) | self.executed | set(self.written)


_LINE = re.compile(rb"^(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|\?)(?P<rest>.*)$")
_STRING = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_FD = re.compile(rb"(?:^|, )(?:AT_FDCWD|-?\d+)<((?:[^>\\]|\\.)*)>")
_RET_PATH = re.compile(rb"^<((?:[^>\\]|\\.)*)>")


def _unescape(raw: bytes) -> bytes:
    return codecs.escape_decode(raw)[0]


def _paths(call: bytes, args: bytes, rest: bytes) -> list[bytes]:
    """The absolute paths a syscall line names: each string resolved against the
    descriptor before it (``-y`` prints it), or the descriptor's own path for f* calls."""
    strings = [(m.start(), _unescape(m.group(1))) for m in _STRING.finditer(args)]
    fds = [(m.start(), _unescape(m.group(1))) for m in _FD.finditer(args)]
    found: list[bytes] = []
    for at, text in strings:
        if call in (b"execve", b"execveat") and found:
            break  # only the program, not its arguments
        if text.startswith(b"/"):
            found.append(os.path.normpath(text))
            continue
        base = [p for pos, p in fds if pos < at]
        found.append(os.path.normpath(os.path.join(base[-1] if base else b"/", text)))
    if not strings and fds:
        found.append(fds[0][1])
    return found


def read_traces(prefix: Path) -> Trace:
    trace = Trace()
    for file in prefix.parent.glob(prefix.name + ".*"):
        for line in file.read_bytes().splitlines():
            m = _LINE.match(line.strip())
            if not m:
                continue
            call, args, ret, rest = m["call"], m["args"], m["ret"], m["rest"].strip()
            paths = _paths(call, args, rest)
            if not paths:
                continue
            name = call.decode()
            if name in ("open", "openat", "openat2", "creat"):
                flags = " ".join(w.decode() for w in re.findall(rb"\bO_[A-Z_]+\b", args))
                if ret != b"?" and not ret.startswith(b"-"):
                    got = _RET_PATH.match(rest)
                    path = _unescape(got.group(1)) if got else paths[0]
                    trace.opened.add(path)
                else:
                    path = paths[0]
                if name == "creat" or any(f in flags for f in _WRITE_FLAGS):
                    trace.written[path] = line.decode(errors="replace")
                elif ret.startswith(b"-"):
                    continue
                elif "O_NOATIME" not in flags and "O_PATH" not in flags:
                    trace.read_with_atime[path] = flags
            elif name in ("execve", "execveat") and ret == b"0":
                trace.opened.update(paths[:1])
                trace.executed.update(paths[:1])
            elif name in _CHANGES:
                for path in paths:
                    trace.written[path] = line.decode(errors="replace")
    return trace


# ------------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class Facts:
    is_link: bool
    atime_ns: int
    mtime_ns: int


def facts(path: bytes) -> Facts | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return Facts(stat.S_ISLNK(st.st_mode), st.st_atime_ns, st.st_mtime_ns)


def under(path: bytes, roots: Iterable[bytes]) -> bool:
    return any(path == r.rstrip(b"/") or path.startswith(r.rstrip(b"/") + b"/") for r in roots)


def runtime_file(path: bytes) -> bool:
    return path in READ_BY_THE_RUNTIME or _RUNTIME.match(path) is not None


def program_files() -> list[bytes]:
    """The program itself: its checkout and the interpreter's prefixes."""
    roots = {CHECKOUT, Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).parent}
    return sorted({os.fsencode(p) for r in roots for p in (r, r.resolve())})


# ------------------------------------------------------------------------------- the runs


@dataclass
class Triage:
    case: bytes
    own: list[bytes]  # the test's directories: case, home, cwd, TMPDIR, planted trees
    planted: list[bytes]
    home_before: dict[str, tuple[int, int, int]]
    home_after: dict[str, tuple[int, int, int]]
    cwd_after: list[str]
    tmpdir_after: list[str]
    trace: Trace  # of the second run
    checked: dict[bytes, tuple[Facts, Facts | None]]  # path -> (before run 2, after)
    newer: list[bytes]
    seconds: list[float]


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def _plant(parent: str) -> bytes:
    """A tree the triage takes (the profile's /tmp/**, /var/tmp/**, /dev/shm/** rules)."""
    root = Path(tempfile.mkdtemp(prefix="chainproof-soundness-", dir=parent))
    (root / "note.txt").write_text("planted by the soundness test\n")
    (root / "empty").touch()
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "sub" / "deeper" / "payload.bin").write_bytes(os.urandom(70_000))
    with open(root / "big.bin", "wb") as f:  # above the profile's 10 MiB limit (sparse)
        f.truncate(11 << 20)
    (root / "link-to-note").symlink_to("note.txt")
    (root / "link-to-sub").symlink_to("sub")
    os.mkfifo(root / "fifo")
    return os.fsencode(root)


#: Run as ``sh -c PRIVATE_TMP sh KEEP... -- COMMAND...`` in a new mount namespace: the real
#: /tmp is held on /media (empty on Debian, and no triage root) while an empty tmpfs covers
#: /tmp, each KEEP path under /tmp is bound back at its place, then /media is let go.
PRIVATE_TMP = r"""
mount --bind /tmp /media && mount -t tmpfs -o mode=1777 chainproof-private-tmp /tmp || exit 97
while [ "$1" != "--" ]; do
    mkdir -p "$1" && mount --bind "/media${1#/tmp}" "$1" || exit 97
    shift
done
shift
umount /media || exit 97
exec "$@"
"""


def _private_tmp(keep: Iterable[bytes]) -> list[str]:
    """The command prefix that gives a run a private /tmp holding only ``keep`` (the paths
    under /tmp among them); none where mount namespaces are not allowed (not root)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or not os.path.isdir("/media"):
        return []
    paths = {p for p in keep if under(p, [b"/tmp/"])}
    outer = sorted(os.fsdecode(p) for p in paths if not under(p, paths - {p}))
    return ["unshare", "--mount", "sh", "-c", PRIVATE_TMP, "sh", *outer, "--"]


def _collect(
    case: Path, cwd: Path, env: dict[str, str], prefix: list[str], trace: Path | None = None
) -> float:
    command = list(prefix)
    if trace is not None:
        assert STRACE
        # strace runs inside the private /tmp (the prefix's mounts are not traced).
        # --seccomp-bpf: the tracees stop at the traced calls only, not at every read: the
        # same lines, a faster run.
        command += [STRACE, "-ff", "--seccomp-bpf", "-y", "-x", "-qq", "-e", f"trace={TRACED}"]
        command += ["-o", str(trace)]
    command += [*CLI, "collect", str(case), "--profile", "triage", "--json", "--no-progress"]
    start = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    seconds = time.monotonic() - start
    assert done.returncode != 97, f"the private /tmp could not be made: {done.stderr[-3000:]}"
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["status"] == "finished", done.stdout
    return seconds


def _sources(case: Path, env: dict[str, str]) -> set[bytes]:
    """Every path the case's runs name: artifacts, skips and errors."""
    found: set[bytes] = set()
    for extra in ([], ["--skipped"], ["--errors"]):
        listed = subprocess.run(
            [*CLI, "artifacts", str(case), "--json", *extra],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for row in json.loads(listed.stdout):
            if row.get("path"):
                found.add(os.fsencode(row["path"]))
    return found


def _with_parents(paths: Iterable[bytes]) -> set[bytes]:
    out: set[bytes] = set()
    for path in paths:
        while path not in out:
            out.add(path)
            if path == b"/":
                break
            path = os.path.dirname(path)
    return out


def _find_newer(stamp: Path, own: list[bytes]) -> list[bytes]:
    roots = [r for r in NEWER_ROOTS if os.path.isdir(r)]
    found = subprocess.run(
        ["find", *roots, "-xdev", "(", "-newer", str(stamp), "-o", "-cnewer", str(stamp), ")",
         "-print0"],
        capture_output=True,
    )  # fmt: skip
    paths = [p for p in found.stdout.split(b"\0") if p]
    return sorted(p for p in paths if not under(p, own) and p != os.fsencode(stamp))


@pytest.fixture(scope="module")
def triage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Triage]:
    assert STRACE, "strace is not installed: scripts/setup.sh --dev installs it"
    base = tmp_path_factory.mktemp("soundness")
    home, cwd, tmpdir, case = (base / n for n in ("home", "cwd", "tmp", "case"))
    for d in (home, cwd, tmpdir):
        d.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmpdir),
        "LANG": "C.UTF-8",
        "CHAINPROOF_PASSPHRASE": PASSPHRASE,
    }
    for args in (
        ["keys", "init", "--name", "Sam Sound", "--org", "Example", "--email", "s@example.org"],
        ["case", "new", str(case), "--title", "Soundness"],
    ):
        subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, check=True)
    home_before = _tree(home)
    planted = [_plant(d) for d in ("/tmp", "/var/tmp", "/dev/shm")]
    own = [os.fsencode(p) for p in (base, home, cwd, tmpdir, case)] + planted
    stamp = base / "stamp"
    stamp.touch()
    time.sleep(0.01)
    originals: dict[bytes, Facts] = {}
    prefix = _private_tmp([*own, os.fsencode(CHECKOUT), os.fsencode(sys.prefix)])
    try:
        seconds = [_collect(case, cwd, env, prefix)]
        sources = _sources(case, env) | {
            os.path.join(root, name)
            for p in planted
            for root, dirs, names in os.walk(p)
            for name in dirs + names
        }
        chosen = {
            p
            for p in _with_parents(sources)
            if (not under(p, _VIRTUAL) or under(p, planted))
            and (not under(p, _SHARED_TMP) or under(p, planted))
            and not under(p, own[:5])
            and not under(p, program_files())
            and p not in READ_BY_THE_RUNTIME
            and p not in READ_BY_NSS
        } | set(planted)
        for path in sorted(chosen):
            got = facts(path)
            if got is None:
                continue
            originals[path] = got
            if not got.is_link:
                os.utime(path, ns=(OLD_ATIME_NS, got.mtime_ns), follow_symlinks=False)
        before = {p: f for p in originals if (f := facts(p)) is not None}
        seconds.append(_collect(case, cwd, env, prefix, base / "trace"))
        checked = {p: (f, facts(p)) for p, f in before.items()}
        newer = _find_newer(stamp, own)
        yield Triage(
            case=os.fsencode(case),
            own=own,
            planted=planted,
            home_before=home_before,
            home_after=_tree(home),
            cwd_after=sorted(os.listdir(cwd)),
            tmpdir_after=sorted(os.listdir(tmpdir)),
            trace=read_traces(base / "trace"),
            checked=checked,
            newer=newer,
            seconds=seconds,
        )
    finally:
        for path, was in originals.items():  # give every access time back
            now = facts(path)
            if now is not None and not now.is_link:
                os.utime(path, ns=(was.atime_ns, now.mtime_ns), follow_symlinks=False)
        for p in planted:
            shutil.rmtree(p, ignore_errors=True)


# ------------------------------------------------------------------------------- the rule


@pytest.mark.slow
def test_no_source_atime_or_mtime_changes_during_a_triage(triage: Triage) -> None:
    ours = triage.trace.moves_atime()
    moved, by_others = [], []
    for path, (before, after) in sorted(triage.checked.items()):
        assert after is not None, f"{path!r} vanished during the triage"
        changed = after.mtime_ns != before.mtime_ns or (
            not before.is_link and after.atime_ns != before.atime_ns
        )
        if not changed:
            continue
        if under(path, triage.planted) or path in ours:
            moved.append((path, before, after))
        else:
            # opened by the triage with O_NOATIME only, or not at all: another process did it
            # (the planted trees, which no one else reads, show what O_NOATIME is worth)
            by_others.append(path)
    assert not moved, "\n".join(f"{p!r}: {b} -> {a}" for p, b, a in moved)
    # the check has teeth: the sources are many, of every kind, and were opened
    regular = [p for p, (b, _) in triage.checked.items() if not b.is_link]
    assert len(regular) > 200, len(regular)
    for name in (b"/etc/hostname", b"/etc/fstab", b"/var/log", b"/var/lib/dpkg/status"):
        if os.path.exists(name) and not os.path.islink(name):
            assert name in triage.checked and name in triage.trace.opened, name
    planted = [p for p in triage.checked if under(p, triage.planted)]
    assert len(planted) == 3 * 10, sorted(planted)
    unopened = (b"/fifo", b"/big.bin", b"/link-to-note", b"/link-to-sub")  # lstat only
    assert all(p in triage.trace.opened for p in planted if not p.endswith(unopened)), planted
    assert len(by_others) < len(triage.checked) // 10, by_others
    print(
        f"{len(triage.checked)} paths checked ({len(regular)} not symlinks, {len(planted)} "
        f"planted); moved by other processes: {len(by_others)} {by_others[:20]}; "
        f"runs took {', '.join(f'{s:.1f} s' for s in triage.seconds)}"
    )


@pytest.mark.slow
def test_every_source_is_read_without_touching_its_atime(triage: Triage) -> None:
    """The mechanism behind the rule: every read-only open of a file that is not the
    program's own, a kernel interface or the runtime's carries O_NOATIME (or O_PATH)."""
    exempt = [triage.case, *(o for o in triage.own if o not in triage.planted)]
    exempt += program_files()
    found = {}
    for path, flags in triage.trace.read_with_atime.items():
        if under(path, exempt) or (under(path, _VIRTUAL) and not under(path, [b"/dev/shm"])):
            continue
        if runtime_file(path) or path in READ_BY_NSS:
            continue
        if under(path, [b"/var/log/journal"]):
            continue  # journalctl: see test_the_journal_is_read_by_journalctl_only
        found[path] = flags
    assert not found, "\n".join(f"{p!r}: {f}" for p, f in sorted(found.items()))


@pytest.mark.slow
def test_the_journal_is_read_by_journalctl_only(triage: Triage) -> None:
    """journalctl opens the journal without O_NOATIME (no option changes that); journald
    writes those files all the time, so their atime says nothing of a reader. Nothing else
    of ours opens them, and never for writing."""
    journal = [b"/var/log/journal"]
    assert not [p for p in triage.trace.written if under(p, journal)]
    readers = [p for p in triage.trace.read_with_atime if under(p, journal)]
    assert not readers or any(p.endswith(b"/journalctl") for p in triage.trace.executed)


@pytest.mark.slow
def test_a_triage_writes_only_into_its_case(triage: Triage) -> None:
    inside = [triage.case]
    outside = {}
    for path, line in triage.trace.written.items():
        if under(path, inside) or path in WRITES_ALLOWED_EXACT or path.startswith(_MEMFD):
            continue
        if _PYCACHE.search(path) and under(path, program_files()):
            continue
        outside[path] = line
    assert not outside, "\n".join(f"{p!r}: {line}" for p, line in sorted(outside.items()))
    assert any(under(p, inside) for p in triage.trace.written)  # the trace sees writes


@pytest.mark.slow
def test_cwd_tmpdir_and_home_stay_as_they_were(triage: Triage) -> None:
    assert triage.cwd_after == []
    assert triage.tmpdir_after == []
    # HOME holds only what keys init made on purpose: the identity, unchanged
    assert triage.home_after == triage.home_before
    assert any(name.endswith("identity.p12") for name in triage.home_before)


@pytest.mark.slow
def test_no_file_newer_than_the_triage_was_written_by_it(triage: Triage) -> None:
    """A find of files whose mtime or ctime is newer than the start, under the trees where a
    run could leave something: none is in the planted trees, and none was written, created,
    renamed or removed by our process tree (the others were changed by other processes of
    this shared machine, e.g. journald, other tests). Not searched: /proc, /sys, /run
    (kernel and runtime state), the case and the test's own directories."""
    ours = set(triage.trace.written)
    assert not [p for p in triage.newer if under(p, triage.planted)]
    assert not [p for p in triage.newer if p in ours]


def test_reading_a_symlink_moves_its_atime_on_this_kernel(tmp_path: Path) -> None:
    """Why symlinks are checked for their mtime only: readlink() updates the link's atime,
    and so does readlinkat() on an O_PATH|O_NOFOLLOW descriptor, with O_NOATIME or not; so
    does following it. Only lstat() leaves it."""
    (tmp_path / "target").write_text("x")
    link = tmp_path / "link"
    link.symlink_to("target")
    libc = ctypes.CDLL(None, use_errno=True)

    def moved(read: object) -> bool:
        os.utime(link, ns=(OLD_ATIME_NS, link.lstat().st_mtime_ns), follow_symlinks=False)
        read()  # type: ignore[operator]
        return link.lstat().st_atime_ns != OLD_ATIME_NS

    def by_descriptor(flags: int) -> None:
        fd = os.open(link, os.O_PATH | os.O_NOFOLLOW | flags)
        try:
            buf = ctypes.create_string_buffer(64)
            assert libc.readlinkat(fd, b"", buf, 64) == len(b"target")
        finally:
            os.close(fd)

    assert moved(lambda: os.readlink(link))
    assert moved(lambda: by_descriptor(0))
    assert moved(lambda: by_descriptor(os.O_NOATIME))
    assert moved(lambda: os.stat(link))
    assert not moved(lambda: os.lstat(link))


# ------------------------------------------------------------------- what this test found


def _aged(path: Path) -> Path:
    os.utime(path, ns=(OLD_ATIME_NS, path.lstat().st_mtime_ns), follow_symlinks=False)
    return path


def test_an_excluded_directory_is_counted_without_moving_atimes(tmp_path: Path) -> None:
    """The count of what an excluded directory holds opened each directory with
    os.scandir(path), which moved its access time (found by the triage's traces)."""
    from collectors.base import CollectContext, Host
    from collectors.exclusions import ExcludedRoot, NeverCollect
    from collectors.files import Files

    scan = tmp_path / "scan"
    (scan / "other-case" / "evidence").mkdir(parents=True)
    (scan / "other-case" / "evidence" / "r.tar").write_bytes(b"t")
    dirs = [_aged(scan / "other-case"), _aged(scan / "other-case" / "evidence")]
    never = NeverCollect(roots=(ExcludedRoot(str(scan / "other-case"), "another case"),))
    out = tmp_path / "out"
    out.mkdir()
    ctx = CollectContext(
        host=Host.this(), options={"targets": [f"{scan}/**"]}, output_dir=out, never_collect=never
    )
    reasons = [getattr(o, "reason", "") for o in Files().collect(ctx)]
    assert "another case (1 file in 1 directory below it, not walked)" in reasons
    assert [d.lstat().st_atime_ns for d in dirs] == [OLD_ATIME_NS, OLD_ATIME_NS]


def test_the_system_record_reads_hosts_and_os_release_without_moving_atimes(
    tmp_path: Path,
) -> None:
    """socket.getfqdn() and platform.freedesktop_os_release() read /etc/hosts,
    /etc/resolv.conf, /etc/nsswitch.conf and /etc/os-release without O_NOATIME."""
    import platform

    from collectors.system import _fqdn, _os_release

    hosts = tmp_path / "hosts"
    hosts.write_text(
        "127.0.0.1 localhost\n# 10.0.0.9 ws-fin-042.wrong.example ws-fin-042\n"
        "10.0.0.9 ws-fin-042 ws-fin-042.corp.example  # the workstation\n"
    )
    assert _fqdn("ws-fin-042", str(_aged(hosts))) == "ws-fin-042.corp.example"
    assert _fqdn("elsewhere", str(hosts)) == "elsewhere"
    assert _fqdn("localhost", str(tmp_path / "absent")) == "localhost"
    release = tmp_path / "os-release"
    release.write_text('NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n# c\nBAD LINE\n')
    got = _os_release((str(tmp_path / "absent"), str(_aged(release))))
    assert got == {
        "NAME": "Debian GNU/Linux",
        "ID": "debian",
        "PRETTY_NAME": "Linux",
        "VERSION_ID": "12",
    }
    assert hosts.lstat().st_atime_ns == release.lstat().st_atime_ns == OLD_ATIME_NS
    assert _os_release() == platform.freedesktop_os_release()  # this host's, as platform has it


def test_user_and_group_names_come_from_the_files_without_moving_atimes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psutil's username() and pwd.getpwall() read /etc/passwd through NSS."""
    import grp
    import pwd

    import psutil

    from collectors.processes import _username
    from custody.store import accounts as _accounts

    for entry in pwd.getpwall():  # this host's names, as NSS gives them
        if _accounts._name(_accounts.PASSWD, entry.pw_uid) is not None:
            assert _accounts.user_name(entry.pw_uid) == pwd.getpwuid(entry.pw_uid).pw_name
    assert _accounts.group_name(0) == grp.getgrgid(0).gr_name
    me = psutil.Process()
    assert _username(me) == me.username()
    passwd, group, nss = tmp_path / "passwd", tmp_path / "group", tmp_path / "nsswitch.conf"
    passwd.write_text("root:x:0:0:root:/root:/bin/sh\n#c\nsam:x:4242:4242::/home/sam:/bin/sh\n")
    group.write_text("wheel:x:10:sam\n")
    nss.write_text("passwd: files  # local only\ngroup: files\n")
    for name, path in (("PASSWD", passwd), ("GROUP", group), ("NSSWITCH", nss)):
        monkeypatch.setattr(_accounts, name, str(_aged(path)))
    assert _accounts.user_name(4242) == "sam"
    assert _accounts.user_name(777) is None  # files only: the name service is not asked
    assert _accounts.group_name(10) == "wheel"
    assert _accounts.home_directories() == ["/root", "/home/sam"]
    assert {p.lstat().st_atime_ns for p in (passwd, group, nss)} == {OLD_ATIME_NS}
    nss.write_text("passwd: files ldap\n")
    assert _accounts.nss_sources("passwd") == {"files", "ldap"}
    assert _accounts.nss_sources("group") == {"files"}
