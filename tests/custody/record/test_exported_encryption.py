"""The ``exported`` event's fields for an encrypted export: the recipients' certificate
SHA-256s and the envelope's SHA-256, optional, so that older entries read as before."""

from __future__ import annotations

import pytest

from custody.errors import MalformedEvent
from custody.record.events import Exported, parse_payload

PLAIN = {
    "bundle_id": "b1",
    "generated_at": "2026-12-01T16:00:00.000000Z",
    "path": "/x/B.zip",
    "format": "zip",
    "manifest_sha256": "1" * 64,
    "sha256sums_sha256": "2" * 64,
    "ledger_entries": 12,
    "ledger_head": "3" * 64,
    "files": 9,
    "bytes": 12345,
    "verification": "passed",
    "findings": 0,
    "zip_sha256": "4" * 64,
}


def test_an_entry_without_them_reads_and_writes_the_same() -> None:
    event = parse_payload("exported", dict(PLAIN))
    assert isinstance(event, Exported)
    assert event.encrypted_to == () and event.p7m_sha256 is None
    assert event.payload() == PLAIN
    assert not event.extra


def test_encrypted_to_and_p7m_round_trip() -> None:
    event = Exported(
        **{k: v for k, v in PLAIN.items() if k != "path"},
        path="/x/B.zip.p7m",
        encrypted_to=("a" * 64, "b" * 64),
        p7m_sha256="c" * 64,
    )
    payload = event.payload()
    assert payload["encrypted_to"] == ["a" * 64, "b" * 64]
    assert payload["p7m_sha256"] == "c" * 64
    again = parse_payload("exported", payload)
    assert again == event and not again.extra


def test_a_malformed_recipient_list_names_the_field() -> None:
    with pytest.raises(MalformedEvent, match="'encrypted_to' is not a list of texts"):
        parse_payload("exported", {**PLAIN, "encrypted_to": "a" * 64})
