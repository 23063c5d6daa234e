"""4. Errors and skips: what was not collected, and why, grouped by kind and reason with
their counts, then the first examples of each group. Bounded whatever their number: the
first :data:`GROUPS_LISTED` groups by count, :data:`EXAMPLES_PER_GROUP` examples each for
the first :data:`GROUPS_WITH_EXAMPLES`; every entry is in the ledger."""

from __future__ import annotations

from reportlab.platypus import Flowable, Paragraph

from custody.report.model import ProblemGroup, ReportModel
from custody.report.pdf.fasttable import Column, FastTable, fill_chars
from custody.report.pdf.page import PORTRAIT_W, PROBLEMS, body, heading, subheading
from custody.report.pdf.styles import Styles
from custody.report.pdf.text import IN_LEDGER

#: Size of the tables' text, and the lines a reason or a path fills at most.
PROBLEM_SIZE = 6.4
REASON_LINES = 6
PATH_LINES = 6
GROUPS_LISTED = 30
GROUPS_WITH_EXAMPLES = 12
EXAMPLES_PER_GROUP = 10


def problems(m: ReportModel, s: Styles) -> list[Flowable]:
    """The groups, then their examples."""
    story = heading(s, PROBLEMS, "Errors and skips")
    inv = m.inventory
    total = m.problem_count
    if not total and not inv.groups:
        story.append(body(s, "None recorded: every target of every run was collected."))
        return story
    groups = sorted(inv.groups.values(), key=lambda g: (-g.count, g.kind, g.reason))
    story.append(
        body(
            s,
            f"{total:,} entries recorded what was not collected, and why, in "
            f"{len(groups) + (1 if inv.groups_over else 0):,} groups of one kind and reason "
            "(skipped: not collected by design, such as a directory, a FIFO or a device; "
            "error: could not be collected; changed: collected while it changed). Seq is the "
            "ledger entry; every entry is in ledger.jsonl.",
        )
    )
    story += _groups(s, groups, inv.groups_over)
    story += _examples(s, groups[:GROUPS_WITH_EXAMPLES])
    return story


def _cols(first: list[Column], fill: str) -> list[Column]:
    cols = [*first, Column(fill, 0)]
    cols[-1] = Column(fill, fill_chars(cols, PORTRAIT_W, PROBLEM_SIZE))
    return cols


def _groups(s: Styles, groups: list[ProblemGroup], over: int) -> list[Flowable]:
    cols = _cols(
        [
            Column("#", 3, "right"),
            Column("Kind", 8),
            Column("Entries", 9, "right"),
            Column("Collectors", 22),
        ],
        "Reason",
    )
    rows = [
        [
            str(i),
            g.kind,
            f"{g.count:,}",
            ", ".join(f"{name} ({n:,})" for name, n in sorted(g.collectors.items())),
            g.reason,
        ]
        for i, g in enumerate(groups[:GROUPS_LISTED], start=1)
    ]
    rest = groups[GROUPS_LISTED:]
    if rest or over:
        entries = sum(g.count for g in rest) + over
        rows.append(
            [
                "",
                "",
                f"{entries:,}",
                "",
                f"... in {len(rest) + (1 if over else 0):,} more groups (the ledger has them all)",
            ]
        )
    return [
        subheading(s, f"{PROBLEMS}.1 By kind and reason", "problems-groups"),
        FastTable(cols, rows, size=PROBLEM_SIZE, max_lines=REASON_LINES, where=IN_LEDGER),
    ]


def _examples(s: Styles, groups: list[ProblemGroup]) -> list[Flowable]:
    cols = _cols(
        [
            Column("#", 3, "right"),
            Column("Seq", 8, "right"),
            Column("Run", 8),
            Column("Collector", 12),
        ],
        "Path",
    )
    rows = [
        [str(i), str(x.seq), x.run_id[:8], x.collector, x.path or "-"]
        for i, g in enumerate(groups, start=1)
        for x in g.examples[:EXAMPLES_PER_GROUP]
    ]
    return [
        subheading(s, f"{PROBLEMS}.2 First examples of each group", "problems-examples"),
        Paragraph(
            f"The first {EXAMPLES_PER_GROUP} entries of each of the {len(groups)} largest "
            "groups (# as above), in ledger order.",
            s.small,
        ),
        FastTable(cols, rows, size=PROBLEM_SIZE, max_lines=PATH_LINES, where=IN_LEDGER),
    ]
