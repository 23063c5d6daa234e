"""The capture collector: a time-boxed packet capture (pcapng) beside the other collectors.

Options (profile ``collectors: capture: {...}`` or ``chainproof collect --capture-*``):
``seconds`` (required), ``interfaces`` (default: every interface that is up and not
loopback; ``lo`` when named), ``filter`` (tcpdump syntax, compiled into the kernel),
``snaplen`` (bytes kept of each packet), ``max_bytes`` (the capture stops there) and
``tool``: ``native`` (the default: AF_PACKET on Linux, BPF devices on macOS, pktmon on
Windows), ``tcpdump`` or ``dumpcap``.

The run starts it on a thread of its own (``concurrent``) and goes on with the next
collectors. The capture is written into a :class:`~custody.store.spool.HashedSpool` on the
evidence's storage, hashed as it is written, and handed to the run as one
:class:`SpooledRecord` with its :class:`~custody.record.events.CaptureFacts`. Cancel
(Ctrl-C) stops it with what it has. Without the privilege to capture, a skip "capture needs
CAP_NET_RAW" is recorded; a filter that cannot be compiled is an error, never a capture of
everything instead.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from collectors._util import Opt, error, parse_size
from collectors.base import (
    CollectContext,
    Collector,
    Host,
    NotCompatible,
    Observation,
    Problem,
    SpooledRecord,
    Volatility,
    register_collector,
)
from collectors.bpf import FilterError, Program, compile_filter
from collectors.capture_linux import Interface, NeedsPrivilege
from collectors.capture_tools import (
    Tool,
    ToolError,
    ToolOutcome,
    find_tool,
    pktmon_capture,
    run_tool,
    tool_argv,
)
from collectors.pcapng import LINKTYPE_ETHERNET, PcapngWriter
from custody.record.events import CaptureFacts
from custody.record.times import ns_text, utc_now_text
from custody.store.spool import HashedSpool, SpoolSealed

MAX_SNAPLEN = 262144  # tcpdump's default and largest: whole packets
DEFAULT_SNAPLEN = MAX_SNAPLEN
DEFAULT_MAX_BYTES = 1 << 30
TOOLS = ("native", "tcpdump", "dumpcap")
NO_PRIVILEGE = "capture needs CAP_NET_RAW"


@dataclass(frozen=True)
class Settings:
    """The capture's options, checked."""

    seconds: float
    interfaces: tuple[str, ...]
    filter: str | None
    snaplen: int
    max_bytes: int
    tool: str

    @classmethod
    def of(cls, options: dict[str, Any]) -> Settings:
        """Settings from the collector's options; ValueError says what is wrong."""
        seconds = options.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ValueError(f"capture needs a duration: seconds > 0 (got {seconds!r})")
        snaplen = options.get("snaplen", DEFAULT_SNAPLEN)
        if (
            isinstance(snaplen, bool)
            or not isinstance(snaplen, int)
            or not 1 <= snaplen <= MAX_SNAPLEN
        ):
            raise ValueError(f"snaplen must be 1 to 262144 bytes (got {snaplen!r})")
        tool = options.get("tool", "native")
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {', '.join(TOOLS)} (got {tool!r})")
        filter_text = options.get("filter") or None
        return cls(
            seconds=float(seconds),
            interfaces=tuple(options.get("interfaces") or ()),
            filter=filter_text,
            snaplen=snaplen,
            max_bytes=parse_size(options.get("max_bytes", DEFAULT_MAX_BYTES)),
            tool=tool,
        )


class _Stop(Exception):
    """The capture cannot start: recorded as ``kind`` with ``reason``."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass
class _Clock:
    """Start and end of a capture, UTC and monotonic."""

    started: str = ""
    started_mono: int = 0
    finished: str = ""
    finished_mono: int = 0

    def start(self) -> None:
        self.started, self.started_mono = utc_now_text(), time.monotonic_ns()

    def stop(self) -> None:
        self.finished, self.finished_mono = utc_now_text(), time.monotonic_ns()


def _human(n: int) -> str:
    """``512 B``, ``1.5 KiB``, ``45.6 MiB``: for the live status line."""
    if n < 1024:
        return f"{n} B"
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def _status(ctx: CollectContext, where: str, deadline: float) -> Callable[[int | None, int], None]:
    """Report the live counts (packets None: the tool does not tell them while it runs)."""

    def report(packets: int | None, size: int) -> None:
        left = max(0.0, deadline - time.monotonic())
        counts = f"{packets:,} packets, {_human(size)}" if packets is not None else _human(size)
        ctx.status(f"{counts} on {where}; {left:.0f} s left")

    return report


@register_collector
class Capture(Collector):
    """Packet capture for a set time (pcapng), beside the other collectors."""

    name = "capture"
    volatility = Volatility.CAPTURE
    description = "Packet capture (pcapng) for a set time, beside the other collectors"
    concurrent: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {
        "seconds": (int, float),
        "interfaces": Opt.STR_LIST,
        "filter": str,
        "snaplen": int,
        "max_bytes": Opt.SIZE,
        "tool": str,
    }

    def check_compatible(self, host: Host) -> None:
        if host.system not in ("Linux", "Darwin", "Windows"):
            raise NotCompatible(f"no packet capture on {host.system}")

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        try:
            settings = Settings.of(dict(ctx.options))
        except ValueError as exc:
            yield error(str(exc))
            return
        if ctx.spool_dir is None:
            yield error("capture needs the run's spool directory on the evidence's storage")
            return
        problems: list[Problem] = []
        try:
            prepared = _prepare(settings, problems)
        except _Stop as stop:
            yield from problems
            yield Problem(stop.kind, stop.reason)
            return
        yield from problems
        spool = HashedSpool(ctx.spool_dir, suffix=".pcapng")
        try:
            result = _capture(ctx, settings, prepared, spool)
        except _Stop as stop:
            spool.discard()
            yield Problem(stop.kind, stop.reason)
            return
        except BaseException:
            spool.discard()
            raise
        sealed, facts, note, member = result
        if facts.ended == "error":
            yield error(f"capture failed: {note}")
        yield SpooledRecord(
            member=member,
            path=str(sealed.path),
            size=sealed.size,
            sha256=sealed.digests.sha256,
            sha1=sealed.digests.sha1,
            md5=sealed.digests.md5,
            description=_description(facts),
            kind="capture",
            facts=facts,
            note=note,
        )


def _description(f: CaptureFacts) -> str:
    what = f"{f.packets:,} packets on {', '.join(f.interfaces)}"
    if f.filter:
        what += f" matching {f.filter!r}"
    return f"packet capture: {what}"


@dataclass(frozen=True)
class _Prepared:
    """What a capture starts with: interfaces (name, link type), filter programs, tool."""

    interfaces: list[Interface]
    programs: dict[str, Program | None]
    compiler: str | None
    tool: Tool | None  # None: the native capture


def _prepare(s: Settings, problems: list[Problem]) -> _Prepared:
    system = platform.system()
    if system == "Linux":
        from collectors import capture_linux

        try:
            capture_linux.check_privilege()
        except NeedsPrivilege as exc:
            raise _Stop("skipped", NO_PRIVILEGE) from exc
    elif system == "Windows" and not _windows_admin():
        raise _Stop("skipped", "capture needs Administrator (pktmon)")
    tool = None
    if s.tool != "native" or system == "Windows":
        try:
            tool = find_tool("pktmon" if s.tool == "native" else s.tool)
        except ToolError as exc:
            raise _Stop("skipped" if "not installed" in str(exc) else "error", str(exc)) from exc
    if system == "Windows":
        if s.filter or s.interfaces:
            raise _Stop(
                "error",
                "pktmon captures every network adapter and takes no BPF filter: "
                "run without --capture-filter and --capture-interface on Windows",
            )
        return _Prepared([Interface("all adapters", LINKTYPE_ETHERNET, False)], {}, None, tool)
    interfaces: list[Interface] = []
    if system == "Linux":
        from collectors import capture_linux

        names = list(s.interfaces) or capture_linux.default_interfaces()
        for name in names:
            found = capture_linux.describe(name)
            if isinstance(found, str):
                problems.append(error(found))
            else:
                interfaces.append(found)
    else:  # macOS: the link type is known once a device is bound; compile for Ethernet
        names = list(s.interfaces) or ["en0"]
        interfaces = [Interface(n, LINKTYPE_ETHERNET, n.startswith("lo")) for n in names]
    if not interfaces:
        raise _Stop(
            "error",
            "no interface to capture: none is up other than loopback"
            if not s.interfaces
            else "none of the named interfaces can be captured",
        )
    programs: dict[str, Program | None] = {}
    compiler = None
    if s.filter and tool is None:
        for iface in interfaces:
            try:
                # A filter's accept returns the bytes to keep: it must keep whole packets,
                # or the kernel cuts them before their original length can be read.
                program = compile_filter(
                    s.filter, linktype=iface.linktype, snaplen=MAX_SNAPLEN, interface=iface.name
                )
            except FilterError as exc:
                raise _Stop("error", str(exc)) from exc
            programs[iface.name] = program
            compiler = program.compiler
    return _Prepared(interfaces, programs, compiler, tool)


def _windows_admin() -> bool:
    """Whether this Windows process runs elevated (pktmon refuses otherwise)."""
    import ctypes

    windll = getattr(ctypes, "windll", None)
    return bool(windll is not None and windll.shell32.IsUserAnAdmin())


def _writer(ctx: CollectContext, spool: HashedSpool, s: Settings) -> PcapngWriter:
    version = str(ctx.tool.get("version", ""))
    return PcapngWriter(
        spool.write,
        application=f"chainproof {version}".strip(),
        os_name=f"{platform.system()} {platform.release()}",
        hardware=platform.machine(),
        comment=f"time-boxed capture of {s.seconds:g} s"
        + (f", filter {s.filter!r}" if s.filter else ""),
    )


def _capture(
    ctx: CollectContext, s: Settings, p: _Prepared, spool: HashedSpool
) -> tuple[SpoolSealed, CaptureFacts, str | None, str]:
    """Run the capture; (sealed spool, facts, note, member name)."""
    clock = _Clock()
    names = [i.name for i in p.interfaces]
    note: str | None = None
    tool = p.tool
    if tool is None:
        writer = _writer(ctx, spool, s)
        clock.start()
        deadline = time.monotonic() + s.seconds
        report = _status(ctx, ", ".join(names), deadline)
        packets, size, dropped, stopped, failure = _native(ctx, s, p, writer, deadline, report)
        clock.stop()
        writer.flush()
        member = "capture/packets.pcapng"
        method = "native"
    else:
        counter = [0]

        def write(data: bytes) -> None:
            spool.write(data)
            counter[0] += len(data)

        clock.start()
        deadline = time.monotonic() + s.seconds
        report = _status(ctx, ", ".join(names), deadline)
        try:
            if tool.name == "pktmon":
                outcome: ToolOutcome = pktmon_capture(
                    tool,
                    ctx.spool_dir or spool.path.parent,
                    s.snaplen,
                    write,
                    deadline=deadline,
                    cancel=ctx.cancel,
                )
            else:
                outcome = run_tool(
                    tool_argv(tool, names, s.snaplen, s.filter),
                    tool.name,
                    write,
                    deadline=deadline,
                    cancel=ctx.cancel,
                    max_bytes=s.max_bytes,
                    tick=lambda n: report(None, n),
                )
        except ToolError as exc:
            raise _Stop("error", str(exc)) from exc
        clock.stop()
        packets, dropped, stopped = outcome.packets or 0, outcome.dropped, outcome.ended
        size = counter[0]
        failure = outcome.stderr if stopped == "error" else None
        if outcome.packets is None:
            note = f"{tool.name} did not report its packet count"
        member = "capture/packets.pcap" if tool.name == "tcpdump" else "capture/packets.pcapng"
        method = tool.name
        if spool.size == 0 and stopped == "error":
            raise _Stop("error", f"{tool.name} captured nothing: {outcome.stderr or 'no output'}")
    sealed = spool.seal()
    if failure:
        note = failure if note is None else f"{note}; {failure}"
    if stopped == "max_bytes":
        note = "; ".join(filter(None, [note, f"stopped at the size cap of {s.max_bytes} bytes"]))
    if stopped == "cancelled":
        note = "; ".join(filter(None, [note, "stopped early: the run was cancelled"]))
    facts = CaptureFacts(
        interfaces=tuple(names),
        started=clock.started,
        finished=clock.finished,
        started_monotonic=ns_text(clock.started_mono),
        finished_monotonic=ns_text(clock.finished_mono),
        packets=packets,
        bytes=size,
        method=method,
        snaplen=s.snaplen,
        ended=stopped,
        filter=s.filter,
        dropped=dropped,
        tool_path=tool.path if tool else None,
        tool_version=tool.version if tool else None,
        tool_sha256=tool.sha256 if tool else None,
        compiler=p.compiler,
    )
    return sealed, facts, note, member


def _native(
    ctx: CollectContext,
    s: Settings,
    p: _Prepared,
    writer: PcapngWriter,
    deadline: float,
    report: Callable[[int | None, int], None],
) -> tuple[int, int, int | None, str, str | None]:
    """The program's own capture; (packets, bytes, dropped, why it ended, failure)."""
    start_ns = time.time_ns()
    if platform.system() == "Linux":
        from collectors import capture_linux

        try:
            cap = capture_linux.NativeCapture(p.interfaces, p.programs, s.snaplen, writer, s.filter)
        except capture_linux.NeedsPrivilege as exc:
            raise _Stop("skipped", NO_PRIVILEGE) from exc
        except OSError as exc:
            raise _Stop("error", f"cannot open packet sockets: {exc.strerror or exc}") from exc
        outcome = cap.run(
            deadline, ctx.cancel, s.max_bytes, lambda: report(cap.counts.packets, cap.counts.bytes)
        )
        stats, ended, failure = list(outcome.stats), outcome.ended, outcome.error
        packets, size = cap.counts.packets, cap.counts.bytes
    else:
        from collectors import capture_bsd

        names = [i.name for i in p.interfaces]
        try:
            bpf = capture_bsd.BpfCapture(names, p.programs, s.snaplen, writer, s.filter)
        except capture_bsd.BpfUnavailable as exc:
            raise _Stop("skipped", str(exc)) from exc
        ended, stats = bpf.run(
            deadline, ctx.cancel, s.max_bytes, lambda: report(bpf.packets, bpf.bytes)
        )
        failure, packets, size = None, bpf.packets, bpf.bytes
    end_ns = time.time_ns()
    for index, (_name, received, dropped, delivered) in enumerate(stats):
        writer.statistics(
            index,
            start_ns=start_ns,
            end_ns=end_ns,
            received=received,
            dropped=dropped,
            delivered=delivered,
        )
    report(packets, size)
    return packets, size, sum(d for _n, _r, d, _x in stats), ended, failure
