"""evidence/<run>.sha256 is compared in lockstep with the case verification's ledger pass;
a file in another order (an older bundle, sorted by name) is checked by name instead."""

from __future__ import annotations

from pathlib import Path

from custody.bundle.checks import check_bundle_files
from custody.bundle.layout import LEDGER
from custody.bundle.ledgerfile import read_ledger_jsonl
from custody.bundle.sha256sums import format_sums, parse_sums
from custody.bundle.verify import verify_bundle_dir
from custody.verify.findings import Report

MEMBER_CODES = {"bundle.member_sums", "bundle.member_sums_missing"}


def _sums_file(bundle: Path) -> Path:
    (path,) = (bundle / "evidence").glob("*.sha256")
    return path


def _member_findings(report: Report) -> list[tuple[str, str, str]]:
    return [(f.code, f.where, f.message) for f in report.findings if f.code in MEMBER_CODES]


def _without_tap(bundle: Path) -> list[tuple[str, str, str]]:
    """The member findings of the bundle checks reading the ledger themselves."""
    report = Report(str(bundle))
    check_bundle_files(bundle, lambda: read_ledger_jsonl(bundle / LEDGER, Report("")), report)
    return _member_findings(report)


def test_sums_in_ledger_order_verify(bundle: Path) -> None:
    listed = parse_sums(_sums_file(bundle).read_bytes())
    assert len(listed) > 2
    assert _member_findings(verify_bundle_dir(bundle)) == []
    assert _without_tap(bundle) == []


def test_an_older_bundle_sorted_by_name_still_verifies(bundle: Path) -> None:
    path = _sums_file(bundle)
    listed = parse_sums(path.read_bytes())
    by_name = sorted(listed)
    assert by_name != listed  # the ledger's order is not the names' order
    path.write_bytes(format_sums(by_name))
    report = verify_bundle_dir(bundle)
    assert _member_findings(report) == []
    # only SHA256SUMS and the manifest's contents notice that the file changed
    assert {f.code for f in report.findings} == {"bundle.altered", "manifest.mismatch"}


def test_a_changed_hash_is_named_in_either_order(bundle: Path) -> None:
    path = _sums_file(bundle)
    listed = parse_sums(path.read_bytes())
    name, digest = listed[1]
    changed = [(n, "0" * 64 if n == name else d) for n, d in listed]
    expected = [
        (
            "bundle.member_sums",
            f"evidence/{path.name}",
            f"gives member {name.decode()!r} SHA-256 {'0' * 64}; the ledger records {digest}",
        )
    ]
    path.write_bytes(format_sums(changed, sort=False))  # lockstep
    assert _member_findings(verify_bundle_dir(bundle)) == expected
    assert _without_tap(bundle) == expected
    path.write_bytes(format_sums(changed))  # by name
    assert _member_findings(verify_bundle_dir(bundle)) == expected


def test_a_member_left_out_added_or_renamed_is_found(bundle: Path) -> None:
    path = _sums_file(bundle)
    listed = parse_sums(path.read_bytes())
    where = f"evidence/{path.name}"
    gone, _ = listed[1]
    path.write_bytes(format_sums(listed[:1] + listed[2:], sort=False))
    assert _member_findings(verify_bundle_dir(bundle)) == [
        ("bundle.member_sums", where, f"lacks member {gone.decode()!r}, which the ledger records")
    ]
    path.write_bytes(format_sums([*listed, (b"extra", "1" * 64)], sort=False))
    [(code, _, message)] = _member_findings(verify_bundle_dir(bundle))
    assert message.startswith("lists member 'extra', which the ledger does not record for run ")
    assert code == "bundle.member_sums"
    path.write_bytes(format_sums([*listed, listed[0]], sort=False))
    findings = _member_findings(verify_bundle_dir(bundle))
    assert findings == [
        ("bundle.member_sums", where, f"lists member {listed[0][0].decode()!r} twice")
    ]


def test_a_missing_or_malformed_file_is_reported(bundle: Path) -> None:
    path = _sums_file(bundle)
    where = f"evidence/{path.name}"
    data = path.read_bytes()
    lines = data.split(b"\n")
    path.write_bytes(b"\n".join([*lines[:2], b"not a checksum line", *lines[2:]]))
    [(code, w, message)] = _member_findings(verify_bundle_dir(bundle))
    assert (code, w) == ("bundle.member_sums", where)
    assert message.startswith("is not a sha256sum file: line 3 ")
    path.unlink()
    [(code, w, message)] = _member_findings(verify_bundle_dir(bundle))
    assert (code, w) == ("bundle.member_sums_missing", where)
    assert message.startswith("is missing (run ")
