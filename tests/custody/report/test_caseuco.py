"""CASE/UCO JSON-LD from the fold of a ledger: valid by case_validate, hashes on
ContentDataFacet, non-empty records, every fact from the typed events; an inventory
artifact in three nodes, each kind as what it is, and the bundles of the four-node layout
still checked. The ledgers are tests/custody/report/synthetic_case.py's (bench_caseuco.py
builds on it too)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tracemalloc
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from hypothesis import given, settings

from custody.bundle.facts import artifacts, read_facts
from custody.bundle.uco_check import check_case_uco as check_bundle_uco
from custody.record.digests import Digests
from custody.record.entry import Entry
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
    CASE_UCO,
    SHAPES_OFF,
    SHAPES_OFF_TEXT,
    SHAPES_OFF_TEXT_4,
    Ids,
    InventoryFiles,
    _dump,
    _Graph,
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
from custody.verify.findings import Report
from tests.custody.artifact_strategy import artifact_events
from tests.custody.report.synthetic_case import (
    ARCHIVES,
    CASE_ID,
    FP,
    RUN2,
    RUN_ID,
    artifact,
    chain,
    events,
    ledger,
)
from tests.custody.report.synthetic_case import case_validate as _validate

__all__ = ["ARCHIVES", "_validate", "ledger"]  # the bundle tests build on these too


def graph(entries: list[Entry]) -> dict[str, Any]:
    state: CaseState = fold(entries)
    arts = [(e.seq, ev) for e in entries if isinstance(ev := parse(e), ArtifactCollected)]
    return build_case_uco(state, arts, ARCHIVES, "0.1.0")


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
    assert {f"/home/u/d0000/file {i}.txt" for i in range(artifacts)} <= paths
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


def test_ids_are_uuid5_of_the_case() -> None:
    """A node id ends in uuid5(case namespace, "kind:key"), for a UUID case id or another."""
    for case_id in (CASE_ID, "not a uuid", ""):
        ids = Ids(case_id)
        for n in range(300):
            key = f"artifact:{n}:files/x {n}"
            assert ids("file", key) == f"kb:file-{uuid.uuid5(ids.ns, f'file:{key}')}"
            key += "\udcff"  # a name that was not UTF-8: its surrogate as is
            raw = f"file:{key}".encode("utf-8", "surrogatepass")
            digest = bytearray(hashlib.sha1(ids.ns.bytes + raw).digest()[:16])
            digest[6] = (digest[6] & 0x0F) | 0x50
            digest[8] = (digest[8] & 0x3F) | 0x80
            assert ids("file", key) == f"kb:file-{uuid.UUID(bytes=bytes(digest))}"


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
    return chain(events)


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


class _Sink:
    """A file that :class:`InventoryFiles` writes: its bytes, and whether it was closed."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.data += data

    def close(self) -> None:
        self.closed = True


def test_pushed_inventory_files_are_the_pulled_ones_byte_for_byte() -> None:
    """The export's pass pushes each artifact into InventoryFiles: its files are exactly
    inventory_graphs' through case_uco_chunks (what verify BUNDLE rebuilds), with two runs'
    artifacts interleaved, links, directories, hostile text and a digest that is not hex,
    at every file boundary."""
    evs: list[Event] = list(events(0))
    evs.insert(5, evs.pop(3))  # run 2 starts before run 1 finishes
    items = [artifact(i, link_every=4) for i in range(23)]
    items[7] = dataclasses.replace(
        items[7],
        member=dataclasses.replace(items[7].member, name=f"files/{HOSTILE}"),
        source=SourceFacts(path=HOSTILE * 3),
    )
    items[9] = dataclasses.replace(items[9], digests=Digests("XYZ", "0" * 40, "0" * 32))
    items[12::3] = [dataclasses.replace(a, run_id=RUN2) for a in items[12::3]]
    entries = chain([*evs[:4], *items, *evs[4:]])
    state = fold(entries)
    for chunk in (1, 5, 7, 23, 5000):
        pulled = {
            name: b"".join(case_uco_chunks(nodes))
            for name, nodes in inventory_graphs(state, artifacts(entries), "0.1.0", chunk=chunk)
        }
        sinks: defaultdict[str, _Sink] = defaultdict(_Sink)
        pushed = InventoryFiles(state.case_id, sinks.__getitem__, chunk=chunk)
        for _seq, a in artifacts(entries):
            pushed.add(a)
        pushed.close()
        assert pushed.names == list(pulled) == list(sinks)
        assert all(s.closed for s in sinks.values())
        assert {n: bytes(s.data) for n, s in sinks.items()} == pulled, chunk


# --------------------------------------------------------------------------- one artifact, three nodes


def _files(root: Path, entries: list[Entry], chunk: int) -> list[str]:
    """Write the bundle's CASE/UCO files of ``entries`` into ``root``; their names."""
    names = []
    for name, pieces in case_uco_files(
        fold(entries), artifacts(entries), ARCHIVES, "0.1.0", chunk=chunk
    ):
        (root / name).write_bytes(b"".join(pieces))
        names.append(name)
    return names


def test_each_kind_is_what_it_is() -> None:
    """A file: one facet, FileFacet and ContentDataFacet, with name, path, size and SHA-256;
    a link: a SymbolicLink naming its target, a directory a Directory, neither with a size
    or hash (their members hold no content)."""
    entries = ledger(4, link_every=3)  # file, file, link, directory
    _name, nodes = next(inventory_graphs(fold(entries), artifacts(entries), "0.1.0"))
    file, _file1, link, directory = [n for n in nodes if "uco-core:hasFacet" in n]
    (facet,) = file["uco-core:hasFacet"]
    assert file["@type"] == "uco-observable:File"
    assert facet["@type"] == ["uco-observable:FileFacet", "uco-observable:ContentDataFacet"]
    assert facet["uco-observable:fileName"] == "file 0.txt"
    assert facet["uco-observable:filePath"] == "/home/u/d0000/file 0.txt"
    assert facet["uco-observable:sizeInBytes"] == 200
    ((h),) = facet["uco-observable:hash"]
    assert h["uco-types:hashMethod"] == "SHA256"
    assert h["uco-types:hashValue"] == {"@type": "xsd:hexBinary", "@value": "0" * 64}
    assert file["uco-core:description"] == (
        f"file collected by files in run {RUN_ID}; archive member files/home/u/d0000/file 0.txt"
    )
    assert link["@type"] == "uco-observable:SymbolicLink"
    assert link["uco-core:description"].endswith("; a symbolic link to ../d0000/file 1.txt")
    assert link["uco-core:description"].startswith("symlink collected by files")
    assert directory["@type"] == "uco-observable:Directory"
    for node in (link, directory):
        (only,) = node["uco-core:hasFacet"]
        assert only["@type"] == "uco-observable:FileFacet"
        assert "uco-observable:hash" not in only and "uco-observable:sizeInBytes" not in only
    assert directory["uco-core:hasFacet"][0]["uco-observable:isDirectory"] is True
    assert check_case_uco({"@graph": [file, link, directory]}) == []


def test_inventory_files_conform_alone_with_every_shape_and_with_the_settings(
    tmp_path: Path,
) -> None:
    """The real case_validate on every file: with VERIFY.md's settings, and without them
    (every UCO shape on, the disjointness shapes too) on an inventory file of each kind."""
    names = _files(tmp_path, ledger(7, link_every=3), chunk=4)
    assert names == [CASE_UCO, inventory_file(1), inventory_file(2), SHAPES_OFF]
    graphs = [tmp_path / n for n in names if n.endswith(".jsonld")]
    for path in graphs:
        result = _validate("--ontology-graph", tmp_path / SHAPES_OFF, path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Conforms: True" in result.stdout
    result = _validate(tmp_path / inventory_file(1))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Conforms: True" in result.stdout


def test_the_settings_leave_the_facts_checked(tmp_path: Path) -> None:
    """With the settings on, case_validate still rejects a size that is not an integer and a
    hash that is not hexBinary."""
    _files(tmp_path, ledger(2), chunk=5)
    path = tmp_path / inventory_file(1)
    for damage in ("size", "hash"):
        doc = json.loads(path.read_bytes())
        facet = doc["@graph"][0]["uco-core:hasFacet"][0]
        if damage == "size":
            facet["uco-observable:sizeInBytes"] = "big"
        else:
            facet["uco-observable:hash"][0]["uco-types:hashValue"] = "abc"
        bad = tmp_path / f"bad-{damage}.jsonld"
        bad.write_text(json.dumps(doc))
        result = _validate("--ontology-graph", tmp_path / SHAPES_OFF, bad)
        assert result.returncode != 0, damage
        assert "Conforms: False" in result.stdout, damage


def _check(root: Path, entries: list[Entry], chunk: int) -> Report:
    report = Report(str(root))
    check_bundle_uco(
        root, iter(entries), read_facts(entries), ARCHIVES, "0.1.0", report, chunk=chunk
    )
    return report


def test_verify_catches_a_node_given_another_type(tmp_path: Path) -> None:
    """What the deactivated disjointness shapes would see, a node with a type Chainproof does
    not give it, chainproof verify reports: it compares every node's @type."""
    entries = ledger(3, link_every=3)
    _files(tmp_path, entries, chunk=5)
    assert _check(tmp_path, entries, 5).ok
    path = tmp_path / inventory_file(1)
    doc = json.loads(path.read_bytes())
    doc["@graph"][0]["@type"] = ["uco-observable:File", "uco-observable:URL"]
    doc["@graph"][1]["uco-core:hasFacet"][0]["@type"] = "uco-observable:ContentDataFacet"
    path.write_text(json.dumps(doc))
    found = [(f.code, f.where, str(f)) for f in _check(tmp_path, entries, 5).findings]
    assert len(found) == 2, found
    assert all(c == "caseuco.mismatch" and w == inventory_file(1) for c, w, _m in found)
    assert "@type" in found[0][2] and "uco-observable:URL" in found[0][2]


def test_bundles_with_four_nodes_per_artifact_still_check(tmp_path: Path) -> None:
    """A bundle whose settings are the earlier three shapes holds a FileFacet and a
    ContentDataFacet apart for every kind: verify rebuilds that layout, and still catches a
    change; the same files under today's settings do not pass."""
    entries = ledger(5, link_every=3)
    state = fold(entries)
    for name, pieces in case_uco_files(state, [], ARCHIVES, "0.1.0"):
        if name == CASE_UCO:
            (tmp_path / name).write_bytes(b"".join(pieces))
    for name, nodes in inventory_graphs(state, artifacts(entries), "0.1.0", chunk=3, four=True):
        (tmp_path / name).write_bytes(b"".join(case_uco_chunks(nodes)))
    (tmp_path / SHAPES_OFF).write_bytes(SHAPES_OFF_TEXT_4)
    first = json.loads((tmp_path / inventory_file(1)).read_bytes())["@graph"][0]
    assert [f["@type"] for f in first["uco-core:hasFacet"]] == [
        "uco-observable:FileFacet",
        "uco-observable:ContentDataFacet",
    ]
    assert _check(tmp_path, entries, 3).ok
    (tmp_path / SHAPES_OFF).write_bytes(SHAPES_OFF_TEXT)
    assert {f.code for f in _check(tmp_path, entries, 3).findings} >= {"caseuco.mismatch"}
    (tmp_path / SHAPES_OFF).write_bytes(SHAPES_OFF_TEXT_4)
    doc = json.loads((tmp_path / inventory_file(2)).read_bytes())
    doc["@graph"][0]["uco-core:hasFacet"][0]["uco-observable:filePath"] = "/elsewhere"
    (tmp_path / inventory_file(2)).write_text(json.dumps(doc))
    report = _check(tmp_path, entries, 3)
    assert [(f.code, f.where) for f in report.findings] == [
        ("caseuco.mismatch", inventory_file(2))
    ], report.render()


@settings(max_examples=400, deadline=None)
@given(artifact_events(odd_values=True))
def test_an_artifact_s_node_text_is_its_node_dumped(a: ArtifactCollected) -> None:
    """The export writes each inventory node as text (artifact_json): the bytes of the node
    (artifact) as every other document's nodes are dumped, for any value it can hold."""
    graph = _Graph(CaseState(case_id=CASE_ID), "")
    node = graph.artifact(a)
    assert graph.artifact_json(a) == (node["@id"], _dump(node))
