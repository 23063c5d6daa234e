"""6. Integrity: the verification's result, its findings (counted by check, the first ones in
full) and how the artifacts' hashes are bound."""

from __future__ import annotations

from collections import Counter

from reportlab.platypus import Flowable, Paragraph

from custody.record.times import shown
from custody.report.inventory import INVENTORY_CSV, INVENTORY_JSONL
from custody.report.model import SHORT_HASH, ReportModel
from custody.report.pdf.page import INTEGRITY, PORTRAIT_W, at_text, body, heading, subheading
from custody.report.pdf.styles import Styles
from custody.report.pdf.tables import grid_table, kv_table
from custody.report.pdf.text import human_bytes

OK_COLOUR = "#1e7b34"
FAIL_COLOUR = "#b3261e"
#: Findings given in full at most; all are counted by check.
FINDINGS_LISTED = 40
CHECKS_LISTED = 40
#: Verifications recorded in the ledger named at most (the last ones).
VERIFICATIONS_NAMED = 5


def integrity(m: ReportModel, s: Styles) -> list[Flowable]:
    """The verification and its findings."""
    story = heading(s, INTEGRITY, "Integrity")
    story.append(_result(m, s))
    v = m.verification
    if v.findings:
        story += _findings(m, s)
    part = 2 if v.findings else 1
    story.append(
        subheading(s, f"{INTEGRITY}.{part} How the artifacts are bound", "integrity-hashes")
    )
    story.append(
        body(
            s,
            "Each artifact's SHA-256, SHA-1 and MD5 were computed as it was read and recorded "
            "in its ledger entry, which the chain of entry hashes and the examiner's signed "
            "checkpoints bind. The verification re-hashed every artifact from the run "
            f"archives and compared the three values. {INVENTORY_CSV} and {INVENTORY_JSONL} "
            "list every artifact with its hashes (Annex A); their own SHA-256 are printed "
            "there and in section 5.",
        )
    )
    return story


def _result(m: ReportModel, s: Styles) -> Flowable:
    v = m.verification
    result = "VERIFIED: every check holds" if v.ok else f"FAILED: {len(v.findings)} problem(s)"
    colour = OK_COLOUR if v.ok else FAIL_COLOUR
    recorded = m.state.verifications[-VERIFICATIONS_NAMED:]
    verified_at = ", ".join(at_text(r.at) for r in recorded)
    if len(m.state.verifications) > VERIFICATIONS_NAMED:
        verified_at = f"{len(m.state.verifications)} in all, the last at {verified_at}"
    signers = sorted(v.signers.items(), key=lambda kv: kv[1])
    signed = "; ".join(f"{n} ({fp[:SHORT_HASH]}...)" for fp, n in signers[:10])
    if len(signers) > 10:
        signed += f"; and {len(signers) - 10} more"
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
            ("Signers", signed or "none"),
        ],
        (110, PORTRAIT_W - 110),
        mono_keys=("Ledger head",),
        lines=4,
    )


def _findings(m: ReportModel, s: Styles) -> list[Flowable]:
    findings = m.verification.findings
    by_code = Counter(f.code for f in findings).most_common()
    story: list[Flowable] = [
        subheading(s, f"{INTEGRITY}.1 Findings ({len(findings):,})", "integrity-findings")
    ]
    rows = [[code, f"{n:,}"] for code, n in by_code[:CHECKS_LISTED]]
    if len(by_code) > CHECKS_LISTED:
        rest = by_code[CHECKS_LISTED:]
        rows.append([f"({len(rest)} more checks)", f"{sum(n for _, n in rest):,}"])
    story.append(grid_table(s, ["Check", "Findings"], rows, [200, 80], lines=2))
    listed = findings[:FINDINGS_LISTED]
    story.append(
        Paragraph(
            f"The first {len(listed)} of {len(findings):,} findings in full; "
            "'chainproof verify' lists every one, each naming its entry, member or file.",
            s.small,
        )
    )
    story.append(
        grid_table(
            s,
            ["Where", "Check", "Finding"],
            [[f.where, f.code, f.message] for f in listed],
            [120, 90, PORTRAIT_W - 210],
            highlight=list(range(len(listed))),
            lines=4,
        )
    )
    return story
