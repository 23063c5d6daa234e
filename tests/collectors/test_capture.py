"""The capture collector: real packets on ``lo``, read back by an independent reader and tcpdump."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from collectors.base import CollectContext, Host, Problem, SpooledRecord
from collectors.bpf import FilterError, compile_filter, parse_ddd
from collectors.capture import Capture, Settings
from collectors.capture_tools import parse_counts
from collectors.pcapng import LINKTYPE_ETHERNET, PcapngWriter
from custody.record.digests import Digests
from custody.record.events import CaptureFacts
from tests.collectors.pcapng_reader import read_pcapng

LINUX = platform.system() == "Linux"
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_capture = pytest.mark.skipif(
    not (LINUX and ROOT), reason="native capture tests run as root on Linux (as CI does)"
)
TCPDUMP = shutil.which("tcpdump")


class Traffic:
    """A UDP server on 127.0.0.1 and a sender of numbered, known payloads to it."""

    def __init__(self, count: int = 5, delay: float = 0.4, gap: float = 0.02) -> None:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.server.bind(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.payloads = [f"CHAINPROOF-{os.getpid()}-{self.port}-{i}".encode() for i in range(count)]
        self.received: list[bytes] = []
        self._delay, self._gap = delay, gap
        self._threads = [
            threading.Thread(target=self._serve, daemon=True),
            threading.Thread(target=self._send, daemon=True),
        ]

    def _serve(self) -> None:
        self.server.settimeout(5)
        while len(self.received) < len(self.payloads):
            try:
                self.received.append(self.server.recv(2048))
            except OSError:
                return

    def _send(self) -> None:
        time.sleep(self._delay)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for p in self.payloads:
                s.sendto(p, ("127.0.0.1", self.port))
                time.sleep(self._gap)

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for t in self._threads:
            t.join(10)
        self.server.close()


def run_capture(tmp_path: Path, cancel: threading.Event | None = None, **options: object):
    statuses: list[str] = []
    ctx = CollectContext(
        host=Host.this(),
        options=options,
        output_dir=tmp_path,
        spool_dir=tmp_path / "spool",
        status=statuses.append,
        tool={"version": "test"},
        cancel=cancel or threading.Event(),
    )
    observations = list(Capture().collect(ctx))
    return observations, statuses


def the_record(observations: list[object]) -> tuple[SpooledRecord, CaptureFacts, bytes]:
    records = [o for o in observations if isinstance(o, SpooledRecord)]
    assert len(records) == 1, observations
    rec = records[0]
    assert isinstance(rec.facts, CaptureFacts)
    data = Path(rec.path).read_bytes()
    assert len(data) == rec.size
    assert Digests.of(data) == Digests(rec.sha256, rec.sha1, rec.md5)  # hashed as written
    return rec, rec.facts, data


def payload_hits(data: bytes, payloads: list[bytes]) -> list[bytes]:
    packets = read_pcapng(data).packets
    return [p for p in payloads if any(p in pkt.data for pkt in packets)]


# --------------------------------------------------------------------------- the writer


def test_writer_output_reads_back_with_an_independent_reader(tmp_path: Path) -> None:
    out = bytearray()
    w = PcapngWriter(out.extend, application="chainproof test", os_name="Linux", comment="hi")
    a = w.interface("eth0", LINKTYPE_ETHERNET, 96, filter_text="udp")
    b = w.interface("lo", LINKTYPE_ETHERNET, 262144)
    frame = bytes(12) + b"\x08\x00" + b"x" * 101  # odd length: padded to 32 bits
    w.packet(a, 1_700_000_000_123_456_789, frame[:96], len(frame))
    w.packet(b, 1_700_000_001_000_000_000, frame, len(frame))
    w.statistics(a, start_ns=1, end_ns=2_000, received=3, dropped=1, delivered=1)
    w.flush()
    cap = read_pcapng(bytes(out))
    assert [i.name for i in cap.interfaces] == ["eth0", "lo"]
    assert cap.interfaces[0].options[11] == [b"\0udp"]
    assert cap.interfaces[0].options[9] == [b"\x06"]  # microseconds
    assert cap.options[4] == [b"chainproof test"]
    p0, p1 = cap.packets
    assert (p0.interface, p0.time_us, p0.data, p0.length) == (
        0,
        1_700_000_000_123_456,
        frame[:96],
        115,
    )
    assert (p1.interface, p1.data, p1.length) == (1, frame, 115)
    assert cap.counter(0, 4) == 3 and cap.counter(0, 5) == 1 and cap.counter(0, 8) == 1


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is installed by scripts/setup.sh --dev")
def test_tcpdump_reads_the_writer_output(tmp_path: Path) -> None:
    out = bytearray()
    w = PcapngWriter(out.extend, application="chainproof test")
    i = w.interface("lo", LINKTYPE_ETHERNET, 262144)
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        28 + 5,
        1,
        0,
        64,
        17,
        0,
        bytes([127, 0, 0, 1]),
        bytes([127, 0, 0, 1]),
    )
    udp = struct.pack("!HHHH", 1234, 5678, 8 + 5, 0) + b"hello"
    frame = bytes(12) + b"\x08\x00" + ip + udp
    w.packet(i, 1_700_000_000_000_000_000, frame, len(frame))
    w.statistics(i, start_ns=1, end_ns=2, received=1, dropped=0, delivered=1)
    w.flush()
    path = tmp_path / "x.pcapng"
    path.write_bytes(bytes(out))
    done = subprocess.run(
        [TCPDUMP, "-n", "-r", str(path)], capture_output=True, text=True, check=True
    )
    assert "127.0.0.1.1234 > 127.0.0.1.5678: UDP, length 5" in done.stdout


# --------------------------------------------------------------------------- options


def test_settings_refuse_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="seconds > 0"):
        Settings.of({})
    with pytest.raises(ValueError, match="snaplen"):
        Settings.of({"seconds": 1, "snaplen": 0})
    with pytest.raises(ValueError, match="tool must be"):
        Settings.of({"seconds": 1, "tool": "wireshark"})
    s = Settings.of({"seconds": 2, "interfaces": ["lo"], "max_bytes": "1MiB"})
    assert (s.seconds, s.interfaces, s.max_bytes, s.tool) == (2.0, ("lo",), 1 << 20, "native")


def test_no_duration_is_a_recorded_error(tmp_path: Path) -> None:
    observations, _ = run_capture(tmp_path)
    assert observations == [Problem("error", "capture needs a duration: seconds > 0 (got None)")]


# --------------------------------------------------------------------------- the filter


@pytest.mark.skipif(not LINUX, reason="libpcap as installed on Linux")
def test_filter_compiles_with_libpcap() -> None:
    program = compile_filter(
        "udp port 53", linktype=LINKTYPE_ETHERNET, snaplen=262144, interface="lo"
    )
    assert program.instructions[-1][0] == 0x06  # BPF_RET
    assert "pcap_compile" in program.compiler and "sha256 " in program.compiler
    with pytest.raises(FilterError, match="does not compile"):
        compile_filter("udp port", linktype=LINKTYPE_ETHERNET, snaplen=262144, interface="lo")


@pytest.mark.skipif(TCPDUMP is None or not ROOT, reason="tcpdump -ddd opens the interface (root)")
def test_filter_compiles_with_tcpdump_the_same_as_libpcap() -> None:
    by_tcpdump = compile_filter(
        "udp port 53", linktype=LINKTYPE_ETHERNET, snaplen=262144, interface="lo", use_libpcap=False
    )
    by_libpcap = compile_filter(
        "udp port 53", linktype=LINKTYPE_ETHERNET, snaplen=262144, interface="lo"
    )
    assert by_tcpdump.instructions == by_libpcap.instructions
    assert by_tcpdump.compiler.startswith("tcpdump -ddd")


def test_no_compiler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no tcpdump on it
    with pytest.raises(FilterError, match=r"neither libpcap .* nor tcpdump is installed"):
        compile_filter(
            "udp", linktype=LINKTYPE_ETHERNET, snaplen=65535, interface="lo", use_libpcap=False
        )


def test_tcpdump_ddd_output_parses() -> None:
    assert parse_ddd("2\n40 0 0 12\n6 0 0 262144\n") == ((40, 0, 0, 12), (6, 0, 0, 262144))
    with pytest.raises(FilterError):
        parse_ddd("3\n40 0 0 12\n")


def test_tool_counts_are_read_from_their_standard_error() -> None:
    tcpdump = (
        "tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n"
        "12 packets captured\n14 packets received by filter\n2 packets dropped by kernel\n"
    )
    assert parse_counts("tcpdump", tcpdump) == (12, 2, 14)
    dumpcap = (
        "Capturing on 'Loopback: lo' and 'eth0'\n"
        "Packets received/dropped on interface 'Loopback: lo': 10/1 (pcap:0/dumpcap:0/flushed:0/"
        "ps_ifdrop:0) (90.9%)\nPackets received/dropped on interface 'eth0': 5/0 (...)\n"
        "Packets captured: 15\n"
    )
    assert parse_counts("dumpcap", dumpcap) == (15, 1, 15)


# --------------------------------------------------------------------------- native capture


@needs_capture
def test_native_capture_on_lo_has_the_payloads_and_counts(tmp_path: Path) -> None:
    with Traffic() as traffic:
        observations, statuses = run_capture(tmp_path, seconds=1.5, interfaces=["lo"])
    rec, facts, data = the_record(observations)
    assert rec.member == "capture/packets.pcapng" and rec.kind == "capture"
    assert payload_hits(data, traffic.payloads) == traffic.payloads
    cap = read_pcapng(data)
    assert facts.packets == len(cap.packets) >= len(traffic.payloads)
    assert facts.bytes == sum(len(p.data) for p in cap.packets)
    assert (facts.interfaces, facts.method, facts.ended, facts.filter) == (
        ("lo",),
        "native",
        "duration",
        None,
    )
    assert facts.dropped == 0 == cap.counter(0, 5)
    assert cap.counter(0, 8) == facts.packets
    assert 1.4 < float(facts.finished_monotonic) - float(facts.started_monotonic) < 3.0
    assert facts.started < facts.finished
    assert any("packets" in s and "on lo" in s for s in statuses)  # live counts
    if TCPDUMP:
        out = subprocess.run(
            [TCPDUMP, "-n", "-r", rec.path], capture_output=True, text=True, check=True
        )
        assert out.stdout.count(f"127.0.0.1.{traffic.port}: UDP") == len(traffic.payloads)


@needs_capture
def test_a_filter_that_excludes_the_payloads_captures_none_of_them(tmp_path: Path) -> None:
    with Traffic() as traffic:
        observations, _ = run_capture(
            tmp_path, seconds=1.2, interfaces=["lo"], filter=f"not udp port {traffic.port}"
        )
    _rec, facts, data = the_record(observations)
    assert payload_hits(data, traffic.payloads) == []
    assert facts.filter == f"not udp port {traffic.port}" and "pcap_compile" in (
        facts.compiler or ""
    )
    assert read_pcapng(data).interfaces[0].options[11] == [b"\0" + facts.filter.encode()]


@needs_capture
def test_a_filter_that_selects_the_payloads_captures_only_them(tmp_path: Path) -> None:
    with Traffic() as traffic:
        observations, _ = run_capture(
            tmp_path, seconds=1.2, interfaces=["lo"], filter=f"udp dst port {traffic.port}"
        )
    _rec, facts, data = the_record(observations)
    assert payload_hits(data, traffic.payloads) == traffic.payloads
    assert facts.packets == len(traffic.payloads)


@needs_capture
def test_snaplen_cuts_packets_and_keeps_their_length(tmp_path: Path) -> None:
    with Traffic() as traffic:
        observations, _ = run_capture(
            tmp_path, seconds=1.2, interfaces=["lo"], snaplen=40, filter=f"udp port {traffic.port}"
        )
    _rec, facts, data = the_record(observations)
    packets = read_pcapng(data).packets
    assert packets and all(len(p.data) == 40 < p.length for p in packets)
    assert facts.snaplen == 40 == read_pcapng(data).interfaces[0].snaplen


@needs_capture
def test_max_bytes_stops_the_capture(tmp_path: Path) -> None:
    with Traffic(count=20) as traffic:
        observations, _ = run_capture(
            tmp_path,
            seconds=10,
            interfaces=["lo"],
            max_bytes=200,
            filter=f"udp port {traffic.port}",
        )
    rec, facts, _data = the_record(observations)
    assert facts.ended == "max_bytes" and facts.bytes >= 200
    assert "size cap" in (rec.note or "")


@needs_capture
def test_cancel_stops_the_capture_with_what_it_has(tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    with Traffic(delay=0.2) as traffic:
        observations, _ = run_capture(tmp_path, cancel, seconds=60, interfaces=["lo"])
    assert time.monotonic() - started < 5
    rec, facts, data = the_record(observations)
    assert facts.ended == "cancelled" and "cancelled" in (rec.note or "")
    assert payload_hits(data, traffic.payloads) == traffic.payloads


@needs_capture
def test_an_unknown_interface_is_recorded(tmp_path: Path) -> None:
    observations, _ = run_capture(tmp_path, seconds=0.3, interfaces=["lo", "nosuch0"])
    assert Problem("error", "interface 'nosuch0' does not exist on this host") in observations
    _rec, facts, _data = the_record(observations)
    assert facts.interfaces == ("lo",)


@needs_capture
def test_a_bad_filter_is_an_error_not_a_capture_of_everything(tmp_path: Path) -> None:
    observations, _ = run_capture(tmp_path, seconds=0.3, interfaces=["lo"], filter="udp port")
    assert len(observations) == 1 and isinstance(observations[0], Problem)
    assert observations[0].kind == "error" and "does not compile" in observations[0].reason
    spool = tmp_path / "spool"
    assert not spool.exists() or not list(spool.iterdir())  # no spool left behind


@needs_capture
@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is installed by scripts/setup.sh --dev")
def test_tcpdump_tool_path_records_path_version_and_hash(tmp_path: Path) -> None:
    with Traffic(delay=1.0) as traffic:
        observations, _ = run_capture(
            tmp_path,
            seconds=2.5,
            interfaces=["lo"],
            tool="tcpdump",
            filter=f"udp port {traffic.port}",
        )
    rec, facts, _data = the_record(observations)
    assert rec.member == "capture/packets.pcap"
    assert facts.method == "tcpdump" and facts.tool_path == os.path.realpath(TCPDUMP)
    assert facts.tool_version and facts.tool_version.startswith("tcpdump version")
    from collectors._util import sha256_file

    assert facts.tool_sha256 == sha256_file(facts.tool_path, follow=True)
    out = subprocess.run(
        [TCPDUMP, "-n", "-r", rec.path], capture_output=True, text=True, check=True
    )
    assert (
        out.stdout.count(f"127.0.0.1.{traffic.port}: UDP") == len(traffic.payloads) == facts.packets
    )


@needs_capture
def test_tcpdump_takes_one_interface(tmp_path: Path) -> None:
    if TCPDUMP is None:
        observations, _ = run_capture(tmp_path, seconds=0.3, interfaces=["lo"], tool="tcpdump")
        assert observations[-1] == Problem(
            "skipped", "tcpdump is not installed (not found on PATH)"
        )
        return
    up = [n for _i, n in socket.if_nameindex() if n != "lo"][:1]
    if not up:
        pytest.skip("a second interface is needed")
    observations, _ = run_capture(tmp_path, seconds=0.3, interfaces=["lo", *up], tool="tcpdump")
    assert observations[-1].kind == "error" and "one interface at a time" in observations[-1].reason


@pytest.mark.skipif(not (LINUX and ROOT), reason="dropping a capability needs root on Linux")
def test_without_cap_net_raw_the_capture_is_a_recorded_skip(tmp_path: Path) -> None:
    script = (
        "import threading, pathlib\n"
        "from collectors.base import CollectContext, Host\n"
        "from collectors.capture import Capture\n"
        f"ctx = CollectContext(host=Host.this(), options={{'seconds': 1, 'interfaces': ['lo']}}, "
        f"output_dir=pathlib.Path({str(tmp_path)!r}), spool_dir=pathlib.Path({str(tmp_path)!r}))\n"
        "for o in Capture().collect(ctx): print(o.kind, '|', o.reason)\n"
    )
    done = subprocess.run(
        drop_cap_net_raw([sys.executable, "-c", script]),
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "skipped | capture needs CAP_NET_RAW"


def drop_cap_net_raw(argv: list[str]) -> list[str]:
    """``argv`` run without CAP_NET_RAW (bounding, inheritable and ambient sets)."""
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", "--", *argv]
    capsh = shutil.which("capsh")
    assert capsh, "setpriv (util-linux) or capsh (libcap2-bin) is needed"
    return [capsh, "--drop=cap_net_raw", "--", "-c", " ".join(map(repr, argv))]


# --------------------------------------------------------------------------- other systems


@pytest.mark.skipif(platform.system() != "Darwin", reason="BPF devices: macOS")
def test_bpf_device_capture_on_macos(tmp_path: Path) -> None:
    with Traffic() as traffic:
        observations, _ = run_capture(tmp_path, seconds=1.5, interfaces=["lo0"])
    _rec, facts, data = the_record(observations)
    assert payload_hits(data, traffic.payloads) == traffic.payloads
    assert facts.method == "native" and facts.dropped is not None


@pytest.mark.skipif(platform.system() != "Windows", reason="pktmon: Windows")
def test_pktmon_capture_on_windows(tmp_path: Path) -> None:
    observations, _ = run_capture(tmp_path, seconds=2)
    _rec, facts, data = the_record(observations)
    assert facts.method == "pktmon" and facts.tool_sha256
    read_pcapng(data)
