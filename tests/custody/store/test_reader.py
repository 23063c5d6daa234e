"""The archive reader hands out the file's bytes, whatever was released, and hashes all of it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custody.store.reader import READ_BLOCK, ArchiveReader, member_chunks

SIZE = 3 * READ_BLOCK + 12_345  # three whole blocks and a short one


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = os.urandom(SIZE)
    path = tmp_path_factory.mktemp("reader") / "run.tar"
    path.write_bytes(data)
    return path, data


# a read: where, and how many bytes (near block boundaries and the end of the file often)
offsets = st.integers(min_value=0, max_value=SIZE + 1000) | st.builds(
    lambda block, delta: max(0, block * READ_BLOCK + delta),
    st.integers(min_value=0, max_value=4),
    st.integers(min_value=-1536, max_value=1536),
)
lengths = st.integers(min_value=-5, max_value=4096) | st.integers(
    min_value=0, max_value=2 * READ_BLOCK
)
steps = st.lists(
    st.tuples(st.sampled_from(["view", "readinto", "release"]), offsets, lengths),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
@given(steps=steps, whole=st.booleans())
def test_views_are_the_file_bytes_whatever_was_released(
    archive: tuple[Path, bytes], steps: list[tuple[str, int, int]], whole: bool
) -> None:
    path, data = archive
    with path.open("rb") as f:
        reader = ArchiveReader(f, SIZE, whole)
        try:
            for kind, offset, n in steps:
                if kind == "view":
                    assert bytes(reader.view(offset, n)) == data[offset : offset + max(n, 0)]
                elif kind == "readinto":
                    buf = bytearray(max(n, 0))
                    got = reader.readinto(offset, memoryview(buf))
                    assert buf[:got] == data[offset : offset + max(n, 0)]
                else:
                    reader.release(offset)
                    assert all((i + 1) * READ_BLOCK > offset for i in reader.blocks)
            digest = reader.finish()
        finally:
            reader.close()
    assert digest == (hashlib.sha256(data).hexdigest() if whole else None)
    assert reader.blocks == {}


def test_a_front_to_back_pass_holds_few_blocks(archive: tuple[Path, bytes]) -> None:
    """As verification reads: each member's header and data, then releases what is behind."""
    path, data = archive
    held = 0
    with path.open("rb") as f:
        reader = ArchiveReader(f, SIZE, True)
        offset = 0
        while offset < SIZE:
            header = reader.view(offset, 1536)
            body = reader.view(offset + 1536, 2048)
            assert bytes(header) + bytes(body) == data[offset : offset + 3584]
            offset += 3584
            reader.release(offset)
            held = max(held, len(reader.blocks))
        assert reader.finish() == hashlib.sha256(data).hexdigest()
    assert held <= 2


def test_a_view_after_the_end_reads_nothing(archive: tuple[Path, bytes]) -> None:
    path, _ = archive
    with path.open("rb") as f:
        reader = ArchiveReader(f, SIZE, False)
        assert reader.view(SIZE + 10, 512) == b""
        assert reader.loaded == 0  # nothing was read to find that out
        assert reader.view(SIZE - 3, 512) == path.read_bytes()[-3:]
        assert reader.loaded == SIZE


def test_a_shrunk_file_gives_what_is_left(tmp_path: Path) -> None:
    path = tmp_path / "cut.tar"
    data = os.urandom(READ_BLOCK + 100)
    path.write_bytes(data)
    with path.open("rb") as f:
        reader = ArchiveReader(f, 2 * READ_BLOCK, False)  # the size recorded before a cut
        assert bytes(reader.view(READ_BLOCK - 10, 1000)) == data[READ_BLOCK - 10 :]
        assert reader.size == len(data)


def test_member_chunks_stream_a_member(archive: tuple[Path, bytes]) -> None:
    path, data = archive
    with path.open("rb") as f:
        chunks = list(member_chunks(f, 1000, 2 * READ_BLOCK))
        assert [len(c) for c in chunks] == [READ_BLOCK, READ_BLOCK]
        assert b"".join(chunks) == data[1000 : 1000 + 2 * READ_BLOCK]
        assert b"".join(member_chunks(f, SIZE - 10, 100)) == data[-10:]  # a cut member
