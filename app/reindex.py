"""Rebuilding a case's index from its verified ledger, and recording that it was done.

``chainproof case reindex CASE_DIR``: the index tables beside the ledger are derived data
(:mod:`custody.db.projection`). When ``verify`` finds that they disagree with the ledger,
this rebuilds them from the ledger, after checking the ledger itself (chain, signatures,
the fold's problems; not the archives, which the index does not describe), and appends a
signed ``index_rebuilt`` entry naming the head it was built from, the rows per table and
how many index differences there were before.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.cases import CaseHandle
from custody.db.index import rebuild_index
from custody.db.ledger import read_entries
from custody.errors import VerificationError
from custody.record.events import IndexRebuilt
from custody.record.keys import Identity
from custody.verify.case import verify
from custody.verify.findings import Finding, Report
from custody.verify.index import check_index

DEFAULT_REASON = "the index was rebuilt from the verified ledger on request"
#: Findings about the evidence archives: they do not concern the ledger the index comes from.
MAX_SHOWN = 20


@dataclass(frozen=True)
class ReindexResult:
    """What a rebuild did, as its ``index_rebuilt`` entry records it."""

    ledger_entries: int
    ledger_head: str
    rows: dict[str, int]
    mismatches: int
    seq: int  # the index_rebuilt entry


def verify_ledger(case: CaseHandle) -> Report:
    """Check the case's ledger alone: chain, signatures, coverage, the fold's problems.

    The archives are left out: they are checked by ``verify``, and the index does not
    describe their bytes.
    """
    return verify(
        str(case.root),
        lambda: read_entries(case.sessions, case.case_id),
        evidence=case.evidence,
        case_id=case.case_id,
        archives=False,
    )


def _listed(findings: list[Finding]) -> str:
    shown = [f"  - {f}" for f in findings[:MAX_SHOWN]]
    if len(findings) > MAX_SHOWN:
        shown.append(f"  ... and {len(findings) - MAX_SHOWN} more")
    return "\n".join(shown)


def reindex_case(
    case: CaseHandle, identity: Identity, *, reason: str = DEFAULT_REASON
) -> ReindexResult:
    """Verify the ledger, rebuild the index from it in one transaction, record the rebuild.

    Refuses (:class:`VerificationError`) a case whose ledger fails its own checks: an index
    is only rebuilt from a record that holds. Differences between the index and the ledger
    are what a rebuild is for; they are counted and recorded.
    """
    ledger = verify_ledger(case)
    if not ledger.ok:
        raise VerificationError(
            f"the ledger of the case at {case.root} fails verification "
            f"({len(ledger.findings)} problem(s)); the index was not rebuilt, because it can "
            "only be rebuilt from a ledger that holds:\n" + _listed(ledger.findings)
        )
    before = check_index(case.sessions, case.case_id, Report(str(case.root)))
    rows = rebuild_index(case.sessions, case.case_id, head=(ledger.entries, ledger.head))
    entry = case.writer(identity).append(
        IndexRebuilt(
            ledger_head=ledger.head,
            ledger_entries=ledger.entries,
            rows=rows,
            mismatches=before.total,
            reason=reason,
        )
    )
    assert entry is not None
    return ReindexResult(ledger.entries, ledger.head, rows, before.total, entry.seq)
