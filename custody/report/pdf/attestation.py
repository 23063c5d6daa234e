"""1. Examiner attestation: the statements of fact, the place of the signature, the date,
and room for counsel's own declaration. It comes right after the cover and the contents."""

from __future__ import annotations

from reportlab.platypus import Flowable, PageBreak, Paragraph, Spacer, Table, TableStyle

from custody.record.times import shown_date
from custody.report.model import ReportModel
from custody.report.pdf.flowables import PlaceCallback, SignatureSpot
from custody.report.pdf.page import (
    ATTESTATION,
    INDEPENDENT,
    INTEGRITY,
    PORTRAIT_W,
    RUNS,
    body,
    heading,
)
from custody.report.pdf.styles import INK, RULE, SANS, Styles
from custody.report.pdf.text import para_text

#: Runs named in the attestation at most.
RUNS_NAMED = 12


def attestation(m: ReportModel, s: Styles, on_place: PlaceCallback) -> list[Flowable]:
    """The attestation page; ``on_place`` is told where the signature's box lands."""
    story: list[Flowable] = [*heading(s, ATTESTATION, "Examiner attestation")]
    for i, text in enumerate(_statements(m), start=1):
        story.append(Paragraph(para_text(text, limit=None), s.bullet, bulletText=f"{i}."))
    story.append(Spacer(1, 8))
    story.append(
        body(
            s,
            "Signature: the digital signature on this document (PAdES, field "
            "ExaminerSignature, shown below) is the examiner's signature of these statements.",
        )
    )
    story.append(_signature_block(m, on_place))
    story.append(Spacer(1, 18))
    story.append(Paragraph("Declaration of counsel", s.h2))
    story.append(
        Paragraph(
            "Reserved for counsel's own declaration or certification; left blank by the examiner.",
            s.small,
        )
    )
    box = Table([[""]], colWidths=[PORTRAIT_W], rowHeights=[150])
    box.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.6, RULE)]))
    story.append(box)
    story.append(PageBreak())
    return story


def _statements(m: ReportModel) -> list[str]:
    ex, v = m.examiner, m.verification
    org = f" of {ex.organisation}" if ex.organisation else ""
    runs = ", ".join(r.short_id for r in m.runs[:RUNS_NAMED]) or "none"
    if len(m.runs) > RUNS_NAMED:
        runs += f" and {len(m.runs) - RUNS_NAMED} more"
    hashes = (
        f"At verification for this export, {v.artifacts:,} artifacts re-hashed to the "
        f"recorded SHA-256, SHA-1 and MD5 values and {v.signatures:,} signatures verified; "
        "no discrepancy was found."
        if v.ok
        else f"At verification for this export, {len(v.findings)} discrepancies were found; "
        f"they are set out in section {INTEGRITY} and are not covered by this statement."
    )
    annexes = " and ".join(f"{a.name} (SHA-256 {a.sha256})" for a in m.annexes)
    inventory = (
        f"The inventory files {annexes}, attached to this report and part of its bundle, "
        f"list each of the {m.artifact_count:,} artifacts as the ledger records it, with its "
        "source, size and hashes."
        if m.annexes
        else f"The {m.artifact_count:,} artifacts are recorded in the ledger, each with its "
        "source, size and hashes."
    )
    return [
        f"I am {ex.name}{org}, holder of the certificate with SHA-256 fingerprint "
        f"{ex.fingerprint}, and I make this report.",
        "The evidence described in this report was collected with the tool, version, profile "
        f"and command line, on the host(s) and at the times stated in section {RUNS} "
        f"(runs: {runs}).",
        hashes,
        inventory,
        "The custody ledger from which this report is generated was written at the time of "
        "each act it records, by the process that performed the act, and is kept in the "
        "regular course of the examination.",
        "The statements in this report are facts recorded in the ledger or found by the "
        f"verification; they can be checked as set out in section {INDEPENDENT}.",
    ]


def _signature_block(m: ReportModel, on_place: PlaceCallback) -> Table:
    name = m.examiner.name
    spot = SignatureSpot(250, 62, f"Digital signature of {name}", on_place)
    line_style = TableStyle(
        [
            ("LINEBELOW", (1, 0), (1, -1), 0.6, INK),
            ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
            ("FONT", (0, 0), (-1, -1), SANS, 8.5),
            ("TOPPADDING", (0, 0), (-1, -1), 10),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ]
    )
    lines = Table(
        [["Name", name], ["Date", f"{shown_date(m.generated_at)} (UTC)"], ["Place", ""]],
        colWidths=[40, 190],
        style=line_style,
        hAlign="LEFT",
    )
    block = Table([[spot, lines]], colWidths=[270, PORTRAIT_W - 270], hAlign="LEFT")
    block.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    )
    return block
