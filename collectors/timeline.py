"""The timeline collector: a TSK 3.x bodyfile of chosen roots, and the sweeps that share its walk.

One walk over the roots (``roots``; default ``/``) writes one line per entry, in the format
``mactime -b`` reads (``md5|name|inode|mode|uid|gid|size|atime|mtime|ctime|crtime``: md5
``0``, the mode as TSK writes it, ``r/rrw-r--r--``, times in whole seconds, crtime from
``st_birthtime`` where Python gives it, else 0). In a name, ``%`` and ``|`` are written
``%25`` and ``%7C``, which mactime decodes (TSK's fls leaves ``|`` as is, and mactime then
drops the line), and a control character ``^``, as fls writes it (mactime drops a line whose
name holds a newline, even ``%0A``). The same walk sweeps for SUID/SGID files, world-writable files
and directories (the sticky bit noted) and executable files with capabilities
(``security.capability`` in getcap's text; a capability acts only when the file is run),
each a JSON Lines record set.

Nothing is opened but directories, and those with ``O_NOATIME`` (:func:`open_source`):
entries are ``lstat``-ed relative to them, capabilities read with ``getxattr``, so no atime
changes. Symlink targets are not read (``readlink`` updates a link's atime), so a link's line
has no `` -> target``; its size is the target's length. /proc, /sys and /dev are not entered
from above; what the run never collects is pruned (:mod:`collectors.exclusions`), as is the
case's own output. With ``time_budget_s`` the walk stops at the budget and records what it
did not walk. Cost: 11 s for 314,000 entries on the 2-core test VM, 30 s when other work
loads it (about 190 bytes of bodyfile an entry).

With the run's spool directory (``CollectContext.spool_dir``) the bodyfile is streamed to a
spool file, hashed as written, and handed over as one :class:`SpooledRecord`, so a large tree
is never held in memory; without one it is built in memory as a :class:`VolatileRecord`.
"""

# Paths are bytes here, so that non-UTF-8 names survive; pathlib has no bytes paths.
# ruff: noqa: PTH100

from __future__ import annotations

import errno
import os
import re
import stat
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from collectors import _fscaps
from collectors._util import (
    Opt,
    OwnOutput,
    describe_os_error,
    error,
    is_within,
    skipped,
    to_jsonl,
)
from collectors.base import (
    CollectContext,
    Collector,
    Host,
    NotCompatible,
    Observation,
    Problem,
    SpooledRecord,
    VolatileRecord,
    Volatility,
    register_collector,
)
from collectors.exclusions import Exclusions
from custody.store.sources import open_source
from custody.store.spool import HashedSpool

BODYFILE = "volatile/timeline.bodyfile"
SWEEP_SUID = "volatile/sweep_suid_sgid.jsonl"
SWEEP_WRITABLE = "volatile/sweep_world_writable.jsonl"
SWEEP_CAPS = "volatile/sweep_capabilities.jsonl"
#: Never entered from above (a root given inside one, such as /dev/shm, is walked).
PSEUDO_DIRS = frozenset({b"/proc", b"/sys", b"/dev"})
_SPECIAL = re.compile(rb"[%|\x00-\x1f\x7f]")
_TYPE_LETTERS = {
    stat.S_IFREG: "r",
    stat.S_IFDIR: "d",
    stat.S_IFLNK: "l",
    stat.S_IFCHR: "c",
    stat.S_IFBLK: "b",
    stat.S_IFIFO: "p",
    stat.S_IFSOCK: "s",
}
_FLUSH = 1 << 20
_NO_XATTR = (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP)
_EXEC_BITS = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
# An entry is looked at by a sweep only when one of these bits is set.
_SWEPT_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH | _EXEC_BITS
_HAS_BIRTHTIME = hasattr(os.stat_result, "st_birthtime")


def escape_name(path: bytes) -> bytes:
    """``path`` for the bodyfile: ``%`` and ``|`` as ``%25`` and ``%7C`` (mactime decodes them),
    control characters as ``^``, as TSK's fls writes them (mactime cannot take a newline)."""
    if not _SPECIAL.search(path):
        return path
    return _SPECIAL.sub(lambda m: b"%%%02X" % m.group()[0] if m.group() in b"%|" else b"^", path)


_MODES: dict[int, bytes] = {}


def mode_text(mode: int) -> bytes:
    """The mode as TSK's bodyfile writes it: ``r/rrw-r--r--``, ``d/drwxrwxrwt``, ``l/lrwxrwxrwx``."""
    text = _MODES.get(mode)
    if text is None:
        letter = _TYPE_LETTERS.get(stat.S_IFMT(mode), "-")
        text = f"{letter}/{letter}{stat.filemode(mode)[1:]}".encode()
        _MODES[mode] = text
    return text


_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _open_below(parent: int, name: bytes) -> int:
    noatime = getattr(os, "O_NOATIME", 0)
    try:
        return os.open(name, _DIR_FLAGS | noatime, dir_fd=parent)
    except PermissionError as exc:  # O_NOATIME on another's directory without privilege
        if exc.errno != errno.EPERM or not noatime:
            raise
        return os.open(name, _DIR_FLAGS, dir_fd=parent)


def open_directory(path: bytes) -> int:
    """A descriptor of the directory ``path``, opened as sources are (``O_NOATIME``, no
    symlink followed); a path too long for one call is opened one component at a time."""
    try:
        return open_source(path, directory=True)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
    fd = open_source(b"/", directory=True)
    try:
        for part in path.strip(b"/").split(b"/"):
            below = _open_below(fd, part)
            os.close(fd)
            fd = below
    except BaseException:
        os.close(fd)
        raise
    return fd


def body_line(path: bytes, st: os.stat_result) -> bytes:
    """One bodyfile line (with its newline) for the entry ``path`` of ``lstat`` result ``st``."""
    birth = st.st_birthtime if _HAS_BIRTHTIME else 0  # type: ignore[attr-defined]
    return b"0|%s|%d|%s|%d|%d|%d|%d|%d|%d|%d\n" % (
        escape_name(path),
        st.st_ino,
        mode_text(st.st_mode),
        st.st_uid,
        st.st_gid,
        st.st_size,
        st.st_atime_ns // 1_000_000_000,
        st.st_mtime_ns // 1_000_000_000,
        st.st_ctime_ns // 1_000_000_000,
        int(birth),
    )


def _facts(path: bytes, st: os.stat_result) -> dict[str, Any]:
    return {
        "path": os.fsdecode(path),
        "type": _TYPE_LETTERS.get(stat.S_IFMT(st.st_mode), "-"),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "mode_text": stat.filemode(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": st.st_size,
        "inode": st.st_ino,
        "device": st.st_dev,
        "mtime_ns": str(st.st_mtime_ns),
        "ctime_ns": str(st.st_ctime_ns),
    }


def nested_roots(roots: list[str]) -> list[bytes]:
    """The roots made absolute and normalised, in order, without those inside another one."""
    normal = [os.path.normpath(os.path.abspath(os.fsencode(r))) for r in roots]
    kept: list[bytes] = []
    for root in normal:
        if root in kept or any(is_within(root, other) for other in normal if other != root):
            continue
        kept.append(root)
    return kept


class _Sink:
    """Where the bodyfile goes: a hashed spool file when the run gives one, else memory."""

    def __init__(self, ctx: CollectContext) -> None:
        self.spool = HashedSpool(ctx.spool_dir, suffix=".bodyfile") if ctx.spool_dir else None
        self.parts: list[bytes] = []
        self.pending = 0

    def write(self, line: bytes) -> None:
        self.parts.append(line)
        self.pending += len(line)
        if self.spool is not None and self.pending >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.spool is not None and self.parts:
            self.spool.write(b"".join(self.parts))
            self.parts.clear()
            self.pending = 0

    def finish(self, description: str) -> Observation:
        if self.spool is None:
            return VolatileRecord(BODYFILE, b"".join(self.parts), description)
        self.flush()
        sealed = self.spool.seal()
        return SpooledRecord(
            member=BODYFILE,
            path=str(sealed.path),
            size=sealed.size,
            sha256=sealed.digests.sha256,
            sha1=sealed.digests.sha1,
            md5=sealed.digests.md5,
            description=description,
            kind="volatile",
        )

    def discard(self) -> None:
        if self.spool is not None:
            self.spool.discard()


class _Walk:
    """One walk over the roots: bodyfile lines into the sink, sweep records, problems."""

    def __init__(self, ctx: CollectContext, sink: _Sink, budget: float | None, sweeps: bool):
        self.ctx = ctx
        self.sink = sink
        self.sweeps = sweeps
        self.never = Exclusions(ctx.never_collect)
        self.own = OwnOutput(ctx.output_dir)
        self.deadline = None if budget is None else time.monotonic() + budget
        self.problems: list[Problem] = []
        self.suid: list[dict[str, Any]] = []
        self.writable: list[dict[str, Any]] = []
        self.caps: list[dict[str, Any]] = []
        self.entries = 0
        self.unwalked: list[bytes] = []

    def root(self, root: bytes) -> None:
        try:
            st = os.lstat(root)
        except FileNotFoundError:
            self.problems.append(skipped(f"timeline: root {os.fsdecode(root)} not present", root))
            return
        except OSError as exc:
            self.problems.append(error(f"timeline: cannot stat: {describe_os_error(exc)}", root))
            return
        why = self.never.above(root, follow=False) if self.never else None
        if why is not None:
            self.problems.extend(self.never.problem(root, why))
            return
        if self.own.contains(root):
            self.problems.extend(self.own.problem_once(root))
            return
        self.entry(root, st)
        if stat.S_ISDIR(st.st_mode):
            self.tree(root)

    def tree(self, top: bytes) -> None:
        stack = [top]
        while stack:
            if self.ctx.cancelled:
                return
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.unwalked.extend(reversed(stack))
                stack.clear()
                return
            directory = stack.pop()
            subdirs = self.directory(directory)
            stack.extend(reversed(subdirs))

    def directory(self, directory: bytes) -> list[bytes]:
        """Write the lines of ``directory``'s entries; return the subdirectories to walk."""
        try:
            fd = open_directory(directory)
        except OSError as exc:
            if not isinstance(exc, FileNotFoundError):
                reason = f"timeline: cannot list directory: {describe_os_error(exc)}"
                self.problems.append(error(reason, directory))
            return []
        subdirs: list[bytes] = []
        try:
            # A listing by descriptor names entries as str; their bytes are os.fsencode(name).
            with os.scandir(fd) as it:
                entries = sorted((os.fsencode(e.name), e) for e in it)
            if self.never.markers and (marker := self.never.marked([n for n, _ in entries])):
                self.problems.extend(self.never.problem(directory, marker.reason))
                return []
            base = directory if directory.endswith(b"/") else directory + b"/"
            for name, entry in entries:
                path = base + name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    if not isinstance(exc, FileNotFoundError):  # gone since the listing
                        reason = f"timeline: cannot stat: {describe_os_error(exc)}"
                        self.problems.append(error(reason, path))
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if self.prune(path, st):
                        continue
                    self.entry(path, st)
                    subdirs.append(path)
                elif self.never and (why := self.never.file(path, st.st_ino)) is not None:
                    self.problems.extend(self.never.problem(path, why))
                else:
                    self.entry(path, st)
        except OSError as exc:
            reason = f"timeline: cannot list directory: {describe_os_error(exc)}"
            self.problems.append(error(reason, directory))
        finally:
            os.close(fd)
        return subdirs

    def prune(self, path: bytes, st: os.stat_result) -> bool:
        """True (and the reason recorded) when the directory ``path`` is not walked."""
        if (why := self.never.directory(path, st)) is not None:
            self.problems.extend(self.never.problem(path, why))
            return True
        if self.own.is_it(st):
            self.problems.extend(self.own.problem_once(path))
            return True
        if path in PSEUDO_DIRS:
            self.entry(path, st)
            self.problems.append(skipped("timeline: kernel pseudo file system, not walked", path))
            return True
        return False

    def entry(self, path: bytes, st: os.stat_result) -> None:
        self.sink.write(body_line(path, st))
        self.entries += 1
        mode = st.st_mode
        if self.sweeps and mode & _SWEPT_BITS and not stat.S_ISLNK(mode):
            self.sweep(path, st, mode)

    def sweep(self, path: bytes, st: os.stat_result, mode: int) -> None:
        regular = stat.S_ISREG(mode)
        if regular and mode & (stat.S_ISUID | stat.S_ISGID):
            record = _facts(path, st)
            record["suid"] = bool(mode & stat.S_ISUID)
            record["sgid"] = bool(mode & stat.S_ISGID)
            self.suid.append(record)
        if mode & stat.S_IWOTH:
            record = _facts(path, st)
            if stat.S_ISDIR(mode):
                record["sticky"] = bool(mode & stat.S_ISVTX)
            self.writable.append(record)
        if regular and mode & _EXEC_BITS:
            self.capabilities(path, st)

    def capabilities(self, path: bytes, st: os.stat_result) -> None:
        try:
            raw = os.getxattr(path, _fscaps.XATTR, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in _NO_XATTR and not isinstance(exc, FileNotFoundError):
                reason = f"timeline: cannot read {_fscaps.XATTR}: {describe_os_error(exc)}"
                self.problems.append(error(reason, path))
            return
        record = _facts(path, st)
        record["raw_hex"] = raw.hex()
        try:
            caps = _fscaps.decode(raw)
        except ValueError as exc:
            record["error"] = str(exc)
        else:
            record.update(
                capabilities=caps.text(),
                revision=caps.revision,
                effective=caps.effective,
                permitted=f"0x{caps.permitted:x}",
                inheritable=f"0x{caps.inheritable:x}",
                rootid=caps.rootid,
            )
        self.caps.append(record)


@register_collector
class Timeline(Collector):
    """A TSK 3.x bodyfile of chosen roots, with SUID/SGID, world-writable and capability sweeps."""

    name = "timeline"
    volatility = Volatility.FILES
    description = (
        "Filesystem timeline (TSK bodyfile, lstat only) and SUID/SGID, world-writable and "
        "file-capability sweeps (11-30 s for 314,000 entries on a 2-core VM)"
    )
    options_schema: ClassVar[dict[str, Any]] = {
        "roots": Opt.STR_LIST,  # directories walked; default ["/"]
        "time_budget_s": (int, float),  # stop there and record what was not walked
        "sweeps": bool,  # SUID/SGID, world-writable, capabilities; default true
    }

    def check_compatible(self, host: Host) -> None:
        if host.system == "Windows":
            raise NotCompatible("the bodyfile and the sweeps read POSIX modes and xattrs")

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        roots = nested_roots([str(r) for r in ctx.options.get("roots") or ["/"]])
        budget = ctx.options.get("time_budget_s")
        sweeps = bool(ctx.options.get("sweeps", True))
        sink = _Sink(ctx)
        walk = _Walk(ctx, sink, None if budget is None else float(budget), sweeps)
        started = time.monotonic()
        try:
            for root in roots:
                ctx.status(f"timeline: {os.fsdecode(root)}")
                if walk.unwalked or ctx.cancelled:
                    walk.unwalked.append(root)
                    continue
                walk.root(root)
            if ctx.cancelled:
                sink.discard()
                return
            seconds = time.monotonic() - started
            where = ", ".join(os.fsdecode(r) for r in roots)
            partial = " (partial: time budget reached)" if walk.unwalked else ""
            record = sink.finish(
                f"bodyfile (TSK 3.x, mactime -b) of {walk.entries:,} entries under {where}, "
                f"{seconds:.1f} s{partial}"
            )
        except BaseException:
            sink.discard()
            raise
        yield record
        if walk.unwalked:
            first = ", ".join(os.fsdecode(p) for p in walk.unwalked[:20])
            more = len(walk.unwalked) - 20
            yield skipped(
                f"timeline: time budget of {float(budget or 0):g} s reached after "
                f"{walk.entries:,} entries; {len(walk.unwalked):,} directories not walked: "
                f"{first}" + (f" and {more:,} more" if more > 0 else "")
            )
        if sweeps:
            yield VolatileRecord(
                SWEEP_SUID,
                to_jsonl(walk.suid),
                f"{len(walk.suid)} SUID/SGID files under {where}",
            )
            yield VolatileRecord(
                SWEEP_WRITABLE,
                to_jsonl(walk.writable),
                f"{len(walk.writable)} world-writable files and directories under {where} "
                "(sticky: the directory's sticky bit)",
            )
            yield VolatileRecord(
                SWEEP_CAPS,
                to_jsonl(walk.caps),
                f"{len(walk.caps)} files with capabilities (security.capability) under {where}",
            )
        yield from walk.problems
