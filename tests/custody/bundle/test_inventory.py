"""inventory.csv and inventory.jsonl in a bundle: one row per artifact, kinds as what they are
(a symlink and its target; a FIFO or a device skipped), listed in SHA256SUMS, named by hash in
the PDF and attached to it, and made again from the ledger by the verifier, which catches an
edited file even when its signer wrote SHA256SUMS and the manifest anew."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from app.cases import CaseHandle, create_case
from app.collection import CollectionRun
from app.profiles import load_profile
from custody.bundle.sha256sums import parse_sums
from custody.bundle.verify import verify_bundle_dir, verify_bundle_zip
from custody.record.keys import Identity
from tests.custody.bundle.helpers import export, resign
from tests.custody.report.test_report import attachments, pdftext

pytestmark = pytest.mark.skipif(
    shutil.which("pdfdetach") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdfdetach, pdftotext) is part of the dev setup",
)
INVENTORY = ("inventory.csv", "inventory.jsonl")


def _tree(root: Path) -> tuple[Path, bool]:
    """Files, a symlink, a dangling symlink, a FIFO and (where mknod is allowed) a device."""
    root.mkdir()
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_bytes(b"box\n")
    (root / "etc" / "passwd").write_bytes(b"root:x:0:0:root:/root:/bin/sh\n" * 20)
    (root / "link").symlink_to("etc/hostname")
    (root / "dangling").symlink_to("nowhere/at/all")
    (root / "formula").symlink_to('=HYPERLINK("http://x")')
    os.mkfifo(root / "fifo")
    try:
        os.mknod(root / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        device = True
    except OSError:  # not allowed in this container
        device = False
    return root, device


@pytest.fixture
def collected(tmp_path: Path, alice: Identity) -> tuple[CaseHandle, Path, bool]:
    src, device = _tree(tmp_path / "src")
    case = create_case(tmp_path / "case", alice, title="Inventory", incident_ref="INC-INV")
    profile = load_profile("none").with_paths([f"{src}/**"])
    assert CollectionRun(case, alice, profile).execute().status == "finished"
    return case, src, device


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_the_bundle_carries_the_inventory(
    collected: tuple[CaseHandle, Path, bool], alice: Identity, tmp_path: Path
) -> None:
    case, src, device = collected
    out = tmp_path / "bundle"
    result = export(case, alice, out)
    assert verify_bundle_dir(out).ok

    state = case.state()
    csv_rows = _rows((out / "inventory.csv").read_bytes())
    jsonl = [json.loads(x) for x in (out / "inventory.jsonl").read_bytes().splitlines()]
    assert len(csv_rows) == len(jsonl) == state.artifacts
    assert [r["seq"] for r in csv_rows] == [str(r["seq"]) for r in jsonl]

    # Kinds as what they are: a symlink with its target, never followed.
    link = next(r for r in jsonl if r["path"] == f"{src}/link")
    assert (link["kind"], link["link_target"], link["size"]) == ("symlink", "etc/hostname", 0)
    dangling = next(r for r in csv_rows if r["path"] == f"{src}/dangling")
    assert (dangling["kind"], dangling["link_target"]) == ("symlink", "nowhere/at/all")
    hostname = next(r for r in csv_rows if r["path"] == f"{src}/etc/hostname")
    assert hostname["kind"] == "file" and hostname["mode"] == "0644"
    assert hostname["sha256"] == hashlib.sha256(b"box\n").hexdigest()
    # A value a spreadsheet would run as a formula is defused in the CSV, exact in the JSONL.
    formula = '=HYPERLINK("http://x")'
    assert next(r for r in jsonl if r["path"] == f"{src}/formula")["link_target"] == formula
    assert (
        next(r for r in csv_rows if r["path"] == f"{src}/formula")["link_target"] == "'" + formula
    )

    # Listed in SHA256SUMS and the manifest, named by hash in the PDF, attached to it.
    sums = {name.decode(): digest for name, digest in parse_sums((out / "SHA256SUMS").read_bytes())}
    manifest = json.loads((out / "manifest.json").read_bytes())
    contents = {c["name"]: c["sha256"] for c in manifest["contents"]}
    pdf = out / "custody-report.pdf"
    flat = re.sub(r"\s+", "", "\n".join(pdftext(pdf)))
    attached = attachments(pdf, tmp_path / "attached")
    assert sorted(attached) == list(INVENTORY)
    for name in INVENTORY:
        data = (out / name).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        assert sums[name] == contents[name] == digest
        assert digest in flat
        assert attached[name] == data
    assert result.bundle.files == len(sums) + 2  # and SHA256SUMS, SHA256SUMS.sig

    # The summary shows the links with their targets and what was skipped as what it was.
    text = re.sub(r"\s+", " ", "\n".join(pdftext(pdf)))
    assert "/src/link" in flat and "etc/hostname" in text and "dangling symlink" in text
    assert "FIFO not read" in text
    if device:
        assert "character device not read" in text


def test_an_edited_inventory_is_caught_even_when_resigned(
    collected: tuple[CaseHandle, Path, bool], alice: Identity, tmp_path: Path
) -> None:
    case, _src, _device = collected
    out = tmp_path / "bundle"
    export(case, alice, out)
    path = out / "inventory.csv"
    data = path.read_bytes()
    rows = _rows(data)
    number, target = next((i, r) for i, r in enumerate(rows, 1) if r["path"].endswith("passwd"))
    path.write_bytes(data.replace(target["sha256"].encode(), b"0" * 64, 1))
    resign(out, alice)  # SHA256SUMS, the manifest's contents and both signatures made anew
    report = verify_bundle_dir(out)
    assert {f.code for f in report.findings} == {"bundle.inventory"}, report.render()
    (finding,) = report.findings
    assert finding.where == "inventory.csv"
    assert finding.seq == int(target["seq"])
    assert f"row {number} (entry {target['seq']})" in finding.message
    zeros = "0" * 64
    assert f"sha256 is '{zeros}'; the ledger gives '{target['sha256']}'" in finding.message


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d[: d.rindex(b"\n", 0, len(d) - 1) + 1], "ends after"),
        (lambda d: d + d.splitlines(keepends=True)[-1], "rows were added"),
        (lambda d: b"", "ends after 0 rows"),
    ],
    ids=["row-removed", "row-added", "emptied"],
)
def test_rows_removed_or_added_are_caught(
    collected: tuple[CaseHandle, Path, bool],
    alice: Identity,
    tmp_path: Path,
    change: object,
    says: str,
) -> None:
    case, _src, _device = collected
    out = tmp_path / "bundle"
    export(case, alice, out)
    path = out / "inventory.jsonl"
    path.write_bytes(change(path.read_bytes()))  # type: ignore[operator]
    resign(out, alice)
    report = verify_bundle_dir(out)
    assert [f.code for f in report.findings] == ["bundle.inventory"], report.render()
    assert says in report.findings[0].message


def test_a_deleted_inventory_named_by_the_manifest_is_caught(
    collected: tuple[CaseHandle, Path, bool], alice: Identity, tmp_path: Path
) -> None:
    case, _src, _device = collected
    out = tmp_path / "bundle"
    export(case, alice, out)
    (out / "inventory.jsonl").unlink()
    report = verify_bundle_dir(out)
    found = {(f.code, f.where) for f in report.findings}
    assert ("bundle.inventory", "inventory.jsonl") in found
    assert ("bundle.deleted", "inventory.jsonl") in found


def test_the_zip_bundle_checks_its_inventory(
    collected: tuple[CaseHandle, Path, bool], alice: Identity, tmp_path: Path
) -> None:
    case, _src, _device = collected
    out = tmp_path / "bundle.zip"
    export(case, alice, out, as_zip=True)
    assert verify_bundle_zip(out).ok


def test_full_inventory_export_lists_every_artifact_in_the_pdf(
    collected: tuple[CaseHandle, Path, bool], alice: Identity, tmp_path: Path
) -> None:
    case, src, _device = collected
    short, full = tmp_path / "short", tmp_path / "full"
    export(case, alice, short)
    export(case, alice, full, full_inventory=True)
    assert verify_bundle_dir(full).ok
    short_text = re.sub(r"\s+", " ", "\n".join(pdftext(short / "custody-report.pdf")))
    full_text = re.sub(r"\s+", " ", "\n".join(pdftext(full / "custody-report.pdf")))
    passwd = hashlib.sha256(b"root:x:0:0:root:/root:/bin/sh\n" * 20).hexdigest()
    assert passwd not in short_text and "Annex B. The signed ledger entries" in short_text
    assert passwd in full_text and "Annex B. The full ledger" in full_text
    assert f"{src}/link->etc/hostname" in full_text.replace(" ", "")
    assert (short / "inventory.csv").read_bytes() == (full / "inventory.csv").read_bytes()
    # The lead wires --full-inventory into the CLI; the service takes it already.
    text = subprocess.run(
        ["pdfdetach", "-list", str(full / "custody-report.pdf")], capture_output=True, text=True
    ).stdout
    assert "inventory.csv" in text and "inventory.jsonl" in text
