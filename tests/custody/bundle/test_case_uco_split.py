"""CASE/UCO split into the custody graph and inventory files of N artifacts: every file
validates with case_validate alone and together, every artifact is in exactly one file, and
`chainproof verify` catches any file changed, moved, dropped or added."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.verification import verify_target
from custody.bundle import jsonstream
from custody.bundle.facts import artifacts, read_facts
from custody.bundle.layout import CASE_UCO, MANIFEST, SUMS
from custody.bundle.uco_check import check_case_uco
from custody.record.entry import Entry
from custody.record.keys import Identity
from custody.report.caseuco import (
    SHAPES_OFF,
    SHAPES_OFF_TEXT,
    case_uco_files,
    inventory_file,
    node_problems,
)
from custody.verify.findings import Report
from tests.custody.bundle.helpers import resign
from tests.custody.report.test_caseuco import ARCHIVES, _validate, ledger

CHUNK = 3


def once(entries: list[Entry]) -> Iterator[Any]:
    """The ledger's artifacts as a stream that can be read once only."""
    yield from artifacts(iter(entries))


def write(root: Path, entries: list[Entry], chunk: int = CHUNK) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    state = read_facts(entries).state
    names = []
    for name, pieces in case_uco_files(state, once(entries), ARCHIVES, "0.1.0", chunk=chunk):
        with open(root / name, "wb") as f:
            f.writelines(pieces)
        names.append(name)
    return names


def graph(path: Path) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = json.loads(path.read_bytes())["@graph"]
    return nodes


def artifact_nodes(path: Path) -> list[dict[str, Any]]:
    return [n for n in graph(path) if "uco-core:hasFacet" in n]


def check(root: Path, entries: list[Entry], chunk: int = CHUNK) -> Report:
    report = Report(str(root))
    facts = read_facts(entries)
    check_case_uco(root, iter(entries), facts, ARCHIVES, "0.1.0", report, chunk=chunk)
    return report


def test_split_puts_each_artifact_in_exactly_one_file(tmp_path: Path) -> None:
    names = write(tmp_path, ledger(7))
    assert names == [
        CASE_UCO,
        inventory_file(1),
        inventory_file(2),
        inventory_file(3),
        SHAPES_OFF,
    ]
    custody = graph(tmp_path / CASE_UCO)
    assert not [n for n in custody if "archive member" in n.get("uco-core:description", "")]
    seen: list[str] = []
    for n, count in ((1, 3), (2, 3), (3, 1)):
        nodes = graph(tmp_path / inventory_file(n))
        files = artifact_nodes(tmp_path / inventory_file(n))
        assert len(files) == count
        seen += [f["@id"] for f in files]
        (record,) = [x for x in nodes if x["@type"] == "case-investigation:ProvenanceRecord"]
        (stub,) = [x for x in nodes if x["@type"] == "uco-observable:File" and len(x) == 2]
        assert record["uco-core:object"] == [{"@id": stub["@id"]}] + [
            {"@id": f["@id"]} for f in files
        ]
        # the stub names the archive node that case.jsonld describes in full
        assert stub["@id"] in {x["@id"] for x in custody}
        for f in files:  # three nodes: File, a FileFacet that is a ContentDataFacet, SHA-256
            (facet,) = f["uco-core:hasFacet"]
            assert "uco-observable:FileFacet" in facet["@type"]
            (h,) = facet["uco-observable:hash"]
            assert h["uco-types:hashMethod"] == "SHA256"
            assert node_problems(f) == []
    assert len(seen) == len(set(seen)) == 7
    assert (tmp_path / SHAPES_OFF).read_bytes() == SHAPES_OFF_TEXT


def test_no_artifacts_no_inventory_file(tmp_path: Path) -> None:
    assert write(tmp_path, ledger(0)) == [CASE_UCO, SHAPES_OFF]
    assert check(tmp_path, ledger(0)).ok
    assert not check(tmp_path, ledger(1)).ok  # an artifact the files do not hold


def test_case_validate_passes_each_file_alone_and_all_together(tmp_path: Path) -> None:
    """Real case_validate, as VERIFY.md runs it, and without the settings file."""
    write(tmp_path, ledger(4), chunk=2)
    settings = ["--ontology-graph", str(tmp_path / SHAPES_OFF)]
    files = [str(tmp_path / n) for n in (CASE_UCO, inventory_file(1), inventory_file(2))]
    together = _validate(*settings, *files)
    assert together.returncode == 0, together.stdout + together.stderr
    assert "Conforms: True" in together.stdout
    alone = _validate(str(tmp_path / inventory_file(2)))  # standalone, every UCO shape on
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "Conforms: True" in alone.stdout


def test_check_passes_the_written_files_with_flat_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonstream, "_CHUNK", 16 << 10)

    def peak(n: int) -> int:
        root = tmp_path / f"c{n}"
        entries = ledger(n)
        write(root, entries, chunk=500)
        tracemalloc.start()
        try:
            report = check(root, entries, chunk=500)
            _size, top = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert report.ok, report.render()
        return top

    small, large = peak(1_000), peak(4_000)
    assert large < small * 1.3, (small, large)


def _codes(report: Report) -> set[tuple[str, str]]:
    return {(f.code, f.where) for f in report.findings}


Tamper = Callable[[Path], None]


def _move_artifact(root: Path) -> None:
    """The first artifact of file 2 moved to the end of file 1."""
    one, two = (
        json.loads((root / inventory_file(1)).read_bytes()),
        json.loads((root / inventory_file(2)).read_bytes()),
    )
    node = two["@graph"].pop(0)
    one["@graph"].insert(CHUNK, node)
    (root / inventory_file(1)).write_text(json.dumps(one))
    (root / inventory_file(2)).write_text(json.dumps(two))


def _duplicate_artifact(root: Path) -> None:
    doc = json.loads((root / inventory_file(1)).read_bytes())
    doc["@graph"].insert(1, doc["@graph"][0])
    (root / inventory_file(1)).write_text(json.dumps(doc))


def _drop_file(root: Path) -> None:
    (root / inventory_file(2)).unlink()


def _add_file(root: Path) -> None:
    (root / inventory_file(9)).write_bytes((root / inventory_file(3)).read_bytes())


def _size(root: Path) -> None:
    doc = json.loads((root / inventory_file(3)).read_bytes())
    doc["@graph"][0]["uco-core:hasFacet"][0]["uco-observable:sizeInBytes"] = 999
    (root / inventory_file(3)).write_text(json.dumps(doc))


def _settings(root: Path) -> None:
    with open(root / SHAPES_OFF, "ab") as f:
        f.write(b"<urn:x> <http://www.w3.org/ns/shacl#deactivated> true .\n")


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_move_artifact, {("caseuco.missing", inventory_file(2))}),
        (_duplicate_artifact, {("caseuco.extra", inventory_file(1))}),
        (_drop_file, {("caseuco.missing", inventory_file(2))}),
        (_add_file, {("caseuco.extra", inventory_file(9))}),
        (_size, {("caseuco.mismatch", inventory_file(3))}),
        (_settings, {("caseuco.mismatch", SHAPES_OFF)}),
    ],
    ids=["moved", "twice", "file-dropped", "file-added", "size", "settings"],
)
def test_check_catches_each_tamper(tmp_path: Path, tamper: Tamper, expected: set[Any]) -> None:
    entries = ledger(7)
    write(tmp_path, entries)
    assert check(tmp_path, entries).ok
    tamper(tmp_path)
    report = check(tmp_path, entries)
    assert expected <= _codes(report), report.render()
    if tamper is _move_artifact:
        assert ("caseuco.extra", inventory_file(1)) in _codes(report)


# --------------------------------------------------------------------------- a real bundle


def test_bundle_lists_the_split_files_and_verify_catches_a_changed_one(
    bundle: Path, alice: Identity
) -> None:
    manifest = json.loads((bundle / MANIFEST).read_bytes())
    sums = (bundle / SUMS).read_text()
    for name in (CASE_UCO, inventory_file(1), SHAPES_OFF):
        assert name in manifest["files"]
        assert f"  {name}\n" in sums
    assert not (bundle / inventory_file(2)).exists()
    verify_md = (bundle / "VERIFY.md").read_text()
    assert f"xargs -n 1 -P 2 case_validate --ontology-graph {SHAPES_OFF}" in verify_md
    assert verify_target(bundle).ok
    # a dishonest signer drops an artifact from the inventory graph and signs everything again
    doc = json.loads((bundle / inventory_file(1)).read_bytes())
    dropped = doc["@graph"].pop(0)
    (bundle / inventory_file(1)).write_text(json.dumps(doc))
    resign(bundle, alice)
    report = verify_target(bundle)
    assert not report.ok
    assert any(
        f.code == "caseuco.missing" and f.where == inventory_file(1) and dropped["@id"] in str(f)
        for f in report.findings
    ), report.render()
