"""Typed ledger events: one writer and one parser per kind, every stored version read."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.errors import MalformedEvent
from custody.record.digests import Digests
from custody.record.entry import Entry
from custody.record.events import (
    BULK_EVENTS,
    REGISTRY,
    SIGNED_EVENTS,
    ArtifactCollected,
    CommandFacts,
    Event,
    MemberRef,
    Note,
    SourceFacts,
    ledger_event,
    parse,
    parse_payload,
)

LEGACY = Path(__file__).parents[2] / "fixtures" / "legacy-v1" / "case" / "case.db"


def legacy_entries() -> list[Entry]:
    db = sqlite3.connect(LEGACY)
    rows = db.execute(
        "SELECT case_id, seq, at, actor, event, payload, prev_hash, entry_hash"
        " FROM ledger_entries ORDER BY seq"
    ).fetchall()
    return [Entry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows]


def test_every_kind_is_declared_once_signed_or_bulk() -> None:
    assert set(REGISTRY) == SIGNED_EVENTS | BULK_EVENTS
    assert {"artifact_collected", "collection_error"} == BULK_EVENTS
    for name, cls in REGISTRY.items():
        assert name == cls.EVENT and cls.VERSION >= 1
    with pytest.raises(ValueError, match="declared twice"):
        ledger_event("note")(type("Again", (Note,), {}))


def test_format_1_ledger_parses_and_unchanged_kinds_write_the_same_bytes() -> None:
    entries = legacy_entries()
    assert len(entries) == 28
    kinds = set()
    for e in entries:
        event = parse(e)
        kinds.add(e.event)
        assert not event.extra, (e.seq, event.extra)
        if event.VERSION == 1:
            assert event.payload() == e.payload, e.seq
    assert {"artifact_collected", "collection_error", "run_finished", "transferred"} <= kinds


def test_format_1_artifacts_read_into_the_current_shape() -> None:
    arts = [parse(e) for e in legacy_entries() if e.event == "artifact_collected"]
    assert all(isinstance(a, ArtifactCollected) for a in arts)
    files = [a for a in arts if isinstance(a, ArtifactCollected) and a.source is not None]
    volatile = [a for a in arts if isinstance(a, ArtifactCollected) and a.kind == "volatile"]
    assert volatile and all(a.source is None and a.member.header_sha256 is None for a in volatile)
    link = next(a for a in files if a.kind == "symlink")
    assert link.source is not None and link.source.symlink_target == "../a.txt"
    tagged = next(a for a in files if a.member.name.endswith("tagged.txt"))
    assert tagged.source is not None and tagged.source.xattrs == {"user.comment": "Zml4dHVyZQ=="}
    odd = next(a for a in files if "caf" in a.member.name)
    assert odd.member.name_b64 is not None and odd.source is not None and odd.source.path_b64
    # Upgraded, a format 1 artifact writes the current (nested) format.
    again = parse_payload("artifact_collected", odd.payload())
    assert again == odd and odd.payload()["v"] == ArtifactCollected.VERSION


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
opt_text = st.none() | names
ints = st.integers(0, 2**40)
ns = st.integers(-(10**12), 10**12).map(lambda n: f"{n}.{abs(n) % 10**9:09d}")


@st.composite
def artifacts(draw: Any) -> ArtifactCollected:
    source = draw(
        st.none()
        | st.builds(
            SourceFacts,
            path=names,
            path_b64=st.none() | st.just("AAEC"),
            rule=opt_text,
            mode=st.none() | st.integers(0, 0o7777),
            uid=st.none() | ints,
            gid=st.none() | ints,
            uname=opt_text,
            gname=opt_text,
            mtime=st.none() | ns,
            atime=st.none() | ns,
            ctime=st.none() | ns,
            birthtime=st.none() | ns,
            symlink_target=opt_text,
            xattrs=st.dictionaries(names, st.just("eA=="), max_size=3),
            inode=st.none() | st.integers(0, 2**64 - 1).map(str),
            device=st.none() | st.integers(0, 2**64 - 1).map(str),
        )
    )
    command = draw(
        st.none()
        | st.builds(
            CommandFacts,
            argv=st.lists(names, min_size=1, max_size=3).map(tuple),
            exit_code=st.none() | st.integers(-9, 255),
            started=st.none() | ns,
            finished=st.none() | ns,
        )
    )
    offset = draw(ints)
    return ArtifactCollected(
        run_id=draw(names),
        collector=draw(names),
        kind=draw(st.sampled_from(["file", "symlink", "volatile", "command"])),
        member=MemberRef(
            name=draw(names),
            name_b64=draw(st.none() | st.just("/w==")),
            header_offset=offset,
            data_offset=offset + 1536,
            size=draw(ints),
            header_sha256=draw(st.none() | st.just("ab" * 32)),
            mtime=draw(st.none() | ns),
            mode=draw(st.none() | st.just(0o444)),
        ),
        digests=Digests("a" * 64, "b" * 40, "c" * 32),
        source=source,
        command=command,
        description=draw(opt_text),
        changed=draw(opt_text),
        note=draw(opt_text),
    )


@settings(max_examples=200, deadline=None)
@given(artifacts())
def test_artifact_payload_round_trips_through_json(a: ArtifactCollected) -> None:
    payload = json.loads(json.dumps(a.payload()))
    assert parse_payload(a.EVENT, payload) == a


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted(REGISTRY)),
    payload=st.dictionaries(
        st.sampled_from(["run_id", "member", "digests", "source", "v", "case", "text", "kind"]),
        json_values,
        max_size=6,
    ),
)
def test_any_payload_parses_or_raises_malformed_event_only(kind: str, payload: dict) -> None:
    try:
        event = parse_payload(kind, payload, seq=7)
    except MalformedEvent as exc:
        assert exc.seq == 7 and "entry 7" in str(exc)
    else:
        assert isinstance(event, Event)


def test_malformed_payload_names_entry_event_and_field() -> None:
    with pytest.raises(MalformedEvent, match=r"entry 9: artifact_collected .* 'member.size'"):
        parse_payload(
            "artifact_collected",
            {
                "v": 2,
                "run_id": "r",
                "collector": "files",
                "kind": "file",
                "member": {"name": "x", "header_offset": 0, "data_offset": 512, "size": "12"},
                "digests": {"sha256": "a", "sha1": "b", "md5": "c"},
            },
            seq=9,
        )
    with pytest.raises(MalformedEvent, match="unknown event 'planted'"):
        parse_payload("planted", {})


def test_fields_of_a_newer_writer_are_kept() -> None:
    note = parse_payload("note", {"kind": "note", "text": "hello", "mood": "calm"})
    assert isinstance(note, Note) and note.extra == {"mood": "calm"}
    assert note.payload() == {"kind": "note", "text": "hello", "mood": "calm"}


def _field_by_field(payload: dict[str, Any]) -> ArtifactCollected | str:
    """What the general reader gives (an event, or its error's text): the reference."""
    try:
        return super(ArtifactCollected, ArtifactCollected).from_payload(payload, seq=7)
    except MalformedEvent as exc:
        return f"{exc} [{exc.field}]"


def _as_parsed(payload: dict[str, Any]) -> ArtifactCollected | str:
    try:
        return ArtifactCollected.from_payload(payload, seq=7)
    except MalformedEvent as exc:
        return f"{exc} [{exc.field}]"


_PLACES = ("", "member", "digests", "source")
_KEYS = (
    "v", "run_id", "collector", "kind", "member", "digests", "source", "command", "capture",
    "note", "name", "size", "header_offset", "mode", "uid", "sha1", "path", "xattrs",
    "inode", "unknown",
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    a=artifacts(),
    edits=st.lists(
        st.tuples(st.sampled_from(_PLACES), st.sampled_from(_KEYS), st.none() | json_values),
        max_size=3,
    ),
    drop=st.lists(st.tuples(st.sampled_from(_PLACES), st.sampled_from(_KEYS)), max_size=2),
)
def test_artifact_payloads_read_as_the_field_by_field_reader_reads_them(
    a: ArtifactCollected,
    edits: list[tuple[str, str, Any]],
    drop: list[tuple[str, str]],
) -> None:
    """The quick reader of well-formed artifact payloads gives the same event, extra fields
    and nested types as the general reader, and leaves every other payload to it (same
    error, same field), whatever is changed, removed, set to null or added."""
    payload = json.loads(json.dumps(a.payload()))
    for place, key, value in edits:
        target = payload.get(place) if place else payload
        if isinstance(target, dict):
            target[key] = value
    for place, key in drop:
        target = payload.get(place) if place else payload
        if isinstance(target, dict):
            target.pop(key, None)
    want, got = _field_by_field(payload), _as_parsed(payload)
    assert got == want
    if isinstance(want, ArtifactCollected):
        assert isinstance(got, ArtifactCollected)
        assert got.extra == want.extra
        assert type(got.member) is MemberRef and type(got.digests) is Digests
        if want.source is not None:
            assert got.source is not None and got.source.xattrs == want.source.xattrs
            assert type(got.source.xattrs) is dict


def test_artifact_payloads_in_any_key_order_keep_memory_flat() -> None:
    """Every order of keys reads alike; the orders remembered stay bounded."""
    from custody.record import events

    base: dict[str, Any] = {
        "v": 2,
        "run_id": "r",
        "collector": "files",
        "kind": "file",
        "member": {"name": "x", "header_offset": 0, "data_offset": 512, "size": 12},
        "digests": {"sha256": "a", "sha1": "b", "md5": "c"},
        "source": {"path": "/x", "mode": 0o644, "uid": 0, "gid": 0, "inode": "1"},
    }
    want = _field_by_field(base)
    assert events._artifact_exact(base) == want  # the quick reader takes it
    keys = list(base)
    for n in range(400):
        order = keys[n % len(keys) :] + keys[: n % len(keys)]
        extra = {f"x{n}": n} if n % 2 else {}
        payload = {k: base[k] for k in order} | extra
        got = _as_parsed(payload)
        assert got == want and isinstance(got, ArtifactCollected) and got.extra == extra
    assert len(events._ARTIFACT._known) <= events._Shape._KEPT
