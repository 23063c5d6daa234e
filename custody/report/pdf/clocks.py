"""10. Time integrity: the host's clocks and time zone at the start of each run, and what
the times of the record rest on."""

from __future__ import annotations

from reportlab.platypus import Flowable, Spacer

from custody.report.model import NOT_RECORDED, ReportModel, RunReport
from custody.report.pdf.collection import RUNS_DETAILED
from custody.report.pdf.facts import fact
from custody.report.pdf.page import PORTRAIT_W, TIME, at_text, body, heading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import kv_table
from custody.report.pdf.text import HEADING_LIMIT, paragraph

#: Where the system facts may hold the offset of the host clock to a reference clock.
REFERENCE_OFFSET = (
    "clock.reference_offset_seconds",
    "clock.offset_seconds",
    "clock.ntp_offset_seconds",
    "clock.reference_offset",
    "ntp.offset_seconds",
    "reference_offset_seconds",
)


def time_integrity(m: ReportModel, s: Styles) -> list[Flowable]:
    """One table per run, then what the times rest on."""
    story = heading(s, TIME, "Time integrity")
    story.append(
        body(
            s,
            "Ledger times are the collecting host's system clock in UTC, with microseconds, "
            "taken when each entry was made. The system facts record the host clock, its "
            "monotonic clock and its time zone at the start of each run.",
        )
    )
    for r in m.runs[:RUNS_DETAILED]:
        story += _run(s, r)
    if len(m.runs) > RUNS_DETAILED:
        story.append(
            paragraph(
                f"The clocks of the first {RUNS_DETAILED} runs; the other "
                f"{len(m.runs) - RUNS_DETAILED} runs recorded theirs in their system facts.",
                s.note,
            )
        )
    story.append(Spacer(1, 8))
    story.append(
        body(
            s,
            "No timestamp authority was used: the times in this record rest on the host's "
            "clock and on the examiners' signatures. The report's own signature is PAdES "
            "B-B (signing time from the signing computer's clock); with a timestamp "
            "authority configured it becomes B-T, with an RFC 3161 token.",
        )
    )
    return story


def _run(s: Styles, r: RunReport) -> list[Flowable]:
    facts = r.system
    offset = fact(facts, *REFERENCE_OFFSET)
    tz_offset = fact(facts, "time_zone.utc_offset_seconds", "timezone.utc_offset_seconds")
    tz_name = fact(facts, "time_zone.name", "timezone.name", "timezone") or NOT_RECORDED
    rows = [
        ("Host clock (UTC)", fact(facts, "clock.utc", "clock_utc", "utc") or NOT_RECORDED),
        (
            "Host clock (ns since epoch)",
            fact(facts, "clock.utc_ns", "clock.time_ns") or NOT_RECORDED,
        ),
        (
            "Monotonic clock (ns)",
            fact(facts, "clock.monotonic_ns", "clock.monotonic", "monotonic_ns") or NOT_RECORDED,
        ),
        ("Ledger time of run start", at_text(r.started_at)),
        ("Time zone", tz_name + (f" (UTC offset {tz_offset} s)" if tz_offset is not None else "")),
        ("Boot time", fact(facts, "boot.boot_time", "boot_time") or NOT_RECORDED),
        ("Offset to a reference clock", f"{offset} s" if offset else "not measured"),
        ("Timestamp tokens (RFC 3161)", "none"),
    ]
    story: list[Flowable] = [
        paragraph(f"Run {r.run_id}", s.h3, limit=HEADING_LIMIT),
        kv_table(s, rows, (150, PORTRAIT_W - 150), lines=3),
    ]
    if facts is None:
        story.append(paragraph(f"System facts: {r.system_note}.", s.note))
    return story
