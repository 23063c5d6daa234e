"""`verify BUNDLE` reads and parses the bundle's ledger.jsonl once: the manifest, CASE/UCO,
member-list and inventory checks take each entry from the case verification's pass, as it
goes, instead of reading the ledger again. Tampering is still caught in that one pass."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from custody.bundle import verify as bundle_verify
from custody.bundle.layout import LEDGER
from custody.bundle.sha256sums import format_sums, parse_sums
from custody.bundle.verify import verify_bundle_dir
from custody.record.entry import Entry
from custody.record.keys import Identity
from custody.report.caseuco import inventory_file
from custody.report.inventory import INVENTORY_JSONL
from tests.custody.bundle.helpers import resign, set_field


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the ledger's reads and the entries parsed from it from now on."""
    calls = {"reads": 0, "parsed": 0}
    read = bundle_verify.read_ledger_jsonl
    from_json = Entry.from_json.__func__  # type: ignore[attr-defined]

    def counting_read(path: Path, report: Any) -> Any:
        calls["reads"] += 1
        return read(path, report)

    def counting_from_json(
        cls: type[Entry], obj: Mapping[str, Any], line: bytes | None = None
    ) -> Entry:
        calls["parsed"] += 1
        return from_json(cls, obj, line)  # type: ignore[no-any-return]

    monkeypatch.setattr(bundle_verify, "read_ledger_jsonl", counting_read)
    monkeypatch.setattr(Entry, "from_json", classmethod(counting_from_json))
    return calls


def _lines(bundle: Path) -> int:
    return sum(1 for line in (bundle / LEDGER).read_bytes().splitlines() if line.strip())


def test_a_good_bundle_has_its_ledger_parsed_once(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_reads(monkeypatch)
    report = verify_bundle_dir(bundle)
    assert report.ok, report.findings
    assert calls == {"reads": 1, "parsed": _lines(bundle)}


def test_tampered_documents_are_found_in_the_one_pass(
    bundle: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An artifact changed in manifest.json, inventory.jsonl and the CASE/UCO inventory
    file, all re-signed: each check names it, and the ledger is still parsed once."""
    inventory = bundle / INVENTORY_JSONL
    rows = inventory.read_bytes().splitlines(keepends=True)
    row = json.loads(rows[1])
    row["sha256"] = "0" * 64
    rows[1] = json.dumps(row).encode() + b"\n"
    inventory.write_bytes(b"".join(rows))
    uco = bundle / inventory_file(1)
    uco.write_bytes(
        uco.read_bytes().replace(b"uco-observable:filePath", b"uco-observable:filePat", 1)
    )
    resign(bundle, alice, manifest=set_field("artifacts.2.size", 999_999))
    calls = _count_reads(monkeypatch)
    report = verify_bundle_dir(bundle)
    codes = {f.code for f in report.findings}
    assert {"manifest.mismatch", "bundle.inventory"} <= codes
    assert codes & {"caseuco.missing", "caseuco.extra", "caseuco.mismatch"}
    assert calls == {"reads": 1, "parsed": _lines(bundle)}


def test_a_member_list_that_differs_is_checked_by_name_without_reading_again(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's .sha256 file with its first member's hash changed and its third and fourth
    lines swapped: the lockstep fails at the third line, the run is checked by name from
    the members gathered in the pass (the first two lines read again from the file), and
    the finding names the member, as when the ledger was read again."""
    (path,) = (bundle / "evidence").glob("*.sha256")
    listed = parse_sums(path.read_bytes())
    assert len(listed) >= 4
    name, digest = listed[0]
    changed = [(name, "0" * 64), listed[1], listed[3], listed[2], *listed[4:]]
    path.write_bytes(format_sums(changed, sort=False))
    calls = _count_reads(monkeypatch)
    report = verify_bundle_dir(bundle)
    assert [(f.code, f.message) for f in report.findings if f.code == "bundle.member_sums"] == [
        (
            "bundle.member_sums",
            f"gives member {name.decode()!r} SHA-256 {'0' * 64}; the ledger records {digest}",
        )
    ]
    assert calls == {"reads": 1, "parsed": _lines(bundle)}
