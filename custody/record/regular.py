"""Reading a file that must be a regular file: a case's pointer, a key, a bundle's files.

A path replaced by a FIFO would block a plain ``open`` until someone writes to it, and a
device may never end. :func:`open_regular` opens without waiting and refuses anything but a
regular file with an :class:`OSError` whose ``strerror`` says what the path is, so callers
that report ``OSError`` already say it in their one line.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(mode: int) -> str:
    """What a file of ``mode`` is, for a message: "a directory", "a FIFO", ..."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: Path, buffering: int = -1) -> BinaryIO:
    """``path`` opened for reading in binary mode; :class:`OSError` unless it is a regular
    file (symbolic links are followed, as by ``open``). Never blocks on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
            raise OSError(code, f"is {kind_of(mode)}, not a regular file", str(path))
        # O_NONBLOCK means nothing for a regular file's reads; it is not kept all the same.
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file ``path`` (see :func:`open_regular`)."""
    with open_regular(path) as f:
        return f.read()
