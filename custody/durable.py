"""Making a new or renamed name in a directory survive a crash."""

from __future__ import annotations

import os
from pathlib import Path


def sync_directory(path: Path) -> None:
    """fsync the directory ``path``, so the names just created or renamed in it are on disk.

    A file's own fsync makes its bytes durable, not its name. Windows has no directory
    handles to sync, so there this does nothing. An ``OSError`` is the caller's to judge.
    """
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
