"""3. Collection runs: one part per run (where, when, by whom, with which tool, profile and
command line, how long, its outcome and counts per collector, the state of the machine),
then the unavoidable changes to the system examined. Past :data:`RUNS_DETAILED` runs, the
others are one row each."""

from __future__ import annotations

import shlex

from reportlab.platypus import Flowable, Paragraph

from custody.record.times import parse_utc
from custody.report.model import (
    NOT_RECORDED,
    SYSTEM_MEMBER,
    ReportModel,
    RunReport,
    text_or_not_recorded,
)
from custody.report.pdf.facts import fact, flatten, users
from custody.report.pdf.page import PORTRAIT_W, RUNS, at_cell, at_text, body, heading, subheading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import grid_table, kv_table
from custody.report.pdf.text import human_bytes, para_text, paragraph, printable

NO_RUN = "No collection run is recorded in this case."
#: Runs given a part of their own; more runs are one row each, up to :data:`RUN_ROWS`.
RUNS_DETAILED = 4
RUN_ROWS = 40
#: System facts listed per run, collectors per run, and the lines of a value.
FACTS_LISTED = 24
COLLECTORS_LISTED = 24
VALUE_LINES = 4
RUN_COLUMNS = (
    "Run",
    "Host",
    "Profile",
    "Start (UTC)",
    "End (UTC)",
    "Status",
    "Artifacts",
    "Errors and skips",
    "Bytes",
)


def collection(m: ReportModel, s: Styles) -> list[Flowable]:
    """The runs: a table of all, a part for each of the first few."""
    story = heading(s, RUNS, "Collection runs")
    if not m.runs:
        story.append(body(s, NO_RUN))
        return story
    story.append(
        body(
            s,
            "Each run collected into its own archive, evidence/&lt;run&gt;.tar: one POSIX pax "
            "tar holding the files copied byte for byte with their metadata, and the volatile "
            "records such as processes and network state. Counts are the ledger's: every "
            "artifact of a run is in the inventory (Annex A), every error and skip in "
            "section 4.",
        )
    )
    story += _run_table(m, s)
    for i, r in enumerate(m.runs[:RUNS_DETAILED], start=1):
        story += _run(m, s, r, i)
    if len(m.runs) > RUNS_DETAILED:
        story.append(
            paragraph(
                f"The other {len(m.runs) - RUNS_DETAILED} runs are in the table above; "
                "manifest.json and the ledger give each in full.",
                s.note,
            )
        )
    story.append(Paragraph("Unavoidable changes to the system examined", s.h3))
    story.append(
        body(
            s,
            "Each collection ran as its own process (process IDs above) on the examined host, "
            "which uses memory and appears in the process table and possibly in system logs. "
            "Files were opened read-only, with O_NOATIME where the operating system allows "
            "it, so that reading does not update their access times; where O_NOATIME is "
            "refused the access time may change. The tool wrote only to the case directory "
            "(the run archive, the case database and its identities), not elsewhere on the "
            "examined system unless the case directory itself is on it.",
        )
    )
    return story


def _run_table(m: ReportModel, s: Styles) -> list[Flowable]:
    shown_runs = m.runs[:RUN_ROWS]
    rows = [
        [
            r.short_id,
            r.host,
            r.profile,
            at_cell(r.started_at),
            at_cell(r.finished_at),
            r.status,
            f"{r.state.artifacts:,}",
            f"{r.state.problems:,}",
            human_bytes(r.state.bytes),
        ]
        for r in shown_runs
    ]
    story: list[Flowable] = [
        grid_table(
            s,
            RUN_COLUMNS,
            rows,
            [40, 62, 46, 54, 54, 46, 48, 46, PORTRAIT_W - 396],
            mono=(0,),
            highlight=[i for i, r in enumerate(shown_runs) if r.status != "finished"],
            lines=2,
        )
    ]
    if len(m.runs) > RUN_ROWS:
        story.append(
            paragraph(
                f"{len(m.runs) - RUN_ROWS} more runs are not listed here; manifest.json lists "
                "every run.",
                s.note,
            )
        )
    return story


def duration(r: RunReport) -> str:
    """How long the run took, from its start to its end as the ledger dates them."""
    if r.finished_at is None:
        return "not finished"
    try:
        seconds = (parse_utc(r.finished_at) - parse_utc(r.started_at)).total_seconds()
    except ValueError:
        return NOT_RECORDED
    minutes, sec = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{hours} h {minutes:02d} min {sec:06.3f} s" if hours else f"{minutes} min {sec:.3f} s"
    return text + f" ({seconds:,.3f} s)"


def _run(m: ReportModel, s: Styles, r: RunReport, number: int) -> list[Flowable]:
    p, f, st, facts = r.started, r.finished, r.state, r.system
    command = shlex.join(p.command_line) if p.command_line else NOT_RECORDED
    status = r.status + (f" ({f.reason})" if f is not None and f.reason else "")
    os_text = fact(facts, "host.platform", "host.os", "os.platform", "os", "platform")
    rows: list[tuple[str, str]] = [
        ("Run", r.run_id),
        ("Host (as recorded)", r.host),
        ("Host name (system facts)", fact(facts, "host.hostname", "hostname") or NOT_RECORDED),
        ("Fully qualified name", fact(facts, "host.fqdn", "fqdn") or NOT_RECORDED),
        ("Operating system", os_text or NOT_RECORDED),
        ("Kernel", fact(facts, "host.kernel", "kernel", "os.kernel") or NOT_RECORDED),
        ("By whom", f"{m.name_of(r.actor)} (certificate {r.actor})"),
        ("Start (UTC)", at_text(r.started_at)),
        ("End (UTC)", at_text(r.finished_at)),
        ("Duration", duration(r)),
        ("Status", status),
        (
            "Outcome",
            f"{st.artifacts:,} artifacts ({human_bytes(st.bytes)}), {st.errors:,} errors, "
            f"{st.skipped:,} skipped, {st.changed:,} other",
        ),
        ("Tool", f"{text_or_not_recorded(p.tool)} {text_or_not_recorded(p.tool_version)}"),
        ("Tool SHA-256", text_or_not_recorded(p.tool_sha256)),
        ("Tool path hashed", text_or_not_recorded(p.tool_path)),
        ("Profile", r.profile),
        ("Profile SHA-256", text_or_not_recorded(p.profile_sha256)),
        ("Command line", command),
        ("Process ID", text_or_not_recorded(p.pid or None)),
        ("Process start (UTC)", at_text(p.process_started_at)),
        ("Boot ID", text_or_not_recorded(p.boot_id)),
        ("Boot time", fact(facts, "boot.boot_time", "boot_time") or NOT_RECORDED),
        ("Users logged on", users(facts)),
        ("Archive", r.archive_name),
    ]
    title = (
        f"{RUNS}.{number} Run {printable(r.short_id, limit=16)} on {printable(r.host, limit=60)}"
    )
    story: list[Flowable] = [subheading(s, title, f"run-{number}")]
    story.append(
        kv_table(
            s,
            rows,
            (130, PORTRAIT_W - 130),
            mono_keys=(
                "Run",
                "Tool SHA-256",
                "Profile SHA-256",
                "Command line",
                "Tool path hashed",
                "Boot ID",
                "Archive",
            ),
            lines=VALUE_LINES,
        )
    )
    if facts is None:
        story.append(paragraph(f"System facts: {r.system_note}.", s.note))
    story.append(Paragraph("Counts per collector (in the order run: most volatile first)", s.h3))
    counts = list(r.collector_counts().items())
    order_rows = [
        [
            str(i),
            name,
            f"{c.artifacts:,}",
            human_bytes(c.bytes),
            f"{c.errors:,}",
            f"{c.skipped:,}",
            f"{c.other:,}",
        ]
        for i, (name, c) in enumerate(counts[:COLLECTORS_LISTED], start=1)
    ]
    story.append(
        grid_table(
            s,
            ["Order", "Collector", "Artifacts", "Bytes", "Errors", "Skipped", "Other"],
            order_rows,
            [36, 110, 60, PORTRAIT_W - 386, 60, 60, 60],
            lines=2,
        )
    )
    if len(counts) > COLLECTORS_LISTED:
        story.append(
            paragraph(f"{len(counts) - COLLECTORS_LISTED} more collectors not listed.", s.note)
        )
    member = r.system_member
    if facts and member is not None:
        story.append(Paragraph(f"State of the machine ({para_text(SYSTEM_MEMBER)})", s.h3))
        all_facts = list(flatten(facts))
        story.append(
            paragraph(
                f"Read from the run archive at the offset the ledger recorded (entry "
                f"{member.seq}); its bytes re-hash to the recorded SHA-256 "
                f"{member.event.digests.sha256}. The first {min(FACTS_LISTED, len(all_facts))} "
                f"of {len(all_facts)} facts; the member holds them all.",
                s.small,
            )
        )
        fact_rows = [[k, v] for k, v in all_facts[:FACTS_LISTED]]
        story.append(
            grid_table(s, ["Fact", "Value"], fact_rows, [150, PORTRAIT_W - 150], mono=(1,), lines=2)
        )
    return story
