"""2. Custody log: the timeline, one row per act of a person (bulk entries summarised per run,
consecutive accesses for one purpose as one row), the incident journal, the transfers of
custody and the seal. Each part is bounded: past its limit it shows the first and the last
rows and says how many are in the ledger between them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from reportlab.platypus import Flowable, KeepTogether, Paragraph

from custody.record.times import shown
from custody.report.model import SHORT_HASH, LogRow, ReportModel, text_or_not_recorded
from custody.report.pdf.page import CUSTODY, PORTRAIT_W, at_cell, body, heading, subheading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import Cell, Prose, grid_table, kv_table, text_cell
from custody.report.pdf.timeline import timeline

#: Width of the "From" and "To" columns of the transfers.
PARTY_W = 84
#: Rows of each table at most (half from the start, half from the end) and lines of a cell.
ACT_ROWS = 60
JOURNAL_ROWS = 16
TRANSFER_ROWS = 20
CELL_LINES = 6
T = TypeVar("T")


def custody_log(m: ReportModel, s: Styles) -> list[Flowable]:
    """The parts of the custody log."""
    story = heading(s, CUSTODY, "Custody log")
    story.append(
        body(
            s,
            "Every act of a person is a signed ledger entry and has its own row. Artifact "
            "and error entries, which come by the thousand, are summarised per run: they are "
            "covered by signed checkpoints, and every artifact is in the inventory (Annex A). "
            "Consecutive accesses by one examiner for one purpose are one row. The signature "
            "column gives the verification's result for that entry; the entry hash is "
            f"shortened to its first {SHORT_HASH} hex digits (full values in Annex B).",
        )
    )
    chart = timeline(m)
    story.append(
        KeepTogether(
            [
                subheading(s, f"{CUSTODY}.1 Timeline", "custody-timeline"),
                chart if chart is not None else body(s, "No dated signed events."),
            ]
        )
    )
    story += _entries(m, s)
    story += _journal(m, s)
    story += _transfers(m, s)
    story += _seal(m, s)
    return story


def bounded(items: Sequence[T], limit: int) -> tuple[list[T], list[T], int]:
    """The first and last ``limit // 2`` items, and how many lie between (0: all shown)."""
    if len(items) <= limit:
        return list(items), [], 0
    half = limit // 2
    return list(items[:half]), list(items[-half:]), len(items) - 2 * half


def _gap_row(width: int, at: int, text: str) -> list[Cell]:
    """A row saying what is left out, its text in column ``at``."""
    row: list[Cell] = ["...", *[""] * (width - 1)]
    row[at] = Prose(text)
    return row


def _entries(m: ReportModel, s: Styles) -> list[Flowable]:
    def row(r: LogRow) -> list[Cell]:
        return [r.seq, at_cell(r.at), r.event, r.actors, r.details, r.signature, r.entry_hash]

    head, tail, hidden = bounded(m.log, ACT_ROWS)
    rows = [row(r) for r in head]
    highlight = [i for i, r in enumerate(head) if r.problem]
    if hidden:
        rows.append(
            _gap_row(
                7,
                4,
                f"... {hidden:,} more rows (entries {head[-1].seq} to {tail[0].seq}), each in "
                "ledger.jsonl and in Annex B ...",
            )
        )
        highlight += [len(rows) + i for i, r in enumerate(tail) if r.problem]
        rows += [row(r) for r in tail]
    return [
        subheading(s, f"{CUSTODY}.2 Ledger entries (acts)", "custody-acts"),
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
            highlight=highlight,
            lines=CELL_LINES,
        ),
    ]


def _journal(m: ReportModel, s: Styles) -> list[Flowable]:
    story: list[Flowable] = [subheading(s, f"{CUSTODY}.3 Incident journal", "custody-journal")]
    if not m.journal:
        story.append(body(s, "No journal entries are recorded."))
        return story
    head, tail, hidden = bounded(m.journal, JOURNAL_ROWS)
    rows: list[list[Cell]] = []
    for j in head + tail:
        if hidden and rows and j is tail[0]:
            rows.append(_gap_row(7, 4, f"... {hidden:,} more journal entries, in ledger.jsonl ..."))
        rows.append(
            [
                str(j.recorded.seq),
                at_cell(j.recorded.at),
                j.event.journal_kind,
                m.name_of(j.recorded.actor),
                Prose(j.event.text),
                Prose(j.event.reason or ""),
                j.signature,
            ]
        )
    story.append(
        grid_table(
            s,
            ["Seq", "Time (UTC)", "Kind", "By", "Entry", "Reason", "Signature"],
            rows,
            [30, 56, 68, 60, PORTRAIT_W - 30 - 56 - 68 - 60 - 100 - 52, 100, 52],
            lines=CELL_LINES * 2,
        )
    )
    return story


def _transfers(m: ReportModel, s: Styles) -> list[Flowable]:
    story: list[Flowable] = [
        subheading(s, f"{CUSTODY}.4 Transfers of custody", "custody-transfers")
    ]
    if not m.transfers:
        story.append(body(s, "No transfer of custody is recorded."))
        return story
    head, tail, hidden = bounded(m.transfers, TRANSFER_ROWS)
    rows: list[list[Cell]] = []
    for t in head + tail:
        if hidden and rows and t is tail[0]:
            rows.append(_gap_row(7, 5, f"... {hidden:,} more transfers, in ledger.jsonl ..."))
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
            lines=CELL_LINES,
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


def _seal(m: ReportModel, s: Styles) -> list[Flowable]:
    state = m.state
    custodian = state.custodian
    access = state.access
    rows: list[tuple[str, Cell]] = [
        (
            "Current custodian",
            f"{m.name_of(custodian)} ({custodian[:16]}...)" if custodian else "the case's opener",
        ),
        (
            "Accesses recorded",
            f"{len(access):,} signed access entr{'y' if len(access) == 1 else 'ies'}"
            + (
                f", the last {shown(access[-1].at)} by {m.name_of(access[-1].actor)}"
                if access
                else ""
            ),
        ),
    ]
    seal = state.seal
    if seal is None:
        rows.append(("Seal", "not sealed: collection into the case is still possible"))
    else:
        rows += [
            ("Sealed", f"{shown(seal.at)} by {m.name_of(seal.actor)} (entry {seal.seq})"),
            ("Reason", Prose(seal.event.reason)),
            ("Ledger head sealed", seal.event.ledger_head),
            ("Entries sealed", f"{seal.event.ledger_entries:,}"),
        ]
    return [
        subheading(s, f"{CUSTODY}.5 Custodian, access and seal", "custody-seal"),
        kv_table(
            s, rows, (130, PORTRAIT_W - 130), mono_keys=("Ledger head sealed",), lines=CELL_LINES
        ),
    ]


def _party(s: Styles, name: str, fingerprint: str) -> list[Flowable]:
    """A party to a transfer: the name, then the start of the certificate fingerprint."""
    width = PARTY_W - 7
    return [
        text_cell(name, s.cell, width, CELL_LINES),
        text_cell(f"{fingerprint[:12]}...", s.cell, width),
    ]
