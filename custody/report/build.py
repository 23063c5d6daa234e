"""The signed PDF custody report: what a court and a lawyer read.

``build_signed_report`` derives the content from the ledger entries (the verifiable record),
the verification result, the bundle's manifest hash and the run archives' system facts
(:mod:`custody.report.data`), lays it out (:mod:`custody.report.pdf`: at most a few dozen
pages whatever the number of artifacts), attaches the per-artifact inventory files
(:mod:`custody.report.inventory`, :mod:`custody.report.attach`) and signs the whole file
PAdES B-B with the examiner's key (:mod:`custody.report.sign`). ``pdfsig`` then says
"Signature is Valid." and, after any changed byte, "Digest Mismatch.".
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from custody.errors import ExportError
from custody.record.keys import Identity
from custody.report.data import ModelStream, build_model
from custody.report.entries import EntrySource, entry_reader
from custody.report.inventory import AnnexFile, write_inventory
from custody.report.model import ArchiveFacts, ReportModel, ReportSigner
from custody.report.pdf import render_model
from custody.report.sign import SignatureBox, attach_files, sign_pdf, sign_pdf_to
from custody.store.storage import EvidenceStore
from custody.verify.findings import Report

__all__ = ["SignatureBox", "build_signed_report", "render_report", "sign_pdf"]


def _model(
    *,
    entries: EntrySource,
    verification: Report,
    manifest_sha256: str,
    bundle_id: str,
    generated_at: dt.datetime,
    evidence: EvidenceStore,
    identity: Identity,
    annexes: Sequence[AnnexFile],
    full_inventory: bool,
    archive_digests: Mapping[str, ArchiveFacts] | None = None,
    taken: ModelStream | None = None,
) -> ReportModel:
    if generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware (UTC)")
    return build_model(
        entries=entries,
        verification=verification,
        manifest_sha256=manifest_sha256,
        bundle_id=bundle_id,
        generated_at=generated_at,
        evidence=evidence,
        examiner=ReportSigner(
            name=identity.name,
            organisation=identity.organisation,
            email=identity.email,
            fingerprint=identity.fingerprint,
            certificate_pem=identity.certificate_pem(),
        ),
        annexes=annexes,
        full_inventory=full_inventory,
        archive_digests=archive_digests,
        taken=taken,
    )


@contextmanager
def _inventory(
    entries: EntrySource, annexes: Sequence[AnnexFile] | None, scratch: Path | None
) -> Iterator[Sequence[AnnexFile]]:
    """The inventory files given, or made from ``entries`` in a temporary directory (in
    ``scratch``) that lives as long as the context."""
    if annexes is not None:
        yield annexes
        return
    with tempfile.TemporaryDirectory(prefix=".chainproof-inventory-", dir=scratch) as tmp:
        yield write_inventory(Path(tmp), entry_reader(entries)())


def render_report(
    *,
    entries: EntrySource,
    verification: Report,
    manifest_sha256: str,
    bundle_id: str,
    generated_at: dt.datetime,
    evidence: EvidenceStore,
    identity: Identity,
    annexes: Sequence[AnnexFile] | None = None,
    full_inventory: bool = False,
) -> bytes:
    """The report as an unsigned PDF, with its inventory files attached (made from
    ``entries`` when ``annexes`` is None)."""
    with _inventory(entries, annexes, None) as files:
        pdf, _box = render_model(
            _model(
                entries=entries,
                verification=verification,
                manifest_sha256=manifest_sha256,
                bundle_id=bundle_id,
                generated_at=generated_at,
                evidence=evidence,
                identity=identity,
                annexes=files,
                full_inventory=full_inventory,
            )
        )
        return attach_files(pdf, files, when=generated_at)


def build_signed_report(
    *,
    entries: EntrySource,
    verification: Report,
    manifest_sha256: str,
    bundle_id: str,
    generated_at: dt.datetime,
    evidence: EvidenceStore,
    identity: Identity,
    out: Path,
    annexes: Sequence[AnnexFile] | None = None,
    full_inventory: bool = False,
    archive_digests: Mapping[str, ArchiveFacts] | None = None,
    taken: ModelStream | None = None,
) -> None:
    """Render the custody report, attach its inventory files, sign it as ``identity``
    (PAdES B-B) and write it to ``out``.

    ``annexes``: the inventory files (the bundle's; made from ``entries`` beside ``out``,
    then removed, when None). ``full_inventory``: list every artifact and every ledger
    entry in the PDF too (its length then grows with the case). ``entries``: a list, or a
    function reading the ledger anew (it is read in passes, never held). ``archive_digests``:
    the archives' facts by run id as the caller hashed them (else hashed again here).
    ``taken``: the report's pass over the ledger, made by the caller in its own
    (:class:`~custody.report.data.ModelStream`).
    """
    tmp = out.with_name(out.name + ".tmp")
    try:
        with _inventory(entries, annexes, out.parent) as files:
            pdf, box = render_model(
                _model(
                    entries=entries,
                    verification=verification,
                    manifest_sha256=manifest_sha256,
                    bundle_id=bundle_id,
                    generated_at=generated_at,
                    evidence=evidence,
                    identity=identity,
                    annexes=files,
                    full_inventory=full_inventory,
                    archive_digests=archive_digests,
                    taken=taken,
                )
            )
            with tmp.open("w+b") as f:
                sign_pdf_to(
                    pdf,
                    f,
                    identity,
                    box=box,
                    signing_time=generated_at,
                    attachments=files,
                    scratch=out.parent,
                )
                f.flush()
                os.fsync(f.fileno())
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write the custody report {out}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
