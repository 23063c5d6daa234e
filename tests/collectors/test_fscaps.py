"""File capabilities decoded to getcap's text, checked against getcap itself on real files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from collectors._fscaps import XATTR, FileCaps, caps_text, decode

SETCAP, GETCAP = shutil.which("setcap"), shutil.which("getcap")
CASES = (
    "cap_net_raw=ep",
    "cap_net_raw,cap_net_admin+ep",
    "cap_net_raw=eip",
    "cap_net_raw=p",
    "cap_net_bind_service=ei",
    "cap_chown,cap_setuid+p cap_sys_admin+i",
    "all=ep",
    "all=ep cap_sys_admin-ep",
    "cap_checkpoint_restore,cap_bpf=p",
    "cap_chown+p cap_kill+i cap_setuid+ip",
    "cap_chown+eip cap_kill+ep cap_setgid+ei",
    "all=i cap_kill+p cap_chown-i",
)


def test_decode_revision_2_and_3_layouts() -> None:
    rev2 = decode(bytes.fromhex("0100000200200000000000000000000000000000"))
    assert (rev2.revision, rev2.effective, rev2.permitted, rev2.inheritable) == (
        2,
        True,
        1 << 13,
        0,
    )
    assert rev2.rootid is None and rev2.text() == "cap_net_raw=ep"
    rev3 = decode(bytes.fromhex("00000003" + "00040000" + "00000000" * 3 + "e8030000"))
    assert (rev3.revision, rev3.effective, rev3.rootid) == (3, False, 1000)
    assert rev3.text() == "cap_net_bind_service=p"
    rev1 = decode(bytes.fromhex("01000001" + "01000000" + "01000000"))
    assert rev1.text() == "cap_chown=eip"


@pytest.mark.parametrize("raw", [b"", b"\x01\x00\x00\x02", b"\x00\x00\x00\x09" + bytes(16)])
def test_what_is_not_a_capability_value_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError, match=r"revision|short|needs"):
        decode(raw)


def test_numbers_beyond_the_known_names() -> None:
    assert caps_text(FileCaps(2, True, 1 << 45, 0)) == "45=ep"


@pytest.mark.parametrize("spec", CASES)
def test_text_matches_getcap(tmp_path: Path, spec: str) -> None:
    target = tmp_path / "prog"
    target.write_bytes(b"\x7fELF")
    assert SETCAP and GETCAP, "install libcap2-bin (scripts/setup.sh --dev): setcap, getcap"
    subprocess.run([SETCAP, spec, str(target)], check=True, capture_output=True)
    shown = subprocess.run([GETCAP, str(target)], check=True, capture_output=True, text=True)
    expected = shown.stdout.strip().split(" ", 1)[1]
    assert decode(os.getxattr(target, XATTR)).text() == expected
