"""7. Integrity: the verification's result and findings, and every artifact's SHA-256."""

from __future__ import annotations

from reportlab.platypus import Flowable, Paragraph

from custody.record.times import shown
from custody.report.model import SHORT_HASH, ReportModel, RunReport
from custody.report.pdf.fasttable import Column, FastTable, fill_chars
from custody.report.pdf.page import PORTRAIT_W, at_text, body, heading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import grid_table, kv_table
from custody.report.pdf.text import HEADING_LIMIT, IN_MANIFEST, human_bytes, paragraph, printable

ARTIFACT_SIZE = 6.4
OK_COLOUR = "#1e7b34"
FAIL_COLOUR = "#b3261e"


def integrity(m: ReportModel, s: Styles) -> list[Flowable]:
    """The verification, its findings, then the artifacts run by run."""
    story = heading(s, 7, "Integrity")
    story.append(_result(m, s))
    v = m.verification
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
        body(
            s,
            "Every artifact with its size and SHA-256 in full; SHA-1 and MD5 are in Annex A. "
            "Seq is the ledger entry that recorded the artifact. Path is the source path on "
            "the examined host, or the archive member for volatile records.",
        )
    )
    if not m.artifact_count:
        story.append(body(s, "No artifact is recorded."))
    for r in m.runs:
        if r.artifacts:
            story += _artifacts(m, s, r)
    return story


def _result(m: ReportModel, s: Styles) -> Flowable:
    v = m.verification
    result = "VERIFIED: every check holds" if v.ok else f"FAILED: {len(v.findings)} problem(s)"
    colour = OK_COLOUR if v.ok else FAIL_COLOUR
    verified_at = ", ".join(at_text(r.at) for r in m.state.verifications)
    signers = "; ".join(
        f"{n} ({fp[:SHORT_HASH]}...)" for fp, n in sorted(v.signers.items(), key=lambda kv: kv[1])
    )
    return kv_table(
        s,
        [
            ("Result", Paragraph(f'<font color="{colour}"><b>{result}</b></font>', s.cell)),
            (
                "Verified",
                f"for this export; report generated {shown(m.generated_at)}"
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
            ("Signers", signers or "none"),
        ],
        (110, PORTRAIT_W - 110),
        mono_keys=("Ledger head",),
    )


def _artifacts(m: ReportModel, s: Styles, r: RunReport) -> list[Flowable]:
    cols = [
        Column("Seq", 7, "right"),
        Column("Path", 0),
        Column("Size (bytes)", 13, "right"),
        Column("SHA-256", 64),
    ]
    cols[1] = Column("Path", fill_chars(cols, PORTRAIT_W, ARTIFACT_SIZE))
    rows = []
    marks = set()
    for i, a in enumerate(r.artifacts):
        path = a.event.shown_name
        if a.event.changed:  # before the path, which may be cut
            path = "[changed while read] " + path
        rows.append([str(a.seq), path, f"{a.event.member.size:,}", a.event.digests.sha256])
        if a.seq in m.findings_by_seq:
            marks.add(i)
    return [
        paragraph(
            f"Run {printable(r.run_id, limit=HEADING_LIMIT)} ({len(r.artifacts):,} artifacts)",
            s.h3,
            limit=None,
        ),
        FastTable(cols, rows, size=ARTIFACT_SIZE, marks=frozenset(marks), where=IN_MANIFEST),
    ]
