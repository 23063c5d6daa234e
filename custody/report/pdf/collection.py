"""5. Collection record: where, when and by whom each run collected; the state of the machine
and the order of volatility followed."""

from __future__ import annotations

from reportlab.platypus import Flowable, Paragraph

from custody.report.model import NOT_RECORDED, SYSTEM_MEMBER, ReportModel, RunReport
from custody.report.pdf.facts import fact, flatten, users
from custody.report.pdf.inventory import NO_RUN
from custody.report.pdf.page import PORTRAIT_W, at_text, body, heading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import grid_table, kv_table
from custody.report.pdf.text import HEADING_LIMIT, paragraph

#: System facts listed at most.
FACTS_LISTED = 400


def collection(m: ReportModel, s: Styles) -> list[Flowable]:
    """One part per run."""
    story = heading(s, 5, "Collection record")
    if not m.runs:
        story.append(body(s, NO_RUN))
        return story
    for r in m.runs:
        story += _run(m, s, r)
    return story


def _run(m: ReportModel, s: Styles, r: RunReport) -> list[Flowable]:
    facts = r.system
    os_text = fact(facts, "host.platform", "host.os", "os.platform", "os", "platform")
    rows: list[tuple[str, str]] = [
        ("Where (host)", r.host),
        ("Host name (system facts)", fact(facts, "host.hostname", "hostname") or NOT_RECORDED),
        ("Fully qualified name", fact(facts, "host.fqdn", "fqdn") or NOT_RECORDED),
        ("Operating system", os_text or NOT_RECORDED),
        ("Kernel", fact(facts, "host.kernel", "kernel", "os.kernel") or NOT_RECORDED),
        ("When (UTC)", f"{at_text(r.started_at)} to {at_text(r.finished_at)}"),
        ("By whom", f"{m.name_of(r.actor)} (certificate {r.actor})"),
        ("Boot time", fact(facts, "boot.boot_time", "boot_time") or NOT_RECORDED),
        ("Uptime (s)", fact(facts, "boot.uptime_seconds", "uptime_seconds") or NOT_RECORDED),
        ("Users logged on", users(facts)),
        (
            "Time zone",
            fact(facts, "time_zone.name", "timezone.name", "timezone", "time_zone") or NOT_RECORDED,
        ),
    ]
    story: list[Flowable] = [paragraph(f"Run {r.run_id}", s.h2, limit=HEADING_LIMIT)]
    story.append(kv_table(s, rows, (130, PORTRAIT_W - 130)))
    if facts is None:
        story.append(paragraph(f"System facts: {r.system_note}.", s.note))
    story.append(Paragraph("Order of volatility followed", s.h3))
    counts = r.collector_counts()
    order_rows = [
        [
            str(i),
            name,
            f"{counts[name].artifacts:,}" if name in counts else "0",
            f"{counts[name].errors + counts[name].skipped + counts[name].other:,}"
            if name in counts
            else "0",
        ]
        for i, name in enumerate(r.collectors, start=1)
    ]
    story.append(
        grid_table(
            s,
            ["Order", "Collector (most volatile first)", "Artifacts", "Errors and skips"],
            order_rows,
            [40, 200, 70, 90],
        )
    )
    member = r.system_member
    if facts and member is not None:
        story.append(Paragraph(f"State of the machine ({SYSTEM_MEMBER})", s.h3))
        story.append(
            paragraph(
                f"Read from the run archive at the offset the ledger recorded (entry "
                f"{member.seq}); its bytes re-hash to the recorded SHA-256 "
                f"{member.event.digests.sha256}.",
                s.small,
            )
        )
        fact_rows = [[k, v] for k, v in flatten(facts)][:FACTS_LISTED]
        story.append(
            grid_table(s, ["Fact", "Value"], fact_rows, [150, PORTRAIT_W - 150], mono=(1,))
        )
    return story
