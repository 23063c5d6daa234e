"""What a verification found: findings with stable codes, and the report that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from custody.record.entry import GENESIS_HASH


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold. ``code`` is stable for machines; ``message`` is for people."""

    code: str
    where: str
    message: str
    seq: int | None = None
    run_id: str | None = None  # set when the finding concerns a whole run or its archive

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Report:
    """The outcome of a verification."""

    subject: str
    findings: list[Finding] = field(default_factory=list)
    entries: int = 0
    signatures: int = 0
    artifacts: int = 0
    bytes_hashed: int = 0
    runs: int = 0
    head: str = GENESIS_HASH
    signers: dict[str, str] = field(default_factory=dict)  # fingerprint -> name
    #: Set when the subject is a signed report PDF on its own (no ledger): what it states.
    pdf: dict[str, Any] | None = None
    #: RFC 3161 tokens of the signed entries: counts, untimestamped entries, chain checked or not.
    timestamps: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(
        self,
        code: str,
        where: str,
        message: str,
        seq: int | None = None,
        run_id: str | None = None,
    ) -> None:
        self.findings.append(Finding(code, _printable(where), _printable(message), seq, run_id))

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "ok": self.ok,
            "entries": self.entries,
            "signatures_verified": self.signatures,
            "artifacts": self.artifacts,
            "bytes_hashed": self.bytes_hashed,
            "runs": self.runs,
            "ledger_head": self.head,
            "signers": self.signers,
            **({"report_pdf": self.pdf} if self.pdf is not None else {}),
            **({"timestamps": self.timestamps} if self.timestamps is not None else {}),
            "findings": [
                {
                    "code": f.code,
                    "where": f.where,
                    "message": f.message,
                    "seq": f.seq,
                    "run_id": f.run_id,
                }
                for f in self.findings
            ],
        }

    def render(self) -> str:
        lines = [f"Verification of {self.subject}"]
        if self.pdf is not None:
            lines.extend(f"  {k}: {v}" for k, v in self.pdf.items())
        else:
            lines.extend(self._record_lines())
        if self.timestamps is not None:
            lines.append(_timestamp_line(self.timestamps))
        for fp, name in sorted(self.signers.items(), key=lambda kv: kv[1]):
            lines.append(f"  signer: {name} (certificate SHA-256 {fp})")
        if self.ok:
            lines.append("RESULT: VERIFIED - every check holds.")
        else:
            lines.append(f"RESULT: FAILED - {len(self.findings)} problem(s):")
            lines.extend(f"  - {f}" for f in self.findings)
        return "\n".join(lines)

    def _record_lines(self) -> list[str]:
        return [
            f"  ledger: {self.entries} entries, {self.signatures} signatures verified, "
            f"head {self.head}",
            f"  evidence: {self.runs} runs, {self.artifacts} artifacts re-hashed "
            f"({self.bytes_hashed} bytes)",
        ]


def _timestamp_line(t: dict[str, Any]) -> str:
    if not t["stamped"]:  # no authority was set, or none answered: one short line
        return (
            f"  timestamps: none (no RFC 3161 token for any of the {t['signed_entries']} "
            "signed entries; 'chainproof timestamp CASE' adds them)"
        )
    missing = ""
    if t["untimestamped"]:
        named = ", ".join(str(n) for n in t["untimestamped_entries"])
        more = "..." if t["untimestamped"] > len(t["untimestamped_entries"]) else ""
        missing = f" (entries {named}{more}; 'chainproof timestamp CASE' adds them)"
    return (
        f"  timestamps: {t['stamped']} of {t['signed_entries']} signed entries have an "
        f"RFC 3161 token ({t['late']} added late, recorded), {t['untimestamped']} "
        f"untimestamped{missing}; TSA certificate chain {t['tsa_chain']}"
    )


def _printable(text: str) -> str:
    """``text`` without lone surrogates (bytes a damaged file could not decode), escaped as
    ``\\udcxx`` so the finding can be printed, written as JSON and shown."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
