"""``chainproof recover CASE_DIR [--run ID] [--force] [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.passphrase import add_passphrase_fd


def register(sub: Any) -> None:
    """Add the ``recover`` subcommand to the CLI's subparsers."""
    c = sub.add_parser(
        "recover",
        help="recover a crashed run now (close its archive, record its end)",
        description="Recover the run ID, or every run without an end, on request: cut its "
        "archive back to the last recorded member and record a signed end (status "
        "'recovered', naming this command and you). A run whose lease is held, or whose "
        "process is provably alive (same host, boot and start time as recorded), is refused "
        "with exit status 8. A run made by an older version, which recorded no boot id or "
        "start time, is refused while its process ID is in use on its host, unless --force. "
        "Archives in evidence/ that no run owns are recorded (size, SHA-256) and moved to "
        "set-aside/.",
    )
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    c.add_argument("--run", metavar="ID", help="the run to recover (a unique start of its id)")
    c.add_argument(
        "--force",
        action="store_true",
        help="recover a run that recorded no boot id or start time although its process ID "
        "is in use on its host (you state it is another process; the end records it)",
    )
    c.add_argument("--json", action="store_true", help="print the outcome of each run as JSON")
    add_passphrase_fd(c)
    c.set_defaults(func=cmd_recover)


def cmd_recover(args: argparse.Namespace) -> int:
    from app.cases import open_case
    from app.identity import unlock_identity
    from app.recovery import recover_runs
    from app.set_aside import set_aside_orphans
    from custody.errors import RunAlive

    handle = open_case(args.case_dir)
    identity = unlock_identity(args.passphrase_fd)
    outcomes = recover_runs(handle, identity, args.run, force=args.force)
    set_aside = set_aside_orphans(handle, identity)
    refused = [o for o in outcomes if o.result == "alive"]
    if args.json:
        doc: list[dict[str, Any]] = [
            {"run_id": o.run_id, "result": o.result, "message": o.message} for o in outcomes
        ]
        doc += [
            {
                "archive": s.name,
                "result": "set_aside",
                "set_aside_as": s.set_aside_as,
                "size": s.size,
                "sha256": s.sha256,
                "seq": s.seq,
                "message": s.message,
            }
            for s in set_aside
        ]
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        for o in outcomes:
            if o.result != "alive":
                print(o.message)
        for s in set_aside:
            print(s.message)
        if not outcomes:
            print(f"case {handle.case_id} has no run without an end: nothing to recover")
    for o in refused[:-1]:
        sys.stderr.write(f"chainproof: {o.message}\n")
    if refused:  # the last one as the command's error: one line each, exit 8
        raise RunAlive(refused[-1].message)
    return 0
