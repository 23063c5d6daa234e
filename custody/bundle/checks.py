"""Checks that only a bundle needs, on top of :func:`custody.verify.case.verify` of its ledger.

- ``SHA256SUMS``: parsed with ``sha256sum``'s escaping; every listed file re-hashed (changed
  or deleted files); files present but not listed (added files);
- ``SHA256SUMS.sig`` and ``manifest.json.sig``: verify with the certificate of an examiner
  the ledger introduces, the one the manifest names as exporter;
- ``manifest.json``: its ledger head and count are the ledger's; its artifacts are the
  ledger's ``artifact_collected`` entries; its archive sizes and hashes are the files';
- ``evidence/<run>.sha256``: exactly the ledger's member hashes of that run;
- ``signatures/``: exactly the signed bodies and signatures of the ledger;
- ``certs/``: a certificate for every examiner; ``custody-report.pdf`` present.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509

from custody.bundle.sha256sums import parse_sums
from custody.bundle.writer import (
    LEDGER,
    MANIFEST,
    MANIFEST_SIG,
    REPORT_PDF,
    SUMS,
    SUMS_SIG,
    artifact_record,
    ledger_examiners,
    ledger_runs,
    regular_members,
    run_json,
)
from custody.errors import ChainproofError
from custody.record.entry import Entry
from custody.record.keys import fingerprint, load_certificate_pem, verify_signature
from custody.verify.case import Report

_CHUNK = 4 << 20


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


def _safe_relative(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def _check_sums(root: Path, report: Report) -> dict[str, str]:
    """Re-hash every file SHA256SUMS lists; report changed, deleted and added files."""
    path = root / SUMS
    try:
        data = path.read_bytes()
    except OSError:
        report.add("bundle.sums_missing", SUMS, "is missing: the bundle's file list was deleted")
        return {}
    try:
        listed = parse_sums(data)
    except ValueError as exc:
        report.add("bundle.sums_malformed", SUMS, f"is not a sha256sum file: {exc}")
        return {}
    sums: dict[str, str] = {}
    for raw, digest in listed:
        name = os.fsdecode(raw)
        if not _safe_relative(name) or name in (SUMS, SUMS_SIG):
            report.add("bundle.sums_name", SUMS, f"lists an unsafe or invalid name {name!r}")
            continue
        if name in sums:
            report.add("bundle.sums_name", SUMS, f"lists {name!r} twice")
            continue
        sums[name] = digest
        file = root.joinpath(*name.split("/"))
        if not file.is_file():
            report.add(
                "bundle.deleted",
                name,
                f"is listed in {SUMS} but missing from the bundle: the file was deleted",
            )
            continue
        actual = _sha256(file)
        if actual != digest:
            report.add(
                "bundle.altered",
                name,
                f"SHA-256 is {actual}; {SUMS} records {digest}: the file was changed",
            )
    present = _files(root) - {SUMS, SUMS_SIG}
    for name in sorted(present - set(sums)):
        report.add(
            "bundle.added", name, f"is in the bundle but not listed in {SUMS}: the file was added"
        )
    return sums


def _ledger_certs(entries: Sequence[Entry]) -> dict[str, x509.Certificate]:
    certs: dict[str, x509.Certificate] = {}
    for e in entries:
        if e.event != "identity_added":
            continue
        try:
            cert = load_certificate_pem(str(e.payload.get("certificate_pem", "")))
        except ChainproofError:
            continue  # verify() reports it
        if fingerprint(cert) == e.payload.get("fingerprint"):
            certs.setdefault(fingerprint(cert), cert)
    return certs


def _check_detached(
    root: Path,
    name: str,
    sig_name: str,
    certs: Mapping[str, x509.Certificate],
    expected_signer: str | None,
    report: Report,
) -> None:
    try:
        data = (root / name).read_bytes()
        sig = (root / sig_name).read_bytes()
    except OSError as exc:
        report.add("bundle.signature_missing", sig_name, f"cannot be read: {exc.strerror}")
        return
    signers = [fp for fp, cert in certs.items() if verify_signature(cert, data, sig)]
    if not signers:
        report.add(
            "bundle.signature",
            sig_name,
            f"does not verify over {name} with any examiner certificate in the ledger: {name} "
            "or its signature was changed, or it was signed with another key",
        )
    elif expected_signer is not None and expected_signer not in signers:
        report.add(
            "bundle.signer",
            sig_name,
            f"was made by {signers[0][:16]}..., not by the exporter the manifest names "
            f"({expected_signer[:16]}...)",
        )


def _load_manifest(root: Path, report: Report) -> dict[str, Any] | None:
    try:
        manifest = json.loads((root / MANIFEST).read_bytes())
    except OSError:
        report.add("manifest.missing", MANIFEST, "is missing")
        return None
    except ValueError as exc:
        report.add("manifest.malformed", MANIFEST, f"is not JSON: {exc}")
        return None
    if not isinstance(manifest, dict):
        report.add("manifest.malformed", MANIFEST, "is not a JSON object")
        return None
    return manifest


def _check_manifest(
    manifest: Mapping[str, Any],
    entries: Sequence[Entry],
    sums: Mapping[str, str],
    root: Path,
    report: Report,
) -> None:
    ledger = manifest.get("ledger") or {}
    head = entries[-1].entry_hash if entries else None
    if ledger.get("entries") != len(entries):
        report.add(
            "manifest.ledger",
            MANIFEST,
            f"says the ledger has {ledger.get('entries')} entries; {LEDGER} has {len(entries)}",
        )
    if ledger.get("head") != head:
        report.add(
            "manifest.ledger",
            MANIFEST,
            f"says the ledger head is {ledger.get('head')}; {LEDGER} ends with {head}",
        )
    recorded = [artifact_record(e) for e in entries if e.event == "artifact_collected"]
    listed = manifest.get("artifacts")
    if not isinstance(listed, list):
        report.add("manifest.artifacts", MANIFEST, "has no artifact list")
    elif listed != recorded:
        by_seq = {a.get("seq"): a for a in listed if isinstance(a, dict)}
        rec_seqs = {a["seq"] for a in recorded}
        for art in recorded:
            got = by_seq.get(art["seq"])
            if got != art:
                what = "is missing" if got is None else "differs from the ledger entry"
                report.add(
                    "manifest.artifacts",
                    f"{MANIFEST} artifact {art.get('member')} (entry {art['seq']})",
                    what,
                    art["seq"],
                )
        for seq in sorted(s for s in by_seq if s not in rec_seqs and isinstance(s, int)):
            report.add(
                "manifest.artifacts",
                f"{MANIFEST} artifact entry {seq}",
                "is not an artifact_collected entry of the ledger",
            )
        if len(listed) != len(by_seq):
            report.add("manifest.artifacts", MANIFEST, "lists an artifact more than once")
    listed_runs = {str(r.get("id")): r for r in manifest.get("runs") or [] if isinstance(r, dict)}
    ledger_run_ids = set()
    for run in ledger_runs(entries):
        ledger_run_ids.add(run.run_id)
        got = listed_runs.get(run.run_id)
        if got is None:
            report.add("manifest.runs", f"{MANIFEST} run {run.run_id}", "is missing")
            continue
        archive = root / run.archive
        size = archive.stat().st_size if archive.is_file() else None
        expected = run_json(run, size, sums.get(run.archive))
        for key in sorted(set(expected) | set(got)):
            if expected.get(key) != got.get(key):
                report.add(
                    "manifest.runs",
                    f"{MANIFEST} run {run.run_id}",
                    f"{key} is {got.get(key)!r}; the ledger and the bundle's files give "
                    f"{expected.get(key)!r}",
                )
    for run_id in sorted(set(listed_runs) - ledger_run_ids):
        report.add("manifest.runs", f"{MANIFEST} run {run_id}", "is not a run of the ledger")
    examiners = ledger_examiners(entries)
    for x in examiners:
        x.pop("_pem")
    if manifest.get("examiners") != examiners:
        report.add(
            "manifest.examiners",
            MANIFEST,
            "its examiners differ from the identity_added entries of the ledger",
        )
    files = manifest.get("files")
    if isinstance(files, list):
        present = _files(root)
        for name in sorted(set(files) - present):
            report.add("manifest.files", name, f"is named in {MANIFEST} but missing")
        for name in sorted(present - set(files)):
            report.add("manifest.files", name, f"is in the bundle but not named in {MANIFEST}")


def _check_member_sums(root: Path, entries: Sequence[Entry], report: Report) -> None:
    for run in ledger_runs(entries):
        name = f"evidence/{Path(run.archive).stem}.sha256"
        try:
            data = (root / name).read_bytes()
        except OSError:
            report.add("bundle.member_sums_missing", name, f"is missing (run {run.run_id})")
            continue
        try:
            listed = parse_sums(data)
        except ValueError as exc:
            report.add("bundle.member_sums", name, f"is not a sha256sum file: {exc}")
            continue
        expected = dict(regular_members(run.artifacts))
        got: dict[bytes, str] = {}
        for member, digest in listed:
            shown = os.fsdecode(member)
            if member in got:
                report.add("bundle.member_sums", name, f"lists member {shown!r} twice")
            got[member] = digest
            if member not in expected:
                report.add(
                    "bundle.member_sums",
                    name,
                    f"lists member {shown!r}, which the ledger does not record for run {run.run_id}",
                )
            elif expected[member] != digest:
                report.add(
                    "bundle.member_sums",
                    name,
                    f"gives member {shown!r} SHA-256 {digest}; the ledger records "
                    f"{expected[member]}",
                )
        for member in expected.keys() - got.keys():
            report.add(
                "bundle.member_sums",
                name,
                f"lacks member {os.fsdecode(member)!r}, which the ledger records",
            )


def _check_signature_files(root: Path, entries: Sequence[Entry], report: Report) -> None:
    expected: dict[str, bytes] = {}
    for e in entries:
        if e.signatures:
            expected[f"signatures/{e.seq}.json"] = e.signed_bytes()
            for n, s in enumerate(e.signatures, 1):
                try:
                    expected[f"signatures/{e.seq}-{n}.sig"] = s.der
                except ValueError:
                    expected[f"signatures/{e.seq}-{n}.sig"] = b""
    present = {n for n in _files(root) if n.startswith("signatures/")}
    for name in sorted(expected):
        if name not in present:
            seq = name.split("/")[1].split("-")[0].split(".")[0]
            report.add(
                "bundle.signature_file",
                name,
                f"is missing: the ledger's entry {seq} is signed, so this file belongs in the bundle",
            )
        elif (root / name).read_bytes() != expected[name]:
            report.add(
                "bundle.signature_file",
                name,
                f"differs from the signed entry in {LEDGER}",
            )
    for name in sorted(present - set(expected)):
        report.add("bundle.signature_file", name, f"belongs to no signed entry of {LEDGER}")


def check_bundle_files(root: Path, entries: list[Entry], report: Report) -> None:
    """Add to ``report`` every way the bundle's files disagree with SHA256SUMS and the ledger."""
    sums = _check_sums(root, report)
    certs = _ledger_certs(entries)
    for fp in sorted(certs):
        if not (root / "certs" / f"{fp}.pem").is_file():
            report.add(
                "bundle.cert_missing",
                f"certs/{fp}.pem",
                "is missing: the ledger introduces this examiner",
            )
    manifest = _load_manifest(root, report)
    exporter = None
    if manifest is not None:
        exporter = (manifest.get("exported_by") or {}).get("fingerprint")
        _check_manifest(manifest, entries, sums, root, report)
    _check_detached(root, SUMS, SUMS_SIG, certs, exporter, report)
    _check_detached(root, MANIFEST, MANIFEST_SIG, certs, exporter, report)
    _check_member_sums(root, entries, report)
    _check_signature_files(root, entries, report)
    pdf = root / REPORT_PDF
    try:
        with open(pdf, "rb") as f:
            magic = f.read(5)
    except OSError:
        report.add("bundle.report_missing", REPORT_PDF, "is missing")
    else:
        if magic != b"%PDF-":
            report.add("bundle.report", REPORT_PDF, "is not a PDF file")
