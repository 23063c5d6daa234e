"""Packet capture by an installed tool: tcpdump or dumpcap (Linux, macOS), pktmon (Windows).

The tool writes its capture to standard output (``-w -``), which is read as it comes and
written into the hashed spool, so the bytes are hashed as the tool produces them. At the
deadline, on cancel or at the size cap the tool is asked to stop (SIGINT, as Ctrl-C would:
it writes what it holds and prints its counts on standard error, which are parsed). The
tool's path, version and SHA-256 are recorded.

pktmon cannot write to a pipe: it writes an ETL file on the evidence's storage, converts it
with ``pktmon etl2pcap``, and the pcapng it gives is copied into the spool (hashed there).
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from collectors._util import sha256_file, which

STOP_GRACE_S = 10.0  # seconds a tool gets to stop after SIGINT before it is killed


class ToolError(Exception):
    """The tool could not be run or failed; the reason is for the record."""


@dataclass(frozen=True)
class Tool:
    name: str
    path: str
    version: str
    sha256: str


@dataclass(frozen=True)
class ToolOutcome:
    """What the tool captured: ``ended`` (duration, cancelled, max_bytes, error); its counts
    from standard error (None when it did not say); the tail of standard error."""

    ended: str
    packets: int | None
    dropped: int | None
    received: int | None
    stderr: str
    exit_code: int | None


def find_tool(name: str) -> Tool:
    """The installed tool ``name`` with its version and SHA-256; :class:`ToolError` if absent."""
    path = which(name)
    if path is None:
        raise ToolError(f"{name} is not installed (not found on PATH)")
    flag = {"tcpdump": "--version", "dumpcap": "-v", "pktmon": "help"}.get(name, "--version")
    try:
        done = subprocess.run([path, flag], capture_output=True, text=True, timeout=20, check=False)
        lines = (done.stdout + done.stderr).strip().splitlines()
        version = lines[0].strip() if lines else "unknown"
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"cannot run {path}: {exc}") from exc
    try:
        digest = sha256_file(path, follow=True)
    except OSError as exc:
        raise ToolError(f"cannot read {path} to hash it: {exc.strerror}") from exc
    return Tool(name, os.path.realpath(path), version, digest)


def tool_argv(
    tool: Tool, interfaces: list[str], snaplen: int, filter_text: str | None
) -> list[str]:
    """The command line that captures to standard output."""
    if tool.name == "tcpdump":
        if len(interfaces) != 1:
            raise ToolError(
                "tcpdump captures one interface at a time: name one (--capture-interface), "
                "or use the native capture or dumpcap for several"
            )
        argv = [tool.path, "-i", interfaces[0], "-s", str(snaplen), "-U", "-n", "-w", "-"]
        return [*argv, filter_text] if filter_text else argv
    if tool.name == "dumpcap":
        argv = [tool.path, "-q", "-s", str(snaplen)]
        if filter_text:
            argv += ["-f", filter_text]  # before the -i options: applies to every interface
        for name in interfaces:
            argv += ["-i", name]
        return [*argv, "-w", "-"]
    raise ToolError(f"{tool.name} is not a capture tool this program runs")


def parse_counts(name: str, stderr: str) -> tuple[int | None, int | None, int | None]:
    """(packets captured, dropped by the kernel, received by the filter) from the tool's
    standard error, each None when it did not say."""

    def total(pattern: str) -> int | None:
        found = re.findall(pattern, stderr)
        return sum(int(n) for n in found) if found else None

    if name == "tcpdump":
        return (
            total(r"(\d+) packets? captured"),
            total(r"(\d+) packets? dropped by kernel"),
            total(r"(\d+) packets? received by filter"),
        )
    per_iface = re.findall(r"Packets received/dropped on interface '[^']*': (\d+)/(\d+)", stderr)
    received = sum(int(r) for r, _d in per_iface) if per_iface else None
    dropped = sum(int(d) for _r, d in per_iface) if per_iface else None
    return total(r"Packets captured: (\d+)"), dropped, received


def run_tool(
    argv: list[str],
    name: str,
    write: Callable[[bytes], None],
    *,
    deadline: float,
    cancel: threading.Event,
    max_bytes: int | None,
    tick: Callable[[int], None],
) -> ToolOutcome:
    """Run ``argv``, write its standard output through ``write`` as it comes, stop it at
    ``deadline`` (monotonic), on ``cancel`` or once ``max_bytes`` were written."""
    err_r, err_w = os.pipe()
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err_w, close_fds=True
        )
    except OSError as exc:
        os.close(err_r)
        raise ToolError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    finally:
        os.close(err_w)
    assert proc.stdout is not None
    out = proc.stdout.fileno()
    err_parts: list[bytes] = []
    sel = selectors.DefaultSelector()
    sel.register(out, selectors.EVENT_READ, "out")
    sel.register(err_r, selectors.EVENT_READ, "err")
    ended, written, stop_sent = "duration", 0, 0.0
    open_fds = 2
    next_tick = time.monotonic() + 0.5
    try:
        while open_fds:
            now = time.monotonic()
            if not stop_sent:
                reason = (
                    "cancelled"
                    if cancel.is_set()
                    else "max_bytes"
                    if max_bytes is not None and written >= max_bytes
                    else "duration"
                    if now >= deadline
                    else None
                )
                if reason is not None:
                    ended, stop_sent = reason, now
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGINT)
            elif now - stop_sent > STOP_GRACE_S:
                proc.kill()
            for key, _ev in sel.select(timeout=0.2):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fd)
                    open_fds -= 1
                elif key.data == "out":
                    write(data)
                    written += len(data)
                else:
                    err_parts.append(data)
            if now >= next_tick:
                tick(written)
                next_tick = now + 0.5
        code = proc.wait(timeout=STOP_GRACE_S)
    finally:
        sel.close()
        os.close(err_r)
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = b"".join(err_parts).decode("utf-8", "replace")
    packets, dropped, received = parse_counts(Path(argv[0]).name, stderr)
    # Stopped by SIGINT, the tools exit 0 (tcpdump) or 0/1 (dumpcap); no output and a
    # failure status before anything was asked of it is an error.
    if code not in (0, -signal.SIGINT, 1) or (code and not stop_sent):
        ended = "error"
    return ToolOutcome(ended, packets, dropped, received, stderr.strip()[-2000:], code)


def pktmon_capture(
    tool: Tool,
    spool_dir: Path,
    snaplen: int,
    write: Callable[[bytes], None],
    *,
    deadline: float,
    cancel: threading.Event,
) -> ToolOutcome:
    """Windows: ``pktmon start --capture`` into an ETL file on the evidence's storage until
    the deadline or cancel, ``pktmon stop``, ``pktmon etl2pcap`` into pcapng, which is
    written through ``write`` (hashed there); both files are then removed."""
    etl = Path(spool_dir) / f".pktmon-{os.getpid()}.etl"
    pcapng = etl.with_suffix(".pcapng")

    def pktmon(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tool.path, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    try:
        started = pktmon("start", "--capture", "--pkt-size", str(snaplen), "--file-name", str(etl))
        if started.returncode != 0:
            raise ToolError(f"pktmon start failed: {(started.stdout + started.stderr).strip()}")
        ended = "duration"
        while time.monotonic() < deadline:
            if cancel.wait(0.2):
                ended = "cancelled"
                break
        stopped = pktmon("stop")
        converted = pktmon("etl2pcap", str(etl), "--out", str(pcapng))
        if converted.returncode != 0:
            raise ToolError(
                f"pktmon etl2pcap failed: {(converted.stdout + converted.stderr).strip()}"
            )
        with pcapng.open("rb") as f:
            while chunk := f.read(1 << 20):
                write(chunk)
        text = stopped.stdout + converted.stdout
        packets = re.search(r"(\d+) packets?", converted.stdout)
        dropped = re.search(r"[Dd]ropped[^\d]*(\d+)", stopped.stdout)
        return ToolOutcome(
            ended,
            int(packets.group(1)) if packets else None,
            int(dropped.group(1)) if dropped else None,
            None,
            text.strip()[-2000:],
            converted.returncode,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"pktmon failed: {exc}") from exc
    finally:
        etl.unlink(missing_ok=True)
        pcapng.unlink(missing_ok=True)
