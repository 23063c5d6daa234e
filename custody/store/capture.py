"""Capturing file-system entries and command output into the run archive.

:func:`capture_files` takes :class:`~collectors.base.FileTarget` values and yields one
outcome per target, in order, writing the archive members in that same order:

* a regular file is copied and hashed in one pass (:class:`Captured`); it is stat-ed by
  path before it is opened, by descriptor after opening and after reading, and by path
  again after reading, so a file that grew, shrank, was modified or replaced while it was
  read is flagged (``Captured.changed``) and never silently accepted. A growing file is
  archived as its first ``st_size`` bytes (its size at open, as in its header); a file that
  shrinks is cut out of the archive and read again, up to three attempts.
* a symlink is recorded as a symlink member with its target, never followed; a loop or a
  dangling target is noted (``Captured.note``).
* a directory, FIFO, socket or device is not read (:class:`NotCaptured` ``skipped``).
* a vanished file, a permission error or a file replaced between ``lstat`` and ``open``
  is an error (:class:`NotCaptured` ``error``).

Small files are read by the calling thread straight into a shared memory ring, laid out
as their archive members; a helper process (its own interpreter, so the second core)
hashes one half of the ring while the next files are read into the other, and each half
is then written to the archive in one write (see :class:`~custody.store.hashing.RingHasher`).
Threads cannot do this: hashing many small buffers on threads is slower than serially,
because of the GIL hand-offs. Large files are streamed by the calling thread through
the archive's hash pipeline (one thread per digest). Errors of the store itself
(:class:`~custody.errors.StoreError`) propagate and stop the run. When ``cancel`` is set
the generator stops between files (or between chunks of a large file, whose partial
member is cut off) and returns; the caller marks the run interrupted.

:func:`capture_command` runs a command (no shell), spools its standard output inside the
case directory and archives it with its hashes and exit status.
"""

from __future__ import annotations

import base64
import errno
import functools
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from custody.errors import Cancelled
from custody.observations import CommandRecord, FileTarget
from custody.record import names
from custody.record.digests import EMPTY_DIGESTS
from custody.store.accounts import group_name, user_name
from custody.store.archive import Member, RegionTicket, RunArchive
from custody.store.hashing import SourceShrank
from custody.store.sources import open_source, stat_times
from custody.store.tarheader import (
    BLOCK,
    REGTYPE,
    SYMTYPE,
    MemberMeta,
    encode_header,
    pax_storable,
)

MAX_ATTEMPTS = 3  # reads of a file that keeps shrinking before it is given up
SMALL_LIMIT = 256 << 10  # files up to this size are laid out in the ring; larger ones stream
PSEUDO_LIMIT = 64 << 20  # most bytes read from a file whose st_size is 0 (procfs, sysfs)
STDERR_TAIL = 2000  # characters of a command's standard error kept in its note

# Test hook: called as ``_after_open(path, fd)`` right after a source was opened and
# fstat-ed, before any byte is read (tests append to the file here to make it grow).
_after_open: Callable[[bytes, int], None] | None = None


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SourceMeta:
    """What the source file system said about an entry when it was captured.

    ``times`` maps ``mtime``, ``atime``, ``ctime``, ``birthtime`` to exact decimal seconds
    (or None); ``xattrs`` maps attribute names to base64 values (those whose names a pax
    header cannot carry are in ``xattr_errors`` too, and not in the member's header);
    ``xattr_errors`` maps attribute names (``*`` for the listing) to why they could not be
    read or stored. ``uname`` and ``gname`` are the owner names written into the member's
    header (this host's names for ``uid`` and ``gid``, "" when it has none; surrogate-escaped).
    """

    path: bytes
    kind: str  # file | symlink | directory | fifo | socket | char-device | block-device | other
    size: int
    mode: int
    uid: int
    gid: int
    times: dict[str, str | None]
    symlink_target: bytes | None
    xattrs: dict[str, str]
    inode: int
    device: int
    xattr_errors: dict[str, str] = field(default_factory=dict)
    uname: str = ""
    gname: str = ""


@dataclass(frozen=True)
class Captured:
    """A target that is now a member of the archive.

    ``changed`` says why the file was not stable while it was read (None when it was);
    ``note`` adds what else a reader of the record should know (a symlink loop, a dangling
    target, attributes that could not be read, a pseudo-file read to its end).
    """

    target: FileTarget
    member: Member
    meta: SourceMeta
    changed: str | None
    note: str | None = None


@dataclass(frozen=True)
class NotCaptured:
    """A target that was not archived: ``kind`` is ``skipped`` (not read on purpose) or
    ``error``; ``meta`` is what ``lstat`` said, when it said anything."""

    target: FileTarget
    kind: str
    reason: str
    meta: SourceMeta | None = None


@dataclass(frozen=True)
class CommandCaptured:
    """A command's standard output, archived, and its standard error beside it
    (``stderr_member``, ``<member>.stderr``) when it wrote any. ``exit_code`` is None when
    the command was stopped at its timeout (negative: killed by that signal); ``note`` gives
    a non-zero exit status, a timeout, and the tail of standard error. ``meta`` is what both
    members' headers say (mode, owner, ``mtime`` = ``finished_ns``)."""

    record: CommandRecord
    member: Member
    exit_code: int | None
    note: str | None
    started_ns: int
    finished_ns: int
    meta: MemberMeta | None = None
    stderr_member: Member | None = None


@dataclass(frozen=True)
class CommandNotCaptured:
    """A command that gave nothing to archive: ``skipped`` (not installed) or ``error``
    (could not start, failed with empty output, or cancelled)."""

    record: CommandRecord
    kind: str
    reason: str
    exit_code: int | None = None


# --------------------------------------------------------------------------- helpers

_KINDS = {
    stat.S_IFREG: "file",
    stat.S_IFLNK: "symlink",
    stat.S_IFDIR: "directory",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char-device",
    stat.S_IFBLK: "block-device",
}
_SKIP_REASONS = {
    "directory": "directory: not copied itself (the files under it are targets of their own)",
    "fifo": "FIFO not read: reading could block or consume data",
    "socket": "socket not read: it has no content to copy",
    "char-device": "character device not read: reading could block, never end or alter the device",
    "block-device": "block device not read: devices are imaged with a disk imager, not copied",
}
_SYMLINK_REFUSALS = {errno.ELOOP, errno.EMLINK, getattr(errno, "EFTYPE", errno.ELOOP)}


@functools.cache
def _uname(uid: int) -> str:
    """The user name of ``uid`` on this host, or "" (cached: one lookup per owner)."""
    return user_name(uid) or ""


@functools.cache
def _gname(gid: int) -> str:
    """The group name of ``gid`` on this host, or "" (cached: one lookup per group)."""
    return group_name(gid) or ""


_owners: dict[tuple[int, int], tuple[bytes, bytes]] = {}


def _owner_bytes(uid: int, gid: int) -> tuple[bytes, bytes]:
    names_b = _owners.get((uid, gid))
    if names_b is None:
        names_b = (
            _uname(uid).encode("utf-8", "surrogateescape"),
            _gname(gid).encode("utf-8", "surrogateescape"),
        )
        _owners[(uid, gid)] = names_b
    return names_b


def _header_and_times(
    name: str,
    size: int,
    st: os.stat_result,
    xattrs: dict[str, bytes],
    *,
    typeflag: bytes = REGTYPE,
    link: bytes = b"",
) -> tuple[bytes, dict[str, str | None]]:
    """A member's headers from the stat of its source, and the times as SourceMeta has them
    (formatted once for both)."""
    times = stat_times(st)
    uname, gname = _owner_bytes(st.st_uid, st.st_gid)
    header = encode_header(
        name.encode("utf-8", "surrogateescape"),
        size,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        uname=uname,
        gname=gname,
        mtime=times["mtime"] or "0",
        atime=times["atime"],
        ctime=times["ctime"],
        xattrs=xattrs,
        typeflag=typeflag,
        linkname=link,
    )
    return header, times


def _kind(st: os.stat_result) -> str:
    return _KINDS.get(stat.S_IFMT(st.st_mode), "other")


def _source_meta(
    path: bytes,
    st: os.stat_result,
    *,
    kind: str | None = None,
    size: int | None = None,
    link: bytes | None = None,
    xattrs: dict[str, bytes] | None = None,
    xattr_errors: dict[str, str] | None = None,
    times: dict[str, str | None] | None = None,
) -> SourceMeta:
    return SourceMeta(
        path=path,
        kind=kind or _kind(st),
        size=st.st_size if size is None else size,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        times=stat_times(st) if times is None else times,
        symlink_target=link,
        xattrs={k: base64.b64encode(v).decode("ascii") for k, v in xattrs.items()}
        if xattrs
        else {},
        inode=st.st_ino,
        device=st.st_dev,
        xattr_errors=xattr_errors or {},
        uname=_uname(st.st_uid),
        gname=_gname(st.st_gid),
    )


def _member_meta(st: os.stat_result, xattrs: dict[str, bytes]) -> MemberMeta:
    return MemberMeta(
        mtime_ns=st.st_mtime_ns,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        uname=_uname(st.st_uid),
        gname=_gname(st.st_gid),
        atime_ns=st.st_atime_ns,
        ctime_ns=st.st_ctime_ns,
        xattrs=xattrs,
    )


_HAS_XATTRS = hasattr(os, "listxattr")


def _read_xattrs(
    source: int | bytes, *, follow: bool = True
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Extended attributes of an open file (``int``) or of a symlink itself (``bytes``)."""
    if not _HAS_XATTRS:
        return {}, {}
    values: dict[str, bytes] = {}
    errors: dict[str, str] = {}
    try:
        keys = os.listxattr(source, follow_symlinks=follow)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT):
            return values, errors
        return values, {"*": f"cannot list extended attributes: {exc.strerror}"}
    for key in keys:
        try:
            values[key] = os.getxattr(source, key, follow_symlinks=follow)
        except OSError as exc:
            errors[key] = exc.strerror or str(exc)
    return values, errors


def _storable(xattrs: dict[str, bytes], errors: dict[str, str]) -> dict[str, bytes]:
    """The attributes a pax header can carry; the others are noted in ``errors``."""
    bad = [k for k in xattrs if not pax_storable(k)]
    if not bad:
        return xattrs
    for k in bad:
        errors[k] = "name cannot be stored in a pax header (contains '=' or a newline)"
    return {k: v for k, v in xattrs.items() if k not in bad}


def _xattr_note(errors: dict[str, str]) -> str | None:
    if not errors:
        return None
    parts = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
    return f"extended attributes not kept: {parts}"


def _join(*notes: str | None) -> str | None:
    kept = [n for n in notes if n]
    return "; ".join(kept) if kept else None


#: Windows errors of a file another process holds open: sharing and lock violations.
_WINDOWS_LOCKED = (32, 33)


def _os_error(exc: OSError, doing: str) -> tuple[str, str]:
    """(kind, reason) of a NotCaptured for an error met while ``doing``."""
    code = exc.errno
    text = exc.strerror or str(exc)
    if code in (errno.ENOENT, errno.ENOTDIR):
        return "error", "vanished before it could be read"
    if getattr(exc, "winerror", None) in _WINDOWS_LOCKED:
        return "error", (
            f"locked: another program holds it open exclusively (e.g. Outlook's OST/PST); "
            f"cannot {doing} until raw NTFS collection exists ({text})"
        )
    if code in (errno.EACCES, errno.EPERM):
        return "error", f"permission denied: cannot {doing} ({text})"
    name = errno.errorcode.get(code or 0, "")
    return "error", f"cannot {doing}: {text}" + (f" ({name})" if name else "")


def _changes(
    before: os.stat_result, after: os.stat_result, now: os.stat_result | None, *, pseudo: bool
) -> str | None:
    """Why a file was not stable while read: ``before``/``after`` are fstat results around
    the read, ``now`` the lstat of the path afterwards (None: the path was gone)."""
    if (
        now is not None
        and after.st_size == before.st_size
        and after.st_mtime_ns == before.st_mtime_ns
        and after.st_ctime_ns == before.st_ctime_ns
        and now.st_ino == before.st_ino
        and now.st_dev == before.st_dev
    ):
        return None
    reasons: list[str] = []
    if not pseudo and after.st_size > before.st_size:
        reasons.append(
            f"grew from {before.st_size} to {after.st_size} bytes while read "
            f"(the first {before.st_size} bytes were archived)"
        )
    elif not pseudo and after.st_size < before.st_size:
        reasons.append(f"shrank from {before.st_size} to {after.st_size} bytes while read")
    if after.st_mtime_ns != before.st_mtime_ns:
        reasons.append("modified while read (mtime changed)")
    if after.st_ctime_ns != before.st_ctime_ns:
        reasons.append("status changed while read (ctime changed)")
    if now is None:
        reasons.append("the path was removed or renamed while read")
    elif now.st_ino != before.st_ino or now.st_dev != before.st_dev:
        reasons.append("the path now names another file (replaced while read)")
    return "; ".join(reasons) or None


def _lstat_or_none(path: bytes) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _read_to_end(fd: int, limit: int) -> tuple[bytes, bool]:
    """Bytes until end of file, at most ``limit``; and whether the limit cut it."""
    parts: list[bytes] = []
    got = 0
    while got < limit:
        more = os.read(fd, min(1 << 20, limit - got))
        if not more:
            return b"".join(parts), False
        parts.append(more)
        got += len(more)
    return b"".join(parts), bool(os.read(fd, 1))


class _Replaced(Exception):
    """The entry opened is not the one lstat saw."""


def _open_checked(path: bytes, st: os.stat_result) -> tuple[int, os.stat_result]:
    """Open ``path`` and check it is still the regular file ``st`` described."""
    try:
        fd = open_source(path)
    except OSError as exc:
        if exc.errno in _SYMLINK_REFUSALS:
            raise _Replaced("replaced by a symlink between lstat and open; not followed") from exc
        raise
    try:
        st1 = os.fstat(fd)
        if not stat.S_ISREG(st1.st_mode):
            raise _Replaced(f"replaced by a {_kind(st1)} between lstat and open; not read")
        if st1.st_ino != st.st_ino or st1.st_dev != st.st_dev:
            raise _Replaced("replaced by another file between lstat and open (inode differs)")
        if _after_open is not None:
            _after_open(path, fd)
    except BaseException:
        os.close(fd)
        raise
    return fd, st1


def _open_target(
    target: FileTarget, st: os.stat_result
) -> tuple[int, os.stat_result] | NotCaptured:
    """Open a target as :func:`_open_checked` does; a failure becomes its recorded outcome."""
    try:
        return _open_checked(target.path, st)
    except _Replaced as exc:
        return NotCaptured(target, "error", str(exc), _source_meta(target.path, st))
    except OSError as exc:
        return NotCaptured(target, *_os_error(exc, "open the file"))


# --------------------------------------------------------------------------- small files

_ZEROS = bytes(BLOCK)
_HEADER_ROOM = 64 << 10  # room kept for a member's headers (long names, many xattrs)
BATCH_FILES = 256  # most members laid out in one half of the ring


def _readinto_all(fd: int, view: memoryview) -> int:
    """Fill ``view`` from ``fd``; fewer bytes only at end of file."""
    total = len(view)
    got = 0
    while got < total:
        if _readv is not None:
            n = _readv(fd, [view[got:]])
        else:  # Windows
            chunk = os.read(fd, total - got)
            n = len(chunk)
            view[got : got + n] = chunk
        if not n:
            break
        got += n
    return got


_readv = getattr(os, "readv", None)


class _Placed:
    """A member laid out in the ring, waiting for its digests and its archive offset."""

    __slots__ = ("changed", "header_len", "meta", "name", "note", "size", "start", "target")

    def __init__(
        self,
        target: FileTarget,
        name: str,
        start: int,
        header_len: int,
        size: int,
        meta: SourceMeta,
        changed: str | None,
        note: str | None,
    ) -> None:
        self.target = target
        self.name = name
        self.start = start  # relative to the start of its batch
        self.header_len = header_len
        self.size = size
        self.meta = meta
        self.changed = changed
        self.note = note


class _PlacedLink(_Placed):
    """A symlink member: headers only, nothing to hash."""

    __slots__ = ()


@dataclass(frozen=True)
class _Large:
    """A file streamed through the archive's hash pipeline rather than the ring."""

    target: FileTarget
    st: os.stat_result


@dataclass(frozen=True)
class _Pseudo:
    """A file that reported size 0 but had content (procfs, sysfs), read whole."""

    target: FileTarget
    data: bytes
    header: MemberMeta
    meta: SourceMeta
    changed: str | None
    note: str | None


@dataclass
class _Batch:
    half: int  # ring offset of the half it is laid out in
    used: int = 0
    items: list[_Placed | NotCaptured] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)  # data to hash (ring offsets)
    headers: list[tuple[int, int]] = field(default_factory=list)  # headers to hash (SHA-256)
    ends: list[int] = field(default_factory=list)  # member ends, relative to ``half``
    ticket: RegionTicket | None = None  # the archive digest of the laid out region


class _Batcher:
    """Lays small members out in one half of the archive's ring while the other half is
    hashed (by the ring's helper process) and then written, in order.

    A half is staged for the archive digest when it is complete (hashed on the archive's
    digest thread while the next half is laid out) and reused only once that is done.
    """

    def __init__(self, archive: RunArchive, member_name: Callable[[bytes], str]) -> None:
        self.archive = archive
        self.member_name = member_name
        self.ring = archive.ring()
        self.view = self.ring.view
        self.half_size = self.ring.size // 2
        self.current = _Batch(0)
        self.sent: _Batch | None = None

    def full(self) -> bool:
        b = self.current
        return self.half_size - b.used < SMALL_LIMIT + _HEADER_ROOM or len(b.items) >= BATCH_FILES

    def add_result(self, result: NotCaptured) -> None:
        self.current.items.append(result)

    def rotate(self) -> Iterator[Captured | NotCaptured]:
        """Send the current batch to be hashed; write out and yield the one sent before."""
        batch = self.current
        if not batch.items:
            return
        self.ring.submit(batch.ranges, batch.headers)
        if batch.used:
            batch.ticket = self.archive.stage_region(
                self.view[batch.half : batch.half + batch.used]
            )
        previous, self.sent = self.sent, batch
        self.current = _Batch(self.half_size - batch.half)
        if previous is not None:
            yield from self._write(previous)

    def drain(self) -> Iterator[Captured | NotCaptured]:
        """Write out and yield everything laid out so far."""
        yield from self.rotate()
        if self.sent is not None:
            batch, self.sent = self.sent, None
            yield from self._write(batch)

    def discard(self) -> None:
        """Forget unwritten batches (the generator was closed); keeps the hasher in step."""
        if self.sent is not None:
            self.sent = None
            self.ring.collect()
        self.current = _Batch(self.current.half)
        if not self.archive.closed:
            self.archive.unstage()

    def _write(self, batch: _Batch) -> Iterator[Captured | NotCaptured]:
        data_digests, header_digests = self.ring.collect_all()
        digests, headers = iter(data_digests), iter(header_digests)
        if batch.used:
            region = self.view[batch.half : batch.half + batch.used]
            try:
                base = self.archive.append_region(region, batch.ends, ticket=batch.ticket)
            finally:
                region.release()  # a traceback must not keep the ring's memory exported
            if batch.ticket is not None:
                self.archive.wait_region(batch.ticket)  # its half is laid out in next
        for item in batch.items:
            if isinstance(item, NotCaptured):
                yield item
                continue
            d = EMPTY_DIGESTS if isinstance(item, _PlacedLink) else next(digests)
            header = base + item.start
            member = Member(
                item.name, header, header + item.header_len, item.size, d, next(headers)
            )
            yield Captured(item.target, member, item.meta, item.changed, item.note)

    def _lay_out(self, header: bytes, size: int) -> tuple[int, int] | None:
        """Reserve room for a member; (ring offset of its header, of its data), or None."""
        b = self.current
        need = len(header) + size + (-size) % BLOCK
        if need > self.half_size - b.used:
            return None
        pos = b.half + b.used
        return pos, pos + len(header)

    def _commit(self, pos: int, header: bytes, size: int, hashed: bool) -> int:
        """The member at ``pos`` is complete: write its header and padding; its start."""
        b = self.current
        view = self.view
        data = pos + len(header)
        view[pos:data] = header
        pad = (-size) % BLOCK
        if pad:
            view[data + size : data + size + pad] = _ZEROS[:pad]
        if hashed:
            b.ranges.append((data, size))
        b.headers.append((pos, len(header)))
        start = b.used
        b.used = data + size + pad - b.half
        b.ends.append(b.used)
        return start

    def place(self, target: FileTarget) -> NotCaptured | _Placed | _Large | _Pseudo:
        """Classify a target and lay out its member when it is small enough."""
        path = target.path
        try:
            st = os.lstat(path)
        except OSError as exc:
            return NotCaptured(target, *_os_error(exc, "stat the path"))
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFREG:
            if st.st_size > SMALL_LIMIT:
                return _Large(target, st)
            return self._place_file(target, st)
        if fmt == stat.S_IFLNK:
            return self._place_link(target, st)
        kind = _kind(st)
        reason = _SKIP_REASONS.get(kind, f"special file (type {fmt:#o}) not read")
        return NotCaptured(target, "skipped", reason, _source_meta(path, st))

    def _place_file(
        self, target: FileTarget, st: os.stat_result
    ) -> NotCaptured | _Placed | _Large | _Pseudo:
        path = target.path
        shrink = ""
        for _ in range(MAX_ATTEMPTS):
            opened = _open_target(target, st)
            if isinstance(opened, NotCaptured):
                return opened
            fd, st1 = opened
            try:
                size = st1.st_size
                if size > SMALL_LIMIT:
                    return _Large(target, st1)
                xattrs, xerrors = _read_xattrs(fd)
                stored = _storable(xattrs, xerrors) if xattrs else xattrs
                if size == 0:
                    data, cut = _read_to_end(fd, PSEUDO_LIMIT)
                    if data:
                        st2 = os.fstat(fd)
                        note = f"reported size 0 (a pseudo-file): {len(data)} bytes read to its end"
                        if cut:
                            note += f", cut at {PSEUDO_LIMIT} bytes"
                        return _Pseudo(
                            target,
                            data,
                            _member_meta(st1, stored),
                            _source_meta(
                                path, st1, size=len(data), xattrs=xattrs, xattr_errors=xerrors
                            ),
                            _changes(st1, st2, _lstat_or_none(path), pseudo=True),
                            _join(note, _xattr_note(xerrors)),
                        )
                name = self.member_name(path)
                header, times = _header_and_times(name, size, st1, stored)
                where = self._lay_out(header, size)
                if where is None:  # headers too large for the ring: stream it instead
                    return _Large(target, st1)
                pos, data_at = where
                got = _readinto_all(fd, self.view[data_at : data_at + size])
                if got < size:
                    shrink = f"from {size} to {got} bytes"
                    st = _lstat_or_none(path) or st
                    continue
                st2 = os.fstat(fd)
            except OSError as exc:
                return NotCaptured(
                    target, *_os_error(exc, "read the file"), _source_meta(path, st1)
                )
            finally:
                os.close(fd)
            changed = _changes(st1, st2, _lstat_or_none(path), pseudo=False)
            start = self._commit(pos, header, size, hashed=True)
            placed = _Placed(
                target,
                name,
                start,
                len(header),
                size,
                _source_meta(path, st1, xattrs=xattrs, xattr_errors=xerrors, times=times),
                changed,
                _xattr_note(xerrors),
            )
            self.current.items.append(placed)
            return placed
        return NotCaptured(
            target,
            "error",
            f"file shrank while read ({shrink}); gave up after {MAX_ATTEMPTS} attempts",
            _source_meta(path, st),
        )

    def _place_link(self, target: FileTarget, st: os.stat_result) -> NotCaptured | _Placed:
        path = target.path
        try:
            link = os.readlink(path)  # noqa: PTH115 (bytes path)
        except OSError as exc:
            return NotCaptured(target, *_os_error(exc, "read the symlink"), _source_meta(path, st))
        note = None
        try:
            os.stat(path)  # noqa: PTH116 (bytes path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                note = "symlink loop: resolving it fails (too many levels of symbolic links)"
            elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
                note = "dangling symlink: its target does not exist"
            else:
                note = f"its target cannot be resolved: {exc.strerror}"
        xattrs, xerrors = _read_xattrs(path, follow=False)
        name = self.member_name(path)
        header, times = _header_and_times(
            name, 0, st, _storable(xattrs, xerrors), typeflag=SYMTYPE, link=link
        )
        where = self._lay_out(header, 0)
        if where is None:
            return NotCaptured(target, "error", "symlink headers too large to archive")
        start = self._commit(where[0], header, 0, hashed=False)
        placed = _PlacedLink(
            target,
            name,
            start,
            len(header),
            0,
            _source_meta(path, st, link=link, xattrs=xattrs, xattr_errors=xerrors, times=times),
            None,
            _join(note, _xattr_note(xerrors)),
        )
        self.current.items.append(placed)
        return placed


# --------------------------------------------------------------------------- files


def _capture_large(
    archive: RunArchive,
    target: FileTarget,
    st: os.stat_result,
    name: str,
    cancel: threading.Event,
) -> Captured | NotCaptured:
    path = target.path
    shrink = ""
    for _ in range(MAX_ATTEMPTS):
        opened = _open_target(target, st)
        if isinstance(opened, NotCaptured):
            return opened
        fd, st1 = opened
        try:
            xattrs, xerrors = _read_xattrs(fd)
            stored = _storable(xattrs, xerrors)
            size = st1.st_size
            with open(fd, "rb", buffering=0, closefd=False) as source:
                try:
                    member = archive.add_stream(
                        name, size, source.readinto, _member_meta(st1, stored), cancel=cancel
                    )
                except SourceShrank as exc:
                    shrink = f"from {size} to {exc.got} bytes"
                    st = _lstat_or_none(path) or st
                    continue
            st2 = os.fstat(fd)
        except OSError as exc:
            return NotCaptured(target, *_os_error(exc, "read the file"), _source_meta(path, st1))
        finally:
            os.close(fd)
        now = _lstat_or_none(path)
        return Captured(
            target,
            member,
            _source_meta(path, st1, xattrs=xattrs, xattr_errors=xerrors),
            _changes(st1, st2, now, pseudo=False),
            _xattr_note(xerrors),
        )
    return NotCaptured(
        target,
        "error",
        f"file shrank while read ({shrink}); gave up after {MAX_ATTEMPTS} attempts",
        _source_meta(path, st),
    )


def capture_files(
    archive: RunArchive,
    targets: Iterable[FileTarget],
    *,
    cancel: threading.Event,
    member_name: Callable[[bytes], str] = names.member_for_path,
) -> Iterator[Captured | NotCaptured]:
    """Capture each target into ``archive``; one result per target, in order.

    See the module docstring for what happens to each kind of entry. Results may be
    yielded before their bytes reach the disk: call ``archive.flush()`` before committing
    them to the ledger. On cancel the generator returns between files, after yielding the
    results of every file read completely: the file being read when it was cancelled (its
    partial member is cut off) and those after it get no result. One capture at a time
    per archive.
    """
    batcher = _Batcher(archive, member_name)
    try:
        for target in targets:
            if cancel.is_set():
                break
            if batcher.full():
                yield from batcher.rotate()
            placed = batcher.place(target)
            if isinstance(placed, NotCaptured):
                batcher.add_result(placed)
                continue
            if isinstance(placed, _Placed):
                continue
            yield from batcher.drain()
            name = member_name(target.path)
            if isinstance(placed, _Pseudo):
                member = archive.add_member(name, placed.data, placed.header)
                yield Captured(target, member, placed.meta, placed.changed, placed.note)
                continue
            try:
                yield _capture_large(archive, target, placed.st, name, cancel)
            except Cancelled:
                return
        yield from batcher.drain()
    finally:
        batcher.discard()


# --------------------------------------------------------------------------- commands


def capture_command(
    archive: RunArchive,
    record: CommandRecord,
    spool_dir: Path,
    cancel: threading.Event,
    *,
    poll_s: float = 0.1,
) -> CommandCaptured | CommandNotCaptured:
    """Run ``record.argv`` (no shell, stdin from ``/dev/null``), spool its standard output to
    a file in ``spool_dir`` (the case directory, never ``/tmp``), archive it as
    ``record.member`` and delete the spool.

    A command that is not installed is ``skipped`` ("journalctl not found"). Standard error,
    when there is any, is archived too, as ``record.member + ".stderr"``, whatever the exit
    status (``dpkg -V`` says what it could not check there and exits 0). A non-zero exit
    status still archives the output when there is any, with the status and the tail of
    standard error in ``note``; with no output it is an ``error``. At ``record.timeout_s``
    the command is killed and what it wrote so far is archived, noted as partial. When
    ``cancel`` is set the command is killed, its output discarded, and an ``error``
    "cancelled" returned. Store errors propagate.
    """
    import subprocess
    import tempfile

    spool_dir = Path(spool_dir)
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, spool_name = tempfile.mkstemp(prefix=".spool-", dir=spool_dir)
    spool = Path(spool_name)
    err_fd, err_name = tempfile.mkstemp(prefix=".spool-err-", dir=spool_dir)
    err_spool = Path(err_name)
    try:
        started = time.time_ns()
        try:
            proc = subprocess.Popen(
                record.argv,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=err_fd,
                close_fds=True,
            )
        except FileNotFoundError:
            return CommandNotCaptured(record, "skipped", f"{record.argv[0]} not found")
        except OSError as exc:
            return CommandNotCaptured(
                record, "error", f"cannot run {record.argv[0]}: {exc.strerror or exc}"
            )
        finally:
            os.close(fd)
            os.close(err_fd)
        deadline = time.monotonic() + record.timeout_s
        timed_out = False
        while True:
            try:
                code: int | None = proc.wait(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel.is_set():
                proc.kill()
                proc.wait()
                return CommandNotCaptured(
                    record, "error", "cancelled: the command was stopped and its output discarded"
                )
            if time.monotonic() >= deadline:
                proc.kill()
                proc.wait()
                timed_out = True
                code = None
                break
        finished = time.time_ns()
        with err_spool.open("rb") as f:
            f.seek(max(0, err_spool.stat().st_size - 4 * STDERR_TAIL))
            stderr_tail = f.read().decode("utf-8", "replace").strip()[-STDERR_TAIL:]
        size = spool.stat().st_size
        notes: list[str] = []
        if timed_out:
            notes.append(f"stopped after the {record.timeout_s:g} s timeout: the output is partial")
        elif code:
            notes.append(f"exit status {code}")
        if stderr_tail and (timed_out or code):
            notes.append(f"standard error ends: {stderr_tail}")
        if size == 0 and (timed_out or code):
            return CommandNotCaptured(record, "error", "; ".join(notes) + "; no output", code)
        meta = MemberMeta(
            mtime_ns=finished,
            mode=0o444,
            uid=os.getuid() if hasattr(os, "getuid") else 0,
            gid=os.getgid() if hasattr(os, "getgid") else 0,
        )
        with spool.open("rb", buffering=0) as src:
            member = archive.add_stream(record.member, size, src.readinto, meta)
        stderr_member = None
        if err_size := err_spool.stat().st_size:
            with err_spool.open("rb", buffering=0) as src:
                stderr_member = archive.add_stream(
                    record.member + ".stderr", err_size, src.readinto, meta
                )
        note = "; ".join(notes) or None
        return CommandCaptured(record, member, code, note, started, finished, meta, stderr_member)
    finally:
        spool.unlink(missing_ok=True)
        err_spool.unlink(missing_ok=True)
