"""Hashed spools: output hashed as written, archived only if the bytes still hash the same."""

from __future__ import annotations

import os
import tarfile
import threading
from pathlib import Path

import pytest

from custody.errors import StoreError
from custody.record.digests import Digests
from custody.store.archive import RunArchive
from custody.store.spool import HashedSpool, archive_spool
from custody.store.tarheader import MemberMeta

META = MemberMeta(mtime_ns=1_700_000_000_000_000_000)


def test_a_spool_is_hashed_as_it_is_written_from_another_thread(tmp_path: Path) -> None:
    chunks = [os.urandom(n) for n in (1, 511, 4096, 300_000, 7)]
    spool = HashedSpool(tmp_path / "spool", suffix=".pcapng")
    writer = threading.Thread(target=lambda: [spool.write(c) for c in chunks])
    writer.start()
    writer.join()
    sealed = spool.seal()
    data = b"".join(chunks)
    assert sealed.size == len(data) == spool.size
    assert sealed.digests == Digests.of(data)
    assert sealed.path.read_bytes() == data
    assert sealed.path.name.startswith(".spool-") and sealed.path.suffix == ".pcapng"
    assert sealed.path.stat().st_mode & 0o077 == 0  # the examiner's only
    with pytest.raises(StoreError, match="already sealed"):
        spool.write(b"more")


@pytest.mark.parametrize("size", [0, 1000, 2_000_000])
def test_archive_spool_stores_the_bytes_that_were_hashed(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    spool = HashedSpool(tmp_path)
    spool.write(data)
    sealed = spool.seal()
    archive = RunArchive(tmp_path / "run.tar")
    member = archive_spool(archive, sealed, "capture/packets.pcapng", META)
    archive.close()
    assert member.digests == sealed.digests and member.size == size
    assert not sealed.path.exists()  # the spool is gone once archived
    with tarfile.open(tmp_path / "run.tar") as tf:
        f = tf.extractfile("capture/packets.pcapng")
        assert f is not None and f.read() == data


@pytest.mark.parametrize("size", [1000, 2_000_000])
def test_a_spool_changed_after_it_was_hashed_is_refused(tmp_path: Path, size: int) -> None:
    spool = HashedSpool(tmp_path)
    spool.write(b"a" * size)
    sealed = spool.seal()
    with sealed.path.open("r+b") as f:  # same size, one byte changed
        f.seek(size // 2)
        f.write(b"b")
    archive = RunArchive(tmp_path / "run.tar")
    archive.add_bytes("before", b"kept", mtime_ns=1)
    before = archive.offset
    with pytest.raises(StoreError, match="changed between its writing and its archiving"):
        archive_spool(archive, sealed, "capture/packets.pcapng", META)
    assert archive.offset == before  # the member was cut off
    assert sealed.path.exists()  # kept for examination
    archive.close()
    with tarfile.open(tmp_path / "run.tar") as tf:
        assert tf.getnames() == ["before"]


def test_a_spool_that_grew_after_it_was_sealed_is_refused(tmp_path: Path) -> None:
    spool = HashedSpool(tmp_path)
    spool.write(b"abc")
    sealed = spool.seal()
    with sealed.path.open("ab") as f:
        f.write(b"d")
    with (
        RunArchive(tmp_path / "run.tar") as archive,
        pytest.raises(StoreError, match="holds 4 bytes, but 3"),
    ):
        archive_spool(archive, sealed, "x", META)


def test_discard_removes_the_spool(tmp_path: Path) -> None:
    spool = HashedSpool(tmp_path)
    spool.write(b"x")
    spool.discard()
    assert not spool.path.exists()
