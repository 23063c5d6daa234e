"""The export bundle: everything a legal team needs to check a case without Chainproof.

:func:`write_bundle` writes, into a new directory and in this order (each file once, never
rewritten): ``evidence/<run>.tar`` (byte-for-byte copies) and ``evidence/<run>.sha256``
(GNU format over the archive's regular members), ``ledger.jsonl``, ``certs/<fp>.pem``,
``signatures/<seq>.json`` + ``signatures/<seq>-<n>.sig``, ``inventory.csv`` and
``inventory.jsonl`` (every artifact, one row each), ``case.jsonld``, ``manifest.json`` +
``.sig``, ``custody-report.pdf`` (its pages carry the manifest's SHA-256; the inventory
files are attached to it), ``VERIFY.md``, and last ``SHA256SUMS`` + ``.sig``. Signatures are DER over the
file's exact bytes (``openssl dgst -sha256 -verify``); ECDSA signatures made here are
deterministic (RFC 6979), so the same inputs give the same bundle.

Every fact the documents state comes from one fold of the ledger (:mod:`custody.bundle.facts`)
and, per artifact, from its typed event as the ledger is replayed; manifest.json and
case.jsonld are written as streams. The bundle holds the ledger as of its making; the export
itself is recorded afterwards, in the case's own ledger (``exported``), by the caller. No
private key material is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from custody.bundle.facts import LedgerFacts, MemberSums, artifacts, read_facts
from custody.bundle.files import BundleFiles, sign_digest
from custody.bundle.layout import (
    CASE_UCO,
    LATE_FILES,
    LEDGER,
    MANIFEST,
    MANIFEST_SIG,
    REPORT_PDF,
    SUMS,
    SUMS_SIG,
    VERIFY_MD,
    archive_file,
    certificate_file,
    member_sums_file,
    signature_file,
    signed_body_file,
)
from custody.bundle.manifest import ExportFacts, manifest_chunks
from custody.bundle.sha256sums import format_sums
from custody.bundle.verify_md import Guide, render_verify_md
from custody.errors import ExportError
from custody.record.canonical import canonical_json
from custody.record.entry import Entry
from custody.record.keys import Identity
from custody.record.times import utc_text
from custody.report.caseuco import ArchiveCopy, case_uco_chunks, case_uco_nodes
from custody.report.inventory import write_inventory
from custody.store.storage import EVIDENCE, EvidenceStore, LocalEvidenceStore, archive_name
from custody.verify.findings import Report

__all__ = ["LEDGER", "BundleResult", "Progress", "write_bundle"]  # LEDGER: app/verification.py

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BundleResult:
    """What :func:`write_bundle` made."""

    root: Path
    bundle_id: str
    generated_at: dt.datetime
    manifest_sha256: str
    sha256sums_sha256: str
    ledger_entries: int
    ledger_head: str
    files: int
    bytes: int


def _copy_evidence(
    w: BundleFiles,
    facts: LedgerFacts,
    sums: MemberSums,
    evidence: EvidenceStore,
    forced: bool,
    say: Progress,
) -> dict[str, ArchiveCopy | None]:
    """Copy each run's archive and write its member list; the copies' sizes and hashes."""
    copies: dict[str, ArchiveCopy | None] = {}
    for run in facts.state.runs.values():
        name = archive_file(run.archive)
        say(f"copying {name}")
        stored = archive_name(run.archive)
        f = run.finished.event if run.finished else None
        if stored is not None and evidence.exists(stored):
            src = f"{evidence.location}/{stored}"
            with evidence.open(stored) as source:
                size, digest = w.copy(name, source, src, f.archive_size if f else None)
            if f is not None and f.archive_sha256 not in (None, digest) and not forced:
                raise ExportError(
                    f"the archive of run {run.run_id} ({src}) has SHA-256 {digest}; the ledger "
                    f"recorded {f.archive_sha256} when it was sealed: it changed since"
                )
            copies[run.run_id] = ArchiveCopy(size, digest)
        elif forced:
            copies[run.run_id] = None
        else:
            raise ExportError(f"the archive of run {run.run_id} ({src}) is missing")
        w.put(member_sums_file(run.archive), format_sums(sums.pop(run.run_id, [])))
    return copies


def _write_ledger(w: BundleFiles, facts: LedgerFacts, entries: Sequence[Entry]) -> None:
    """ledger.jsonl, each examiner's certificate, each signed entry's bytes and signatures."""
    w.put_stream(LEDGER, (canonical_json(e.to_json()) + b"\n" for e in entries))
    for x in facts.state.examiners.values():
        w.put(certificate_file(x.fingerprint), x.certificate_pem.encode("ascii"))
    for e in entries:
        if not e.signatures:
            continue
        w.put(signed_body_file(e.seq), e.signed_bytes())
        for n, s in enumerate(e.signatures, 1):
            w.put(signature_file(e.seq, n), s.der)


def write_bundle(
    out: Path,
    *,
    entries: Sequence[Entry],
    evidence: EvidenceStore,
    verification: Report,
    identity: Identity,
    bundle_id: str,
    generated_at: dt.datetime,
    tool_version: str,
    forced: bool = False,
    progress: Progress | None = None,
    full_inventory: bool = False,
) -> BundleResult:
    """Write a bundle into ``out`` (a new or empty directory) from a case's ledger and evidence.

    ``entries`` is the ledger as verified (``verification``); a bundle of a case that failed
    verification is written only when ``forced``, and says so in every document.
    ``full_inventory``: the PDF lists every artifact and every ledger entry too (else it
    stays short, and the inventory files alone list the artifacts).
    """
    from custody.report.build import build_signed_report

    say = progress or (lambda _m: None)
    if not entries:
        raise ExportError("the case ledger is empty: there is nothing to export")
    if not verification.ok and not forced:
        raise ExportError("the case failed verification; refusing to export it")
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ExportError(f"{out} is not empty: choose a new directory for the bundle")
    members: MemberSums = {}
    facts = read_facts(entries, members)
    state = facts.state
    exporter = state.examiners.get(identity.fingerprint)
    if exporter is None:
        raise ExportError(
            f"the exporting examiner {identity.name} ({identity.fingerprint[:16]}...) has no "
            "identity_added entry in the ledger; record the identity in the case first"
        )
    export = ExportFacts(
        bundle_id=bundle_id,
        generated_at=utc_text(generated_at),
        tool_version=tool_version,
        exporter=exporter,
        verification={k: v for k, v in verification.to_json().items() if k != "subject"},
        forced=forced,
    )
    w = BundleFiles(out)

    # 1. evidence; 2. ledger, certificates, signatures
    archives = _copy_evidence(w, facts, members, evidence, forced, say)
    say("writing the ledger")
    _write_ledger(w, facts, entries)
    say("writing the inventory")
    annexes = write_inventory(out, entries)
    for a in annexes:
        w.add_written(a.name, a.size, a.sha256)

    # 3. case.jsonld and the manifest, streamed from the ledger
    say("writing case.jsonld")
    nodes = case_uco_nodes(state, artifacts(entries), archives, tool_version)
    w.put_stream(CASE_UCO, case_uco_chunks(nodes))
    say("writing manifest.json")
    contents = [{"name": n, "size": s, "sha256": d} for n, (s, d) in sorted(w.files.items())]
    files = sorted([*w.files, *LATE_FILES])
    chunks = manifest_chunks(
        facts, artifacts(entries), archives, export, contents=contents, files=files
    )
    manifest_sha256 = w.put_stream(MANIFEST, chunks)
    w.put(MANIFEST_SIG, sign_digest(identity, manifest_sha256))

    # 4. the signed report, then the guide
    say("writing the signed custody report")
    build_signed_report(
        entries=list(entries),
        verification=verification,
        manifest_sha256=manifest_sha256,
        bundle_id=bundle_id,
        generated_at=generated_at,
        evidence=LocalEvidenceStore(out / EVIDENCE),
        identity=identity,
        out=out / REPORT_PDF,
        annexes=annexes,
        full_inventory=full_inventory,
    )
    if not (out / REPORT_PDF).is_file():
        raise ExportError(f"the custody report was not written to {out / REPORT_PDF}")
    w.add_existing(REPORT_PDF)
    listed = sorted({*w.files, VERIFY_MD}, key=lambda n: n.encode())
    guide = Guide(facts, export, archives, listed, manifest_sha256, annexes)
    w.put(VERIFY_MD, render_verify_md(guide).encode("utf-8"))

    # 5. the signed list of every file
    on_disk = {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()
    }
    extra = on_disk - set(w.files)
    if extra:
        raise ExportError(f"unexpected files in the bundle: {', '.join(sorted(extra))}")
    sums = format_sums((n, d) for n, (_s, d) in w.files.items())
    sums_sha256 = w.put(SUMS, sums)
    w.put(SUMS_SIG, identity.sign(sums))
    return BundleResult(
        root=out,
        bundle_id=bundle_id,
        generated_at=generated_at,
        manifest_sha256=manifest_sha256,
        sha256sums_sha256=sums_sha256,
        ledger_entries=state.entries,
        ledger_head=state.head,
        files=len(w.files),
        bytes=sum(s for s, _d in w.files.values()),
    )
