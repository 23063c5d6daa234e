"""``chainproof artifacts | log | extract``: what a case or bundle holds, its ledger, and its
evidence out, each read from the signed ledger (:mod:`app.listing`, :mod:`app.extraction`).

Output streams: a listing of 500,000 artifacts is written as it is read (``--json`` as one
array, an object a line). On a terminal, text is cut to its width and every character that
cannot be printed is shown as an escape (:func:`custody.record.printable.shown_text`), so no
name or note from the evidence can move the cursor or forge a line; piped, values are whole.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import UsageError
from app.passphrase import add_passphrase_fd
from custody.errors import VerificationError
from custody.record.printable import shown_text

if TYPE_CHECKING:
    from app.browse import LedgerRow
    from app.extraction import Outcome, Selection
    from app.ledger_source import LedgerSource
    from app.listing import Listed, Query
    from custody.record.entry import Entry
    from custody.verify.findings import Finding, Report

ARTIFACT_CSV = (
    "seq",
    "collected_at",
    "run_id",
    "collector",
    "kind",
    "member",
    "path",
    "size",
    "sha256",
    "sha1",
    "md5",
    "mode",
    "uid",
    "gid",
    "mtime",
    "symlink_target",
    "changed",
)
PROBLEM_CSV = ("seq", "at", "run_id", "collector", "kind", "path", "reason")


def register(sub: Any) -> None:
    """Add ``artifacts``, ``log`` and ``extract`` to the CLI's subparsers."""
    c = sub.add_parser(
        "artifacts",
        help="list the artifacts of a case or bundle, with their hashes",
        description="List every artifact the ledger of CASE_DIR or BUNDLE (a directory or "
        ".zip) records, in ledger order: entry number (SEQ), kind, size, SHA-256 and source "
        "path (member name for records without a source file). --json gives every field "
        "as the bundle's manifest.json has it (three hashes, member, path, run, size, mtime, "
        "mode, owner, link target); --csv a row each. --errors and --skipped list instead "
        "what was not collected, each with its reason. The ledger is read, not checked: "
        "chainproof log checks it, chainproof verify checks everything.",
    )
    c.add_argument("target", type=Path, metavar="CASE_DIR|BUNDLE")
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON array, an object a line")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    c.add_argument("--run", metavar="ID", help="only this run (its id or the start of it)")
    c.add_argument(
        "--path",
        metavar="GLOB",
        help="only source paths matching GLOB (shell pattern, '*' also matches '/'; a record "
        "without a source file by its member name)",
    )
    c.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="KIND",
        help="only this kind: file, symlink, volatile, command, ... (repeatable)",
    )
    c.add_argument(
        "--errors",
        action="store_true",
        help="list collection errors and files that changed while read, with the reason",
    )
    c.add_argument(
        "--skipped", action="store_true", help="list what was skipped on purpose, with the reason"
    )
    c.set_defaults(func=cmd_artifacts)

    c = sub.add_parser(
        "log",
        help="show the ledger, checked: every entry, who signed it, what it records",
        description="Check the ledger of CASE_DIR or BUNDLE (every entry's hash and place in "
        "the chain, every signature, that signatures cover every entry, the story of its "
        "runs), print the result first ('ledger verified: N entries, signatures valid', or "
        "each finding), then every entry: number, time (UTC), event, signer and one line "
        "saying what it records. Names in parentheses are the actor of an entry that is not "
        "signed on its own (a per-artifact entry, covered by the next signed checkpoint). "
        "Evidence archives are not read: chainproof verify checks every byte. Exit 6 when "
        "the ledger does not verify.",
    )
    c.add_argument("target", type=Path, metavar="CASE_DIR|BUNDLE")
    c.add_argument("--json", action="store_true", help="the check and every entry as JSON")
    c.add_argument(
        "--acts",
        action="store_true",
        help="only the acts of people and runs (no per-artifact or collection-error entries)",
    )
    c.set_defaults(func=cmd_log)

    c = sub.add_parser(
        "extract",
        help="copy artifacts out of a case or bundle, re-hashed against the ledger",
        description="Write each ARTIFACT as DIR/<member name> (files/etc/passwd for "
        "/etc/passwd). ARTIFACT is a ledger entry number (the SEQ of chainproof artifacts), "
        "a SHA-256 (every artifact with that content), an archive member name or a source "
        "path. The ledger is checked first (as chainproof log does); each file's SHA-256, "
        "SHA-1 and MD5 are computed while it is copied and compared with the ledger, and a "
        "file that differs is refused: nothing of it is left and the exit status is 6. "
        "No existing file is replaced without --force, no name can leave DIR, no link is "
        "followed. Permission bits are restored without setuid, setgid and sticky bits "
        "(and always readable by you), the owner is not: --preserve-mode restores all. "
        "Symbolic links are not created. From a case, the access is recorded first in its "
        "ledger as a signed entry with --purpose (and DIR); a bundle is read-only and "
        "records nothing.",
    )
    c.add_argument("target", type=Path, metavar="CASE_DIR|BUNDLE")
    c.add_argument("artifacts", nargs="+", metavar="ARTIFACT")
    c.add_argument("--to", required=True, type=Path, metavar="DIR", help="where to write")
    c.add_argument("--purpose", help="why you take the evidence out (required for a case)")
    c.add_argument("--run", metavar="ID", help="only artifacts of this run (id or its start)")
    c.add_argument("--force", action="store_true", help="replace files that exist in DIR")
    c.add_argument(
        "--preserve-mode",
        action="store_true",
        help="restore every recorded permission bit (setuid, setgid, sticky) and, as root, "
        "the owner",
    )
    c.add_argument(
        "--allow-unverified",
        action="store_true",
        help="extract even when the ledger does not verify (each file is still compared "
        "with the digests the ledger gives)",
    )
    c.add_argument("--json", action="store_true", help="print the outcome as JSON")
    add_passphrase_fd(c)
    c.set_defaults(func=cmd_extract)


# --------------------------------------------------------------------------- output


def _piped(cmd: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A reader that stops reading (``chainproof artifacts CASE | head``) ends the listing
    quietly, without a traceback."""

    @functools.wraps(cmd)
    def run(args: argparse.Namespace) -> int:
        try:
            return cmd(args)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # nothing more is flushed into the pipe
            os.close(devnull)
            return 0

    return run


def _out(text: str) -> None:
    """Write ``text`` to stdout as valid UTF-8 (surrogates of a damaged name escaped)."""
    sys.stdout.write(text.encode("utf-8", "backslashreplace").decode("utf-8"))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _width() -> int | None:
    """Columns of the terminal stdout is, or None when it is not a terminal (values whole)."""
    if not sys.stdout.isatty():
        return None
    return max(shutil.get_terminal_size().columns, 40)


def _cut(text: str, width: int | None, *, keep_end: bool = False) -> str:
    if width is None or len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    return "…" + text[-(width - 1) :] if keep_end else text[: width - 1] + "…"


def _stream_array(items: Iterable[dict[str, Any]]) -> None:
    """One JSON array, written as the items come (``[`` waits for the first, or the end)."""
    first = True
    for item in items:
        _out(("[\n" if first else ",\n") + _json(item))
        first = False
    _out("[]\n" if first else "\n]\n")


def _stream_csv(columns: tuple[str, ...], rows: Iterable[Mapping[str, Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    header = False
    for row in rows:
        if not header:
            writer.writerow(columns)
            header = True
        writer.writerow(["" if row.get(k) is None else shown_text(row[k]) for k in columns])
    if not header:
        writer.writerow(columns)


# --------------------------------------------------------------------------- artifacts


@_piped
def cmd_artifacts(args: argparse.Namespace) -> int:
    from app.ledger_source import open_source  # lazy: SQLAlchemy
    from app.listing import ERROR_KINDS, SKIPPED_KINDS, Listed, Query  # lazy: SQLAlchemy

    if (args.errors or args.skipped) and args.kind:
        raise UsageError("--kind selects artifacts; --errors and --skipped list what was not one")
    query = Query(run=args.run, path=args.path, kinds=frozenset(args.kind))
    listed = Listed()
    with open_source(args.target) as source:
        _warn_opened(source)
        if args.errors or args.skipped:
            kinds = (ERROR_KINDS if args.errors else ()) + (SKIPPED_KINDS if args.skipped else ())
            _list_problems(args, source, query, kinds, listed)
        else:
            _list_artifacts(args, source, query, listed)
    if listed.read.findings:
        n = len(listed.read.findings)
        sys.stderr.write(
            f"chainproof: warning: {n} problem(s) reading the ledger of {args.target} (first: "
            f"{shown_text(str(listed.read.findings[0]))}); chainproof log says what they mean\n"
        )
    return 0


def _warn_opened(source: LedgerSource) -> None:
    if source.opened.findings:
        first = shown_text(str(source.opened.findings[0]))
        sys.stderr.write(
            f"chainproof: warning: {source.path} has {len(source.opened.findings)} problem(s) "
            f"as a zip (first: {first}); chainproof verify says which\n"
        )


def _list_artifacts(
    args: argparse.Namespace, source: LedgerSource, query: Query, listed: Listed
) -> None:
    from app.listing import artifact_record, artifacts  # lazy: SQLAlchemy

    records = (artifact_record(e, ev) for e, ev in artifacts(source, query, listed))
    if args.json:
        _stream_array(records)
    elif args.csv:
        _stream_csv(ARTIFACT_CSV, (_csv_artifact(r) for r in records))
    else:
        _artifact_table(records, listed)


def _csv_artifact(r: dict[str, Any]) -> dict[str, Any]:
    mode = r.get("mode")
    return {**r, "mode": f"{mode:04o}" if isinstance(mode, int) else None}


def _artifact_table(records: Iterator[dict[str, Any]], listed: Listed) -> None:
    width = _width()
    fixed = 7 + 2 + 8 + 2 + 12 + 2
    sha_w, path_w = 64, None
    if width is not None:
        room = width - fixed
        sha_w = max(12, min(64, room - 2 - 30))
        path_w = max(10, room - sha_w - 2)
    header = False
    for r in records:
        if not header:
            _out(f"{'SEQ':>7}  {'KIND':<8}  {'SIZE':>12}  {'SHA-256':<{sha_w}}  PATH\n")
            header = True
        sha = r["sha256"] if sha_w >= 64 else r["sha256"][: sha_w - 1] + "…"
        name = shown_text(r.get("path") or r["member"])
        _out(
            f"{r['seq']:>7}  {_cut(shown_text(r['kind']), 8):<8}  {r['size']:>12}  {sha:<{sha_w}}  "
            f"{_cut(name, path_w, keep_end=True)}\n"
        )
    _out(f"{listed.count} artifact{'s' if listed.count != 1 else ''}, {listed.bytes} bytes\n")


def _list_problems(
    args: argparse.Namespace,
    source: LedgerSource,
    query: Query,
    kinds: tuple[str, ...],
    listed: Listed,
) -> None:
    from app.listing import problem_record, problems  # lazy: SQLAlchemy

    records = (problem_record(e, ev) for e, ev in problems(source, query, kinds, listed))
    if args.json:
        _stream_array(records)
        return
    if args.csv:
        _stream_csv(PROBLEM_CSV, records)
        return
    width = _width()
    room = None if width is None else max(24, width - (7 + 2 + 7 + 2 + 10 + 2))
    header = False
    for r in records:
        if not header:
            _out(f"{'SEQ':>7}  {'KIND':<7}  {'COLLECTOR':<10}  PATH  REASON\n")
            header = True
        path, reason = shown_text(r.get("path") or "-"), shown_text(r["reason"])
        if room is not None:  # the path takes what the reason leaves, and at least half
            path = _cut(path, max(room // 2, room - 2 - len(reason)), keep_end=True)
            reason = _cut(reason, room - 2 - len(path))
        _out(
            f"{r['seq']:>7}  {shown_text(r['kind']):<7}  {_cut(shown_text(r['collector']), 10):<10}"
            f"  {path}  {reason}\n"
        )
    what = " and ".join(w for w, on in (("errors", args.errors), ("skipped", args.skipped)) if on)
    _out(f"{listed.count} record{'s' if listed.count != 1 else ''} ({what})\n")


# --------------------------------------------------------------------------- log


def _verdict(report: Report) -> str:
    if report.ok:
        return (
            f"ledger verified: {report.entries} entries, signatures valid "
            f"({report.signatures} signatures)"
        )
    n = len(report.findings)
    return f"ledger NOT verified: {report.entries} entries, {n} problem{'s' if n != 1 else ''}:"


@_piped
def cmd_log(args: argparse.Namespace) -> int:
    from app.ledger_source import open_source  # lazy: SQLAlchemy
    from app.listing import check_ledger, ledger  # lazy: SQLAlchemy

    with open_source(args.target, require_opened=False) as source:
        result = check_ledger(source)
        report, names = result.report, result.names
        rows = ledger(source, names, acts_only=args.acts, entries=report.entries)
        if args.json:
            top = {
                "subject": str(source.path),
                "kind": source.kind,
                "verified": report.ok,
                "verification": report.to_json(),
            }
            _out(_json(top)[:-1] + ', "entries": ')
            _stream_array(_log_record(e, row, names, result.by_seq) for e, row in rows)
            _out("}\n")
            return 0 if report.ok else 6
        width = _width()
        _out(_cut(shown_text(_verdict(report)), width) + "\n")
        _out(f"  ledger head {report.head}\n")
        for f in report.findings:
            _out(_cut(f"  - {shown_text(str(f))}", width) + "\n")
        seq_w = max(3, len(str(result.state.head_seq)))
        ev_w = 18
        signer_w = 20
        desc_at = seq_w + 2 + 19 + 2 + ev_w + 2 + signer_w + 2
        own_line = width is not None and width - desc_at < 40
        _out(
            f"{'SEQ':>{seq_w}}  {'TIME (UTC)':<19}  {'EVENT':<{ev_w}}  {'SIGNER':<{signer_w}}  "
            "DESCRIPTION\n"
        )
        for entry, row in rows:
            signer = (
                ", ".join(names.get(s.by, s.by[:12]) for s in entry.signatures)
                if entry.signatures
                else f"({row.actor})"
            )
            head = (
                f"{row.seq:>{seq_w}}  {row.at[:19].replace('T', ' '):<19}  "
                f"{_cut(shown_text(row.event), ev_w):<{ev_w}}  "
                f"{_cut(shown_text(signer), signer_w):<{signer_w}}"
            )
            text = shown_text(row.summary)
            if own_line:
                assert width is not None
                _out(head.rstrip() + "\n" + " " * (seq_w + 2) + _cut(text, width - seq_w - 2))
            else:
                _out(head + "  " + _cut(text, None if width is None else width - desc_at))
            _out("\n")
            for f in result.by_seq.get(row.seq, ()):
                _out(_cut(f"{'':>{seq_w}}  ! {f.code}: {shown_text(f.message)}", width) + "\n")
        if not report.ok:
            _out(_cut(shown_text(_verdict(report)).rstrip(":"), width) + "\n")
    return 0 if report.ok else 6


def _log_record(
    entry: Entry, row: LedgerRow, names: Mapping[str, str], by_seq: Mapping[int, list[Finding]]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "seq": entry.seq,
        "at": entry.at,
        "event": entry.event,
        "actor": entry.actor,
        "actor_name": names.get(entry.actor),
        "signatures": [{"by": s.by, "name": names.get(s.by)} for s in entry.signatures],
        "description": row.summary,
        "entry_hash": entry.entry_hash,
        "prev_hash": entry.prev_hash,
        "payload": dict(entry.payload),
    }
    found = by_seq.get(entry.seq)
    if found:
        doc["findings"] = [{"code": f.code, "where": f.where, "message": f.message} for f in found]
    return doc


# --------------------------------------------------------------------------- extract


@_piped
def cmd_extract(args: argparse.Namespace) -> int:
    from app.extraction import Extractor, select  # lazy: SQLAlchemy
    from app.ledger_source import open_source  # lazy: SQLAlchemy

    with open_source(args.target) as source:
        if source.is_case and not (args.purpose or "").strip():
            raise UsageError(
                "extracting from a case records the access in its ledger: say why with "
                "--purpose TEXT"
            )
        _warn_opened(source)
        selection = select(source, args.artifacts, args.run)
        report = selection.check.report
        if not report.ok:
            first = shown_text(str(report.findings[0]))
            if not args.allow_unverified:
                raise VerificationError(
                    f"the ledger of {source.path} does not verify ({len(report.findings)} "
                    f"problem(s); first: {first}): its digests cannot be trusted. chainproof "
                    "log lists the problems; --allow-unverified extracts anyway"
                )
            sys.stderr.write(
                f"chainproof: warning: the ledger does not verify ({first}); extracting "
                "anyway (--allow-unverified)\n"
            )
        with Extractor(
            source, args.to, force=args.force, preserve_mode=args.preserve_mode
        ) as extractor:
            if not args.force:
                there = [s for s in selection.selected if extractor.existing(s)]
                if there:
                    raise UsageError(
                        f"{shown_text(str(extractor.target(there[0])))} exists"
                        + (f" (and {len(there) - 1} more)" if len(there) > 1 else "")
                        + ": nothing was extracted; use --force to replace"
                    )
            access = _record_access(args, source, selection)
            outcomes = []
            for s in selection.selected:
                outcome = extractor.extract(s)
                outcomes.append(outcome)
                if not args.json:
                    _say(outcome)
    refused = [o for o in outcomes if o.status == "refused"]
    counts = {k: sum(o.status == k for o in outcomes) for k in ("extracted", "refused", "skipped")}
    if args.json:
        doc = {
            "source": str(args.target),
            "to": str(args.to),
            "ledger": {
                "verified": report.ok,
                "entries": report.entries,
                "findings": len(report.findings),
            },
            "access_entry": access,
            **counts,
            "artifacts": [dataclasses.asdict(o) for o in outcomes],
        }
        _out(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        _out(
            f"{counts['extracted']} extracted, {counts['refused']} refused, "
            f"{counts['skipped']} skipped, into {shown_text(str(args.to))}\n"
        )
        if access is not None:
            _out(f"the access is recorded in the case's ledger as entry {access}\n")
        else:
            _out(
                "a bundle is read-only: no ledger entry was made (record the access in the "
                "case with chainproof access CASE_DIR --purpose TEXT --artifact MEMBER)\n"
            )
    if refused:
        raise VerificationError(
            f"{len(refused)} artifact(s) refused, nothing of them written; "
            f"{shown_text(refused[0].member)}: {shown_text(refused[0].message)}"
        )
    return 0


def _record_access(
    args: argparse.Namespace, source: LedgerSource, selection: Selection
) -> int | None:
    """The signed ``accessed`` entry, written before any byte is read (None for a bundle)."""
    if source.case is None:
        return None
    from app.identity import unlock_identity  # lazy: cryptography
    from app.journal import record_access  # lazy: SQLAlchemy

    identity = unlock_identity(args.passphrase_fd)
    purpose = f"{args.purpose.strip()} [chainproof extract to {args.to.absolute()}]"
    members = [s.event.member.name for s in selection.selected]
    return record_access(source.case, identity, purpose=purpose, artifacts=members)


def _say(outcome: Outcome) -> None:
    width = _width()
    if outcome.status == "extracted":
        line = (
            f"extracted  {shown_text(outcome.path)}  (entry {outcome.seq}, {outcome.size} bytes, "
            f"SHA-256 {outcome.sha256})"
        )
    elif outcome.status == "refused":
        line = f"REFUSED    {shown_text(outcome.member)}: {shown_text(outcome.message)}"
    else:
        line = f"skipped    {shown_text(outcome.member)}: {shown_text(outcome.message)}"
    _out(_cut(line, width) + "\n")
