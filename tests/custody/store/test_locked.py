"""A file another program holds open exclusively (Outlook's OST/PST on Windows) is recorded
as locked, not as a plain permission error."""

from __future__ import annotations

import os
import platform
import threading
from pathlib import Path

import pytest

from custody.observations import FileTarget
from custody.store.archive import RunArchive
from custody.store.capture import NotCaptured, _os_error, capture_files


def test_sharing_and_lock_violations_read_as_locked() -> None:
    for winerror in (32, 33):
        exc = PermissionError(13, "The process cannot access the file")
        # What Windows sets on a sharing or lock violation.
        exc.winerror = winerror  # type: ignore[attr-defined]
        kind, reason = _os_error(exc, "open the file")
        assert kind == "error" and reason.startswith("locked: ")
        assert "until raw NTFS collection exists" in reason
    kind, reason = _os_error(PermissionError(13, "Permission denied"), "open the file")
    assert reason.startswith("permission denied")


@pytest.mark.skipif(platform.system() != "Windows", reason="exclusive opens: Windows")
def test_an_exclusively_open_file_is_recorded_as_locked(tmp_path: Path) -> None:
    import ctypes

    pst = tmp_path / "Outlook.pst"
    pst.write_bytes(b"!BDN" + bytes(1020))
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.CreateFileW(str(pst), 0x80000000, 0, None, 3, 0x80, None)  # no sharing
    assert handle != -1
    try:
        with RunArchive(tmp_path / "run.tar") as archive:
            results = list(
                capture_files(
                    archive, [FileTarget(os.fsencode(pst), "t")], cancel=threading.Event()
                )
            )
    finally:
        kernel32.CloseHandle(handle)
    assert isinstance(results[0], NotCaptured) and results[0].reason.startswith("locked: ")
