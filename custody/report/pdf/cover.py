"""The cover (the case at a glance: who, what, its seal and verification, its counts, the
bundle's fingerprint) and the contents (each section's page, linked)."""

from __future__ import annotations

from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, PageBreak, Paragraph, Spacer
from reportlab.platypus.tableofcontents import TableOfContents

from custody.record.times import shown
from custody.report.inventory import INVENTORY_CSV, INVENTORY_JSONL
from custody.report.model import NOT_RECORDED, ReportModel
from custody.report.pdf.flowables import Badge, Logo
from custody.report.pdf.page import (
    ANNEXES,
    ATTESTATION,
    INDEPENDENT,
    INTEGRITY,
    INVENTORY,
    PORTRAIT_W,
    Anchor,
    Heading,
)
from custody.report.pdf.styles import FAIL_RED, OK_GREEN, SANS, SANS_BOLD, Styles
from custody.report.pdf.tables import kv_table
from custody.report.pdf.text import HEADING_LIMIT, human_bytes, paragraph

#: Lines a value of the cover fills at most.
COVER_LINES = 4


def cover(m: ReportModel, s: Styles) -> list[Flowable]:
    """The first page."""
    story: list[Flowable] = [
        Anchor("Cover", key="cover"),
        Spacer(1, 6),
        Logo(30),
        Spacer(1, 18),
    ]
    story.append(Paragraph("Chain of Custody Report", s.title))
    story.append(paragraph(m.case_field("title"), s.subtitle, limit=HEADING_LIMIT))
    story += [_badge(m), Spacer(1, 12)]
    story.append(
        kv_table(
            s,
            _facts(m),
            (150, PORTRAIT_W - 150),
            mono_keys=(
                "Examiner certificate SHA-256",
                "Bundle fingerprint (manifest SHA-256)",
                "Ledger head",
            ),
            lines=COVER_LINES,
        )
    )
    story.append(Spacer(1, 10))
    story.append(
        Paragraph(
            "This report is generated from the case's custody ledger, a hash-chained record "
            "signed by the examiners, and from the verification made for this export. It is "
            "kept short whatever the number of artifacts: every artifact is listed, with its "
            f"hashes, in {INVENTORY_CSV} and {INVENTORY_JSONL} (section {INVENTORY}, Annex A), "
            "attached to this PDF and part of the bundle. The report is signed as a whole by "
            f"the examiner named above (PAdES, section {ATTESTATION}); section {INDEPENDENT} "
            "shows how to check it and the evidence it describes without Chainproof.",
            s.note,
        )
    )
    story.append(PageBreak())
    return story


def contents(s: Styles) -> list[Flowable]:
    """The contents page: each section and part with its page number, linked to it."""
    toc = TableOfContents(
        levelStyles=[
            ParagraphStyle(
                "toc0", fontName=SANS_BOLD, fontSize=9, leading=12, leftIndent=0, spaceBefore=2
            ),
            ParagraphStyle("toc1", fontName=SANS, fontSize=7.8, leading=9.6, leftIndent=14),
        ],
        dotsMinLevel=0,
        rightColumnWidth=36,
    )
    return [
        Heading("Contents", s.h1, level=0, key="contents", toc=False),
        Paragraph(
            "Page numbers are those printed at the foot of each page; each line links to its "
            "section, and the PDF's bookmarks list the same sections.",
            s.small,
        ),
        Spacer(1, 6),
        toc,
        PageBreak(),
    ]


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
        f"the record does not hold as recorded: see section {INTEGRITY} for the findings",
        FAIL_RED,
        PORTRAIT_W,
    )


def _seal(m: ReportModel) -> str:
    seal = m.state.seal
    if seal is None:
        return "not sealed: collection into the case is still possible"
    return (
        f"sealed {shown(seal.at)} by {m.name_of(seal.actor)} (entry {seal.seq}), after "
        f"{seal.event.ledger_entries:,} ledger entries; reason: {seal.event.reason}"
    )


def _last_verification(m: ReportModel) -> str:
    last = m.state.last_verification
    if last is None:
        return "none recorded in the ledger before this export"
    v = last.event
    result = "verified" if v.ok else f"FAILED ({v.findings} finding(s))"
    return (
        f"{result}, {shown(last.at)} by {m.name_of(last.actor)} (entry {last.seq}; "
        f"{v.entries:,} entries, {v.artifacts:,} artifacts)"
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
        ("Examiner (signs this report)", examiner),
        ("Examiner certificate SHA-256", ex.fingerprint),
        ("Seal", _seal(m)),
        ("Last verification recorded", _last_verification(m)),
        (
            "Record",
            f"{len(m.runs)} collection run(s), {m.artifact_count:,} artifacts "
            f"({human_bytes(m.artifact_bytes)}), {m.problem_count:,} errors and skips, "
            f"{m.entry_count:,} ledger entries, {len(m.people)} examiner(s)",
        ),
        ("Bundle ID", m.bundle_id),
        ("Bundle fingerprint (manifest SHA-256)", m.manifest_sha256),
        ("Ledger head", m.verification.head),
        ("Generated at (UTC)", shown(m.generated_at)),
        (
            "Inventory",
            f"{INVENTORY_CSV} and {INVENTORY_JSONL}: every artifact with its hashes "
            f"(section {INVENTORY}, Annex A of section {ANNEXES})",
        ),
    ]
