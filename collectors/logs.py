"""The logs collector: log files (rotated and compressed too), the journal, event logs."""

# Paths are bytes here, so that non-UTF-8 names survive; pathlib has no bytes paths.
# ruff: noqa: PTH112

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from collectors._util import (
    Listed,
    Opt,
    OwnOutput,
    error,
    parse_size,
    skipped,
    walk_entries,
    which,
)
from collectors.base import (
    CollectContext,
    Collector,
    CommandRecord,
    FileTarget,
    Observation,
    Problem,
    Volatility,
    register_collector,
)
from collectors.exclusions import Exclusions

WINDOWS_EVENT_LOGS = ("Application", "System", "Security", "Setup")


def _member_name(log: str) -> str:
    """A log name such as ``Microsoft-Windows-Sysmon/Operational`` as a safe member name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", log)


@register_collector
class Logs(Collector):
    """Log files under a root (default /var/log), the systemd journal, Windows and macOS logs."""

    name = "logs"
    volatility = Volatility.LOGS
    description = "Log files (rotated, compressed), journal export, Windows event logs, macOS log"
    options_schema: ClassVar[dict[str, Any]] = {
        "root": str,  # directory walked for log files; default /var/log (none on Windows)
        "max_file_size": Opt.SIZE,  # larger files are skipped, each with a Problem
        "journal": bool,  # journalctl -o export (Linux); default true
        "since": str,  # journalctl --since (e.g. "2024-01-01" or "-7d")
        "event_logs": Opt.STR_LIST,  # Windows: more event logs besides the four defaults
        "last": str,  # macOS: log show --last (default 24h)
    }

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        system = ctx.host.system
        default_root = None if system == "Windows" else "/var/log"
        root = ctx.options.get("root", default_root)
        if root:
            yield from self._files(ctx, os.fsencode(root))
        if system == "Linux" and ctx.options.get("journal", True) and which("journalctl"):
            argv = ["journalctl", "-o", "export", "--no-pager"]
            if since := ctx.options.get("since"):
                argv += ["--since", str(since)]
            yield CommandRecord(
                member="logs/journal.export",
                argv=tuple(argv),
                description="systemd journal, journal export format (journalctl -o export)",
                timeout_s=3600.0,
            )
        elif system == "Windows":
            extra = [str(x) for x in ctx.options.get("event_logs") or []]
            for log in dict.fromkeys([*WINDOWS_EVENT_LOGS, *extra]):
                # `wevtutil epl` writes an .evtx file itself, which a CommandRecord cannot
                # stream; `wevtutil qe /f:xml` writes the same events to standard output as a
                # sequence of <Event> elements (no root element).
                yield CommandRecord(
                    member=f"logs/eventlog/{_member_name(log)}.xml",
                    argv=("wevtutil", "qe", log, "/f:xml"),
                    description=f"Windows event log {log} as XML events (wevtutil qe /f:xml)",
                    timeout_s=3600.0,
                )
        elif system == "Darwin":
            # `log collect` writes a .logarchive directory; `log show` streams to stdout.
            last = str(ctx.options.get("last", "24h"))
            yield CommandRecord(
                member="logs/unified_log.json",
                argv=("log", "show", "--style", "json", "--last", last),
                description=f"macOS unified log, last {last} (log show --style json)",
                timeout_s=3600.0,
            )

    def _files(self, ctx: CollectContext, root: bytes) -> Iterator[Observation]:
        if not os.path.isdir(root):
            yield skipped("log directory not found", root)
            return
        limit = ctx.options.get("max_file_size")
        max_size = None if limit is None else parse_size(limit)
        own = OwnOutput(ctx.output_dir)
        never = Exclusions(ctx.never_collect)
        why = never.above(root) if never else None
        if why is not None:
            yield from never.problem(root, why)
            return
        problems: list[Problem] = []
        met_output: list[bytes] = []

        def prune(entry: Listed) -> bool:
            try:
                st = entry.lstat()
            except OSError:
                return False  # listing it will report the problem
            why = never.directory(entry.path, st)
            if why is None and (marker := never.marker_at(entry.path)) is not None:
                why = marker.reason
            if why is not None:
                problems.extend(never.problem(entry.path, why))
                return True
            if own.is_it(st):
                met_output.append(entry.path)
                return True
            return ctx.cancelled

        ctx.status(f"logs: {os.fsdecode(root)}")
        for path in walk_entries(root, problems, prune=prune):
            yield from problems
            problems.clear()
            if met_output:
                yield from own.problem_once(met_output[0])
            if max_size is not None:
                try:
                    size = os.lstat(path).st_size
                except OSError as exc:
                    yield error(f"cannot stat: {exc.strerror}", path)
                    continue
                if size > max_size:
                    yield skipped(f"larger than max_file_size ({size} > {max_size} bytes)", path)
                    continue
            yield FileTarget(path, "logs")
        yield from problems
        if met_output:
            yield from own.problem_once(met_output[0])
