"""Where tokens live: ``timestamps/<seq>.tsr`` (a DER TimeStampResp per signed entry).

The same layout in a case directory and in a bundle, so ``openssl ts -verify -data
signatures/<seq>.json -in timestamps/<seq>.tsr`` reads a bundle's files as they are. A token
is written once, atomically (a hidden file, fsync, rename, fsync of the directory) and
never replaced. The ledger stays the record: a token only attests that an entry's signed
bytes existed at a time; its absence marks the entry as untimestamped.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from custody.durable import sync_directory
from custody.record.regular import read_regular

TIMESTAMPS = "timestamps"
_NAME = re.compile(r"([1-9][0-9]{0,15})\.tsr")


def token_file(seq: int) -> str:
    """The token of entry ``seq``, relative to a case or bundle: ``timestamps/<seq>.tsr``."""
    return f"{TIMESTAMPS}/{seq}.tsr"


def seq_of(name: str) -> int | None:
    """The entry a file name of ``timestamps/`` belongs to (``12.tsr`` -> 12), else None."""
    m = _NAME.fullmatch(name)
    return int(m.group(1)) if m else None


class TokenStore:
    """The ``timestamps/`` folder of a case or bundle root."""

    def __init__(self, root: Path) -> None:
        self.dir = root / TIMESTAMPS

    def path(self, seq: int) -> Path:
        return self.dir / f"{seq}.tsr"

    def read(self, seq: int) -> bytes | None:
        """Entry ``seq``'s token, or None when it has none (OSError when it is unreadable)."""
        try:
            return read_regular(self.path(seq))
        except FileNotFoundError:
            return None

    def names(self) -> list[str]:
        """Every name in the folder (sorted), tokens or not."""
        try:
            return sorted(p.name for p in self.dir.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def seqs(self) -> set[int]:
        """The entries that have a token file."""
        return {s for n in self.names() if (s := seq_of(n)) is not None}

    def write(self, seq: int, response: bytes) -> bool:
        """Keep entry ``seq``'s token; False (and nothing written) when it has one already."""
        self.dir.mkdir(exist_ok=True)
        final = self.path(seq)
        if final.exists():
            return False
        tmp = self.dir / f".{seq}.tsr.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(response)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, final)  # never over an existing token
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links (exFAT, FAT32)
                if final.exists():
                    return False
                tmp.replace(final)
        except FileExistsError:
            return False
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        sync_directory(self.dir)
        return True
