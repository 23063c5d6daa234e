"""13. Annexes: A, the inventory (its files; with the full inventory, every artifact on
landscape pages); B, the ledger's signed entries (with the full inventory, every entry);
C, the certificates."""

from __future__ import annotations

from reportlab.platypus import Flowable, KeepTogether, NextPageTemplate, PageBreak, Paragraph

from custody.report.inventory import counted_artifacts
from custody.report.model import LEDGER_ROWS, ReportModel
from custody.report.pdf.fasttable import Column, FastTable, fill_chars
from custody.report.pdf.page import ANNEXES, LANDSCAPE_W, body, heading, subheading
from custody.report.pdf.styles import MONO, Styles
from custody.report.pdf.tables import grid_table
from custody.report.pdf.text import HEADING_LIMIT, IN_MANIFEST, TEXT_LIMIT, para_text, paragraph

HASH_SIZE = 6.1
LEDGER_SIZE = 5.9
#: Certificates given at most.
CERTIFICATES_LISTED = 12


def annexes(m: ReportModel, s: Styles) -> list[Flowable]:
    """The three annexes; A (in full) and B on landscape pages."""
    story: list[Flowable] = [NextPageTemplate("landscape"), PageBreak()]
    story += heading(s, ANNEXES, "Annexes")
    story += inventory_annex(m, s)
    if m.full_inventory and m.artifact_count:
        story.append(PageBreak())
    story += ledger(m, s)
    story.append(NextPageTemplate("portrait"))
    story.append(PageBreak())
    story += certificates(m, s)
    return story


def inventory_annex(m: ReportModel, s: Styles) -> list[Flowable]:
    """Annex A: the inventory files and, with the full inventory, every artifact."""
    story: list[Flowable] = [subheading(s, "Annex A. Inventory of the artifacts", "annex-a")]
    if m.annexes:
        story.append(
            body(
                s,
                "Every artifact is listed, one row each, in the files below: attached to this "
                "PDF (its attachments, or pdfdetach -list) and part of the bundle. Their columns "
                "are described in section 5.1.",
            )
        )
        story.append(
            grid_table(
                s,
                ["File", "Rows", "Bytes", "SHA-256", "Format"],
                [[a.name, f"{a.rows:,}", f"{a.size:,}", a.sha256, a.mime] for a in m.annexes],
                [80, 60, 80, 300, LANDSCAPE_W - 520],
                mono=(0, 3),
                lines=2,
            )
        )
    if not m.full_inventory:
        story.append(
            body(
                s,
                f"This report was made without the full listing: the {m.artifact_count:,} "
                "artifacts are in the files above (exporting with the full inventory lists "
                "them here too).",
            )
        )
        return story
    story.append(
        body(
            s,
            "Seq, kind, path (or archive member), size, SHA-256, SHA-1 and MD5 of every "
            "artifact, in ledger order, as recorded in the ledger and re-computed at "
            "verification; the inventory files give the run and the other columns. A symbolic "
            "link shows its target after '->'.",
        )
    )
    cols = [
        Column("Seq", 7, "right"),
        Column("Kind", 7),
        Column("Path", 0),
        Column("Size", 11, "right"),
        Column("SHA-256", 64),
        Column("SHA-1", 40),
        Column("MD5", 32),
    ]
    cols[2] = Column("Path", fill_chars(cols, LANDSCAPE_W, HASH_SIZE))
    rows = []
    for seq, a in counted_artifacts(m.entries()):
        path = a.shown_name
        target = a.source.symlink_target if a.source else None
        if target is not None:
            path += f" -> {target}"
        if a.changed:
            path = "[changed while read] " + path
        d = a.digests
        size = f"{a.member.size:,}"
        rows.append([str(seq), a.kind, path, size, d.sha256, d.sha1, d.md5])
    marks = frozenset(i for i, r in enumerate(rows) if int(r[0]) in m.findings_by_seq)
    if rows:
        story.append(FastTable(cols, rows, size=HASH_SIZE, marks=marks, where=IN_MANIFEST))
    else:
        story.append(body(s, "No artifact is recorded."))
    return story


def ledger(m: ReportModel, s: Styles) -> list[Flowable]:
    """Annex B: the entries (every one with the full inventory, else the signed ones), with
    their full hash and previous hash."""
    full = m.full_inventory
    title = "Annex B. The full ledger" if full else "Annex B. The signed ledger entries"
    people = "; ".join(f"{p.fingerprint[:12]} = {p.name}" for p in m.people[:CERTIFICATES_LISTED])
    chosen = list(m.entries()) if full else m.signed_entries.listed()
    total = len(chosen) if full else m.signed_entries.count
    story: list[Flowable] = [subheading(s, title, "annex-b")]
    which = (
        "Every entry in order."
        if full
        else "Every signed entry in order (acts of persons and the checkpoints that sign the "
        f"artifact and error entries between them); all {m.entry_count:,} entries are in "
        "ledger.jsonl."
    )
    story.append(
        body(
            s,
            f"{which} Actor: the first 12 hex digits of the examiner's certificate SHA-256 "
            f"({para_text(people) or 'none'}). Sigs: number of signatures on the entry. The "
            "first entry's previous hash is 64 zeros. Rows shaded red have verification "
            "findings.",
        )
    )
    gap = 0
    if not full and total > LEDGER_ROWS:  # chosen: the first and last half
        half = LEDGER_ROWS // 2
        gap = total - 2 * half
        story.append(
            body(
                s,
                f"{total:,} signed entries: the first {half} and the last {half} are "
                f"listed; the {gap:,} between them are in ledger.jsonl.",
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
        for e in chosen
    ]
    marks = frozenset(i for i, e in enumerate(chosen) if e.seq in m.findings_by_seq)
    story.append(FastTable(cols, rows, size=LEDGER_SIZE, marks=marks, max_lines=2))
    return story


def certificates(m: ReportModel, s: Styles) -> list[Flowable]:
    """Annex C: every examiner's certificate (PEM)."""
    story: list[Flowable] = [subheading(s, "Annex C. Certificates", "annex-c")]
    for p in m.people[:CERTIFICATES_LISTED]:
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
    if len(m.people) > CERTIFICATES_LISTED:
        story.append(
            body(
                s,
                f"{len(m.people) - CERTIFICATES_LISTED} more certificates: in certs/ and in the "
                "ledger's identity_added entries.",
            )
        )
    return story
