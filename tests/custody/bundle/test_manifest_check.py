"""A bundle's manifest.json and case.jsonld must say what its ledger says, even when their
signer edited them and signed everything again with the real key."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest

from app.cases import CaseHandle
from app.verification import verify_target
from custody.bundle import jsonstream
from custody.bundle.facts import artifacts, read_facts
from custody.bundle.files import sign_digest
from custody.bundle.layout import CASE_UCO, MANIFEST
from custody.bundle.manifest import ExportFacts, manifest_chunks
from custody.bundle.manifest_check import check_manifest
from custody.bundle.uco_check import check_case_uco
from custody.bundle.verify import verify_bundle_dir
from custody.record.keys import Identity, load_identity
from custody.report.caseuco import case_uco_chunks, case_uco_nodes
from custody.verify.findings import Report
from tests.custody.bundle.helpers import Edit, export, resign, set_field
from tests.custody.report.test_caseuco import ARCHIVES, ledger

LEGACY = Path(__file__).parents[2] / "fixtures" / "legacy-v1"
LEGACY_PASSPHRASE = b"legacy fixture passphrase"


@pytest.fixture
def bundle(case: CaseHandle, alice: Identity, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    export(case, alice, out)
    for p in out.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return out


def findings(report: Report) -> list[tuple[str, str]]:
    return [(f.code, str(f)) for f in report.findings]


def _artifact_with_path(m: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in m["artifacts"] if a.get("path") == "/etc/hostname")


def _artifact_path(m: dict[str, Any]) -> None:
    _artifact_with_path(m)["path"] = "/etc/shadow"


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (
            set_field("case.title", "Another case"),
            "case.title says 'Another case'; the ledger says 'Export test'",
        ),
        (
            set_field("examiners.0.name", "Mallory"),
            "examiners[0].name says 'Mallory'; the ledger says 'Alice Examiner'",
        ),
        (
            set_field("runs.0.host", "elsewhere"),
            "runs[0].host says 'elsewhere'; the ledger says 'testhost'",
        ),
        (
            set_field("artifacts.0.sha256", "0" * 64),
            f"artifacts[0].sha256 says '{'0' * 64}'; the ledger says '",
        ),
        (_artifact_path, "].path says '/etc/shadow'; the ledger says '/etc/hostname'"),
        (set_field("ledger.head", "f" * 64), f"ledger.head says '{'f' * 64}'; the ledger says '"),
        (
            set_field("case.incident_ref", "INC-7"),
            "case.incident_ref says 'INC-7'; the ledger says 'INC-42'",
        ),
        (set_field("runs.0.regular_files", 99), "runs[0].regular_files says 99; the ledger says "),
        (
            set_field("signatures.0.event", "note"),
            "signatures[0].event says 'note'; the ledger says 'case_opened'",
        ),
        (set_field("custody.custodian", "f" * 64), "custody.custodian says"),
        (set_field("runs.0.archive_size", 512), "runs[0].archive_size says 512; the ledger says "),
        (
            set_field("runs.0.archive_sha256", "0" * 64),
            f"runs[0].archive_sha256 says '{'0' * 64}'; the ledger says '",
        ),
    ],
    ids=[
        "case-title",
        "examiner-name",
        "run-host",
        "artifact-sha256",
        "artifact-path",
        "ledger-head",
        "incident-ref",
        "run-count",
        "signature-list",
        "custodian",
        "archive-size",
        "archive-sha256",
    ],
)
def test_resigned_manifest_that_contradicts_the_ledger_fails_naming_the_field(
    bundle: Path, alice: Identity, edit: Edit, says: str
) -> None:
    resign(bundle, alice, manifest=edit)
    report = verify_target(bundle)
    assert {c for c, _m in findings(report)} == {"manifest.mismatch"}, report.render()
    assert any(says in m for _c, m in findings(report)), report.render()


def test_every_signature_still_verifies_after_the_resigning(bundle: Path, alice: Identity) -> None:
    """The test above is not about signatures: the re-signed files do verify."""
    resign(bundle, alice, manifest=set_field("case.title", "Another case"))
    codes = {c for c, _m in findings(verify_target(bundle))}
    assert not any(c.startswith("bundle.") for c in codes)


@pytest.mark.parametrize(
    ("edit", "code", "says"),
    [
        (lambda m: m["artifacts"].pop(2), "manifest.missing", "artifacts has no item for entry"),
        (
            lambda m: m["artifacts"].append({**m["artifacts"][0], "seq": 999}),
            "manifest.extra",
            "is for entry 999: the ledger has no such item",
        ),
        (
            lambda m: m["artifacts"].append(dict(m["artifacts"][0])),
            "manifest.extra",
            "or it is listed twice",
        ),
        (lambda m: m["runs"].clear(), "manifest.missing", "runs has no item for run"),
        (lambda m: m["runs"][0].pop("host"), "manifest.missing", "runs[0].host is missing"),
        (lambda m: m["case"].pop("title"), "manifest.missing", "case.title is missing"),
        (
            lambda m: m["artifacts"][1].update(symlink_target="/etc/shadow"),
            "manifest.mismatch",
            "artifacts[1].symlink_target says '/etc/shadow'; the ledger says nothing",
        ),
        (lambda m: m.update(format="chainproof-bundle/9"), "manifest.format", "format says"),
        (lambda m: m.update(remark="trust me"), "manifest.extra", "remark is not a member"),
        (lambda m: m.pop("custody"), "manifest.missing", "custody is missing"),
    ],
    ids=[
        "artifact-dropped",
        "artifact-added",
        "artifact-twice",
        "runs-dropped",
        "field-dropped",
        "title-dropped",
        "field-added",
        "format",
        "member-added",
        "member-dropped",
    ],
)
def test_missing_and_extra_items(
    bundle: Path, alice: Identity, edit: Edit, code: str, says: str
) -> None:
    resign(bundle, alice, manifest=edit)
    report = verify_target(bundle)
    assert any(c == code and says in m for c, m in findings(report)), report.render()


def test_exporter_must_be_an_examiner_of_the_ledger(bundle: Path, alice: Identity) -> None:
    resign(bundle, alice, manifest=set_field("exported_by.fingerprint", "f" * 64))
    report = verify_target(bundle)
    assert "manifest.exporter" in {c for c, _m in findings(report)}, report.render()
    resign(bundle, alice, manifest=set_field("exported_by.fingerprint", alice.fingerprint))
    resign(bundle, alice, manifest=set_field("exported_by.name", "Someone"))
    assert any(
        "exported_by.name says 'Someone'; the ledger says 'Alice Examiner'" in m
        for _c, m in findings(verify_target(bundle))
    )


def test_artifacts_in_another_order_are_still_matched(bundle: Path, alice: Identity) -> None:
    resign(bundle, alice, manifest=lambda m: m["artifacts"].reverse())
    report = verify_target(bundle)
    assert report.ok, report.render()


def test_contents_are_the_files(bundle: Path, alice: Identity) -> None:
    def edit(m: dict[str, Any]) -> None:
        m["contents"][-1]["size"] = 1

    resign(bundle, alice, manifest=edit)
    report = verify_target(bundle)
    assert any("].size says 1; the file has" in m for _c, m in findings(report)), report.render()


# --------------------------------------------------------------------------- case.jsonld


def _nodes(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [n for n in doc["@graph"] if n["@type"] == kind]


def _artifacts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in _nodes(doc, "uco-observable:File") if "uco-core:hasFacet" in n]


def _title(doc: dict[str, Any]) -> None:
    _nodes(doc, "case-investigation:Investigation")[0]["uco-core:name"] = "Another case"


def _file_path(doc: dict[str, Any]) -> None:
    for node in _artifacts(doc):
        facet = node["uco-core:hasFacet"][0]
        if facet["uco-observable:filePath"] == "/etc/hostname":
            facet["uco-observable:filePath"] = "/etc/shadow"


def _hash(doc: dict[str, Any]) -> None:
    node = _artifacts(doc)[-1]
    node["uco-core:hasFacet"][-1]["uco-observable:hash"][0]["uco-types:hashValue"]["@value"] = (
        "0" * 64
    )


def _drop_node(doc: dict[str, Any]) -> None:
    doc["@graph"].remove(_artifacts(doc)[-1])


def _add_node(doc: dict[str, Any]) -> None:
    doc["@graph"].append({"@id": "kb:file-planted", "@type": "uco-observable:File"})


INVENTORY_1 = "case-inventory-0001.jsonld"


@pytest.mark.parametrize(
    ("edit", "name", "code", "says"),
    [
        (
            _title,
            CASE_UCO,
            "caseuco.mismatch",
            "uco-core:name says 'Another case'; the ledger says 'Export test'",
        ),
        (
            _file_path,
            INVENTORY_1,
            "caseuco.mismatch",
            "uco-observable:filePath says '/etc/shadow'; the ledger says '/etc/hostname'",
        ),
        (_hash, INVENTORY_1, "caseuco.mismatch", f"uco-types:hashValue.@value says '{'0' * 64}'"),
        (
            _drop_node,
            INVENTORY_1,
            "caseuco.missing",
            "(uco-observable:File), which the ledger gives, is missing",
        ),
        (_add_node, INVENTORY_1, "caseuco.extra", "node kb:file-planted (uco-observable:File)"),
    ],
    ids=["title", "file-path", "hash", "node-dropped", "node-added"],
)
def test_case_jsonld_that_contradicts_the_ledger_fails_naming_node_and_property(
    bundle: Path, alice: Identity, edit: Edit, name: str, code: str, says: str
) -> None:
    doc = json.loads((bundle / name).read_bytes())
    edit(doc)
    (bundle / name).write_text(json.dumps(doc, indent=1), encoding="utf-8")
    resign(bundle, alice)
    report = verify_target(bundle)
    assert {c for c, _m in findings(report)} == {code}, report.render()
    assert any(c == code and says in m and "node kb:" in m for c, m in findings(report)), (
        report.render()
    )


# --------------------------------------------------------------------------- format 1


@pytest.fixture
def legacy_zip(tmp_path: Path) -> Path:
    return Path(shutil.copy(LEGACY / "bundle.zip", tmp_path / "legacy.zip"))


@pytest.fixture
def legacy_dir(legacy_zip: Path, tmp_path: Path) -> Path:
    out = tmp_path / "legacy"
    with zipfile.ZipFile(legacy_zip) as z:
        z.extractall(out)
    return out


def test_format_1_bundle_verifies_as_zip_and_directory(legacy_zip: Path, legacy_dir: Path) -> None:
    for target in (legacy_zip, legacy_dir):
        report = verify_target(target)
        assert report.ok, report.render()
        assert report.artifacts == 11


def test_format_1_manifest_must_agree_where_it_speaks(legacy_dir: Path) -> None:
    alice = load_identity(LEGACY / "alice.p12", LEGACY_PASSPHRASE, check_dates=False)
    # a field format 1 did not write is not missed ...
    assert "custody" not in json.loads((legacy_dir / MANIFEST).read_bytes())
    resign(legacy_dir, alice, manifest=lambda m: m["examiners"][0].pop("email"))
    assert verify_target(legacy_dir).ok
    # ... but a field it wrote must say what the ledger says
    resign(legacy_dir, alice, manifest=set_field("runs.1.host", "elsewhere"))
    report = verify_target(legacy_dir)
    assert findings(report) == [
        (
            "manifest.mismatch",
            "manifest.json: runs[1].host says 'elsewhere'; the ledger says 'vm' "
            "(run 2d9def15-1046-41be-85ef-2438cb8251a4)",
        )
    ]
    resign(legacy_dir, alice, uco=_file_path_legacy)
    assert "caseuco.mismatch" in {c for c, _m in findings(verify_target(legacy_dir))}


def _file_path_legacy(doc: dict[str, Any]) -> None:
    node = _nodes(doc, "uco-observable:File")[1]
    node["uco-core:hasFacet"][0]["uco-observable:filePath"] = "/elsewhere"


# --------------------------------------------------------------------------- memory


def _peak_while_checking(tmp_path: Path, n: int) -> int:
    entries = ledger(n)
    facts = read_facts(entries)
    exporter = next(iter(facts.state.examiners.values()))
    export_facts = ExportFacts(
        "b", "2024-01-01T00:00:00.000000Z", "0", exporter, {"ok": True}, False
    )
    root = tmp_path / str(n)
    root.mkdir()
    with open(root / MANIFEST, "wb") as f:
        for chunk in manifest_chunks(
            facts, artifacts(entries), ARCHIVES, export_facts, contents=[], files=[]
        ):
            f.write(chunk)
    report = Report(str(root))
    tracemalloc.start()
    try:
        check_manifest(root, entries, facts, ARCHIVES, [], [], report)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.render()
    return peak


def test_checking_a_manifest_takes_flat_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four times the artifacts, the same peak: both sides are streamed by seq."""
    monkeypatch.setattr(jsonstream, "_CHUNK", 64 << 10)  # small cases exceed one read
    small = _peak_while_checking(tmp_path, 1_500)
    large = _peak_while_checking(tmp_path, 6_000)
    assert large < small * 1.3, (small, large)


def _peak_while_checking_uco(tmp_path: Path, n: int) -> int:
    entries = ledger(n)
    facts = read_facts(entries)
    root = tmp_path / f"uco{n}"
    root.mkdir()
    nodes = case_uco_nodes(facts.state, artifacts(entries), ARCHIVES, "0")
    with open(root / CASE_UCO, "wb") as f:
        for chunk in case_uco_chunks(nodes):
            f.write(chunk)
    report = Report(str(root))
    tracemalloc.start()
    try:
        check_case_uco(root, entries, facts, ARCHIVES, "0", report)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.render()
    return peak


def test_checking_case_jsonld_takes_flat_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonstream, "_CHUNK", 16 << 10)
    small = _peak_while_checking_uco(tmp_path, 400)
    large = _peak_while_checking_uco(tmp_path, 1_600)
    assert large < small * 1.3, (small, large)


def test_manifest_is_signed_from_its_digest(alice: Identity) -> None:
    data = b"any bytes" * 1000
    assert sign_digest(alice, hashlib.sha256(data).hexdigest()) == alice.sign(data)


def test_random_flips_in_manifest_and_case_jsonld_are_reported(bundle: Path) -> None:
    """Every flipped bit is a finding, never a traceback."""
    rng = random.Random(12)
    for _ in range(100):
        name = rng.choice([MANIFEST, CASE_UCO])
        original = (bundle / name).read_bytes()
        data = bytearray(original)
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)
        (bundle / name).write_bytes(bytes(data))
        try:
            report = verify_bundle_dir(bundle)
        finally:
            (bundle / name).write_bytes(original)
        assert not report.ok, (name, pos)
