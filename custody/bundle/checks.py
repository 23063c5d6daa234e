"""Checks that only a bundle needs, on top of :func:`custody.verify.case.verify` of its ledger.

- ``SHA256SUMS``: parsed with ``sha256sum``'s escaping; every listed file re-hashed (changed
  or deleted files); files present but not listed (added files);
- ``SHA256SUMS.sig`` and ``manifest.json.sig``: verify with the certificate of an examiner
  the ledger introduces, the one the manifest names as exporter;
- ``manifest.json`` and ``case.jsonld``: say what the ledger says, field by field
  (:mod:`custody.bundle.manifest_check`, :mod:`custody.bundle.uco_check`);
- ``evidence/<run>.sha256``: exactly the ledger's member hashes of that run;
- ``signatures/``: exactly the signed bodies and signatures of the ledger;
- ``timestamps/``: a token only for signed entries, each over its entry's signed bytes,
  signed by its TSA, in time with the ledger (:mod:`custody.timestamp.check`);
- ``certs/``: a certificate for every examiner; ``custody-report.pdf`` present;
- ``inventory.csv`` and ``inventory.jsonl``: exactly the ledger's artifacts, byte for byte
  (:mod:`custody.bundle.inventory_check`).

The ledger is read and parsed once, by the case verification's pass (:class:`BundleTap`):
every fact comes from its fold, and each run's member list, manifest.json's artifacts, the
CASE/UCO inventory files and the inventory files are compared as the artifacts pass, each
check holding no more per artifact than a stream comparison does. What the ledger's end
decides (the case, runs, examiners, case.jsonld) is compared after it. The ledger is read
again only to name the members of a run whose ``.sha256`` file differs from it, and for
CASE/UCO files made before the split, whose case nodes come before the artifacts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509

from custody.bundle.facts import FactsTap, LedgerFacts
from custody.bundle.files import sha256_file, verify_digest
from custody.bundle.inventory_check import InventoryCheck
from custody.bundle.layout import (
    LATE_FILES,
    LEDGER,
    MANIFEST,
    MANIFEST_SIG,
    REPORT_PDF,
    SUMS,
    SUMS_SIG,
    archive_file,
    certificate_file,
    is_older_format,
)
from custody.bundle.manifest_check import ManifestCheck
from custody.bundle.membersums import MemberSumsCheck
from custody.bundle.sha256sums import parse_sums
from custody.bundle.uco_check import UcoCheck, check_case_uco
from custody.errors import ChainproofError
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected, CaseOpened, Event, RunStarted
from custody.record.fold import CaseState, Folder
from custody.record.keys import fingerprint, load_certificate_pem
from custody.record.regular import open_regular, read_regular
from custody.report.caseuco import ArchiveCopy
from custody.report.entries import EntrySource, entry_reader
from custody.report.signed_pdf import check_signed_pdf
from custody.timestamp.check import TimestampCheck, TsaAnchors
from custody.timestamp.store import TokenStore
from custody.verify.findings import Report


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


def _safe_relative(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def _check_sums(root: Path, present: set[str], report: Report) -> dict[str, str]:
    """Re-hash every file SHA256SUMS lists; report changed, deleted and added files.

    Returns the SHA-256 each listed file really has."""
    try:
        data = read_regular(root / SUMS)
    except FileNotFoundError:
        report.add("bundle.sums_missing", SUMS, "is missing: the bundle's file list was deleted")
        return {}
    except OSError as exc:
        report.add("bundle.unreadable", SUMS, f"cannot be read: {exc.strerror}")
        return {}
    try:
        listed = parse_sums(data)
    except ValueError as exc:
        report.add("bundle.sums_malformed", SUMS, f"is not a sha256sum file: {exc}")
        return {}
    seen: set[str] = set()
    actual: dict[str, str] = {}
    for raw, digest in listed:
        name = os.fsdecode(raw)
        if not _safe_relative(name) or name in (SUMS, SUMS_SIG):
            report.add("bundle.sums_name", SUMS, f"lists an unsafe or invalid name {name!r}")
            continue
        if name in seen:
            report.add("bundle.sums_name", SUMS, f"lists {name!r} twice")
            continue
        seen.add(name)
        file = root.joinpath(*name.split("/"))
        if not os.path.lexists(file):
            report.add(
                "bundle.deleted",
                name,
                f"is listed in {SUMS} but missing from the bundle: the file was deleted",
            )
            continue
        try:
            actual[name] = sha256_file(file)
        except OSError as exc:
            report.add(
                "bundle.unreadable", name, f"is listed in {SUMS} but cannot be read: {exc.strerror}"
            )
            continue
        if actual[name] != digest:
            report.add(
                "bundle.altered",
                name,
                f"SHA-256 is {actual[name]}; {SUMS} records {digest}: the file was changed",
            )
    for name in sorted(present - seen - {SUMS, SUMS_SIG}):
        report.add(
            "bundle.added", name, f"is in the bundle but not listed in {SUMS}: the file was added"
        )
    return actual


def _ledger_certs(facts: LedgerFacts) -> dict[str, x509.Certificate]:
    """Each examiner's certificate, when it matches the fingerprint it is introduced by."""
    certs: dict[str, x509.Certificate] = {}
    for fp, x in facts.state.examiners.items():
        try:
            cert = load_certificate_pem(x.certificate_pem)
        except ChainproofError:
            continue  # verify() reports it
        if fingerprint(cert) == fp:
            certs[fp] = cert
    return certs


def _check_detached(
    root: Path,
    name: str,
    sig_name: str,
    digest: str | None,
    certs: Mapping[str, x509.Certificate],
    expected_signer: str | None,
    report: Report,
) -> None:
    try:
        sig = read_regular(root / sig_name)
    except OSError as exc:
        report.add("bundle.signature_missing", sig_name, f"cannot be read: {exc.strerror}")
        return
    try:
        digest = digest or sha256_file(root / name)
    except OSError as exc:
        report.add("bundle.signature", sig_name, f"cannot be checked: {name}: {exc.strerror}")
        return
    signers = [fp for fp, cert in certs.items() if verify_digest(cert, digest, sig)]
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


def _archives(
    root: Path, facts: LedgerFacts, actual: Mapping[str, str]
) -> dict[str, ArchiveCopy | None]:
    """Each run archive's size and SHA-256 as the ledger recorded them when the run was
    sealed, else as the bundle's copy has them; None when neither says."""
    copies: dict[str, ArchiveCopy | None] = {}
    for run_id, run in facts.state.runs.items():
        f = run.finished.event if run.finished else None
        size, digest = (f.archive_size, f.archive_sha256) if f else (None, None)
        name = archive_file(run.archive)
        path = root / name
        if (size is None or digest is None) and path.is_file():
            try:
                digest = digest or actual.get(name) or sha256_file(path)
                size = path.stat().st_size if size is None else size
            except OSError:
                pass  # the SHA256SUMS check reports the file
        copies[run_id] = None if size is None and digest is None else ArchiveCopy(size, digest)
    return copies


def _contents(root: Path, present: set[str], actual: Mapping[str, str]) -> list[dict[str, Any]]:
    """What the manifest's ``contents`` must list: every regular file written before it
    (anything else in the bundle is reported by the SHA256SUMS check)."""
    items = []
    for name in sorted(present - set(LATE_FILES)):
        path = root / name
        if path.is_file() and not path.is_symlink():
            try:
                digest = actual.get(name) or sha256_file(path)
            except OSError:
                continue  # the SHA256SUMS check reports the file
            items.append({"name": name, "size": path.stat().st_size, "sha256": digest})
    return items


def _check_signature_files(
    root: Path, present: set[str], expected: Mapping[str, str], report: Report
) -> None:
    """``expected``: the SHA-256 of each file ``signatures/`` must hold, by name."""
    found = {n for n in present if n.startswith("signatures/")}
    for name in sorted(expected):
        if name not in found:
            seq = name.split("/")[1].split("-")[0].split(".")[0]
            report.add(
                "bundle.signature_file",
                name,
                f"is missing: the ledger's entry {seq} is signed, so this file belongs in the bundle",
            )
        else:
            try:
                same = hashlib.sha256(read_regular(root / name)).hexdigest() == expected[name]
            except OSError as exc:
                report.add("bundle.signature_file", name, f"cannot be read: {exc.strerror}")
                continue
            if not same:
                report.add(
                    "bundle.signature_file", name, f"differs from the signed entry in {LEDGER}"
                )
    for name in sorted(found - set(expected)):
        report.add("bundle.signature_file", name, f"belongs to no signed entry of {LEDGER}")


def _check_report_pdf(
    root: Path, examiners: Mapping[str, str], exporter: str | None, report: Report
) -> None:
    """The report is signed once, by the examiner who exported the bundle (any examiner of
    the ledger when the manifest does not say who), over every byte of the file."""
    try:
        with open_regular(root / REPORT_PDF) as f:
            if exporter is not None and exporter in examiners:
                examiners = {exporter: examiners[exporter]}
            check_signed_pdf(f, REPORT_PDF, report, signers=examiners)
    except FileNotFoundError:
        report.add("bundle.report_missing", REPORT_PDF, "is missing")
    except OSError as exc:
        report.add("bundle.report", REPORT_PDF, f"cannot be read: {exc.strerror}")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class BundleTap:
    """What the bundle's checks take from the ledger pass of the case's verification (a
    :class:`~custody.verify.case.LedgerTap`): its facts, each run's member list, manifest.json's
    artifacts and the inventory files, compared as the artifacts pass, and the timestamps.
    Made before that pass (it opens the files it compares); :meth:`close` it when the pass
    fails."""

    def __init__(self, root: Path, tsa_anchors: TsaAnchors | None = None) -> None:
        #: The name of every file in the bundle, listed before the pass.
        self.present = _files(root)
        self.members = MemberSumsCheck(root)
        self.facts = FactsTap(self.members.feed)
        self.timestamps = TimestampCheck(TokenStore(root), tsa_anchors)
        self._runs: set[str] = set()  # started runs: the fold counts their artifacts
        self.manifest = ManifestCheck(root)
        self.inventory = InventoryCheck(root, self.present)
        self.uco = UcoCheck(root)

    def feed(self, entry: Entry, event: Event | None) -> None:
        if isinstance(event, ArtifactCollected) and not entry.has_canonical_form():
            event = None  # in no document, as the export leaves it (custody.bundle.writer)
        self.facts.feed(entry, event)
        self.timestamps.feed(entry, event)
        if isinstance(event, ArtifactCollected):
            if event.run_id in self._runs:
                self.manifest.feed(entry.seq, event)
                self.inventory.feed(entry.seq, event)
                self.uco.feed(entry.seq, event)
        elif isinstance(event, RunStarted):
            self._runs.add(event.run_id)
        elif isinstance(event, CaseOpened):
            self.uco.opened(event.case_id)

    def finish(self, state: CaseState) -> None:
        self.facts.finish(state)
        self.timestamps.finish(state)

    def close(self) -> None:
        self.members.close()
        self.manifest.close()
        self.inventory.close()
        self.uco.close()


def check_bundle_files(
    root: Path, entries: EntrySource, report: Report, tap: BundleTap | None = None
) -> None:
    """Add to ``report`` every way the bundle's files disagree with SHA256SUMS and the ledger.

    ``entries``: the bundle's ledger, a list or a function that reads it anew. ``tap``: one
    that a pass over ``entries`` has fed already (the case's verification); without it the
    ledger is read once for it. The checks take what they need of the ledger from that one
    pass; the ledger is read again only to name what differs in a run's member list, and
    for CASE/UCO files made before the split (:class:`~custody.bundle.uco_check.UcoCheck`)."""
    read = entry_reader(entries)
    if tap is None or tap.facts.facts is None:
        if tap is not None:
            tap.close()
        tap = BundleTap(root)
        try:
            folder = Folder()
            for entry, event in folder.feed(read()):
                tap.feed(entry, event)
        except BaseException:
            tap.close()
            raise
        tap.finish(folder.state)
    try:
        _check_files(root, read, report, tap)
    finally:
        tap.close()


def _check_files(
    root: Path, read: Callable[[], Iterable[Entry]], report: Report, tap: BundleTap
) -> None:
    facts = tap.facts.facts
    assert facts is not None
    present = tap.present
    actual = _check_sums(root, present, report)
    certs = _ledger_certs(facts)
    for fp in sorted(certs):
        if certificate_file(fp) not in present:
            report.add(
                "bundle.cert_missing",
                certificate_file(fp),
                "is missing: the ledger introduces this examiner",
            )
    archives = _archives(root, facts, actual)
    contents = _contents(root, present, actual)
    members = tap.manifest.finish(facts, archives, contents, present, report)
    exporter = None
    if members is not None:
        by = members.get("exported_by")
        exporter = _text(by.get("fingerprint")) if isinstance(by, dict) else None
        tool = members.get("tool")
        version = _text(tool.get("version")) if isinstance(tool, dict) else None
        if version is not None:
            older = is_older_format(members.get("format"))
            if tap.uco.one_pass(facts, older):
                tap.uco.finish(facts, archives, version, report)
            else:
                tap.uco.close()
                check_case_uco(root, read(), facts, archives, version, report, older=older)
    _check_detached(root, SUMS, SUMS_SIG, None, certs, exporter, report)
    _check_detached(root, MANIFEST, MANIFEST_SIG, actual.get(MANIFEST), certs, exporter, report)
    tap.members.report(facts.state.runs.values(), read, report)
    _check_signature_files(root, present, tap.facts.signature_files, report)
    files = members.get("files") if members is not None else None
    tap.inventory.finish(files if isinstance(files, list) else None, report)
    names = {fp: facts.state.examiners[fp].name for fp in certs}
    _check_report_pdf(root, names, exporter, report)
    if tap.timestamps.finished:
        tap.timestamps.add_to(report)
