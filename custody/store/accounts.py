"""User and group names from the local account files, read without moving their access times.

Used by the collectors (process owners, home directories) and by the store (an archive
member's owner names).

``pwd`` and ``grp`` read /etc/passwd and /etc/group through the C library's name service
(NSS), which opens them without ``O_NOATIME``: every lookup would move the access time of
evidence the triage takes. These helpers read the files as sources (``O_NOATIME``), once while
they are unchanged. A uid or gid the files do not name is asked of the name service only when
/etc/nsswitch.conf names another source for that database (LDAP, SSSD, systemd's dynamic
users); NSS then reads the file again, which is the price of a name it alone knows.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from custody.store.sources import open_source

PASSWD = "/etc/passwd"
GROUP = "/etc/group"
NSSWITCH = "/etc/nsswitch.conf"
#: NSS sources that add nothing beyond the local files for an enumeration of homes.
_LOCAL_SOURCES = {"files", "compat", "systemd"}

_cache: dict[str, tuple[tuple[int, int, int], list[list[str]]]] = {}
_LIMIT = 16 << 20


def read_text(path: str) -> str:
    """A small account file's text (at most 16 MiB), read with ``O_NOATIME``."""
    fd = open_source(path, follow=True)
    try:
        parts: list[bytes] = []
        size = 0
        while size < _LIMIT and (chunk := os.read(fd, min(1 << 16, _LIMIT - size))):
            parts.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return b"".join(parts).decode("utf-8", "surrogateescape")


def _rows(path: str) -> list[list[str]]:
    """The colon-separated rows of ``path`` (none if unreadable), re-read when it changes."""
    try:
        st = os.lstat(path)
    except OSError:
        return []
    key = (st.st_ino, st.st_mtime_ns, st.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        text = read_text(path)
    except OSError:
        return []
    rows = [line.split(":") for line in text.splitlines() if line and line[0] not in "#+-"]
    _cache[path] = (key, rows)
    return rows


def _name(path: str, number: int) -> str | None:
    for row in _rows(path):
        if len(row) > 2 and row[2].strip() == str(number):
            return row[0]
    return None


def nss_sources(database: str) -> set[str]:
    """The sources /etc/nsswitch.conf names for ``database`` (``files`` when it is absent)."""
    try:
        text = read_text(NSSWITCH)
    except OSError:
        return {"files"}
    for line in text.splitlines():
        key, _, rest = line.partition("#")[0].partition(":")
        if key.strip() == database:
            return {w for w in rest.split() if not w.startswith("[")}
    return {"files"}


def user_name(uid: int) -> str | None:
    """The name of ``uid``: from /etc/passwd, else from the name service when nsswitch.conf
    names a source beyond the files, else None."""
    name = _name(PASSWD, uid)
    if name is None and sys.platform != "win32" and nss_sources("passwd") - {"files", "compat"}:
        import pwd

        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            return None
    return name


def group_name(gid: int) -> str | None:
    """The name of ``gid``, as :func:`user_name` finds a user's."""
    name = _name(GROUP, gid)
    if name is None and sys.platform != "win32" and nss_sources("group") - {"files", "compat"}:
        import grp

        try:
            name = grp.getgrgid(gid).gr_name
        except KeyError:
            return None
    return name


def home_directories() -> list[str]:
    """The home directory of every account: /etc/passwd's, and the name service's when
    nsswitch.conf names a directory service (not systemd's dynamic users, whose homes are
    not real directories)."""
    homes = [row[5] for row in _rows(PASSWD) if len(row) > 5 and row[5]]
    if sys.platform != "win32" and nss_sources("passwd") - _LOCAL_SOURCES:
        import pwd

        entries: list[Any] = pwd.getpwall()
        homes.extend(p.pw_dir for p in entries if p.pw_dir)
    return homes
