"""The ``chainproof`` command line: a stable contract (see DESIGN.md, Interfaces).

Exit codes: 0 success; 1 unexpected error; 2 usage or profile error; 3 case or database error;
4 evidence store error (disk full, output not writable); 5 identity or signing error;
6 verification found problems; 7 export error; 8 a run is alive (``recover`` refused it);
130 interrupted by the examiner (Ctrl-C), with everything collected so far sealed and kept.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import decrypt_cli, examine_cli, export_cli, keys_cli, recover_cli, reindex_cli
from app.errors import ChainproofError, UsageError
from app.passphrase import add_passphrase_fd, read_passphrase
from app.progress import TerminalProgress, VerifyProgress, size_text
from app.settings import tsa_url
from app.tool import tool_footprint
from app.version import __version__
from custody.record.events import JOURNAL_KINDS

if TYPE_CHECKING:
    from app.cases import CaseHandle
    from app.identity import Identity
    from app.profiles import Profile


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The command line's parser, built once a process (tests call :func:`main` often)."""
    p = argparse.ArgumentParser(
        prog="chainproof",
        description="Forensic evidence collection with a signed, tamper-evident chain of custody.",
    )
    p.add_argument("--version", action="version", version=f"chainproof {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keys_cli.register(sub)

    case = sub.add_parser("case", help="create, list and show cases").add_subparsers(
        dest="case_cmd", required=True
    )
    c = case.add_parser("new", help="create a case directory")
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    c.add_argument("--title", required=True)
    c.add_argument("--incident", dest="incident_ref", metavar="REF")
    c.add_argument("--severity", choices=("low", "medium", "high", "critical"))
    c.add_argument("--org", dest="organisation")
    c.add_argument("--legal-basis", help="warrant, consent, legal hold, engagement ...")
    c.add_argument("--requesting-party")
    c.add_argument("--scope", help="limits of the collection's scope")
    c.add_argument("--responsible", help="the person responsible")
    c.add_argument("--description")
    c.add_argument("--db", metavar="URL", help="database URL (default: CASE_DIR/case.db, SQLite)")
    add_passphrase_fd(c)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_case_new)
    c = case.add_parser("list", help="list cases under ROOT")
    c.add_argument("root", type=Path, nargs="?", metavar="ROOT", help="default: this directory")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_case_list)
    c = case.add_parser("show", help="show a case")
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_case_show)
    reindex_cli.register(case)

    c = sub.add_parser("collect", help="collect evidence from this machine into a case")
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    c.add_argument("--profile", default="triage", help="none, minimal, triage, full or FILE.yaml")
    c.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="GLOB",
        help="add a path or glob to collect (** recurses); repeatable",
    )
    _capture_options(c)
    c.add_argument("--json", action="store_true", help="print the run summary as JSON")
    c.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress on stderr (default: live rows on a terminal, else a line every 5 s "
        "and one per collector)",
    )
    add_passphrase_fd(c)
    c.set_defaults(func=cmd_collect)

    c = sub.add_parser("note", help="add a signed journal entry")
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    c.add_argument("text", metavar="TEXT")
    c.add_argument("--kind", choices=JOURNAL_KINDS, default="note")
    c.add_argument("--reason", help="the reason, for a decision")
    add_passphrase_fd(c)
    c.set_defaults(func=cmd_note)

    c = sub.add_parser("access", help="record a signed access to the evidence, with its purpose")
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    c.add_argument("--purpose", required=True)
    c.add_argument(
        "--artifact",
        action="append",
        default=[],
        metavar="MEMBER",
        help="the archive member accessed, e.g. volatile/system.json (repeatable; default: "
        "the whole case); a name that is no member of the case is refused, nothing signed",
    )
    add_passphrase_fd(c)
    c.set_defaults(func=cmd_access)

    c = sub.add_parser("seal", help="seal the case: a signed end; no collection may follow")
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    c.add_argument("--reason", required=True)
    add_passphrase_fd(c)
    c.set_defaults(func=cmd_seal)

    c = sub.add_parser("transfer", help="record a hand-over, signed by both examiners")
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    c.add_argument(
        "--to",
        required=True,
        type=Path,
        metavar="CERT.pem",
        help="the receiving examiner's certificate (or their .p12)",
    )
    c.add_argument(
        "--to-key",
        type=Path,
        metavar="FILE.p12",
        help="the receiver's PKCS#12 identity (default: --to when it is a .p12)",
    )
    c.add_argument("--reason", required=True)
    c.add_argument("--location", required=True)
    add_passphrase_fd(c)
    c.add_argument(
        "--to-passphrase-fd",
        type=int,
        metavar="N",
        help="receiver's passphrase from this descriptor (else $CHAINPROOF_TO_PASSPHRASE or a prompt)",
    )
    c.set_defaults(func=cmd_transfer)

    c = sub.add_parser("verify", help="verify a case directory or an exported bundle")
    c.add_argument("target", type=Path, metavar="CASE_DIR|BUNDLE")
    c.add_argument("--json", action="store_true")
    c.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress on stderr (default: a live line in a terminal, else a line every 5 s)",
    )
    c.add_argument(
        "--trust",
        type=Path,
        action="append",
        default=[],
        metavar="CERT.pem",
        help="fail unless every signer is one of these certificates",
    )
    c.add_argument(
        "--sign",
        action="store_true",
        help="record a signed 'verified' entry in the case (needs your key)",
    )
    c.add_argument(
        "--tsa-ca",
        type=Path,
        metavar="PEM",
        help="check the RFC 3161 tokens' TSA certificate chain against these CA certificates "
        "(default: tsa_ca in settings.json; without either the chain is not checked)",
    )
    add_passphrase_fd(c)
    c.set_defaults(func=cmd_verify)

    c = sub.add_parser(
        "timestamp",
        help="add RFC 3161 timestamps to the signed entries that have none (recorded as late)",
    )
    c.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    add_passphrase_fd(c)
    c.set_defaults(func=cmd_timestamp)

    c = sub.add_parser("gui", help="open the desktop application")
    c.add_argument("case_dir", type=Path, nargs="?", metavar="CASE_DIR")
    c.set_defaults(func=cmd_gui)
    export_cli.register(sub)
    recover_cli.register(sub)
    examine_cli.register(sub)
    decrypt_cli.register(sub)
    for command in (*STAMPED_COMMANDS, "timestamp"):
        _tsa_option(sub.choices[command])
    for command in ("new", "reindex"):
        _tsa_option(case.choices[command])
    return p


#: Commands that write signed ledger entries, stamped with ``--tsa`` (or settings.json).
STAMPED_COMMANDS = ("collect", "note", "access", "seal", "transfer", "export", "recover", "verify")


def _tsa_option(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "--tsa",
        metavar="URL",
        help="RFC 3161 timestamp authority for every signed entry this command writes "
        "(default: tsa_url in settings.json)",
    )


def _stamped_case(args: argparse.Namespace) -> Path | None:
    """The case whose signed entries this command's ``--tsa`` stamps, if any."""
    if not hasattr(args, "tsa") or args.command == "timestamp":
        return None
    if args.command == "verify":
        return args.target if args.sign else None
    root = getattr(args, "case_dir", None)
    return root if isinstance(root, Path) else None


# --- helpers -------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    """``value`` as JSON on stdout, always valid UTF-8: a name whose bytes are not UTF-8
    (a surrogate-escaped path) is written as its ``\\udcXX`` JSON escape."""
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    sys.stdout.write(text.encode("utf-8", "backslashreplace").decode("utf-8"))


# --- commands ------------------------------------------------------------------------


def cmd_case_new(args: argparse.Namespace) -> int:
    from app.cases import create_case, summary  # lazy: SQLAlchemy
    from app.identity import unlock_identity  # lazy: cryptography

    identity = unlock_identity(args.passphrase_fd)
    fields = {
        k: getattr(args, k)
        for k in (
            "incident_ref",
            "severity",
            "organisation",
            "legal_basis",
            "requesting_party",
            "scope",
            "responsible",
            "description",
        )
    }
    handle = create_case(args.case_dir, identity, title=args.title, db_url=args.db, **fields)
    if args.json:
        _print_json(summary(handle))
    else:
        print(f"Created case {handle.case_id} at {handle.root}")
    return 0


def cmd_case_list(args: argparse.Namespace) -> int:
    from app.cases import find_cases, open_case, summary  # lazy: SQLAlchemy

    rows = []
    for path in find_cases(args.root or Path.cwd()):
        try:
            s = summary(open_case(path))
            rows.append(
                {
                    k: s[k]
                    for k in (
                        "path",
                        "case_id",
                        "title",
                        "incident_ref",
                        "status",
                        "artifacts",
                        "ledger_entries",
                    )
                }
                | {"runs": len(s["runs"])}
            )
        except ChainproofError as exc:
            rows.append({"path": str(path), "error": exc.diagnostics()})
    if args.json:
        _print_json(rows)
        return 0
    from rich.console import Console  # lazy: rich, for this table only
    from rich.table import Table

    table = Table("Case", "Title", "Incident", "Status", "Runs", "Artifacts", "Path")
    for r in rows:
        if "error" in r:
            table.add_row("-", f"[red]{r['error']}", "", "", "", "", r["path"])
        else:
            table.add_row(
                r["case_id"][:8],
                r["title"],
                r["incident_ref"] or "",
                r["status"],
                str(r["runs"]),
                str(r["artifacts"]),
                r["path"],
            )
    Console().print(table)
    return 0


def cmd_case_show(args: argparse.Namespace) -> int:
    from app.cases import open_case, summary  # lazy: SQLAlchemy
    from app.timestamps import timestamp_counts  # lazy: SQLAlchemy, asn1crypto

    handle = open_case(args.case_dir)
    s = summary(handle)
    s["timestamps"] = timestamp_counts(handle)
    if args.json:
        _print_json(s)
        return 0
    print(f"Case {s['case_id']}: {s['title']}" + ("  [SEALED]" if s["sealed"] else ""))
    for k in (
        "incident_ref",
        "severity",
        "status",
        "organisation",
        "legal_basis",
        "scope",
        "created_at",
        "database",
    ):
        if s.get(k):
            print(f"  {k:16} {s[k]}")
    print(f"  ledger entries   {s['ledger_entries']}")
    t = s["timestamps"]
    print(
        f"  timestamps       {t['stamped']} of {t['signed']} signed entries have an RFC 3161 "
        f"token; {t['untimestamped']} untimestamped"
    )
    print(
        f"  artifacts        {s['artifacts']}  (collection errors and skips: {s['collection_errors']})"
    )
    for e in s["examiners"]:
        print(
            f"  examiner         {e['name']} <{e['email']}> {e['organisation']}  SHA-256 {e['fingerprint']}"
        )
    for r in s["runs"]:
        print(
            f"  run {r['id']}  {r['status']:<11} profile={r['profile']} host={r['host']} "
            f"artifacts={r['artifacts']} errors={r['errors']} skipped={r['skipped']} "
            f"bytes={r['bytes']} started={r['started_at']} archive={r['archive']}"
        )
    return 0


def _capture_options(c: argparse.ArgumentParser) -> None:
    """The ``--capture-*`` options of ``collect``: a packet capture beside the collection."""
    g = c.add_argument_group(
        "packet capture", "a time-boxed capture (pcapng) that runs beside the other collectors"
    )
    g.add_argument(
        "--capture-seconds", type=float, metavar="N", help="capture packets for N seconds"
    )
    g.add_argument(
        "--capture-interface",
        action="append",
        default=[],
        metavar="IF",
        help="an interface to capture (default: every interface up, not loopback); repeatable",
    )
    g.add_argument("--capture-filter", metavar="EXPR", help="a BPF filter (tcpdump syntax)")
    g.add_argument("--capture-snaplen", type=int, metavar="N", help="bytes kept of each packet")
    g.add_argument(
        "--capture-max-bytes", metavar="SIZE", help="stop the capture at SIZE (e.g. 500MiB)"
    )
    g.add_argument(
        "--capture-tool",
        choices=("native", "tcpdump", "dumpcap"),
        help="capture natively (default) or run tcpdump or dumpcap",
    )


def _with_capture(profile: Profile, args: argparse.Namespace) -> Profile:
    """``profile`` with the ``--capture-*`` options merged into its capture collector."""
    from app.profiles import capture_problem  # lazy: the collectors, psutil, PyYAML

    given = {
        "seconds": args.capture_seconds,
        "interfaces": list(args.capture_interface) or None,
        "filter": args.capture_filter,
        "snaplen": args.capture_snaplen,
        "max_bytes": args.capture_max_bytes,
        "tool": args.capture_tool,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return profile
    chosen = dict(profile.collectors)
    options = {**(chosen.get("capture") or {}), **given}
    if "seconds" not in options:
        raise UsageError("--capture-* options need --capture-seconds N (or a profile's capture)")
    if (why := capture_problem(options)) is not None:
        raise UsageError(f"capture: {why}")
    chosen["capture"] = options
    return replace(profile, collectors=chosen)


def _install_cancel(
    cancel: threading.Event,
    message: str = "\nStopping: sealing what was collected (Ctrl-C again to abort)...\n",
) -> Callable[[], None]:
    """First Ctrl-C asks the run to stop cleanly (saying ``message``, if any); a second one
    aborts at once."""
    previous = signal.getsignal(signal.SIGINT)

    def handler(_sig: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        if message:
            sys.stderr.write(message)

    signal.signal(signal.SIGINT, handler)

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)

    return restore


def _warn_unpacked_on_disk() -> None:
    """Tell the examiner when a one-file binary unpacked itself onto a disk (it is recorded)."""
    footprint = tool_footprint()
    if footprint is None or footprint.in_memory:
        return
    sys.stderr.write(
        f"chainproof: note: this binary unpacked itself ({footprint.bytes / 1e6:.0f} MB) "
        f"into {footprint.unpacked_to} on {footprint.filesystem or 'a file system'} "
        "that is not in memory; the run records it. To leave the examined disk untouched, "
        "start the binary with TMPDIR on the evidence drive (docs/BUILD.md).\n"
    )


def cmd_collect(args: argparse.Namespace) -> int:
    from app.unlock import start_unlock

    # The key unlocks in a child process while this one imports and opens the case.
    pending = start_unlock(args.passphrase_fd)
    try:
        from app.cases import open_case  # lazy: SQLAlchemy
        from app.collection import CollectionRun  # lazy: the collectors, SQLAlchemy
        from app.profiles import load_profile  # lazy: the collectors, psutil, PyYAML

        handle = open_case(args.case_dir)
        profile = load_profile(args.profile)
        if args.path:
            profile = profile.with_paths(list(args.path))
        profile = _with_capture(profile, args)
        identity = pending.get()
    finally:
        pending.close()
    _recover_exports(handle, identity)
    _warn_unpacked_on_disk()
    cancel = threading.Event()
    restore = _install_cancel(cancel)
    show = not args.no_progress and not args.json
    try:
        with TerminalProgress(enabled=show) as progress:
            run = CollectionRun(
                handle,
                identity,
                profile,
                command_line=["chainproof", *sys.argv[1:]],
                progress=progress.update,
                cancel=cancel,
            )
            result = run.execute()
    finally:
        restore()
    doc = {
        "run_id": result.run_id,
        "status": result.status,
        "archive": str(result.archive),
        "artifacts": result.artifacts,
        "errors": result.errors,
        "skipped": result.skipped,
        "excluded": result.excluded,
        "bytes": result.bytes,
        "reason": result.reason,
    }
    if args.json:
        _print_json(doc)
    else:
        print(
            f"Run {result.run_id} {result.status}: {result.artifacts} artifacts, "
            f"{size_text(result.bytes)}, {result.errors} errors, {result.skipped} skipped"
        )
        if result.excluded:
            print(f"Excluded (never collected; {len(result.excluded)} of the skipped):")
            for line in result.excluded[:20]:
                print(f"  {line}")
            if len(result.excluded) > 20:
                print(f"  ... and {len(result.excluded) - 20} more, each in the ledger")
        print(f"Archive: {result.archive}")
    if result.status == "interrupted":
        sys.stderr.write(
            "chainproof: collection interrupted; everything collected so far is sealed and kept\n"
        )
        return 130
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    from app.cases import open_case  # lazy: SQLAlchemy
    from app.identity import unlock_identity  # lazy: cryptography
    from app.journal import add_journal_entry  # lazy: SQLAlchemy

    handle = open_case(args.case_dir)
    identity = unlock_identity(args.passphrase_fd)
    seq = add_journal_entry(handle, identity, kind=args.kind, text=args.text, reason=args.reason)
    print(f"Recorded {args.kind} as ledger entry {seq}")
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    from app.cases import open_case  # lazy: SQLAlchemy
    from app.identity import unlock_identity  # lazy: cryptography
    from app.journal import record_access  # lazy: SQLAlchemy

    handle = open_case(args.case_dir)
    seq = record_access(
        handle, unlock_identity(args.passphrase_fd), purpose=args.purpose, artifacts=args.artifact
    )
    print(f"Recorded access as ledger entry {seq}")
    return 0


def cmd_seal(args: argparse.Namespace) -> int:
    from app.cases import open_case  # lazy: SQLAlchemy
    from app.identity import unlock_identity  # lazy: cryptography
    from app.journal import seal_case  # lazy: SQLAlchemy

    handle = open_case(args.case_dir)
    seq = seal_case(handle, unlock_identity(args.passphrase_fd), reason=args.reason)
    print(f"Sealed case {handle.case_id} as ledger entry {seq}")
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from app.cases import open_case  # lazy: SQLAlchemy
    from app.identity import load_identity, read_certificate, unlock_identity  # lazy: cryptography
    from app.journal import record_transfer  # lazy: SQLAlchemy

    handle = open_case(args.case_dir)
    releasing = unlock_identity(args.passphrase_fd)
    key_file = args.to_key or (args.to if args.to.suffix.lower() in (".p12", ".pfx") else None)
    if key_file is None:
        raise UsageError(
            "the receiving examiner must sign too: give their identity with --to-key FILE.p12"
        )
    to_pass = read_passphrase(
        prompt=f"Passphrase of the receiving examiner ({key_file}): ",
        env="CHAINPROOF_TO_PASSPHRASE",
        fd=args.to_passphrase_fd,
    )
    receiving = load_identity(key_file, to_pass)
    if args.to.suffix.lower() not in (".p12", ".pfx"):
        cert = read_certificate(args.to)
        if cert != receiving.certificate:
            raise UsageError(f"{args.to} is not the certificate of the identity in {key_file}")
    seq = record_transfer(handle, releasing, receiving, reason=args.reason, location=args.location)
    print(
        f"Recorded transfer from {releasing.name} to {receiving.name} as ledger entry {seq}, signed by both"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from app.cases import CASE_FILE, open_case  # lazy: SQLAlchemy
    from app.export_recovery import open_exports_notice  # lazy: SQLAlchemy
    from app.identity import unlock_identity  # lazy: cryptography
    from app.verification import verify_target  # lazy: SQLAlchemy, asn1crypto

    identity = unlock_identity(args.passphrase_fd) if args.sign else None
    if (args.target / CASE_FILE).is_file():
        with contextlib.suppress(ChainproofError):  # a damaged case is verify_target's business
            handle = open_case(args.target, require_opened=False)
            if identity is not None:
                _recover_exports(handle, identity)
            for line in open_exports_notice(handle):
                sys.stderr.write(f"chainproof: note: {line}\n")
            handle.sessions.kw["bind"].dispose()  # verify_target opens the case anew
    cancel = threading.Event()
    restore = _install_cancel(cancel, "")  # Cancelled: one line, exit 130, nothing recorded
    try:
        with VerifyProgress(enabled=not args.no_progress and not args.json) as progress:
            report = verify_target(
                args.target,
                trust=args.trust,
                sign_with=identity,
                progress=progress.update,
                cancel=cancel,
                tsa_ca=args.tsa_ca,
            )
    finally:
        restore()
    if args.json:
        _print_json(report.to_json())
    else:
        print(report.render())
    return 0 if report.ok else 6


def cmd_timestamp(args: argparse.Namespace) -> int:
    from app.cases import open_case  # lazy: SQLAlchemy
    from app.identity import unlock_identity  # lazy: cryptography
    from app.timestamps import stamping, timestamp_case  # lazy: SQLAlchemy, asn1crypto

    url = tsa_url(args.tsa)
    if url is None:
        raise UsageError("no timestamp authority: give --tsa URL or set tsa_url in settings.json")
    handle = open_case(args.case_dir)
    identity = unlock_identity(args.passphrase_fd)
    with stamping(handle.root, url):  # the 'timestamped' entry is stamped as it is written
        done = timestamp_case(handle, identity, url)
    if not done.seqs:
        print("Every signed entry has a timestamp token; nothing to do")
    else:
        print(
            f"Timestamped {len(done.seqs)} signed entr{'y' if len(done.seqs) == 1 else 'ies'} "
            f"late; recorded as ledger entry {done.recorded_seq}"
        )
    return 0


def _recover_exports(handle: CaseHandle, identity: Identity) -> None:
    """Close the case's interrupted exports (:mod:`app.export_recovery`), saying what was done.
    Whether any is open is read from the ledger's export entries alone: a case opened for
    verification has not folded its ledger. With none open, the envelope code (asn1crypto)
    is not loaded."""
    from app.export_recovery import open_exports, recover_exports  # lazy: SQLAlchemy

    if not open_exports(handle):
        return

    for r in recover_exports(handle, identity):
        sys.stderr.write(f"chainproof: {r.message}\n")


def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from app.gui import run_gui  # lazy: not in the CLI-only binary (build.spec)
    except ImportError as exc:
        raise UsageError(f"the desktop application is not available: {exc}") from exc
    return run_gui(args.case_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chainproof`` and ``python -m app``."""
    args = _parser().parse_args(argv)
    try:
        root = _stamped_case(args)
        url = None if root is None else tsa_url(args.tsa)
        if root is None or url is None:
            return int(args.func(args))
        from app.timestamps import stamping  # lazy: SQLAlchemy, asn1crypto, http.client

        with stamping(root, url, pdf=args.command == "export"):
            return int(args.func(args))
    except ChainproofError as exc:
        sys.stderr.write(f"chainproof: {exc.diagnostics()}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("chainproof: aborted\n")
        return 130
