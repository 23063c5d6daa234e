"""Where ``extract`` puts an artifact: the member name's exact bytes, never outside the target."""

from __future__ import annotations

import base64

import pytest

from app.extraction import member_parts
from custody.errors import UsageError
from custody.record.digests import Digests
from custody.record.events import ArtifactCollected, MemberRef


def _artifact(name: str, name_b64: str | None = None) -> ArtifactCollected:
    return ArtifactCollected(
        run_id="r",
        collector="files",
        kind="file",
        member=MemberRef(name=name, name_b64=name_b64, header_offset=0, data_offset=512, size=0),
        digests=Digests.of(b""),
    )


def test_member_parts_keep_the_exact_bytes() -> None:
    raw = b"files/tmp/caf\xe9 \xff"
    a = _artifact("files/tmp/caf\\xe9 \\xff", base64.b64encode(raw).decode())
    assert member_parts(a) == (b"files", b"tmp", b"caf\xe9 \xff")
    assert member_parts(_artifact("files//a/./b\\c")) == (b"files", b"a", b"b\\c")


@pytest.mark.parametrize("name", ["files/a/../../etc/passwd", "..", "", "./."])
def test_member_parts_refuse_what_could_leave_the_target(name: str) -> None:
    with pytest.raises(UsageError, match="cannot be placed under the target directory"):
        member_parts(_artifact(name))
