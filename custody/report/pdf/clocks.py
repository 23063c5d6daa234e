"""10. Time integrity: the host's clocks and time zone at the start of each run, and what
the times of the record rest on: the RFC 3161 timestamp tokens of the signed entries (how
many, by which authority, how many stamped late) and how a reader checks them."""

from __future__ import annotations

import datetime as dt

from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer

from custody.report.model import NOT_RECORDED, ReportModel, RunReport, TimestampFacts
from custody.report.pdf.collection import RUNS_DETAILED
from custody.report.pdf.facts import fact
from custody.report.pdf.page import PORTRAIT_W, TIME, at_text, body, heading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import kv_table
from custody.report.pdf.text import HEADING_LIMIT, para_text, paragraph

#: How a reader checks one entry's token in an unpacked bundle, and what it prints.
OPENSSL_TS = (
    "openssl ts -verify -data signatures/SEQ.json -in timestamps/SEQ.tsr -CAfile TSA-CA.pem"
)

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
    stamped = m.timestamps.stamped > 0
    for r in m.runs[:RUNS_DETAILED]:
        story += _run(s, r, stamped)
    if len(m.runs) > RUNS_DETAILED:
        story.append(
            paragraph(
                f"The clocks of the first {RUNS_DETAILED} runs; the other "
                f"{len(m.runs) - RUNS_DETAILED} runs recorded theirs in their system facts.",
                s.note,
            )
        )
    story.append(Spacer(1, 8))
    if not stamped:
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
    return story + _tokens(s, m.timestamps)


def _tokens(s: Styles, t: TimestampFacts) -> list[Flowable]:
    """The RFC 3161 tokens: counts, authorities, late ones, and the reader's check."""
    story: list[Flowable] = [paragraph("RFC 3161 timestamps", s.h3)]
    story.append(
        body(
            s,
            "A timestamp authority (TSA) signed, for each signed entry listed here, a token "
            "stating that the entry's signed bytes (signatures/SEQ.json in the bundle) "
            "existed at the token's time. The times then rest on the authority's clock and "
            "key, not only on the host's.",
        )
    )
    untimestamped = f"{t.untimestamped_count:,}"
    if t.untimestamped:
        more = "…" if t.untimestamped_count > len(t.untimestamped) else ""
        untimestamped += " (entries " + ", ".join(map(str, t.untimestamped)) + more + ")"
    rows: list[tuple[str, str]] = [
        ("Signed entries timestamped", f"{t.stamped:,} of {t.signed:,}"),
        ("Untimestamped", untimestamped),
        (
            "Stamped late",
            f"{t.late:,}, each named by a 'timestamped' entry of the ledger (stamped after "
            "it was written: no authority was reachable or configured then)"
            if t.late
            else "none: every token was taken as its entry was written",
        ),
    ]
    for n, use in enumerate(t.authorities, 1):
        who = use.name or "(the tokens name no TSA)"
        cert = use.subject or "not readable: its signature does not hold"
        rows.append(
            (
                "Timestamp authority" + (f" {n}" if len(t.authorities) > 1 else ""),
                f"{who} (certificate subject {cert}): {use.tokens:,} token"
                f"{'' if use.tokens == 1 else 's'} dated {_utc(use.first)} to {_utc(use.last)}",
            )
        )
    if t.unreadable:
        rows.append(("Unreadable token files", f"{t.unreadable:,}"))
    if t.chain:
        findings = f"{t.findings:,} finding(s) about tokens" if t.findings else "no findings"
        rows.append(("Checked by the verification", f"{findings}; TSA chain {t.chain}"))
    story.append(kv_table(s, rows, (150, PORTRAIT_W - 150), lines=6))
    story.append(
        KeepTogether(
            [
                paragraph("How a reader checks a token", s.h3),
                body(
                    s,
                    "In the unpacked bundle, for a signed entry SEQ, with the authority's CA "
                    "certificate as TSA-CA.pem (from the authority, not from this report):",
                ),
                Paragraph(para_text(OPENSSL_TS, lines=True), s.code),
                Paragraph("Expected: " + para_text("Verification: OK"), s.small),
                body(
                    s,
                    "VERIFY.md in the bundle gives this command for every token. The token's "
                    "time is printed by 'openssl ts -reply -in timestamps/SEQ.tsr -text'. "
                    "The report's own signature carries a token too (PAdES B-T) when the "
                    "authority was reachable as it was signed.",
                ),
            ]
        )
    )
    return story


def _utc(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _run(s: Styles, r: RunReport, stamped: bool) -> list[Flowable]:
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
        (
            "Timestamp tokens (RFC 3161)",
            "of the signed entries: see RFC 3161 timestamps below" if stamped else "none",
        ),
    ]
    story: list[Flowable] = [
        paragraph(f"Run {r.run_id}", s.h3, limit=HEADING_LIMIT),
        kv_table(s, rows, (150, PORTRAIT_W - 150), lines=3),
    ]
    if facts is None:
        story.append(paragraph(f"System facts: {r.system_note}.", s.note))
    return story
