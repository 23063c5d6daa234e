"""4. Evidence inventory: one row per run, and its artifacts grouped by collector."""

from __future__ import annotations

from reportlab.platypus import Flowable, Paragraph

from custody.report.model import ReportModel
from custody.report.pdf.page import PORTRAIT_W, at_cell, body, heading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import grid_table
from custody.report.pdf.text import human_bytes

NO_RUN = "No collection run is recorded in this case."
RUN_COLUMNS = (
    "Run",
    "Host",
    "Profile",
    "Start (UTC)",
    "End (UTC)",
    "Status",
    "Artifacts",
    "Bytes",
    "Archive",
)


def inventory(m: ReportModel, s: Styles) -> list[Flowable]:
    """The runs and their artifact groups."""
    story = heading(s, 4, "Evidence inventory")
    if not m.runs:
        story.append(body(s, NO_RUN))
        return story
    story.append(
        body(
            s,
            "One row per collection run; the archive holds the run's evidence as one POSIX "
            "pax tar (files copied byte for byte with their metadata, and the volatile "
            "records such as processes and network state).",
        )
    )
    rows = [
        [
            r.short_id,
            r.host,
            r.profile,
            at_cell(r.started_at),
            at_cell(r.finished_at),
            r.status,
            f"{r.state.artifacts:,}",
            human_bytes(r.state.bytes),
            r.archive_name,
        ]
        for r in m.runs
    ]
    story.append(
        grid_table(
            s,
            RUN_COLUMNS,
            rows,
            [40, 58, 40, 52, 52, 42, 46, 62, PORTRAIT_W - 392],
            mono=(0, 8),
            highlight=[i for i, r in enumerate(m.runs) if r.status != "finished"],
        )
    )
    story.append(Paragraph("Artifact groups (by collector)", s.h2))
    group_rows: list[list[str]] = [
        [
            r.short_id,
            name,
            f"{c.artifacts:,}",
            human_bytes(c.bytes),
            f"{c.errors:,}",
            f"{c.skipped:,}",
            f"{c.other:,}",
        ]
        for r in m.runs
        for name, c in r.collector_counts().items()
    ]
    story.append(
        grid_table(
            s,
            ["Run", "Collector", "Artifacts", "Bytes", "Errors", "Skipped", "Other"],
            group_rows,
            [50, 100, 60, PORTRAIT_W - 350, 45, 45, 50],
            mono=(0,),
        )
    )
    return story
