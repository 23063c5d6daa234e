"""14. Annexes: A, the hash lists; B, the full ledger (landscape); C, the certificates."""

from __future__ import annotations

from reportlab.platypus import Flowable, KeepTogether, NextPageTemplate, PageBreak, Paragraph

from custody.record.entry import GENESIS_HASH
from custody.report.model import ReportModel
from custody.report.pdf.fasttable import Column, FastTable, fill_chars
from custody.report.pdf.page import LANDSCAPE_W, body
from custody.report.pdf.styles import MONO, Styles
from custody.report.pdf.text import HEADING_LIMIT, IN_MANIFEST, TEXT_LIMIT, para_text, paragraph

HASH_SIZE = 6.1
LEDGER_SIZE = 5.9


def annexes(m: ReportModel, s: Styles) -> list[Flowable]:
    """The three annexes; A and B on landscape pages."""
    story: list[Flowable] = [NextPageTemplate("landscape"), PageBreak()]
    story.append(Paragraph("14. Annexes", s.h1))
    story += hash_lists(m, s)
    story.append(PageBreak())
    story += ledger(m, s)
    story.append(NextPageTemplate("portrait"))
    story.append(PageBreak())
    story += certificates(m, s)
    return story


def hash_lists(m: ReportModel, s: Styles) -> list[Flowable]:
    """Annex A: the three hashes of every artifact, run by run."""
    story: list[Flowable] = [Paragraph("Annex A. Hash lists", s.h2)]
    story.append(
        body(
            s,
            "SHA-256, SHA-1 and MD5 of every artifact, in full, as recorded in the ledger "
            "and re-computed at verification.",
        )
    )
    cols = [
        Column("Seq", 7, "right"),
        Column("Path", 0),
        Column("SHA-256", 64),
        Column("SHA-1", 40),
        Column("MD5", 32),
    ]
    cols[1] = Column("Path", fill_chars(cols, LANDSCAPE_W, HASH_SIZE))
    runs = [r for r in m.runs if r.artifacts]
    for r in runs:
        story.append(paragraph(f"Run {r.run_id}", s.h3, limit=HEADING_LIMIT))
        rows = [
            [str(a.seq), a.event.shown_name, d.sha256, d.sha1, d.md5]
            for a in r.artifacts
            for d in (a.event.digests,)
        ]
        story.append(FastTable(cols, rows, size=HASH_SIZE, where=IN_MANIFEST))
    if not runs:
        story.append(body(s, "No artifact is recorded."))
    return story


def ledger(m: ReportModel, s: Styles) -> list[Flowable]:
    """Annex B: every entry in order, with its full hash and previous hash."""
    people = "; ".join(f"{p.fingerprint[:12]} = {p.name}" for p in m.people)
    story: list[Flowable] = [Paragraph("Annex B. The full ledger", s.h2)]
    story.append(
        body(
            s,
            "Every entry in order. Actor: the first 12 hex digits of the examiner's "
            f"certificate SHA-256 ({para_text(people) or 'none'}). Sigs: number of signatures "
            f"on the entry. The first entry's previous hash is {GENESIS_HASH[:8]}... (64 zeros). "
            "Rows shaded red have verification findings.",
        )
    )
    cols = [
        Column("Seq", 7, "right"),
        Column("Time (UTC)", 27),
        Column("Event", 18),
        Column("Actor", 12),
        Column("Sigs", 4, "right"),
        Column("Entry hash (SHA-256)", 64),
        Column("Previous hash", 64),
    ]
    rows = [
        [
            str(e.seq),
            e.at,
            e.event,
            e.actor[:12],
            str(len(e.signatures)),
            e.entry_hash,
            e.prev_hash,
        ]
        for e in m.entries
    ]
    marks = frozenset(i for i, e in enumerate(m.entries) if e.seq in m.findings_by_seq)
    story.append(FastTable(cols, rows, size=LEDGER_SIZE, marks=marks))
    return story


def certificates(m: ReportModel, s: Styles) -> list[Flowable]:
    """Annex C: every examiner's certificate (PEM)."""
    story: list[Flowable] = [Paragraph("Annex C. Certificates", s.h2)]
    for p in m.people:
        story.append(
            KeepTogether(
                [
                    Paragraph(
                        f"{para_text(p.name, font=s.h3.fontName, limit=HEADING_LIMIT)} "
                        f"({para_text(p.role, font=s.h3.fontName, limit=HEADING_LIMIT)}), "
                        f"SHA-256 <font name='{MONO}'>"
                        f"{para_text(p.fingerprint, font=MONO, limit=HEADING_LIMIT)}</font>",
                        s.h3,
                    ),
                    paragraph(p.certificate_pem.strip(), s.code, lines=True, limit=TEXT_LIMIT),
                ]
            )
        )
    return story
