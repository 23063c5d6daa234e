"""The manifest's artifacts as the export writes them, one per artifact: the canonical
JSON of artifact_doc, byte for byte, for every value an artifact can hold."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from custody.bundle.manifest import _ARTIFACT, _artifact_sorted, artifact_chunk, artifact_doc
from custody.record.canonical import canonical_json
from custody.record.events import ArtifactCollected
from tests.custody.artifact_strategy import artifact_events


def outcome(make: Callable[[], bytes]) -> bytes | type[BaseException]:
    """What ``make()`` gives: its bytes, or the type of what it raised."""
    try:
        return make()
    except Exception as exc:
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(artifact_events(odd_values=True), st.integers(1, 2**40), st.booleans())
def test_an_artifact_s_chunk_is_the_canonical_json_of_its_doc(
    a: ArtifactCollected, seq: int, first: bool
) -> None:
    comma = b"" if first else b","
    assert outcome(lambda: artifact_chunk(seq, a, first)) == outcome(
        lambda: comma + canonical_json(artifact_doc(seq, a))
    )
    doc = _artifact_sorted(seq, a)
    assert {k: v for k, v in doc.items() if v is not None} == artifact_doc(seq, a)


def test_the_fast_path_knows_every_field_and_takes_plain_artifacts() -> None:
    a = ArtifactCollected.from_payload(
        {
            "v": 2,
            "run_id": "r1",
            "collector": "files",
            "kind": "symlink",
            "changed": "size",
            "member": {
                "name": "files/é",
                "name_b64": "Zg==",
                "header_offset": 0,
                "data_offset": 512,
                "size": 0,
                "header_sha256": "ab" * 32,
            },
            "digests": {"sha256": "ab" * 32, "sha1": "cd" * 20, "md5": "ef" * 16},
            "source": {
                "path": "/etc/l",
                "path_b64": "Zg==",
                "mode": 0o777,
                "uid": 0,
                "gid": 0,
                "uname": "root",
                "gname": "root",
                "mtime": "1.5",
                "symlink_target": "t",
                "symlink_target_b64": "dA==",
            },
        }
    )
    doc = artifact_doc(9, a)
    assert tuple(sorted(doc)) == _ARTIFACT.keys  # every field present
    assert _ARTIFACT.encode(_artifact_sorted(9, a)) == canonical_json(doc)
    assert artifact_chunk(9, a, False) == b"," + canonical_json(doc)
