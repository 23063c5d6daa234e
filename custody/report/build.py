"""The signed PDF custody report: what a court and a lawyer read.

``build_signed_report`` derives the content from the ledger entries (the verifiable record),
the verification result, the bundle's manifest hash and the run archives' system facts
(:mod:`custody.report.data`), lays it out (:mod:`custody.report.pdf`) and signs it PAdES
B-B with the examiner's key (:mod:`custody.report.sign`). ``pdfsig`` then says "Signature is
Valid." and, after any changed byte, "Digest Mismatch.".
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

from custody.errors import ExportError
from custody.record.entry import Entry
from custody.record.keys import Identity
from custody.report.data import build_model
from custody.report.model import ReportModel, ReportSigner
from custody.report.pdf import render_model
from custody.report.sign import SignatureBox, sign_pdf
from custody.store.storage import EvidenceStore
from custody.verify.findings import Report

__all__ = ["SignatureBox", "build_signed_report", "render_report", "sign_pdf"]


def _model(
    *,
    entries: Iterable[Entry],
    verification: Report,
    manifest_sha256: str,
    bundle_id: str,
    generated_at: dt.datetime,
    evidence: EvidenceStore,
    identity: Identity,
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
    )


def render_report(
    *,
    entries: list[Entry],
    verification: Report,
    manifest_sha256: str,
    bundle_id: str,
    generated_at: dt.datetime,
    evidence: EvidenceStore,
    identity: Identity,
) -> bytes:
    """The report as an unsigned PDF."""
    pdf, _box = render_model(
        _model(
            entries=entries,
            verification=verification,
            manifest_sha256=manifest_sha256,
            bundle_id=bundle_id,
            generated_at=generated_at,
            evidence=evidence,
            identity=identity,
        )
    )
    return pdf


def build_signed_report(
    *,
    entries: list[Entry],
    verification: Report,
    manifest_sha256: str,
    bundle_id: str,
    generated_at: dt.datetime,
    evidence: EvidenceStore,
    identity: Identity,
    out: Path,
) -> None:
    """Render the custody report, sign it as ``identity`` (PAdES B-B) and write it to ``out``."""
    pdf, box = render_model(
        _model(
            entries=entries,
            verification=verification,
            manifest_sha256=manifest_sha256,
            bundle_id=bundle_id,
            generated_at=generated_at,
            evidence=evidence,
            identity=identity,
        )
    )
    signed = sign_pdf(pdf, identity, box=box, signing_time=generated_at)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            f.write(signed)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write the custody report {out}: {exc.strerror or exc}") from exc
