"""CASE/UCO JSON-LD from the fold of a ledger: valid by case_validate, hashes on
ContentDataFacet, non-empty records, every fact from the typed events."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from custody.record.digests import Digests
from custody.record.entry import GENESIS_HASH, Entry, make_entry
from custody.record.events import (
    ArtifactCollected,
    CaseFields,
    CaseOpened,
    Event,
    IdentityAdded,
    MemberRef,
    RunFinished,
    RunStarted,
    SourceFacts,
    parse,
)
from custody.record.fold import CaseState, fold
from custody.report.caseuco import (
    SHAPES_OFF,
    ArchiveCopy,
    build_case_uco,
    case_uco_chunks,
    case_uco_files,
    case_uco_nodes,
    check_case_uco,
    inventory_file,
    inventory_graphs,
    is_datetime,
    is_hex,
)

CASE_ID = "6f1c2a4e-8d1b-4b4e-9a31-2f4c6d7e8f90"
RUN_ID = "11111111-2222-3333-4444-555555555555"
RUN2 = "22222222-2222-3333-4444-555555555555"
FP = "ab" * 32


def ledger(n_artifacts: int = 2) -> list[Entry]:
    """A small ledger: a case, an examiner, a run with artifacts, a run without."""
    events: list[Event] = [
        CaseOpened(
            case_id=CASE_ID,
            fields=CaseFields(title="Stolen laptop", status="reported", incident_ref="INC-1"),
            created_at="2024-01-01T00:00:00.000000Z",
        ),
        IdentityAdded(fingerprint=FP, name="Alice Examiner", certificate_pem="PEM"),
        RunStarted(
            run_id=RUN_ID,
            host="host1",
            profile="none",
            archive=f"evidence/{RUN_ID}.tar",
            examiner=FP,
        ),
    ]
    for i in range(n_artifacts):
        events.append(
            ArtifactCollected(
                run_id=RUN_ID,
                collector="files",
                kind="file",
                member=MemberRef(
                    name=f"files/home/u/file {i}.txt",
                    header_offset=1024 * i,
                    data_offset=1024 * i + 512,
                    size=i,
                ),
                digests=Digests("a" * 64, "b" * 40, "e" * 32),
                source=SourceFacts(path=f"/home/u/file {i}.txt"),
            )
        )
    events += [
        RunFinished(run_id=RUN_ID, status="finished", archive=f"evidence/{RUN_ID}.tar"),
        RunStarted(run_id=RUN2, host="", profile="none", archive=f"evidence/{RUN2}.tar"),
        RunFinished(run_id=RUN2, status="finished", archive=f"evidence/{RUN2}.tar"),
    ]
    entries: list[Entry] = []
    prev = GENESIS_HASH
    for seq, ev in enumerate(events, 1):
        e = make_entry(
            CASE_ID, seq, f"2024-01-01T00:00:{seq:02d}.000000Z", FP, ev.EVENT, ev.payload(), prev
        )
        entries.append(e)
        prev = e.entry_hash
    return entries


ARCHIVES = {RUN_ID: ArchiveCopy(10240, "c" * 64), RUN2: ArchiveCopy(1024, "d" * 64)}


def graph(entries: list[Entry]) -> dict[str, Any]:
    state: CaseState = fold(entries)
    arts = [(e.seq, ev) for e in entries if isinstance(ev := parse(e), ArtifactCollected)]
    return build_case_uco(state, arts, ARCHIVES, "0.1.0")


def _validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the real case_validate (case-utils) with ``args``."""
    exe = Path(sys.executable).with_name("case_validate")
    if not exe.exists():
        found = shutil.which("case_validate")
        if found is None:
            pytest.fail("case_validate (case-utils) is not installed")
        exe = Path(found)
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)


def test_case_validate_conforms(tmp_path: Path) -> None:
    path = tmp_path / "case.jsonld"
    path.write_bytes(b"".join(case_uco_chunks(graph(ledger())["@graph"])))
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Conforms: True" in result.stdout


def test_validator_is_really_checking(tmp_path: Path) -> None:
    """A wrong datatype makes case_validate fail: the test above is not vacuous."""
    doc = graph(ledger())
    facet = next(n for n in doc["@graph"] if n["@type"] == "uco-observable:File")[
        "uco-core:hasFacet"
    ][0]
    facet["uco-observable:sizeInBytes"] = "big"
    path = tmp_path / "bad.jsonld"
    path.write_text(json.dumps(doc))
    result = _validate(path)
    assert result.returncode != 0
    assert "Conforms: False" in result.stdout


def test_facts_come_from_the_ledger() -> None:
    doc = graph(ledger(artifacts := 3))
    assert check_case_uco(doc) == []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for node in doc["@graph"]:
        by_type.setdefault(node["@type"], []).append(node)
    (inv,) = by_type["case-investigation:Investigation"]
    assert inv["uco-core:name"] == "Stolen laptop"
    assert inv["case-investigation:investigationStatus"] == "reported"
    assert inv["uco-core:description"] == "incident reference INC-1"
    records = by_type["case-investigation:ProvenanceRecord"]
    assert len(records) == 2 and all(r["uco-core:object"] for r in records)
    actions = by_type["case-investigation:InvestigativeAction"]
    assert actions[0]["uco-action:performer"] == {"@id": by_type["uco-identity:Person"][0]["@id"]}
    assert actions[0]["uco-action:instrument"] == {"@id": by_type["uco-tool:Tool"][0]["@id"]}
    assert "host host1" in actions[0]["uco-core:description"]
    assert "host unknown" in actions[1]["uco-core:description"]
    assert by_type["uco-tool:Tool"][0]["uco-tool:version"] == "0.1.0"
    files = by_type["uco-observable:File"]
    assert len(files) == artifacts + 2  # every artifact and each run's archive
    paths = set()
    for f in files:
        facets = {x["@type"]: x for x in f["uco-core:hasFacet"]}
        assert "uco-observable:hash" not in facets["uco-observable:FileFacet"]
        paths.add(facets["uco-observable:FileFacet"]["uco-observable:filePath"])
        for h in facets["uco-observable:ContentDataFacet"]["uco-observable:hash"]:
            assert h["uco-types:hashMethod"] in ("SHA256", "SHA1", "MD5")
            assert h["uco-types:hashValue"]["@type"] == "xsd:hexBinary"
    assert {f"/home/u/file {i}.txt" for i in range(artifacts)} <= paths
    contained = [
        r
        for r in by_type["uco-core:Relationship"]
        if r["uco-core:kindOfRelationship"] == "Contained_Within"
    ]
    assert len(contained) == artifacts
    ids = [n["@id"] for n in doc["@graph"]]
    assert len(ids) == len(set(ids))


def test_nodes_stay_small_and_come_one_by_one() -> None:
    """No node grows with the case: records name the archive, artifacts link to it."""
    entries = ledger(200)
    state = fold(entries)
    arts = ((e.seq, ev) for e in entries if isinstance(ev := parse(e), ArtifactCollected))
    sizes = [len(json.dumps(n)) for n in case_uco_nodes(state, arts, ARCHIVES, "0.1.0")]
    assert max(sizes) < 3000


def test_deterministic_ids() -> None:
    assert graph(ledger()) == graph(ledger())


def test_checker_catches_what_the_validator_does_not() -> None:
    doc = graph(ledger())
    for node in doc["@graph"]:
        if node["@type"] == "case-investigation:ProvenanceRecord":
            node["uco-core:object"] = []
        if node["@type"] == "uco-observable:File":
            file_facet, content = node["uco-core:hasFacet"]
            file_facet["uco-observable:hash"] = content.pop("uco-observable:hash")
    problems = check_case_uco(doc)
    assert any("ProvenanceRecord without" in p for p in problems)
    assert any("hash on uco-observable:FileFacet" in p for p in problems)


HOSTILE = (
    "x\x00\x07\x1b[31m\x7f\x85\t\n\r\n\u200b\u200d\u200f\u202e\u2028\ufeff e\u0301 "
    "\u05e9\u05dc\u05d5\u05dd \u0627\u0644\u0639 \U0001f468\u200d\U0001f469 \\xff <&>\"'"
)


def hostile_ledger() -> list[Entry]:
    """Every text of the graph hostile (10 KB paths, 100k characters), a run end time that is
    not a time and digests that are not hexadecimal."""
    events: list[Event] = [
        CaseOpened(
            case_id=CASE_ID,
            fields=CaseFields(
                title=HOSTILE * 10,
                status=HOSTILE,
                incident_ref=HOSTILE,
                description=HOSTILE * 1000,
            ),
            created_at="2024-01-01T00:00:00.000000Z",
        ),
        IdentityAdded(fingerprint=FP, name=HOSTILE, certificate_pem="PEM"),
        RunStarted(
            run_id=RUN_ID,
            host=HOSTILE * 100,
            profile=HOSTILE,
            archive=f"evidence/{RUN_ID}.tar",
            examiner=FP,
        ),
        ArtifactCollected(
            run_id=RUN_ID,
            collector=HOSTILE,
            kind=HOSTILE,
            member=MemberRef(name="files/" + HOSTILE, header_offset=0, data_offset=512, size=1),
            digests=Digests("a" * 64, "not hex", "abc"),
            source=SourceFacts(path=("/" + HOSTILE) * 100, path_b64="/w=="),
        ),
        RunFinished(
            run_id=RUN_ID,
            status=HOSTILE,
            archive=f"evidence/{RUN_ID}.tar",
            finished_at="yesterday " + HOSTILE,
        ),
    ]
    entries: list[Entry] = []
    prev = GENESIS_HASH
    for seq, ev in enumerate(events, 1):
        e = make_entry(
            CASE_ID, seq, f"2024-01-01T00:00:{seq:02d}.000000Z", FP, ev.EVENT, ev.payload(), prev
        )
        entries.append(e)
        prev = e.entry_hash
    return entries


def test_any_ledger_text_conforms(tmp_path: Path) -> None:
    doc = graph(hostile_ledger())
    assert check_case_uco(doc) == []
    path = tmp_path / "hostile.jsonld"
    path.write_bytes(b"".join(case_uco_chunks(doc["@graph"])))
    assert json.loads(path.read_bytes()) == json.loads(json.dumps(doc))
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Conforms: True" in result.stdout
    nodes = {n["@type"]: n for n in doc["@graph"]}
    assert nodes["case-investigation:Investigation"]["uco-core:name"] == HOSTILE * 10
    action = nodes["case-investigation:InvestigativeAction"]
    assert "uco-action:endTime" not in action and "uco-action:startTime" in action
    assert (
        "the recorded end time is not a date and time: yesterday" in action["uco-core:description"]
    )
    artifact = next(
        n
        for n in doc["@graph"]
        if n["@type"] == "uco-observable:File" and "archive member" in n["uco-core:description"]
    )
    (content,) = [
        f for f in artifact["uco-core:hasFacet"] if f["@type"] == "uco-observable:ContentDataFacet"
    ]
    assert [h["uco-types:hashMethod"] for h in content["uco-observable:hash"]] == ["SHA256"]
    assert "the recorded SHA1 value is not hexadecimal: not hex" in artifact["uco-core:description"]
    assert "the recorded MD5 value is not hexadecimal: abc" in artifact["uco-core:description"]


def test_valid_times_and_hashes() -> None:
    assert is_datetime("2024-01-01T00:00:00.000000Z")
    assert is_datetime("2024-01-01T00:00:00+02:00")
    for bad in ("2024-01-01 00:00:00Z", "20240101T000000Z", "2024-01-01T24:00:00Z", "", "x"):
        assert not is_datetime(bad), bad
    assert is_hex("ab" * 32) and not is_hex("abc") and not is_hex("") and not is_hex("AB")


# --------------------------------------------------------------------------- the split files


def test_files_come_from_one_pass_in_flat_memory() -> None:
    """case_uco_files reads a stream of artifacts once; memory stays flat as the case grows
    (at most one file's artifact ids are held)."""

    def peak(n: int) -> tuple[int, list[str], int]:
        entries = ledger(n)
        state = fold(entries)
        reads = 0

        def stream() -> Any:
            nonlocal reads
            reads += 1
            for e in entries:
                if isinstance(ev := parse(e), ArtifactCollected):
                    yield e.seq, ev

        names = []
        tracemalloc.start()
        try:
            files = case_uco_files(state, stream(), ARCHIVES, "0.1.0", chunk=500)
            for name, pieces in files:
                names.append(name)
                for _piece in pieces:
                    pass
            _size, top = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return top, names, reads

    small, names, reads = peak(1_000)
    assert names == ["case.jsonld", inventory_file(1), inventory_file(2), SHAPES_OFF]
    assert reads == 1
    large, names, _ = peak(4_000)
    assert names[-2:] == [inventory_file(8), SHAPES_OFF]
    assert large < small * 1.3, (small, large)


def test_inventory_nodes_stay_small() -> None:
    """An artifact is one node of four parts whatever the case; a run's record in a file
    lists at most that file's artifacts."""
    entries = ledger(200)
    arts = ((e.seq, ev) for e in entries if isinstance(ev := parse(e), ArtifactCollected))
    for _name, nodes in inventory_graphs(fold(entries), arts, "0.1.0", chunk=50):
        sizes = [(n["@type"], len(json.dumps(n))) for n in nodes]
        assert max(s for t, s in sizes if t == "uco-observable:File") < 1500
        assert max(s for _t, s in sizes) < 50 * 60 + 1000
