"""6. Acquisition record: tool, version and its own hash, profile, command line, start and
end, outcome, the unavoidable changes to the examined system, and every error and skip."""

from __future__ import annotations

import shlex

from reportlab.platypus import Flowable, Paragraph

from custody.report.model import NOT_RECORDED, ReportModel, RunReport, text_or_not_recorded
from custody.report.pdf.fasttable import Column, FastTable, fill_chars
from custody.report.pdf.inventory import NO_RUN
from custody.report.pdf.page import PORTRAIT_W, at_text, body, heading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import kv_table
from custody.report.pdf.text import HEADING_LIMIT, human_bytes, para_text, paragraph

#: Size of the errors-and-skips table's text.
PROBLEM_SIZE = 6.4


def acquisition(m: ReportModel, s: Styles) -> list[Flowable]:
    """One part per run."""
    story = heading(s, 6, "Acquisition record")
    if not m.runs:
        story.append(body(s, NO_RUN))
    for r in m.runs:
        story += _run(s, r)
    return story


def _run(s: Styles, r: RunReport) -> list[Flowable]:
    p, f, st = r.started, r.finished, r.state
    command = shlex.join(p.command_line) if p.command_line else NOT_RECORDED
    status = r.status + (f" ({f.reason})" if f is not None and f.reason else "")
    pid = text_or_not_recorded(p.pid or None)
    story: list[Flowable] = [paragraph(f"Run {r.run_id}", s.h2, limit=HEADING_LIMIT)]
    story.append(
        kv_table(
            s,
            [
                ("Tool", text_or_not_recorded(p.tool)),
                ("Version", text_or_not_recorded(p.tool_version)),
                ("Tool SHA-256", text_or_not_recorded(p.tool_sha256)),
                ("Tool path hashed", text_or_not_recorded(p.tool_path)),
                ("Profile", r.profile),
                ("Profile SHA-256", text_or_not_recorded(p.profile_sha256)),
                ("Command line", command),
                ("Process ID", pid),
                ("Process start (UTC)", at_text(p.process_started_at)),
                ("Boot ID", text_or_not_recorded(p.boot_id)),
                ("Start (UTC)", at_text(r.started_at)),
                ("End (UTC)", at_text(r.finished_at)),
                ("Status", status),
                (
                    "Outcome",
                    f"{st.artifacts:,} artifacts ({human_bytes(st.bytes)}), {st.errors:,} "
                    f"errors, {st.skipped:,} skipped, {st.changed:,} other",
                ),
            ],
            (130, PORTRAIT_W - 130),
            mono_keys=(
                "Tool SHA-256",
                "Profile SHA-256",
                "Command line",
                "Tool path hashed",
                "Boot ID",
            ),
        )
    )
    story.append(Paragraph("Unavoidable changes to the system examined", s.h3))
    story.append(
        body(
            s,
            f"The collection ran as its own process (process ID {para_text(pid)}) on the "
            "examined host, which uses memory and appears in the process table and "
            "possibly in system logs. Files were opened read-only, with O_NOATIME where "
            "the operating system allows it, so that reading does not update their "
            "access times; where O_NOATIME is refused the access time may change. The "
            "tool wrote only to the case directory (the run archive, the case database "
            "and its identities), not elsewhere on the examined system unless the case "
            "directory itself is on it.",
        )
    )
    story.append(Paragraph("Errors and skips", s.h3))
    if not r.problems:
        story.append(body(s, "None recorded."))
        return story
    cols = [
        Column("Seq", 7, "right"),
        Column("Collector", 11),
        Column("Kind", 8),
        Column("Path", 42),
        Column("Reason", 0),
    ]
    cols[-1] = Column("Reason", fill_chars(cols, PORTRAIT_W, PROBLEM_SIZE))
    rows = [
        [str(x.seq), x.event.collector, x.event.kind, x.event.path or "-", x.event.reason]
        for x in r.problems
    ]
    story.append(FastTable(cols, rows, size=PROBLEM_SIZE))
    return story
