"""Getting artifacts out of a case or bundle: each one re-hashed against its signed ledger.

An artifact is named by its ledger entry number (``seq``), its SHA-256 (every artifact with
that content), its archive member name (``files/etc/passwd``) or its source path
(``/etc/passwd``). The ledger is checked first, in the same pass that finds them (chain,
signatures, the fold's story: :func:`app.listing.check_ledger`), so the digests an artifact is
compared with are the signed ones.

Each file is written as ``DIR/<member name>``: directories are created one at a time under
``DIR`` and opened without following links, so neither a member name (``..`` is refused) nor
a link already in ``DIR`` can place a file outside it. The bytes are streamed from the run
archive (:func:`custody.store.reader.member_chunks`) into a new hidden file beside the target,
hashed as they pass (SHA-256, SHA-1, MD5) and compared with the ledger; a difference, or an
archive cut short, removes the partial file and every directory made for it. Only a file
that matches is put in place, and never over an existing one unless ``force``. Permission
bits are restored without setuid, setgid and sticky bits and always readable by the owner,
and the owner is not changed, unless ``preserve_mode``; file times are restored from the
record. Symbolic links are not created (their target is in the ledger).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from app.ledger_source import LedgerSource
from app.listing import LedgerCheckResult, Query, check_ledger
from custody.errors import StoreError, UsageError
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected, Event
from custody.record.names import from_text
from custody.record.printable import shown_text
from custody.record.times import text_ns
from custody.store.reader import member_chunks

_SHA256 = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NO_FOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW | getattr(os, "O_CLOEXEC", 0)
#: Errors of ``link`` that mean the file system has no hard links (FAT, exFAT, some shares).
_NO_LINKS = frozenset(
    {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}
)


@dataclass(frozen=True)
class Selected:
    """One artifact to extract: its entry, its event, and its place under the target."""

    seq: int
    event: ArtifactCollected
    archive: str
    parts: tuple[bytes, ...]

    @property
    def relative(self) -> str:
        """The place under the target directory, as text (surrogates for other bytes)."""
        return os.fsdecode(b"/".join(self.parts))


@dataclass
class Selection:
    """The artifacts ``extract`` was asked for, and the ledger check made while finding them."""

    check: LedgerCheckResult
    selected: list[Selected] = field(default_factory=list)


def select(source: LedgerSource, wanted: Sequence[str], run: str | None = None) -> Selection:
    """Find the artifacts ``wanted`` names (see the module) in one checked pass over the
    ledger. A name that matches nothing, or two artifacts that would land on one path, is a
    :class:`UsageError` naming them."""
    seqs: set[int] = set()
    digests: set[str] = set()
    names: set[str] = set()
    for w in wanted:
        if w.isdigit():
            seqs.add(int(w))
        elif m := _SHA256.fullmatch(w):
            digests.add(m.group(1).lower())
        else:
            names.add(w)
    query = Query(run=run)
    found: list[tuple[Entry, ArtifactCollected]] = []
    hit: set[str] = set()

    def tap(entry: Entry, event: Event | None) -> None:
        if not isinstance(event, ArtifactCollected) or not query.run_matches(event.run_id):
            return
        path = event.source.path if event.source is not None else None
        keys = [
            key
            for key, wanted_here in (
                (str(entry.seq), entry.seq in seqs),
                (event.digests.sha256, event.digests.sha256 in digests),
                (event.member.name, event.member.name in names),
                (path, path in names),
            )
            if wanted_here and key is not None
        ]
        if keys:
            hit.update(keys)
            found.append((entry, event))

    check = check_ledger(source, tap)
    missing = [w for w in wanted if _key(w) not in hit]
    if missing:
        where = f" of run {run}" if run else ""
        raise UsageError(
            f"no artifact{where} in {source.describe()} is "
            + ", ".join(repr(shown_text(w)) for w in missing)
            + " (chainproof artifacts lists them: SEQ, SHA-256, member or source path)"
        )
    selection = Selection(check)
    runs = check.state.runs
    places: dict[tuple[bytes, ...], int] = {}
    for entry, event in found:
        run_state = runs.get(event.run_id)
        archive = run_state.archive if run_state is not None else ""
        item = Selected(entry.seq, event, archive, member_parts(event))
        if item.parts in places:
            raise UsageError(
                f"artifacts {places[item.parts]} and {entry.seq} are both "
                f"{shown_text(item.relative)!r} (from two runs): choose one by its SEQ or "
                "with --run ID"
            )
        places[item.parts] = entry.seq
        selection.selected.append(item)
    return selection


def _key(w: str) -> str:
    if w.isdigit():
        return str(int(w))
    m = _SHA256.fullmatch(w)
    return m.group(1).lower() if m else w


def member_parts(event: ArtifactCollected) -> tuple[bytes, ...]:
    """The member's path components (exact bytes), to be placed under the target; empty
    and ``.`` components are dropped, ``..`` is refused."""
    m = event.member
    try:
        raw = os.fsencode(from_text(m.name, m.name_b64))
    except ValueError:
        raw = os.fsencode(m.name)
    parts = tuple(p for p in raw.split(b"/") if p not in (b"", b"."))
    if not parts or b".." in parts:
        raise UsageError(
            f"artifact {shown_text(m.name)!r} cannot be placed under the target directory "
            "safely (its member name is empty or has a '..' component)"
        )
    return parts


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Outcome:
    """What became of one artifact: ``extracted``, ``refused`` (its bytes do not match the
    ledger, or cannot be read) or ``skipped`` (a symbolic link)."""

    seq: int
    member: str
    path: str
    status: str
    size: int
    sha256: str
    message: str


class _ReadFailed(Exception):
    def __init__(self, exc: OSError) -> None:
        super().__init__(exc.strerror or str(exc))


def _chunks(source: LedgerSource, s: Selected) -> Iterator[bytes]:
    m = s.event.member
    try:
        with source.open_archive(s.archive) as f:
            yield from member_chunks(f, m.data_offset, m.size)
    except OSError as exc:
        raise _ReadFailed(exc) from exc


class Extractor:
    """Writes selected artifacts under ``dest`` (created if missing), as the module says."""

    def __init__(
        self, source: LedgerSource, dest: Path, *, force: bool = False, preserve_mode: bool = False
    ) -> None:
        self.source, self.dest = source, dest
        self.force, self.preserve_mode = force, preserve_mode
        self._made_dest = not os.path.lexists(dest)
        self._placed = 0
        try:
            dest.mkdir(parents=True, exist_ok=True)
            self._root = os.open(dest, _DIR_FLAGS)
        except OSError as exc:
            raise StoreError(f"cannot use {dest} as the target: {exc.strerror or exc}") from exc

    def close(self) -> None:
        """Close; a target directory this extraction made and left empty is removed."""
        os.close(self._root)
        if self._made_dest and not self._placed:
            with contextlib.suppress(OSError):
                self.dest.rmdir()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def target(self, s: Selected) -> Path:
        return self.dest / s.relative

    def existing(self, s: Selected) -> bool:
        """True when something is already at the artifact's place (a link is not followed)."""
        return os.path.lexists(self.dest.joinpath(*map(os.fsdecode, s.parts)))

    def extract(self, s: Selected) -> Outcome:
        """Extract one artifact; a :class:`StoreError` when the target cannot be written."""
        made: list[bytes] = []
        try:
            parent = self._parent(s, made)
        except OSError as exc:
            self._remove_made(made)
            raise StoreError(
                f"cannot create the folder for {self.target(s)}: {exc.strerror or exc}"
            ) from exc
        try:
            outcome = self._write(s, parent)
        except BaseException:
            self._remove_made(made)
            raise
        finally:
            os.close(parent)
        if outcome.status == "extracted":
            self._placed += 1
        else:
            self._remove_made(made)
        return outcome

    def _parent(self, s: Selected, made: list[bytes]) -> int:
        """The folder the artifact goes into, opened; each component is made if missing and
        opened without following a link."""
        fd = os.dup(self._root)
        try:
            for i, part in enumerate(s.parts[:-1]):
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                    made.append(b"/".join(s.parts[: i + 1]))
                except FileExistsError:
                    pass
                try:
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        where = os.fsdecode(b"/".join(s.parts[: i + 1]))
                        raise OSError(
                            exc.errno, f"{where} is a link or a file, not a folder: not followed"
                        ) from exc
                    raise
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _remove_made(self, made: list[bytes]) -> None:
        for rel in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(rel, dir_fd=self._root)

    def _outcome(self, s: Selected, status: str, message: str) -> Outcome:
        m = s.event.member
        return Outcome(
            s.seq, m.name, str(self.target(s)), status, m.size, s.event.digests.sha256, message
        )

    def _write(self, s: Selected, parent: int) -> Outcome:
        ev = s.event
        name = s.parts[-1]
        if ev.kind == "symlink":
            target = ev.source.symlink_target if ev.source else None
            return self._outcome(
                s, "skipped", f"a symbolic link to {target!r}: not created (the ledger records it)"
            )
        if ev.kind == "directory":
            try:
                os.mkdir(name, 0o755, dir_fd=parent)
            except FileExistsError:
                pass
            except OSError as exc:
                raise StoreError(f"cannot create {self.target(s)}: {exc.strerror}") from exc
            return self._outcome(s, "extracted", "a folder")
        tmp = f".chainproof-extract-{secrets.token_hex(8)}".encode()
        try:
            fd = os.open(tmp, _NEW_FILE, 0o600, dir_fd=parent)
        except OSError as exc:
            raise StoreError(f"cannot write in {self.target(s).parent}: {exc.strerror}") from exc
        placed = False
        try:
            with os.fdopen(fd, "wb") as out:
                problem = self._copy(s, out)
                if problem is not None:
                    return self._outcome(s, "refused", problem)
                try:
                    out.flush()
                    self._finish(s, out.fileno())
                except OSError as exc:
                    raise StoreError(f"cannot write {self.target(s)}: {exc.strerror}") from exc
            placed = self._place(tmp, name, parent, s)
            if not placed:
                return self._outcome(s, "refused", f"{self.target(s)} exists (use --force)")
            return self._outcome(s, "extracted", "SHA-256, SHA-1 and MD5 match the ledger")
        finally:
            if not placed:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=parent)

    def _copy(self, s: Selected, out: IO[bytes]) -> str | None:
        """Stream the member into ``out``, hashing it; why it does not match, or None."""
        ev = s.event
        want = ev.member.size
        sha256, sha1, md5 = hashlib.sha256(), hashlib.sha1(), hashlib.md5()
        n = 0
        try:
            for chunk in _chunks(self.source, s):
                sha256.update(chunk)
                sha1.update(chunk)
                md5.update(chunk)
                n += len(chunk)
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise StoreError(f"cannot write {self.target(s)}: {exc.strerror}") from exc
        except _ReadFailed as exc:
            return f"its run archive {s.archive} cannot be read: {exc}"
        if n != want:
            return (
                f"its run archive {s.archive} ends {n} bytes into it; the ledger records "
                f"{want} bytes: the archive was cut"
            )
        got = {"SHA-256": sha256.hexdigest(), "SHA-1": sha1.hexdigest(), "MD5": md5.hexdigest()}
        d = ev.digests
        recorded = {"SHA-256": d.sha256, "SHA-1": d.sha1, "MD5": d.md5}
        wrong = [k for k in got if got[k] != recorded[k]]
        if wrong:
            return (
                f"its bytes in {s.archive} have SHA-256 {got['SHA-256']}; the ledger (entry "
                f"{s.seq}) records {d.sha256} ({', '.join(wrong)} differ): the evidence was "
                "altered"
            )
        return None

    def _finish(self, s: Selected, fd: int) -> None:
        """fsync, then the recorded permission bits and times (and owner, if asked)."""
        ev = s.event
        facts = ev.source if ev.source is not None else ev.member
        os.fsync(fd)
        if facts.mode is not None:
            if self.preserve_mode:
                os.fchmod(fd, stat.S_IMODE(facts.mode))
            else:
                os.fchmod(fd, (facts.mode & 0o777) | stat.S_IRUSR)
        if self.preserve_mode and facts.uid is not None and facts.gid is not None:
            with contextlib.suppress(PermissionError):  # only root may give a file away
                os.fchown(fd, facts.uid, facts.gid)
                if facts.mode is not None:  # chown clears setuid and setgid
                    os.fchmod(fd, stat.S_IMODE(facts.mode))
        times = _times(ev)
        if times is not None:
            os.utime(fd, ns=times)

    def _place(self, tmp: bytes, name: bytes, parent: int, s: Selected) -> bool:
        """Move the checked file into place; False when something is there (no ``force``)."""
        try:
            if self.force:
                os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
                return True
            try:
                os.link(tmp, name, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                if _lexists(name, parent):
                    return False
                os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
                return True
            os.unlink(tmp, dir_fd=parent)
            return True
        except OSError as exc:
            raise StoreError(f"cannot put {self.target(s)} in place: {exc.strerror}") from exc


def _lexists(name: bytes, parent: int) -> bool:
    try:
        os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        return False
    return True


def _times(ev: ArtifactCollected) -> tuple[int, int] | None:
    """(atime, mtime) in nanoseconds as recorded, or None."""
    facts = ev.source if ev.source is not None else ev.member
    if not facts.mtime:
        return None
    try:
        mtime = text_ns(facts.mtime)
        atime = text_ns(ev.source.atime) if ev.source and ev.source.atime else mtime
    except ValueError:
        return None
    return atime, mtime
