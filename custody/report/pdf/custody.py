"""8. Custody log: the timeline, one row per ledger act (bulk entries summarised per run),
the incident journal and the transfers of custody."""

from __future__ import annotations

from reportlab.platypus import Flowable, KeepTogether, Paragraph

from custody.report.model import SHORT_HASH, ReportModel, text_or_not_recorded
from custody.report.pdf.page import PORTRAIT_W, at_cell, body, heading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import Cell, Prose, grid_table, text_cell
from custody.report.pdf.timeline import timeline

#: Width of the "From" and "To" columns of the transfers.
PARTY_W = 84


def custody_log(m: ReportModel, s: Styles) -> list[Flowable]:
    """The four parts of the custody log."""
    story = heading(s, 8, "Custody log")
    story.append(
        body(
            s,
            "Every act of a person is a signed ledger entry and has its own row. Artifact "
            "and error entries, which come by the thousand, are summarised per run: they are "
            "covered by signed checkpoints, and each is listed in Annex B. The signature "
            "column gives the verification's result for that entry; the entry hash is "
            f"shortened to its first {SHORT_HASH} hex digits (full values in Annex B).",
        )
    )
    chart = timeline(m)
    story.append(
        KeepTogether(
            [
                Paragraph("8.1 Timeline", s.h2),
                chart if chart is not None else body(s, "No dated signed events."),
            ]
        )
    )
    story += _entries(m, s)
    story += _journal(m, s)
    story += _transfers(m, s)
    return story


def _entries(m: ReportModel, s: Styles) -> list[Flowable]:
    rows = [
        [r.seq, at_cell(r.at), r.event, r.actors, r.details, r.signature, r.entry_hash]
        for r in m.log
    ]
    return [
        Paragraph("8.2 Ledger entries", s.h2),
        grid_table(
            s,
            [
                "Seq",
                "Time (UTC)",
                "Event",
                "Actor(s)",
                "Purpose and details",
                "Signature",
                "Entry hash",
            ],
            rows,
            [40, 56, 64, 60, PORTRAIT_W - 40 - 56 - 64 - 60 - 52 - 74, 52, 74],
            mono=(6,),
            highlight=[i for i, r in enumerate(m.log) if r.problem],
        ),
    ]


def _journal(m: ReportModel, s: Styles) -> list[Flowable]:
    story: list[Flowable] = [Paragraph("8.3 Incident journal", s.h2)]
    if not m.journal:
        story.append(body(s, "No journal entries are recorded."))
        return story
    rows: list[list[Cell]] = [
        [
            str(j.recorded.seq),
            at_cell(j.recorded.at),
            j.event.journal_kind,
            m.name_of(j.recorded.actor),
            Prose(j.event.text),
            Prose(j.event.reason or ""),
            j.signature,
        ]
        for j in m.journal
    ]
    story.append(
        grid_table(
            s,
            ["Seq", "Time (UTC)", "Kind", "By", "Entry", "Reason", "Signature"],
            rows,
            [30, 56, 68, 60, PORTRAIT_W - 30 - 56 - 68 - 60 - 100 - 52, 100, 52],
        )
    )
    return story


def _transfers(m: ReportModel, s: Styles) -> list[Flowable]:
    story: list[Flowable] = [Paragraph("8.4 Transfers of custody", s.h2)]
    if not m.transfers:
        story.append(body(s, "No transfer of custody is recorded."))
        return story
    rows: list[list[Cell]] = []
    for t in m.transfers:
        ev = t.event
        rows.append(
            [
                str(t.recorded.seq),
                at_cell(t.recorded.at),
                _party(s, ev.from_name or m.name_of(ev.from_fp), ev.from_fp),
                _party(s, ev.to_name or m.name_of(ev.to_fp), ev.to_fp),
                Prose(text_or_not_recorded(ev.location)),
                Prose(text_or_not_recorded(ev.reason)),
                t.signature,
            ]
        )
    story.append(
        grid_table(
            s,
            [
                "Seq",
                "Time (UTC)",
                "From (releasing)",
                "To (receiving)",
                "Location",
                "Reason",
                "Signatures",
            ],
            rows,
            [30, 56, PARTY_W, PARTY_W, 80, PORTRAIT_W - 30 - 56 - 2 * PARTY_W - 80 - 58, 58],
        )
    )
    story.append(
        Paragraph(
            "Each transfer entry is signed by both the releasing and the receiving "
            "examiner; the verification checks both signatures.",
            s.small,
        )
    )
    return story


def _party(s: Styles, name: str, fingerprint: str) -> list[Flowable]:
    """A party to a transfer: the name, then the start of the certificate fingerprint."""
    width = PARTY_W - 7
    return [text_cell(name, s.cell, width), text_cell(f"{fingerprint[:12]}...", s.cell, width)]
