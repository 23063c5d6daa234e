"""The custody report's pages: the sections a court and a lawyer look for, in order.

The content comes from :class:`~custody.report.data.ReportModel`; this module only lays it
out (reportlab platypus). The text states facts and how they can be checked; it gives no
legal advice.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from reportlab import rl_config
from reportlab.graphics.shapes import Circle, Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    HRFlowable,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from custody.db.ledger import CHECKPOINT_EVERY, CHECKPOINT_SECONDS
from custody.record.entry import GENESIS_HASH
from custody.report.data import (
    NOT_RECORDED,
    SHORT_HASH,
    SYSTEM_MEMBER,
    ReportModel,
    RunRecord,
    utc_text,
)
from custody.report.layout import (
    ACCENT,
    FAIL_RED,
    FAST_PAD,
    INK,
    MONO,
    MUTED,
    OK_GREEN,
    RULE,
    SANS,
    Badge,
    Column,
    FastTable,
    Furniture,
    Logo,
    SignatureSpot,
    Styles,
    grid_table,
    human_bytes,
    kv_table,
    make_styles,
    numbered_canvas,
    para_text,
)
from custody.report.sign import SignatureBox

MARGIN = 42.5  # 15 mm
PORTRAIT = A4
LANDSCAPE = landscape(A4)
PORTRAIT_W = PORTRAIT[0] - 2 * MARGIN
LANDSCAPE_W = LANDSCAPE[0] - 2 * MARGIN

SECTIONS = (
    "Authority and scope",
    "Personnel",
    "Evidence inventory",
    "Collection record",
    "Acquisition record",
    "Integrity",
    "Custody log",
    "Storage and preservation",
    "Time integrity",
    "How the record is produced",
    "Independent verification",
    "Examiner attestation",
    "Annexes",
)

EVENT_COLOURS: dict[str, colors.Color] = {
    "case_opened": colors.HexColor("#1f3a5f"),
    "identity_added": colors.HexColor("#4a78a8"),
    "case_updated": colors.HexColor("#7d8ea3"),
    "run_started": colors.HexColor("#2e8b57"),
    "run_finished": colors.HexColor("#1b5e37"),
    "note": colors.HexColor("#e08a1e"),
    "decision": colors.HexColor("#c0392b"),
    "transferred": colors.HexColor("#7b3fa0"),
    "accessed": colors.HexColor("#17806d"),
    "exported": colors.HexColor("#8a5a2b"),
    "sealed": colors.HexColor("#333333"),
    "verified": colors.HexColor("#0f6f8f"),
}
LANES = (
    ("Case and personnel", ("case_opened", "identity_added", "case_updated")),
    ("Collection runs", ("run_started", "run_finished")),
    ("Journal", ("note", "decision")),
    ("Custody acts", ("transferred", "accessed", "exported", "sealed", "verified")),
)


def _h1(styles: Styles, number: int, title: str) -> list[Flowable]:
    return [
        CondPageBreak(140),
        Paragraph(f"{number}. {para_text(title)}", styles.h1),
        HRFlowable(width="100%", thickness=0.8, color=ACCENT, spaceBefore=0, spaceAfter=8),
    ]


def _when(at: str | None) -> str:
    """A ledger time for a narrow cell: date, then time to the second (full value in Annex B)."""
    if not at:
        return NOT_RECORDED
    date, _, rest = at.partition("T")
    return f"{date}\n{rest[:8]}Z" if rest else at


def _p(styles: Styles, text: str) -> Paragraph:
    return Paragraph(text, styles.body)


def _utc(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _flatten(value: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """Scalar facts of a JSON object as ``a.b.c: value`` pairs; lists summarised."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k), depth + 1)
    elif isinstance(value, list):
        if all(not isinstance(v, Mapping | list) for v in value):
            yield prefix, ", ".join(str(v) for v in value) or "(none)"
        else:
            yield prefix, f"{len(value)} item(s)"
            for i, v in enumerate(value[:20]):
                text = json.dumps(v, ensure_ascii=False, sort_keys=True)
                yield f"{prefix}[{i}]", text if len(text) < 400 else text[:397] + "..."
    else:
        yield prefix, "null" if value is None else str(value)


def _get(facts: Mapping[str, Any] | None, *paths: str) -> str | None:
    """The first of ``paths`` (dotted) present in ``facts``, as text."""
    if not facts:
        return None
    for path in paths:
        node: Any = facts
        for part in path.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                node = None
                break
        if node not in (None, "", [], {}):
            return str(node)
    return None


class ReportBuilder:
    """Builds the story (list of flowables) for one model."""

    def __init__(self, model: ReportModel) -> None:
        self.m = model
        self.s = make_styles()
        self.signature_box: SignatureBox | None = None
        self.fingerprint_style = ParagraphStyle(
            "fingerprint", parent=self.s.cell_mono, fontSize=5.9, leading=8.6
        )

    # ------------------------------------------------------------------ cover

    def cover(self) -> list[Flowable]:
        m, s = self.m, self.s
        v = m.verification
        story: list[Flowable] = [Spacer(1, 18), Logo(30), Spacer(1, 26)]
        story.append(Paragraph("Chain of Custody Report", s.title))
        story.append(Paragraph(para_text(m.case_field("title")), s.subtitle))
        if v.ok:
            badge = Badge(
                "VERIFIED",
                f"every check holds: {v.entries} ledger entries, {v.signatures} signatures, "
                f"{v.artifacts} artifacts re-hashed",
                OK_GREEN,
                PORTRAIT_W,
            )
        else:
            badge = Badge(
                f"FAILED - {len(v.findings)} problem(s)",
                "the record does not hold as recorded: see section 7 for every finding",
                FAIL_RED,
                PORTRAIT_W,
            )
        story += [badge, Spacer(1, 14)]
        ex = m.examiner
        examiner = ex.name + (f", {ex.organisation}" if ex.organisation else "")
        if ex.email:
            examiner += f" <{ex.email}>"
        rows: list[tuple[str, str]] = [
            ("Case title", m.case_field("title")),
            ("Case ID", m.case_id or NOT_RECORDED),
            ("Incident reference", m.case_field("incident_ref")),
            ("Organisation", m.case_field("organisation")),
            ("Bundle ID", m.bundle_id),
            ("Generated at (UTC)", _utc(m.generated_at)),
            ("Examiner (signs this report)", examiner),
            ("Examiner certificate SHA-256", ex.fingerprint),
            ("Manifest SHA-256", m.manifest_sha256),
            ("Ledger head", v.head),
            (
                "Record",
                f"{len(m.runs)} collection run(s), {m.artifact_count:,} artifacts "
                f"({human_bytes(m.artifact_bytes)}), {m.problem_count:,} errors and skips, "
                f"{len(m.entries):,} ledger entries, {len(m.people)} examiner(s)",
            ),
        ]
        story.append(
            kv_table(
                s,
                rows,
                (150, PORTRAIT_W - 150),
                mono_keys=("Examiner certificate SHA-256", "Manifest SHA-256", "Ledger head"),
            )
        )
        story.append(Spacer(1, 16))
        story.append(Paragraph("Contents", s.h2))
        items = [f"{i}. {name}" for i, name in enumerate(SECTIONS, start=2)]
        half = (len(items) + 1) // 2
        contents = Table(
            [
                [
                    Paragraph(para_text(a), s.cell),
                    Paragraph(para_text(b), s.cell) if b else "",
                ]
                for a, b in zip(items[:half], [*items[half:], ""], strict=False)
            ],
            colWidths=[PORTRAIT_W / 2, PORTRAIT_W / 2],
            hAlign="LEFT",
        )
        contents.setStyle(
            TableStyle(
                [
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("TOPPADDING", (0, 0), (-1, -1), 1),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ]
            )
        )
        story.append(contents)
        story.append(Spacer(1, 10))
        story.append(
            Paragraph(
                "This report is generated from the case's custody ledger, a hash-chained record "
                "signed by the examiners, and from the verification made for this export. It is "
                "signed as a whole by the examiner named above (PAdES); section 12 shows how "
                "to check it and the evidence it describes without Chainproof.",
                s.note,
            )
        )
        story.append(PageBreak())
        return story

    # ------------------------------------------------------------------ 2 authority

    def authority(self) -> list[Flowable]:
        m, s = self.m, self.s
        story = _h1(s, 2, "Authority and scope")
        story.append(
            _p(
                s,
                "As recorded by the examiner who opened the case (ledger entry "
                f"{m.case_opened_seq or NOT_RECORDED}, {utc_text(m.case_opened_at)}). "
                "Values later changed by a signed case_updated entry are shown as changed.",
            )
        )
        story.append(
            kv_table(
                s,
                [
                    ("Legal basis", m.case_field("legal_basis")),
                    ("Requesting party", m.case_field("requesting_party")),
                    ("Limits of scope", m.case_field("scope")),
                    ("Responsible person", m.case_field("responsible")),
                    ("Description", m.case_field("description")),
                ],
                (130, PORTRAIT_W - 130),
            )
        )
        story.append(Paragraph("Incident summary", s.h2))
        story.append(
            kv_table(
                s,
                [
                    ("Incident reference", m.case_field("incident_ref")),
                    ("Title", m.case_field("title")),
                    ("Severity", m.case_field("severity")),
                    ("Status", m.case_field("status")),
                    ("Organisation", m.case_field("organisation")),
                    ("Opened", utc_text(m.case_opened_at)),
                    (
                        "Journal",
                        f"{len(m.journal)} entr{'y' if len(m.journal) == 1 else 'ies'} "
                        "(section 8.3)",
                    ),
                    ("Transfers of custody", f"{len(m.transfers)} (section 8.4)"),
                ],
                (130, PORTRAIT_W - 130),
            )
        )
        if m.case_history:
            story.append(Paragraph("Changes to the case record", s.h3))
            rows = [
                [
                    str(seq),
                    utc_text(at),
                    m.name_of(actor),
                    "; ".join(f"{k}: {v}" for k, v in sorted(changes.items())),
                ]
                for seq, at, actor, changes in m.case_history
            ]
            story.append(
                grid_table(
                    s,
                    ["Seq", "Time (UTC)", "By", "Change"],
                    rows,
                    [36, 110, 100, PORTRAIT_W - 246],
                )
            )
        return story

    # ------------------------------------------------------------------ 3 personnel

    def personnel(self) -> list[Flowable]:
        m, s = self.m, self.s
        story = _h1(s, 3, "Personnel")
        story.append(
            _p(
                s,
                "Every person who acted on this case, as introduced by a signed identity_added "
                "entry. An examiner is named by the SHA-256 of their X.509 certificate (DER); "
                "the certificates are in Annex C.",
            )
        )
        signed: dict[str, int] = {}
        for e in m.entries:
            for sig in e.signatures:
                signed[sig.by] = signed.get(sig.by, 0) + 1
        rows: list[list[Any]] = [
            [
                p.name,
                p.organisation or NOT_RECORDED,
                p.email or NOT_RECORDED,
                f"{p.role}; added in entry {p.seq}; {signed.get(p.fingerprint, 0):,} "
                "signed entries",
                Paragraph(p.fingerprint, self.fingerprint_style),
            ]
            for p in m.people
        ]
        story.append(
            grid_table(
                s,
                ["Name", "Organisation", "E-mail", "Role", "Certificate SHA-256"],
                rows,
                [64, 62, 82, PORTRAIT_W - 208 - 242, 242],
            )
        )
        return story

    # ------------------------------------------------------------------ 4 inventory

    def inventory(self) -> list[Flowable]:
        m, s = self.m, self.s
        story = _h1(s, 4, "Evidence inventory")
        if not m.runs:
            story.append(_p(s, "No collection run is recorded in this case."))
            return story
        story.append(
            _p(
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
                _when(r.started_at),
                _when(r.finished_at),
                r.status,
                f"{len(r.artifacts):,}",
                human_bytes(r.bytes),
                r.archive_name,
            ]
            for r in m.runs
        ]
        story.append(
            grid_table(
                s,
                [
                    "Run",
                    "Host",
                    "Profile",
                    "Start (UTC)",
                    "End (UTC)",
                    "Status",
                    "Artifacts",
                    "Bytes",
                    "Archive",
                ],
                rows,
                [40, 58, 40, 52, 52, 42, 46, 62, PORTRAIT_W - 392],
                mono=(0, 8),
                highlight=[i for i, r in enumerate(m.runs) if r.status != "finished"],
            )
        )
        story.append(Paragraph("Artifact groups (by collector)", s.h2))
        group_rows: list[list[str]] = []
        for r in m.runs:
            for name, c in r.collector_counts().items():
                group_rows.append(
                    [
                        r.short_id,
                        name,
                        f"{c.artifacts:,}",
                        human_bytes(c.bytes),
                        f"{c.errors:,}",
                        f"{c.skipped:,}",
                        f"{c.other:,}",
                    ]
                )
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

    # ------------------------------------------------------------------ 5 collection

    def collection(self) -> list[Flowable]:
        m, s = self.m, self.s
        story = _h1(s, 5, "Collection record")
        if not m.runs:
            story.append(_p(s, "No collection run is recorded in this case."))
            return story
        for r in m.runs:
            story.append(Paragraph(f"Run {para_text(r.run_id)}", s.h2))
            facts = r.system
            os_text = _get(facts, "host.platform", "host.os", "os.platform", "os", "platform")
            kernel = _get(facts, "host.kernel", "kernel", "os.kernel")
            rows: list[tuple[str, str]] = [
                ("Where (host)", r.host),
                (
                    "Host name (system facts)",
                    _get(facts, "host.hostname", "hostname") or NOT_RECORDED,
                ),
                ("Fully qualified name", _get(facts, "host.fqdn", "fqdn") or NOT_RECORDED),
                ("Operating system", os_text or NOT_RECORDED),
                ("Kernel", kernel or NOT_RECORDED),
                ("When (UTC)", f"{utc_text(r.started_at)} to {utc_text(r.finished_at)}"),
                ("By whom", f"{m.name_of(r.actor)} (certificate {r.actor})"),
                ("Boot time", _get(facts, "boot.boot_time", "boot_time") or NOT_RECORDED),
                (
                    "Uptime (s)",
                    _get(facts, "boot.uptime_seconds", "uptime_seconds") or NOT_RECORDED,
                ),
                ("Users logged on", _users(facts)),
                (
                    "Time zone",
                    _get(facts, "time_zone.name", "timezone.name", "timezone", "time_zone")
                    or NOT_RECORDED,
                ),
            ]
            story.append(kv_table(s, rows, (130, PORTRAIT_W - 130)))
            if facts is None:
                story.append(Paragraph(f"System facts: {para_text(r.system_note)}.", s.note))
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
            if facts:
                story.append(Paragraph(f"State of the machine ({SYSTEM_MEMBER})", s.h3))
                member = next(a for a in r.artifacts if a.member == SYSTEM_MEMBER)
                story.append(
                    Paragraph(
                        f"Read from the run archive at the offset the ledger recorded (entry "
                        f"{member.seq}); its bytes re-hash to the recorded SHA-256 "
                        f"{member.sha256}.",
                        s.small,
                    )
                )
                fact_rows = [[k, v] for k, v in _flatten(facts)][:400]
                story.append(
                    grid_table(s, ["Fact", "Value"], fact_rows, [150, PORTRAIT_W - 150], mono=(1,))
                )
        return story

    # ------------------------------------------------------------------ 6 acquisition

    def acquisition(self) -> list[Flowable]:
        m, s = self.m, self.s
        story = _h1(s, 6, "Acquisition record")
        if not m.runs:
            story.append(_p(s, "No collection run is recorded in this case."))
        for r in m.runs:
            p = r.started
            f = r.finished or {}
            cmd = p.get("command_line")
            command = (
                shlex.join(str(a) for a in cmd)
                if isinstance(cmd, list)
                else str(cmd or NOT_RECORDED)
            )
            status = r.status + (f" ({f.get('reason')})" if f.get("reason") else "")
            story.append(Paragraph(f"Run {para_text(r.run_id)}", s.h2))
            story.append(
                kv_table(
                    s,
                    [
                        ("Tool", str(p.get("tool") or NOT_RECORDED)),
                        ("Version", str(p.get("tool_version") or NOT_RECORDED)),
                        ("Tool SHA-256", str(p.get("tool_sha256") or NOT_RECORDED)),
                        ("Tool path hashed", str(p.get("tool_path") or NOT_RECORDED)),
                        ("Profile", r.profile),
                        ("Profile SHA-256", str(p.get("profile_sha256") or NOT_RECORDED)),
                        ("Command line", command),
                        ("Process ID", str(p.get("pid") or NOT_RECORDED)),
                        ("Start (UTC)", utc_text(r.started_at)),
                        ("End (UTC)", utc_text(r.finished_at)),
                        ("Status", status),
                        (
                            "Outcome",
                            f"{len(r.artifacts):,} artifacts ({human_bytes(r.bytes)}), "
                            f"{sum(1 for x in r.problems if x.kind == 'error'):,} errors, "
                            f"{sum(1 for x in r.problems if x.kind == 'skipped'):,} skipped, "
                            f"{sum(1 for x in r.problems if x.kind not in ('error', 'skipped')):,} "
                            "other",
                        ),
                    ],
                    (130, PORTRAIT_W - 130),
                    mono_keys=(
                        "Tool SHA-256",
                        "Profile SHA-256",
                        "Command line",
                        "Tool path hashed",
                    ),
                )
            )
            story.append(Paragraph("Unavoidable changes to the system examined", s.h3))
            pid = p.get("pid") or NOT_RECORDED
            story.append(
                _p(
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
                story.append(_p(s, "None recorded."))
                continue
            cols = [
                Column("Seq", 7, "right"),
                Column("Collector", 11),
                Column("Kind", 8),
                Column("Path", 42),
                Column("Reason", 0),
            ]
            cols[-1] = Column("Reason", _fill_chars(cols, PORTRAIT_W, 6.4))
            rows = [[str(x.seq), x.collector, x.kind, x.path or "-", x.reason] for x in r.problems]
            story.append(FastTable(cols, rows, size=6.4))
        return story

    # ------------------------------------------------------------------ 7 integrity

    def integrity(self) -> list[Flowable]:
        m, s = self.m, self.s
        v = m.verification
        story = _h1(s, 7, "Integrity")
        result = "VERIFIED: every check holds" if v.ok else f"FAILED: {len(v.findings)} problem(s)"
        colour = "#1e7b34" if v.ok else "#b3261e"
        verified_at = ", ".join(utc_text(e.at) for e in m.verified_entries)
        story.append(
            kv_table(
                s,
                [
                    ("Result", Paragraph(f'<font color="{colour}"><b>{result}</b></font>', s.cell)),
                    (
                        "Verified",
                        f"for this export; report generated {_utc(m.generated_at)}"
                        + (
                            f"; verifications recorded in the ledger at {verified_at}"
                            if verified_at
                            else ""
                        ),
                    ),
                    ("Subject", f"case {m.case_id}: its ledger, certificates and run archives"),
                    ("Ledger", f"{v.entries:,} entries, {v.signatures:,} signatures verified"),
                    ("Ledger head", v.head),
                    (
                        "Evidence",
                        f"{v.runs} run archive(s), {v.artifacts:,} artifacts re-hashed "
                        f"({human_bytes(v.bytes_hashed)}) with SHA-256, SHA-1 and MD5",
                    ),
                    (
                        "Signers",
                        "; ".join(
                            f"{n} ({fp[:SHORT_HASH]}...)"
                            for fp, n in sorted(v.signers.items(), key=lambda kv: kv[1])
                        )
                        or "none",
                    ),
                ],
                (110, PORTRAIT_W - 110),
                mono_keys=("Ledger head",),
            )
        )
        if v.findings:
            story.append(Paragraph(f"Findings ({len(v.findings)})", s.h2))
            rows = [[f.where, f.code, f.message] for f in v.findings]
            story.append(
                grid_table(
                    s,
                    ["Where", "Check", "Finding"],
                    rows,
                    [120, 90, PORTRAIT_W - 210],
                    highlight=list(range(len(rows))),
                )
            )
        story.append(Paragraph("Artifacts", s.h2))
        story.append(
            _p(
                s,
                "Every artifact with its size and SHA-256 in full; SHA-1 and MD5 are in Annex A. "
                "Seq is the ledger entry that recorded the artifact. Path is the source path on "
                "the examined host, or the archive member for volatile records.",
            )
        )
        if not m.artifact_count:
            story.append(_p(s, "No artifact is recorded."))
        bad = set(m.findings_by_seq)
        cols = [
            Column("Seq", 7, "right"),
            Column("Path", 0),
            Column("Size (bytes)", 13, "right"),
            Column("SHA-256", 64),
        ]
        cols[1] = Column("Path", _fill_chars(cols, PORTRAIT_W, 6.4))
        for r in m.runs:
            if not r.artifacts:
                continue
            story.append(
                Paragraph(f"Run {para_text(r.run_id)} ({len(r.artifacts):,} artifacts)", s.h3)
            )
            rows = []
            marks = set()
            for i, a in enumerate(r.artifacts):
                path = a.path or a.member
                if a.changed:
                    path += " [changed while read]"
                rows.append([str(a.seq), path, f"{a.size:,}", a.sha256])
                if a.seq in bad:
                    marks.add(i)
            story.append(FastTable(cols, rows, size=6.4, marks=frozenset(marks)))
        return story

    # ------------------------------------------------------------------ 8 custody log

    def custody_log(self) -> list[Flowable]:
        m, s = self.m, self.s
        story = _h1(s, 8, "Custody log")
        story.append(
            _p(
                s,
                "Every act of a person is a signed ledger entry and has its own row. Artifact "
                "and error entries, which come by the thousand, are summarised per run: they are "
                "covered by signed checkpoints, and each is listed in Annex B. The signature "
                "column gives the verification's result for that entry; the entry hash is "
                f"shortened to its first {SHORT_HASH} hex digits (full values in Annex B).",
            )
        )
        chart = self.timeline()
        story.append(
            KeepTogether(
                [
                    Paragraph("8.1 Timeline", s.h2),
                    chart if chart is not None else _p(s, "No dated signed events."),
                ]
            )
        )
        story.append(Paragraph("8.2 Ledger entries", s.h2))
        rows = [
            [r.seq, _when(r.at), r.event, r.actors, r.details, r.signature, r.entry_hash]
            for r in m.log
        ]
        story.append(
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
            )
        )
        story.append(Paragraph("8.3 Incident journal", s.h2))
        if m.journal:
            jrows = [
                [str(j.seq), _when(j.at), j.kind, j.by, j.text, j.reason or "", j.signature]
                for j in m.journal
            ]
            story.append(
                grid_table(
                    s,
                    ["Seq", "Time (UTC)", "Kind", "By", "Entry", "Reason", "Signature"],
                    jrows,
                    [30, 56, 68, 60, PORTRAIT_W - 30 - 56 - 68 - 60 - 100 - 52, 100, 52],
                )
            )
        else:
            story.append(_p(s, "No journal entries are recorded."))
        story.append(Paragraph("8.4 Transfers of custody", s.h2))
        if m.transfers:
            trows = [
                [
                    str(t.seq),
                    _when(t.at),
                    f"{t.from_name}\n{t.from_fp[:12]}...",
                    f"{t.to_name}\n{t.to_fp[:12]}...",
                    t.location,
                    t.reason,
                    t.signature,
                ]
                for t in m.transfers
            ]
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
                    trows,
                    [30, 56, 84, 84, 80, PORTRAIT_W - 30 - 56 - 84 - 84 - 80 - 58, 58],
                )
            )
            story.append(
                Paragraph(
                    "Each transfer entry is signed by both the releasing and the receiving "
                    "examiner; the verification checks both signatures.",
                    s.small,
                )
            )
        else:
            story.append(_p(s, "No transfer of custody is recorded."))
        return story

    def timeline(self) -> Drawing | None:
        m = self.m
        events = m.timeline
        spans: list[tuple[RunRecord, dt.datetime, dt.datetime]] = []
        for r in m.runs:
            start = _parse_at(r.started_at)
            end = _parse_at(r.finished_at) if r.finished_at else None
            if end is None and r.artifacts:
                end = _parse_at(r.artifacts[-1].at)
            if start is not None:
                spans.append((r, start, end or start))
        times = [e.at for e in events] + [t for _, a, b in spans for t in (a, b)]
        if not times:
            return None
        t0, t1 = min(times), max(times)
        span = max((t1 - t0).total_seconds(), 1.0)
        t0 -= dt.timedelta(seconds=span * 0.03)
        span *= 1.06
        label_w = 92.0
        width = PORTRAIT_W
        plot_w = width - label_w - 10
        lane_h = 24
        axis_y = 28
        height = axis_y + lane_h * len(LANES) + 8
        d = Drawing(width, height + 14)

        def x_of(t: dt.datetime) -> float:
            return float(label_w + (t - t0).total_seconds() / span * plot_w)

        for i, (name, _events) in enumerate(LANES):
            y: float = axis_y + lane_h * (len(LANES) - 1 - i)
            if i % 2 == 0:
                d.add(
                    Rect(
                        label_w,
                        y,
                        plot_w,
                        lane_h,
                        fillColor=colors.HexColor("#f5f7f9"),
                        strokeColor=None,
                    )
                )
            d.add(String(0, y + lane_h / 2 - 3, name, fontName=SANS, fontSize=7, fillColor=INK))
        lane_of = {ev: i for i, (_, evs) in enumerate(LANES) for ev in evs}
        run_lane_y = axis_y + lane_h * (len(LANES) - 1 - lane_of["run_started"])
        for r, a, b in spans:
            x0, x1 = x_of(a), x_of(b)
            fill = (
                colors.HexColor("#a9d7b8") if r.status == "finished" else colors.HexColor("#f3c1bd")
            )
            d.add(
                Rect(
                    x0,
                    run_lane_y + 6,
                    max(x1 - x0, 2),
                    lane_h - 12,
                    fillColor=fill,
                    strokeColor=colors.HexColor("#2e8b57"),
                    strokeWidth=0.5,
                )
            )
            d.add(
                String(
                    x0 + 1,
                    run_lane_y + lane_h - 5,
                    r.short_id,
                    fontName=MONO,
                    fontSize=5.5,
                    fillColor=MUTED,
                )
            )
        for e in events:
            lane = lane_of.get(e.event, len(LANES) - 1)
            y = axis_y + lane_h * (len(LANES) - 1 - lane) + lane_h / 2
            colour = EVENT_COLOURS.get(e.event, MUTED)
            d.add(
                Circle(
                    x_of(e.at), y, 3.4, fillColor=colour, strokeColor=colors.white, strokeWidth=0.6
                )
            )
        d.add(Line(label_w, axis_y, label_w + plot_w, axis_y, strokeColor=INK, strokeWidth=0.6))
        same_day = t0.date() == (t0 + dt.timedelta(seconds=span)).date()
        for k in range(6):
            t = t0 + dt.timedelta(seconds=span * k / 5)
            x = x_of(t)
            d.add(Line(x, axis_y, x, axis_y - 3, strokeColor=INK, strokeWidth=0.5))
            if span < 10:
                label = t.strftime("%H:%M:%S.%f")[:-3]
            elif same_day:
                label = t.strftime("%H:%M:%S")
            else:
                label = t.strftime("%m-%d %H:%M")
            d.add(
                String(
                    x,
                    axis_y - 11,
                    label,
                    fontName=SANS,
                    fontSize=6,
                    fillColor=MUTED,
                    textAnchor="middle",
                )
            )
        d.add(
            String(
                label_w,
                axis_y - 21,
                f"UTC, {t0:%Y-%m-%d}"
                + ("" if same_day else f" to {t0 + dt.timedelta(seconds=span):%Y-%m-%d}"),
                fontName=SANS,
                fontSize=6,
                fillColor=MUTED,
            )
        )
        items: list[tuple[str, colors.Color | None]] = [
            (ev, EVENT_COLOURS[ev]) for ev in EVENT_COLOURS if any(e.event == ev for e in events)
        ]
        if spans:
            items.append(("run (start to end)", None))
        placed: list[tuple[float, int, str, colors.Color | None]] = []
        x, row = label_w, 0
        for name, colour in items:
            item_w = 16 + len(name) * 3.3
            if x + item_w > width and x > label_w:
                x, row = label_w, row + 1
            placed.append((x, row, name, colour))
            x += item_w
        d.height = height + 12 * (row + 1)
        for x, at_row, name, colour in placed:
            y = height + 3 + 10 * (row - at_row)
            if colour is None:
                d.add(
                    Rect(
                        x,
                        y,
                        12,
                        6,
                        fillColor=colors.HexColor("#a9d7b8"),
                        strokeColor=colors.HexColor("#2e8b57"),
                        strokeWidth=0.5,
                    )
                )
                d.add(String(x + 15, y, name, fontName=SANS, fontSize=6.2, fillColor=INK))
            else:
                d.add(Circle(x + 3, y + 2.5, 3, fillColor=colour, strokeColor=None))
                d.add(String(x + 9, y, name, fontName=SANS, fontSize=6.2, fillColor=INK))
        return d

    # ------------------------------------------------------------------ 9 storage

    def storage(self) -> list[Flowable]:
        m, s = self.m, self.s
        story = _h1(s, 9, "Storage and preservation")
        story.append(
            _p(
                s,
                "The case lives in a case directory (case.json, the case database, evidence/ "
                "with one archive per run, identities/ with the examiners' certificates, "
                "exports/). Archives are append-only while a run writes them and made read-only "
                "when it ends. This report belongs to the export bundle identified below, whose "
                "layout is:",
            )
        )
        layout = (
            "manifest.json (+ .sig)  case, runs, artifacts, hashes, ledger head\n"
            "SHA256SUMS (+ .sig)     SHA-256 of every file of the bundle\n"
            "ledger.jsonl            every ledger entry, in order\n"
            "certs/*.pem             every examiner certificate\n"
            "evidence/<run>.tar      the run archives, byte for byte as collected\n"
            "evidence/<run>.sha256   SHA-256 of every member of the archive\n"
            "case.jsonld             CASE/UCO description of the investigation\n"
            "custody-report.pdf      this report, signed\n"
            "VERIFY.md               how to check all of it"
        )
        story.append(Paragraph(para_text(layout).replace(" ", "&nbsp;"), s.code))
        story.append(
            kv_table(
                s,
                [("Bundle ID", m.bundle_id), ("Manifest SHA-256", m.manifest_sha256)],
                (110, PORTRAIT_W - 110),
                mono_keys=("Manifest SHA-256",),
            )
        )
        story.append(Paragraph("Run archives", s.h2))
        rows: list[list[str]] = []
        highlight: list[int] = []
        for i, r in enumerate(m.runs):
            a = r.archive
            recorded = r.finished.get("archive_size") if r.finished else None
            if a is None or not a.exists:
                found, digest = "missing", (a.error if a else NOT_RECORDED) or "missing"
                highlight.append(i)
            else:
                found = f"{a.size:,}" if a.size is not None else "?"
                digest = a.sha256 or (a.error or "not computed")
                if recorded is not None and a.size != recorded:
                    highlight.append(i)
            rows.append(
                [
                    r.archive_name,
                    f"{int(recorded):,}" if isinstance(recorded, int) else NOT_RECORDED,
                    found,
                    digest,
                ]
            )
        if rows:
            story.append(
                grid_table(
                    s,
                    ["Archive", "Recorded size", "Size found", "SHA-256 of the archive file"],
                    rows,
                    [130, 62, 62, PORTRAIT_W - 254],
                    mono=(0, 3),
                    highlight=highlight,
                )
            )
            story.append(Spacer(1, 3))
            story.append(
                Paragraph(
                    "Archive hashes were computed when this report was made, from the files "
                    "exported; they can be checked with sha256sum evidence/*.tar.",
                    s.small,
                )
            )
        else:
            story.append(_p(s, "No run archive is recorded."))
        return story

    # ------------------------------------------------------------------ 10 time

    def time_integrity(self) -> list[Flowable]:
        m, s = self.m, self.s
        story = _h1(s, 10, "Time integrity")
        story.append(
            _p(
                s,
                "Ledger times are the collecting host's system clock in UTC, with microseconds, "
                "taken when each entry was made. The system facts record the host clock, its "
                "monotonic clock and its time zone at the start of each run.",
            )
        )
        for r in m.runs:
            facts = r.system
            offset = _get(
                facts,
                "clock.reference_offset_seconds",
                "clock.offset_seconds",
                "clock.ntp_offset_seconds",
                "clock.reference_offset",
                "ntp.offset_seconds",
                "reference_offset_seconds",
            )
            tz_offset = _get(facts, "time_zone.utc_offset_seconds", "timezone.utc_offset_seconds")
            rows = [
                ("Host clock (UTC)", _get(facts, "clock.utc", "clock_utc", "utc") or NOT_RECORDED),
                (
                    "Host clock (ns since epoch)",
                    _get(facts, "clock.utc_ns", "clock.time_ns") or NOT_RECORDED,
                ),
                (
                    "Monotonic clock (ns)",
                    _get(facts, "clock.monotonic_ns", "clock.monotonic", "monotonic_ns")
                    or NOT_RECORDED,
                ),
                ("Ledger time of run start", utc_text(r.started_at)),
                (
                    "Time zone",
                    (_get(facts, "time_zone.name", "timezone.name", "timezone") or NOT_RECORDED)
                    + (f" (UTC offset {tz_offset} s)" if tz_offset is not None else ""),
                ),
                ("Boot time", _get(facts, "boot.boot_time", "boot_time") or NOT_RECORDED),
                ("Offset to a reference clock", f"{offset} s" if offset else "not measured"),
                ("Timestamp tokens (RFC 3161)", "none"),
            ]
            story.append(Paragraph(f"Run {para_text(r.run_id)}", s.h2))
            story.append(kv_table(s, rows, (150, PORTRAIT_W - 150)))
            if facts is None:
                story.append(Paragraph(f"System facts: {para_text(r.system_note)}.", s.note))
        story.append(Spacer(1, 8))
        story.append(
            _p(
                s,
                "No timestamp authority was used: the times in this record rest on the host's "
                "clock and on the examiners' signatures. The report's own signature is PAdES "
                "B-B (signing time from the signing computer's clock); with a timestamp "
                "authority configured it becomes B-T, with an RFC 3161 token.",
            )
        )
        return story

    # ------------------------------------------------------------------ 11 how

    def how(self) -> list[Flowable]:
        s = self.s
        story = _h1(s, 11, "How the record is produced")
        points = [
            "Each ledger entry holds: format version, case ID, sequence number, UTC time, actor "
            "(the SHA-256 fingerprint of the examiner's certificate), event, payload and the "
            "hash of the previous entry (the first entry's previous hash is 64 zeros).",
            "An entry's hash is the SHA-256 of the canonical JSON (RFC 8785, JSON Canonicalization "
            "Scheme) of those fields. Because every entry contains the hash of the one before, "
            "changing, deleting, inserting or reordering any entry changes every later hash.",
            "The ledger is append-only: the database refuses UPDATE and DELETE on the ledger table "
            "by triggers (SQLite and PostgreSQL). Appends lock the case record so that concurrent "
            "writers cannot fork the chain.",
            "Every act of a person (case opened, identity added, run started and finished, note, "
            "decision, transfer, access, export, seal, verification) is signed on its own with "
            "ECDSA P-256 over SHA-256 (or RSA PKCS#1 v1.5 with SHA-256 for an imported RSA "
            "identity). The signature covers the same canonical bytes that the entry hash covers.",
            "Artifact and error entries are covered by signed checkpoints, written at most "
            f"{CHECKPOINT_EVERY:,} entries and {CHECKPOINT_SECONDS:g} second apart and at the end "
            "of each run. A checkpoint names the head hash it follows; since the entries are "
            "chained, its signature commits to every entry before it.",
            "Each file is read once: the bytes are written into the run archive and hashed with "
            "SHA-256, SHA-1 and MD5 in the same pass. The ledger records each artifact's archive "
            "offset, size and hashes, and its source metadata.",
            "The examiner's private key and self-signed X.509 certificate are kept in a "
            "passphrase-protected PKCS#12 file (PBES2, AES-256, 600,000 PBKDF2-SHA256 rounds); "
            "no private key is part of a case or a bundle. The certificates are in the ledger "
            "(identity_added entries) and in the bundle (certs/).",
            "Verification recomputes every entry hash and chain link, checks every signature "
            "against the certificate recorded in the ledger, checks that every entry is covered "
            "by a later valid signature, and re-hashes every artifact from the archives.",
            "This report is generated from the ledger entries and the verification result and "
            "signed by the examiner with the same key (PAdES B-B).",
        ]
        for point in points:
            story.append(Paragraph(para_text(point), s.bullet, bulletText="•"))
        return story

    # ------------------------------------------------------------------ 12 verify

    def independent(self) -> list[Flowable]:
        m, s = self.m, self.s
        story = _h1(s, 12, "Independent verification")
        story.append(
            _p(
                s,
                "These checks need only coreutils, OpenSSL and poppler-utils (or any PDF reader "
                "that validates signatures), run in the unpacked bundle directory. Expected "
                "output follows each command.",
            )
        )
        fp = m.examiner.fingerprint
        steps: list[tuple[str, str, str]] = [
            (
                "The bundle is the one this report names",
                "sha256sum manifest.json",
                f"{m.manifest_sha256}  manifest.json",
            ),
            (
                "No file of the bundle was changed, added or lost",
                "sha256sum -c SHA256SUMS",
                "one line per file ending in ': OK'; exit status 0",
            ),
            (
                "The examiner's certificate is the one in section 3",
                f"openssl x509 -in certs/{fp}.pem -noout -fingerprint -sha256",
                "sha256 Fingerprint=" + ":".join(fp[i : i + 2].upper() for i in range(0, 64, 2)),
            ),
            (
                "Extract the examiner's public key",
                f"openssl x509 -in certs/{fp}.pem -noout -pubkey > examiner.pub.pem",
                "(no output; examiner.pub.pem holds the public key)",
            ),
            (
                "The manifest and the checksum list were signed by that examiner "
                "(signature files are DER)",
                "openssl dgst -sha256 -verify examiner.pub.pem -signature manifest.json.sig "
                "manifest.json\n"
                "openssl dgst -sha256 -verify examiner.pub.pem -signature SHA256SUMS.sig SHA256SUMS",
                "Verified OK (once for each command)",
            ),
            (
                "A ledger entry was signed by its examiner (SEQ: the entry's sequence number; "
                "signatures/SEQ.json holds the exact signed bytes)",
                "openssl dgst -sha256 -verify examiner.pub.pem -signature signatures/SEQ-1.sig "
                "signatures/SEQ.json\n"
                "sha256sum signatures/SEQ.json",
                "Verified OK; the SHA-256 equals the entry hash of SEQ in Annex B",
            ),
            (
                "The evidence archives hold the recorded members",
                "mkdir x && tar xf evidence/RUN.tar -C x\n(cd x && sha256sum -c ../evidence/RUN.sha256)",
                "one line per member ending in ': OK'",
            ),
            (
                "This PDF is signed and unchanged since signing",
                "pdfsig custody-report.pdf",
                "Signature Validation: Signature is Valid.\n"
                "Certificate Validation: Certificate issuer is unknown.  (self-signed certificate)\n"
                "After any change to the file: Signature Validation: Digest Mismatch.",
            ),
        ]
        for title, command, expected in steps:
            story.append(
                KeepTogether(
                    [
                        Paragraph(para_text(title), s.h3),
                        Paragraph(para_text(command), s.code),
                        Paragraph("Expected: " + para_text(expected), s.small),
                    ]
                )
            )
        story.append(
            _p(
                s,
                "VERIFY.md in the bundle gives these steps for every examiner and every signed "
                "entry. Where Chainproof is at hand, 'chainproof verify BUNDLE' performs every "
                "check at once and reports each failure by entry and artifact.",
            )
        )
        return story

    # ------------------------------------------------------------------ 13 attestation

    def attestation(self) -> list[Flowable]:
        m, s = self.m, self.s
        ex = m.examiner
        v = m.verification
        story: list[Flowable] = [PageBreak(), *_h1(s, 13, "Examiner attestation")]
        org = f" of {ex.organisation}" if ex.organisation else ""
        runs = ", ".join(r.short_id for r in m.runs) or "none"
        hashes = (
            f"At verification for this export, {v.artifacts:,} artifacts re-hashed to the "
            f"recorded SHA-256, SHA-1 and MD5 values and {v.signatures:,} signatures verified; "
            "no discrepancy was found."
            if v.ok
            else f"At verification for this export, {len(v.findings)} discrepancies were found; "
            "they are listed in section 7 and are not covered by this statement."
        )
        statements = [
            f"I am {ex.name}{org}, holder of the certificate with SHA-256 fingerprint "
            f"{ex.fingerprint}, and I make this report.",
            "The evidence described in this report was collected with the tool, version, profile "
            "and command line stated in section 6, on the host(s) and at the times stated in "
            f"section 5 (runs: {runs}).",
            hashes,
            "The custody ledger from which this report is generated was written at the time of "
            "each act it records, by the process that performed the act, and is kept in the "
            "regular course of the examination.",
            "The statements in this report are facts recorded in the ledger or found by the "
            "verification; they can be checked as set out in section 12.",
        ]
        for i, text in enumerate(statements, start=1):
            story.append(Paragraph(para_text(text), s.bullet, bulletText=f"{i}."))
        story.append(Spacer(1, 8))
        story.append(
            _p(
                s,
                "Signature: the digital signature on this document (PAdES, field "
                "ExaminerSignature, shown below) is the examiner's signature of these statements.",
            )
        )

        def place(page: int, x1: float, y1: float, x2: float, y2: float) -> None:
            self.signature_box = SignatureBox(page, x1, y1, x2, y2)

        spot = SignatureSpot(250, 62, f"Digital signature of {ex.name}", place)
        line_style = TableStyle(
            [
                ("LINEBELOW", (1, 0), (1, -1), 0.6, INK),
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("FONT", (0, 0), (-1, -1), SANS, 8.5),
                ("TOPPADDING", (0, 0), (-1, -1), 10),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
        lines = Table(
            [
                ["Name", ex.name],
                ["Date", f"{m.generated_at.astimezone(dt.UTC):%Y-%m-%d} (UTC)"],
                ["Place", ""],
            ],
            colWidths=[40, 190],
            style=line_style,
            hAlign="LEFT",
        )
        block = Table([[spot, lines]], colWidths=[270, PORTRAIT_W - 270], hAlign="LEFT")
        block.setStyle(
            TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
        )
        story.append(block)
        story.append(Spacer(1, 18))
        story.append(Paragraph("Declaration of counsel", s.h2))
        story.append(
            Paragraph(
                "Reserved for counsel's own declaration or certification; left blank by the "
                "examiner.",
                s.small,
            )
        )
        box = Table([[""]], colWidths=[PORTRAIT_W], rowHeights=[190])
        box.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.6, RULE)]))
        story.append(box)
        return story

    # ------------------------------------------------------------------ 14 annexes

    def annexes(self) -> list[Flowable]:
        m, s = self.m, self.s
        story: list[Flowable] = [NextPageTemplate("landscape"), PageBreak()]
        story.append(Paragraph("14. Annexes", s.h1))
        story.append(Paragraph("Annex A. Hash lists", s.h2))
        story.append(
            _p(
                s,
                "SHA-256, SHA-1 and MD5 of every artifact, in full, as recorded in the ledger "
                "and re-computed at verification.",
            )
        )
        cols = [
            Column("Seq", 7, "right"),
            Column("Path", 0),
            Column("SHA-256", 64),
            Column("SHA-1", 40),
            Column("MD5", 32),
        ]
        cols[1] = Column("Path", _fill_chars(cols, LANDSCAPE_W, 6.1))
        any_rows = False
        for r in m.runs:
            if not r.artifacts:
                continue
            any_rows = True
            story.append(Paragraph(f"Run {para_text(r.run_id)}", s.h3))
            rows = [[str(a.seq), a.path or a.member, a.sha256, a.sha1, a.md5] for a in r.artifacts]
            story.append(FastTable(cols, rows, size=6.1))
        if not any_rows:
            story.append(_p(s, "No artifact is recorded."))
        story.append(PageBreak())
        story.append(Paragraph("Annex B. The full ledger", s.h2))
        people = "; ".join(f"{p.fingerprint[:12]} = {p.name}" for p in m.people)
        story.append(
            _p(
                s,
                "Every entry in order. Actor: the first 12 hex digits of the examiner's "
                f"certificate SHA-256 ({para_text(people) or 'none'}). Sigs: number of signatures "
                f"on the entry. The first entry's previous hash is {GENESIS_HASH[:8]}... (64 zeros). "
                "Rows shaded red have verification findings.",
            )
        )
        bcols = [
            Column("Seq", 7, "right"),
            Column("Time (UTC)", 27),
            Column("Event", 18),
            Column("Actor", 12),
            Column("Sigs", 4, "right"),
            Column("Entry hash (SHA-256)", 64),
            Column("Previous hash", 64),
        ]
        brows = [
            [
                str(e.seq),
                e.at,
                e.event,
                e.actor[:12],
                str(len(e.signatures)),
                e.entry_hash,
                e.prev_hash,
            ]
            for e in m.entries
        ]
        marks = frozenset(i for i, e in enumerate(m.entries) if e.seq in m.findings_by_seq)
        story.append(FastTable(bcols, brows, size=5.9, marks=marks))
        story.append(NextPageTemplate("portrait"))
        story.append(PageBreak())
        story.append(Paragraph("Annex C. Certificates", s.h2))
        for p in m.people:
            story.append(
                KeepTogether(
                    [
                        Paragraph(
                            f"{para_text(p.name)} ({para_text(p.role)}), SHA-256 "
                            f"<font name='{MONO}'>{p.fingerprint}</font>",
                            s.h3,
                        ),
                        Paragraph(para_text(p.certificate_pem.strip()), s.code),
                    ]
                )
            )
        return story

    # ------------------------------------------------------------------ all

    def story(self) -> list[Flowable]:
        return [
            *self.cover(),
            *self.authority(),
            *self.personnel(),
            *self.inventory(),
            *self.collection(),
            *self.acquisition(),
            *self.integrity(),
            *self.custody_log(),
            *self.storage(),
            *self.time_integrity(),
            *self.how(),
            *self.independent(),
            *self.attestation(),
            *self.annexes(),
        ]


def _fill_chars(cols: Sequence[Column], width: float, size: float, pad: float = FAST_PAD) -> int:
    """Characters left for the one column of width 0 so that the table spans ``width``."""
    char_w = size * (1233 / 2048)
    used = sum(c.chars * char_w + 2 * pad for c in cols if c.chars) + 2 * pad
    return max(8, int((width - used) / char_w) - 1)


def _users(facts: Mapping[str, Any] | None) -> str:
    users = facts.get("users") if facts else None
    if not isinstance(users, list):
        return NOT_RECORDED
    if not users:
        return "none"
    names = []
    for u in users[:30]:
        if isinstance(u, Mapping):
            name = str(u.get("name", "?"))
            where = u.get("terminal") or ""
            host = u.get("host") or ""
            names.append(
                name + (f" ({where}{', from ' + host if host else ''})" if where or host else "")
            )
        else:
            names.append(str(u))
    more = f" and {len(users) - 30} more" if len(users) > 30 else ""
    return ", ".join(names) + more


def _parse_at(at: str | None) -> dt.datetime | None:
    if not at:
        return None
    try:
        return dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


@contextmanager
def _no_ascii85() -> Iterator[None]:
    """Compressed streams without the ASCII85 layer (pure Python, slow, 25% larger)."""
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


def render_model(model: ReportModel) -> tuple[bytes, SignatureBox | None]:
    """Lay out the report; the PDF bytes and where the visible signature goes."""
    builder = ReportBuilder(model)
    story = builder.story()
    buf = io.BytesIO()
    furniture = Furniture(
        model.case_id, model.bundle_id, model.manifest_sha256, MARGIN, model.generated_at
    )
    doc = BaseDocTemplate(
        buf,
        pagesize=PORTRAIT,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"Chain of Custody Report - {model.case_field('title')}",
        author=model.examiner.name,
        subject=f"Case {model.case_id}, bundle {model.bundle_id}",
        creator="Chainproof",
        keywords=f"manifest-sha256:{model.manifest_sha256}",
    )
    doc.addPageTemplates(
        [
            PageTemplate(
                id="portrait",
                frames=[
                    Frame(
                        MARGIN,
                        MARGIN,
                        PORTRAIT_W,
                        PORTRAIT[1] - 2 * MARGIN,
                        id="p",
                        leftPadding=0,
                        rightPadding=0,
                        topPadding=0,
                        bottomPadding=0,
                    )
                ],
                pagesize=PORTRAIT,
            ),
            PageTemplate(
                id="landscape",
                frames=[
                    Frame(
                        MARGIN,
                        MARGIN,
                        LANDSCAPE_W,
                        LANDSCAPE[1] - 2 * MARGIN,
                        id="l",
                        leftPadding=0,
                        rightPadding=0,
                        topPadding=0,
                        bottomPadding=0,
                    )
                ],
                pagesize=LANDSCAPE,
            ),
        ]
    )
    with _no_ascii85():
        doc.build(story, canvasmaker=numbered_canvas(furniture))
    return buf.getvalue(), builder.signature_box
