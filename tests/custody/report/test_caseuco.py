"""CASE/UCO JSON-LD: valid by case_validate, hashes on ContentDataFacet, non-empty records."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from custody.report.caseuco import build_case_uco, case_uco_bytes, check_case_uco

CASE_ID = "6f1c2a4e-8d1b-4b4e-9a31-2f4c6d7e8f90"
RUN_ID = "11111111-2222-3333-4444-555555555555"
FP = "ab" * 32


def _manifest(artifacts: int = 2) -> dict[str, Any]:
    return {
        "case": {
            "id": CASE_ID,
            "title": "Stolen laptop",
            "status": "reported",
            "incident_ref": "INC-1",
        },
        "tool": {"version": "0.1.0"},
        "examiners": [{"fingerprint": FP, "name": "Alice Examiner"}],
        "runs": [
            {
                "id": RUN_ID,
                "archive": f"evidence/{RUN_ID}.tar",
                "archive_size": 10240,
                "archive_sha256": "c" * 64,
                "host": "host1",
                "profile": "none",
                "status": "finished",
                "started_at": "2024-01-01T00:00:00.000000Z",
                "finished_at": "2024-01-01T00:00:01.000000Z",
                "examiner": FP,
            },
            {  # a run with no artifacts still has a non-empty record: its archive
                "id": "22222222-2222-3333-4444-555555555555",
                "archive": "evidence/22222222-2222-3333-4444-555555555555.tar",
                "archive_size": 1024,
                "archive_sha256": "d" * 64,
                "status": "finished",
                "started_at": "2024-01-02T00:00:00.000000Z",
                "examiner": FP,
            },
        ],
        "artifacts": [
            {
                "run_id": RUN_ID,
                "member": f"files/home/u/file {i}.txt",
                "path": f"/home/u/file {i}.txt",
                "size": i,
                "sha256": "a" * 64,
                "sha1": "b" * 40,
                "md5": "e" * 32,
                "kind": "file",
                "collector": "files",
            }
            for i in range(artifacts)
        ],
    }


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("case_validate")
    if not exe.exists():
        found = shutil.which("case_validate")
        if found is None:
            pytest.fail("case_validate (case-utils) is not installed")
        exe = Path(found)
    return subprocess.run([str(exe), str(path)], capture_output=True, text=True)


def test_case_validate_conforms(tmp_path: Path) -> None:
    path = tmp_path / "case.jsonld"
    path.write_bytes(case_uco_bytes(_manifest()))
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Conforms: True" in result.stdout


def test_validator_is_really_checking(tmp_path: Path) -> None:
    """A wrong datatype makes case_validate fail: the test above is not vacuous."""
    doc = build_case_uco(_manifest())
    facet = next(n for n in doc["@graph"] if n["@type"] == "uco-observable:File")[
        "uco-core:hasFacet"
    ][0]
    facet["uco-observable:sizeInBytes"] = "big"
    path = tmp_path / "bad.jsonld"
    path.write_text(json.dumps(doc))
    result = _validate(path)
    assert result.returncode != 0
    assert "Conforms: False" in result.stdout


def test_structure_hashes_and_records() -> None:
    doc = build_case_uco(_manifest(artifacts=3))
    assert check_case_uco(doc) == []
    graph = doc["@graph"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for node in graph:
        by_type.setdefault(node["@type"], []).append(node)
    (inv,) = by_type["case-investigation:Investigation"]
    assert inv["uco-core:name"] == "Stolen laptop"
    records = by_type["case-investigation:ProvenanceRecord"]
    assert len(records) == 2 and all(r["uco-core:object"] for r in records)
    actions = by_type["case-investigation:InvestigativeAction"]
    assert actions[0]["uco-action:performer"] == {"@id": by_type["uco-identity:Person"][0]["@id"]}
    assert actions[0]["uco-action:instrument"] == {"@id": by_type["uco-tool:Tool"][0]["@id"]}
    assert by_type["uco-tool:Tool"][0]["uco-tool:version"] == "0.1.0"
    for f in by_type["uco-observable:File"]:
        facets = {x["@type"]: x for x in f["uco-core:hasFacet"]}
        assert "uco-observable:hash" not in facets["uco-observable:FileFacet"]
        hashes = facets["uco-observable:ContentDataFacet"]["uco-observable:hash"]
        for h in hashes:
            assert h["uco-types:hashMethod"] in ("SHA256", "SHA1", "MD5")
            assert h["uco-types:hashValue"]["@type"] == "xsd:hexBinary"
    ids = [n["@id"] for n in graph]
    assert len(ids) == len(set(ids))


def test_deterministic_ids() -> None:
    assert case_uco_bytes(_manifest()) == case_uco_bytes(_manifest())


def test_checker_catches_what_the_validator_does_not() -> None:
    doc = build_case_uco(_manifest())
    for node in doc["@graph"]:
        if node["@type"] == "case-investigation:ProvenanceRecord":
            node["uco-core:object"] = []
        if node["@type"] == "uco-observable:File":
            file_facet, content = node["uco-core:hasFacet"]
            file_facet["uco-observable:hash"] = content.pop("uco-observable:hash")
    problems = check_case_uco(doc)
    assert any("ProvenanceRecord without" in p for p in problems)
    assert any("hash on uco-observable:FileFacet" in p for p in problems)
