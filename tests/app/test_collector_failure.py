"""A collector's own bug does not lose the run: what it found before it failed is collected,
and the failure is recorded as an error with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cases import CaseHandle
from app.collection import CollectionRun
from collectors.base import REGISTRY, CollectContext, Collector, Volatility
from collectors.profiles import Profile
from custody.db.ledger import read_entries
from custody.observations import FileTarget, Observation
from custody.record.events import ArtifactCollected, CollectionProblem, parse
from custody.record.keys import Identity


class _Faulty(Collector):
    name = "faulty_for_test"
    volatility = Volatility.FILES
    description = "yields one file, then fails"
    target: bytes = b""

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        yield FileTarget(self.target, "test")
        raise RuntimeError("a bug in the collector")


@pytest.fixture
def faulty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[_Faulty]:
    found = tmp_path / "found.txt"
    found.write_bytes(b"found before the fault\n")
    monkeypatch.setattr(_Faulty, "target", bytes(found))
    monkeypatch.setitem(REGISTRY, _Faulty.name, _Faulty)
    return _Faulty


def test_what_a_failing_collector_found_is_kept_and_its_failure_recorded(
    make_case, alice: Identity, faulty: type[_Faulty]
) -> None:
    case: CaseHandle = make_case()
    profile = Profile("faulty", "test", {faulty.name: {}})
    result = CollectionRun(case, alice, profile).execute()
    assert result.status == "finished"
    events = [parse(e) for e in read_entries(case.sessions, case.case_id)]
    artifacts = [e for e in events if isinstance(e, ArtifactCollected)]
    problems = [e for e in events if isinstance(e, CollectionProblem)]
    assert [a.source.path for a in artifacts if a.source] == [faulty.target.decode()]
    assert [(p.kind, p.reason) for p in problems] == [
        ("error", "collector faulty_for_test failed: RuntimeError: a bug in the collector")
    ]
