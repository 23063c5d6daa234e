"""``chainproof case reindex CASE_DIR [--reason TEXT] [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.passphrase import add_passphrase_fd


def register(case_sub: Any) -> None:
    """Add ``reindex`` to the ``case`` command's subparsers."""
    c = case_sub.add_parser(
        "reindex",
        help="rebuild the case database's index from the verified ledger",
        description="Check the ledger (chain, signatures, runs), rebuild the index tables "
        "beside it from the ledger in one transaction, and record a signed 'index_rebuilt' "
        "entry. Use it when 'chainproof verify' reports index findings (index.*).",
    )
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    c.add_argument("--reason", help="why the index is rebuilt (recorded in the entry)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    add_passphrase_fd(c)
    c.set_defaults(func=cmd_case_reindex)


def cmd_case_reindex(args: argparse.Namespace) -> int:
    from app.cases import open_case
    from app.identity import unlock_identity
    from app.reindex import DEFAULT_REASON, reindex_case

    handle = open_case(args.case_dir)
    identity = unlock_identity(args.passphrase_fd)
    result = reindex_case(handle, identity, reason=args.reason or DEFAULT_REASON)
    if args.json:
        doc = {
            "case_id": handle.case_id,
            "ledger_entries": result.ledger_entries,
            "ledger_head": result.ledger_head,
            "rows": result.rows,
            "mismatches_before": result.mismatches,
            "recorded_entry": result.seq,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    rows = ", ".join(f"{table} {n}" for table, n in result.rows.items())
    print(
        f"Rebuilt the index of case {handle.case_id} from ledger entries "
        f"1-{result.ledger_entries} (head {result.ledger_head})"
    )
    print(f"  rows written: {rows}")
    print(f"  index differences found before the rebuild: {result.mismatches}")
    print(f"  recorded as ledger entry {result.seq} (index_rebuilt), signed by {identity.name}")
    return 0
