"""A capture artifact's facts in the ledger: written once, read back the same, checked."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.errors import MalformedEvent
from custody.record.digests import Digests
from custody.record.events import ArtifactCollected, CaptureFacts, MemberRef, parse_payload

texts = st.text(min_size=1, max_size=12)
opt = st.none() | texts
counts = st.integers(0, 2**53 - 1)
facts = st.builds(
    CaptureFacts,
    interfaces=st.lists(texts, min_size=1, max_size=3).map(tuple),
    started=texts,
    finished=texts,
    started_monotonic=texts,
    finished_monotonic=texts,
    packets=counts,
    bytes=counts,
    method=st.sampled_from(["native", "tcpdump", "dumpcap", "pktmon"]),
    snaplen=st.integers(1, 262144),
    ended=st.sampled_from(["duration", "cancelled", "max_bytes", "error"]),
    filter=opt,
    dropped=st.none() | counts,
    tool_path=opt,
    tool_version=opt,
    tool_sha256=opt,
    compiler=opt,
)


def artifact(capture: CaptureFacts | None) -> ArtifactCollected:
    return ArtifactCollected(
        run_id="r",
        collector="capture",
        kind="capture",
        member=MemberRef(
            name="capture/packets.pcapng", name_b64=None, header_offset=0, data_offset=1024, size=9
        ),
        digests=Digests("a" * 64, "b" * 40, "c" * 32),
        description="packet capture",
        capture=capture,
    )


@settings(max_examples=100, deadline=None)
@given(st.none() | facts)
def test_capture_facts_round_trip_through_json(capture: CaptureFacts | None) -> None:
    a = artifact(capture)
    payload = json.loads(json.dumps(a.payload()))
    assert ("capture" in payload) == (capture is not None)
    back = parse_payload(a.EVENT, payload)
    assert back == a and not back.extra


def test_capture_facts_missing_a_field_are_malformed() -> None:
    a = artifact(
        CaptureFacts(
            interfaces=("lo",),
            started="2026-01-01T00:00:00.000000Z",
            finished="2026-01-01T00:00:05.000000Z",
            started_monotonic="10.000000000",
            finished_monotonic="15.000000000",
            packets=3,
            bytes=180,
            method="native",
            snaplen=262144,
            ended="duration",
            dropped=0,
        )
    )
    payload = a.payload()
    del payload["capture"]["packets"]
    with pytest.raises(MalformedEvent, match=r"capture\.packets"):
        parse_payload(a.EVENT, payload)
