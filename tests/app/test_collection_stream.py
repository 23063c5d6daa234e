"""A run records a collector's observations as it yields them: past the look-ahead, nothing
holds every file found; each path is taken once a run, for the first rule that names it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import app.collection
from app.cases import CaseHandle
from app.collection import CollectionRun, ProgressEvent
from app.verification import verify_case
from collectors.base import REGISTRY, CollectContext, Collector, Volatility
from collectors.profiles import Profile
from custody.db.ledger import read_entries
from custody.observations import FileTarget, Observation, Problem, VolatileRecord
from custody.record.events import ArtifactCollected, CollectionProblem, parse
from custody.record.keys import Identity
from tests.app.conftest import make_tree

FILES = 1200


class _Mixed(Collector):
    """Yields files, with a problem and a volatile record among them, and counts its yields."""

    name = "mixed_for_test"
    volatility = Volatility.FILES
    description = "files, a problem and a record, interleaved"
    paths: tuple[bytes, ...] = ()
    yielded = 0

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        for i, path in enumerate(self.paths):
            if i == 7:
                yield Problem("error", "cannot read: a test problem", b"/nowhere/7")
            if i == 11:
                yield VolatileRecord("volatile/mixed.txt", b"a record among files\n", "mixed")
            type(self).yielded += 1
            yield FileTarget(path, "mixed")
        yield FileTarget(self.paths[3], "mixed again")  # taken already: not taken twice


@pytest.fixture
def mixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[_Mixed]:
    root = make_tree(
        tmp_path / "src", {f"d{i // 100}/f{i:05}": b"x" * (i % 50) for i in range(FILES)}
    )
    paths = tuple(sorted(os.fsencode(p) for p in root.rglob("f*")))
    monkeypatch.setattr(_Mixed, "paths", paths)
    monkeypatch.setattr(_Mixed, "yielded", 0)
    monkeypatch.setitem(REGISTRY, _Mixed.name, _Mixed)
    return _Mixed


def _events(case: CaseHandle) -> list[object]:
    return [parse(e) for e in read_entries(case.sessions, case.case_id)]


def test_past_the_look_ahead_files_are_recorded_while_the_collector_still_yields(
    make_case, alice: Identity, mixed: type[_Mixed], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.collection, "LOOKAHEAD", 10)
    progress: list[ProgressEvent] = []
    yielded_at_first_item: list[int] = []

    def seen(event: ProgressEvent) -> None:
        progress.append(event)
        if event.kind == "item" and event.done == 1:
            yielded_at_first_item.append(mixed.yielded)

    case: CaseHandle = make_case()
    profile = Profile("mixed", "test", {mixed.name: {}})
    result = CollectionRun(case, alice, profile, progress=seen).execute()

    assert result.status == "finished"
    assert result.artifacts == FILES + 1 and result.errors == 1
    # Recording began with most of the files still to be found: the capture reads a batch
    # of at most 2 x 256 files ahead, the run 10 observations.
    assert yielded_at_first_item and yielded_at_first_item[0] < 600
    counted = [e for e in progress if e.kind == "item" and e.done]
    assert [e.done for e in counted] == list(range(1, FILES + 2))
    assert {e.total for e in counted} == {None}  # not known while the collector yields
    end = next(e for e in progress if e.kind == "collector_end")
    assert (end.done, end.total, end.message) == (FILES + 1, FILES + 1, "done")

    events = _events(case)
    artifacts = [e for e in events if isinstance(e, ArtifactCollected)]
    sources = [a.source.path for a in artifacts if a.source]
    assert sources == [os.fsdecode(p) for p in mixed.paths]  # in order, each once
    assert [a.kind for a in artifacts].count("volatile") == 1
    problems = [e for e in events if isinstance(e, CollectionProblem)]
    assert [(p.kind, p.path) for p in problems] == [("error", "/nowhere/7")]
    assert verify_case(case).ok


def test_within_the_look_ahead_progress_knows_the_total(
    make_case, alice: Identity, mixed: type[_Mixed]
) -> None:
    progress: list[ProgressEvent] = []
    case: CaseHandle = make_case()
    profile = Profile("mixed", "test", {mixed.name: {}})
    result = CollectionRun(case, alice, profile, progress=progress.append).execute()

    assert result.status == "finished" and result.artifacts == FILES + 1
    counted = [e for e in progress if e.kind == "item" and e.done]
    assert {e.total for e in counted} == {FILES + 1}
    assert counted[-1].done == FILES + 1
    events = _events(case)
    sources = [e.source.path for e in events if isinstance(e, ArtifactCollected) and e.source]
    assert sources == [os.fsdecode(p) for p in mixed.paths]


def test_each_path_is_taken_once_for_the_first_rule_that_names_it(
    make_case, alice: Identity, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "src", {"d/a": b"a", "d/b": b"b"})
    rules = [f"{root}/d/a", f"{root}/d/*", f"{root}/d/**"]
    case: CaseHandle = make_case()
    profile = Profile("overlap", "test", {"files": {"targets": rules}})
    result = CollectionRun(case, alice, profile).execute()

    assert result.status == "finished"
    events = _events(case)
    taken = [
        (e.source.path, e.source.rule)
        for e in events
        if isinstance(e, ArtifactCollected) and e.source
    ]
    assert taken == [(f"{root}/d/a", rules[0]), (f"{root}/d/b", rules[1])]
    assert [e for e in events if isinstance(e, CollectionProblem)] == []  # no "no match"
