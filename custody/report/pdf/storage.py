"""9. Storage and preservation: where the case lives, the bundle's layout and the run
archives as found at report time."""

from __future__ import annotations

from reportlab.platypus import Flowable, Paragraph, Spacer

from custody.report.model import NOT_RECORDED, ReportModel
from custody.report.pdf.page import PORTRAIT_W, STORAGE, body, heading, subheading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import grid_table, kv_table
from custody.report.pdf.text import para_text

#: Run archives listed at most.
ARCHIVES_LISTED = 40
BUNDLE_LAYOUT = (
    "manifest.json (+ .sig)  case, runs, artifacts, hashes, ledger head\n"
    "SHA256SUMS (+ .sig)     SHA-256 of every file of the bundle\n"
    "ledger.jsonl            every ledger entry, in order\n"
    "certs/*.pem             every examiner certificate\n"
    "evidence/<run>.tar      the run archives, byte for byte as collected\n"
    "evidence/<run>.sha256   SHA-256 of every member of the archive\n"
    "case.jsonld             CASE/UCO description of the investigation\n"
    "inventory.csv           every artifact, one row each (also attached to this report)\n"
    "inventory.jsonl         the same, one JSON object a line, values exactly as recorded\n"
    "custody-report.pdf      this report, signed\n"
    "VERIFY.md               how to check all of it"
)


def storage(m: ReportModel, s: Styles) -> list[Flowable]:
    """The case directory, the bundle and the archives."""
    story = heading(s, STORAGE, "Storage and preservation")
    story.append(
        body(
            s,
            "The case lives in a case directory (case.json, the case database, evidence/ "
            "with one archive per run, identities/ with the examiners' certificates, "
            "exports/). Archives are append-only while a run writes them and made read-only "
            "when it ends. This report belongs to the export bundle identified below, whose "
            "layout is:",
        )
    )
    story.append(Paragraph(para_text(BUNDLE_LAYOUT, lines=True).replace(" ", "&nbsp;"), s.code))
    story.append(
        kv_table(
            s,
            [("Bundle ID", m.bundle_id), ("Manifest SHA-256", m.manifest_sha256)],
            (110, PORTRAIT_W - 110),
            mono_keys=("Manifest SHA-256",),
        )
    )
    story.append(subheading(s, f"{STORAGE}.1 Run archives", "storage-archives"))
    story += _archives(m, s)
    return story


def _archives(m: ReportModel, s: Styles) -> list[Flowable]:
    rows: list[list[str]] = []
    highlight: list[int] = []
    for i, r in enumerate(m.runs[:ARCHIVES_LISTED]):
        a = r.archive
        recorded = r.finished.archive_size if r.finished else None
        if a is None or not a.exists:
            found, digest = "missing", (a.error if a else NOT_RECORDED) or "missing"
            highlight.append(i)
        else:
            found = f"{a.size:,}" if a.size is not None else "?"
            digest = a.sha256 or (a.error or "not computed")
            if recorded is not None and a.size != recorded:
                highlight.append(i)
        rows.append(
            [
                r.archive_name,
                f"{recorded:,}" if recorded is not None else NOT_RECORDED,
                found,
                digest,
            ]
        )
    if not rows:
        return [body(s, "No run archive is recorded.")]
    return [
        grid_table(
            s,
            ["Archive", "Recorded size", "Size found", "SHA-256 of the archive file"],
            rows,
            [130, 62, 62, PORTRAIT_W - 254],
            mono=(0, 3),
            highlight=highlight,
            lines=3,
        ),
        *(
            [
                Paragraph(
                    f"{len(m.runs) - ARCHIVES_LISTED} more archives are not listed; "
                    "manifest.json gives each with its size and SHA-256.",
                    s.small,
                )
            ]
            if len(m.runs) > ARCHIVES_LISTED
            else []
        ),
        Spacer(1, 3),
        Paragraph(
            "Archive hashes were computed when this report was made, from the files "
            "exported; they can be checked with sha256sum evidence/*.tar.",
            s.small,
        ),
    ]
