"""7. Authority and scope, and 8. Personnel: the case as opened and changed, and its people."""

from __future__ import annotations

from typing import Any

from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, Paragraph

from custody.record.events import CaseUpdated, IdentityAdded
from custody.report.model import NOT_RECORDED, ReportModel
from custody.report.pdf.page import (
    AUTHORITY,
    CUSTODY,
    PERSONNEL,
    PORTRAIT_W,
    at_text,
    body,
    heading,
)
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import Prose, grid_table, kv_table
from custody.report.pdf.text import HEADING_LIMIT, para_text, paragraph, printable

#: Characters of one changed value in the list of changes to the case record.
CHANGE_LIMIT = 600
#: Lines of a value; changes to the case record and examiners listed at most.
VALUE_LINES = 12
CHANGES_LISTED = 20
PEOPLE_LISTED = 40


def authority(m: ReportModel, s: Styles) -> list[Flowable]:
    """Legal basis, scope and the incident's summary, with every change to the case record."""
    opened = m.state.opened
    story = heading(s, AUTHORITY, "Authority and scope")
    story.append(
        body(
            s,
            "As recorded by the examiner who opened the case (ledger entry "
            f"{opened.seq if opened else NOT_RECORDED}, "
            f"{para_text(at_text(opened.at if opened else None))}). "
            f"Values later changed by a signed {CaseUpdated.EVENT} entry are shown as changed.",
        )
    )
    story.append(
        kv_table(
            s,
            [
                ("Legal basis", Prose(m.case_field("legal_basis"))),
                ("Requesting party", Prose(m.case_field("requesting_party"))),
                ("Limits of scope", Prose(m.case_field("scope"))),
                ("Responsible person", m.case_field("responsible")),
                ("Description", Prose(m.case_field("description"))),
            ],
            (130, PORTRAIT_W - 130),
            lines=VALUE_LINES,
        )
    )
    story.append(Paragraph("Incident summary", s.h2))
    journal = len(m.journal)
    story.append(
        kv_table(
            s,
            [
                ("Incident reference", m.case_field("incident_ref")),
                ("Title", m.case_field("title")),
                ("Severity", m.case_field("severity")),
                ("Status", m.case_field("status")),
                ("Organisation", m.case_field("organisation")),
                ("Opened", at_text(opened.at if opened else None)),
                (
                    "Journal",
                    f"{journal} entr{'y' if journal == 1 else 'ies'} (section {CUSTODY}.3)",
                ),
                ("Transfers of custody", f"{len(m.transfers)} (section {CUSTODY}.4)"),
            ],
            (130, PORTRAIT_W - 130),
            lines=VALUE_LINES,
        )
    )
    if m.state.updates:
        story.append(Paragraph("Changes to the case record", s.h3))
        rows = [
            [
                str(u.seq),
                at_text(u.at),
                m.name_of(u.actor),
                Prose(
                    "; ".join(
                        f"{printable(k, limit=CHANGE_LIMIT)}: "
                        + ("(cleared)" if v is None else printable(v, limit=CHANGE_LIMIT))
                        for k, v in sorted(u.event.changes.items())
                    )
                ),
            ]
            for u in m.state.updates[-CHANGES_LISTED:]
        ]
        if len(m.state.updates) > CHANGES_LISTED:
            story.append(
                Paragraph(
                    f"The last {CHANGES_LISTED} of {len(m.state.updates)} changes; the ledger "
                    "has them all.",
                    s.small,
                )
            )
        story.append(
            grid_table(
                s,
                ["Seq", "Time (UTC)", "By", "Change"],
                rows,
                [36, 110, 100, PORTRAIT_W - 246],
                lines=VALUE_LINES // 2,
            )
        )
    return story


def personnel(m: ReportModel, s: Styles) -> list[Flowable]:
    """Every examiner: name, organisation, role and certificate fingerprint."""
    story = heading(s, PERSONNEL, "Personnel")
    story.append(
        body(
            s,
            f"Every person who acted on this case, as introduced by a signed {IdentityAdded.EVENT} "
            "entry. An examiner is named by the SHA-256 of their X.509 certificate (DER); "
            "the certificates are in Annex C.",
        )
    )
    fingerprint = ParagraphStyle("fingerprint", parent=s.cell_mono, fontSize=5.9, leading=8.6)
    rows: list[list[Any]] = [
        [
            p.name,
            p.organisation or NOT_RECORDED,
            p.email or NOT_RECORDED,
            f"{p.role}; added in entry {p.added.seq}; {m.signed_by.get(p.fingerprint, 0):,} "
            "signed entries",
            paragraph(p.fingerprint, fingerprint, limit=HEADING_LIMIT),
        ]
        for p in m.people[:PEOPLE_LISTED]
    ]
    story.append(
        grid_table(
            s,
            ["Name", "Organisation", "E-mail", "Role", "Certificate SHA-256"],
            rows,
            [64, 62, 82, PORTRAIT_W - 208 - 242, 242],
            lines=3,
        )
    )
    if len(m.people) > PEOPLE_LISTED:
        story.append(
            Paragraph(
                f"{len(m.people) - PEOPLE_LISTED} more examiners; the ledger names them all.",
                s.small,
            )
        )
    return story
