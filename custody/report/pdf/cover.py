"""1. Cover: title, verification badge, the case and bundle at a glance, contents."""

from __future__ import annotations

from reportlab.platypus import Flowable, PageBreak, Paragraph, Spacer, Table, TableStyle

from custody.record.times import shown
from custody.report.model import NOT_RECORDED, ReportModel
from custody.report.pdf.flowables import Badge, Logo
from custody.report.pdf.page import PORTRAIT_W
from custody.report.pdf.styles import FAIL_RED, OK_GREEN, Styles
from custody.report.pdf.tables import kv_table
from custody.report.pdf.text import HEADING_LIMIT, human_bytes, para_text, paragraph

#: The sections after the cover, numbered from 2, as the contents list them.
SECTIONS = (
    "Authority and scope",
    "Personnel",
    "Evidence inventory",
    "Collection record",
    "Acquisition record",
    "Integrity",
    "Custody log",
    "Storage and preservation",
    "Time integrity",
    "How the record is produced",
    "Independent verification",
    "Examiner attestation",
    "Annexes",
)


def cover(m: ReportModel, s: Styles) -> list[Flowable]:
    """The first page."""
    story: list[Flowable] = [Spacer(1, 18), Logo(30), Spacer(1, 26)]
    story.append(Paragraph("Chain of Custody Report", s.title))
    story.append(paragraph(m.case_field("title"), s.subtitle, limit=HEADING_LIMIT))
    story += [_badge(m), Spacer(1, 14)]
    story.append(
        kv_table(
            s,
            _facts(m),
            (150, PORTRAIT_W - 150),
            mono_keys=("Examiner certificate SHA-256", "Manifest SHA-256", "Ledger head"),
        )
    )
    story.append(Spacer(1, 16))
    story.append(Paragraph("Contents", s.h2))
    story.append(_contents(s))
    story.append(Spacer(1, 10))
    story.append(
        Paragraph(
            "This report is generated from the case's custody ledger, a hash-chained record "
            "signed by the examiners, and from the verification made for this export. It is "
            "signed as a whole by the examiner named above (PAdES); section 12 shows how "
            "to check it and the evidence it describes without Chainproof.",
            s.note,
        )
    )
    story.append(PageBreak())
    return story


def _badge(m: ReportModel) -> Badge:
    v = m.verification
    if v.ok:
        return Badge(
            "VERIFIED",
            f"every check holds: {v.entries} ledger entries, {v.signatures} signatures, "
            f"{v.artifacts} artifacts re-hashed",
            OK_GREEN,
            PORTRAIT_W,
        )
    return Badge(
        f"FAILED - {len(v.findings)} problem(s)",
        "the record does not hold as recorded: see section 7 for every finding",
        FAIL_RED,
        PORTRAIT_W,
    )


def _facts(m: ReportModel) -> list[tuple[str, str]]:
    ex = m.examiner
    examiner = ex.name + (f", {ex.organisation}" if ex.organisation else "")
    if ex.email:
        examiner += f" <{ex.email}>"
    return [
        ("Case title", m.case_field("title")),
        ("Case ID", m.case_id or NOT_RECORDED),
        ("Incident reference", m.case_field("incident_ref")),
        ("Organisation", m.case_field("organisation")),
        ("Bundle ID", m.bundle_id),
        ("Generated at (UTC)", shown(m.generated_at)),
        ("Examiner (signs this report)", examiner),
        ("Examiner certificate SHA-256", ex.fingerprint),
        ("Manifest SHA-256", m.manifest_sha256),
        ("Ledger head", m.verification.head),
        (
            "Record",
            f"{len(m.runs)} collection run(s), {m.artifact_count:,} artifacts "
            f"({human_bytes(m.artifact_bytes)}), {m.problem_count:,} errors and skips, "
            f"{len(m.entries):,} ledger entries, {len(m.people)} examiner(s)",
        ),
    ]


def _contents(s: Styles) -> Table:
    items = [f"{i}. {name}" for i, name in enumerate(SECTIONS, start=2)]
    half = (len(items) + 1) // 2
    contents = Table(
        [
            [
                Paragraph(para_text(a), s.cell),
                Paragraph(para_text(b), s.cell) if b else "",
            ]
            for a, b in zip(items[:half], [*items[half:], ""], strict=False)
        ],
        colWidths=[PORTRAIT_W / 2, PORTRAIT_W / 2],
        hAlign="LEFT",
    )
    contents.setStyle(
        TableStyle(
            [
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return contents
