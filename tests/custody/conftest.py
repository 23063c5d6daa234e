"""Fixtures for the evidence store tests: real files, real archives, real GNU tar."""

from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from custody.store.archive import RunArchive

TAR_ENV = {**os.environ, "LC_ALL": "C.UTF-8"}


def gnu_tar(
    *args: str | os.PathLike[str], cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run GNU tar; fail the test with its stderr when it fails."""
    proc = subprocess.run(["tar", *map(str, args)], capture_output=True, cwd=cwd, env=TAR_ENV)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc


def sha256sum(path: bytes | Path) -> str:
    """The SHA-256 of a file according to coreutils."""
    out = subprocess.run([b"sha256sum", os.fsencode(path)], capture_output=True, check=True).stdout
    return out.split(b" ", 1)[0].lstrip(b"\\").decode()


def open_tar(path: Path) -> tarfile.TarFile:
    return tarfile.open(path, "r:", encoding="utf-8", errors="surrogateescape")


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[..., bytes]:
    """``make_file(name, data=b"", *, mtime_ns=None, atime_ns=None) -> bytes path`` under
    ``tmp_path/src`` (``name`` may be bytes, with any byte but ``/`` and NUL)."""
    root = os.fsencode(tmp_path / "src")
    os.makedirs(root, exist_ok=True)

    def make(
        name: str | bytes,
        data: bytes = b"",
        *,
        mtime_ns: int | None = None,
        atime_ns: int | None = None,
    ) -> bytes:
        path = os.path.join(root, os.fsencode(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        if mtime_ns is not None or atime_ns is not None:
            st = os.stat(path)
            os.utime(path, ns=(atime_ns or st.st_atime_ns, mtime_ns or st.st_mtime_ns))
        return path

    return make


@pytest.fixture
def new_archive(tmp_path: Path) -> Iterator[Callable[..., RunArchive]]:
    """``new_archive(name="run.tar") -> RunArchive`` in ``tmp_path/evidence``; closed (or
    abandoned) at teardown if the test did not."""
    made: list[RunArchive] = []
    (tmp_path / "evidence").mkdir(exist_ok=True)

    def make(name: str = "run.tar") -> RunArchive:
        archive = RunArchive(tmp_path / "evidence" / name)
        made.append(archive)
        return archive

    yield make
    for archive in made:
        if not archive.closed:
            archive.abandon()
