"""Writing an envelope's result: a hidden file beside the destination, hashed as written,
synced and renamed into place only when complete, so that a failed or interrupted
encryption or decryption never leaves a partial file under the name asked for."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from types import TracebackType

from custody.errors import EnvelopeError


class AtomicOutput:
    """``with AtomicOutput(out) as o: o.write(...); o.commit()``; without :meth:`commit`
    (an error, a cancel) the hidden file is removed and ``out`` never appears. ``mode``:
    the new file's permission bits (before the umask)."""

    def __init__(self, out: Path, mode: int = 0o644) -> None:
        if out.exists() or out.is_symlink():
            raise EnvelopeError(f"{out} already exists: name another output, or remove it first")
        self.out = out
        self.tmp = out.with_name(f".{out.name}.chainproof-{secrets.token_hex(6)}")
        self.size = 0
        self._hash = hashlib.sha256()
        try:
            fd = os.open(
                self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode
            )
        except OSError as exc:
            raise EnvelopeError(f"cannot write {out}: {exc.strerror}") from exc
        self._f = os.fdopen(fd, "wb")
        self.sha256 = ""

    def __enter__(self) -> AtomicOutput:
        return self

    def write(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)
        try:
            self._f.write(data)
        except OSError as exc:
            raise EnvelopeError(f"cannot write {self.out}: {exc.strerror}") from exc

    def commit(self) -> None:
        """Sync the file and move it to its name; ``sha256`` is then its digest."""
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            if self.out.exists() or self.out.is_symlink():
                raise EnvelopeError(f"{self.out} appeared while it was written: left as it is")
            self.tmp.replace(self.out)
        except OSError as exc:
            raise EnvelopeError(f"cannot write {self.out}: {exc.strerror}") from exc
        self.sha256 = self._hash.hexdigest()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._f.closed:
            self._f.close()
        if not self.sha256:
            self.tmp.unlink(missing_ok=True)
