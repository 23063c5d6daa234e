"""The export writes its bundle in one pass over the ledger: every per-entry and
per-artifact file as the entries come, then the archives and the documents of the whole
case. The CASE/UCO inventory files it pushes are the files ``verify BUNDLE`` rebuilds;
a ledger whose first artifact comes before its case_opened entry (their node ids derive
from the case's id) has them written in a pass of their own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from custody.bundle.facts import artifacts
from custody.bundle.writer import write_bundle
from custody.record.entry import Entry
from custody.record.events import Event, IdentityAdded
from custody.record.fold import fold
from custody.record.keys import Identity
from custody.report.caseuco import case_uco_files
from custody.store.storage import LocalEvidenceStore
from custody.verify.findings import Report
from tests.custody.report.synthetic_case import ARCHIVES, artifact, chain, events


def _ledger(alice: Identity, n: int, *, opened_late: bool) -> list[Entry]:
    """The synthetic case with ``n`` artifacts and Alice as an examiner; ``opened_late``:
    its case_opened entry after the first run's artifacts."""
    evs: list[Event] = list(events(0))
    evs.insert(
        2,
        IdentityAdded(
            fingerprint=alice.fingerprint, name=alice.name, certificate_pem=alice.certificate_pem()
        ),
    )
    items: list[Event] = [artifact(i, link_every=4) for i in range(n)]
    opened, head, tail = evs[0], evs[1:4], evs[4:]
    if opened_late:
        return chain([*head, *items, opened, *tail])
    return chain([opened, *head, *items, *tail])


@pytest.mark.parametrize("opened_late", [False, True])
def test_inventory_files_are_the_rebuilt_ones_in_one_pass(
    report_module: None, alice: Identity, tmp_path: Path, opened_late: bool
) -> None:
    entries = _ledger(alice, 12, opened_late=opened_late)
    passes = 0

    def read() -> Iterator[Entry]:
        nonlocal passes
        passes += 1
        yield from entries

    failed = Report("synthetic")
    failed.add("test.forced", "evidence", "the archives are not there")
    out = tmp_path / "bundle"
    write_bundle(
        out,
        entries=read,
        evidence=LocalEvidenceStore(tmp_path / "no-evidence"),
        verification=failed,
        identity=alice,
        bundle_id="b-1",
        generated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        tool_version="0.1.0",
        forced=True,
        entry_count=len(entries),
    )
    assert passes == (2 if opened_late else 1)
    expected = case_uco_files(fold(entries), artifacts(entries), ARCHIVES, "0.1.0")
    inventory = [(name, b"".join(pieces)) for name, pieces in expected][1:-1]
    assert [name for name, _b in inventory] == ["case-inventory-0001.jsonld"]
    for name, data in inventory:
        assert (out / name).read_bytes() == data
