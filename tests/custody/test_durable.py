"""sync_directory: the one way we make a new name durable."""

from __future__ import annotations

from pathlib import Path

import pytest

from custody.durable import sync_directory


def test_syncs_a_directory_after_a_rename(tmp_path: Path) -> None:
    (tmp_path / "a.tmp").write_bytes(b"x")
    (tmp_path / "a.tmp").replace(tmp_path / "a")
    sync_directory(tmp_path)
    assert (tmp_path / "a").read_bytes() == b"x"


def test_refuses_what_is_not_a_directory(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        sync_directory(file)
    with pytest.raises(FileNotFoundError):
        sync_directory(tmp_path / "missing")
