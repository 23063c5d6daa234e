"""Native packet capture on Linux: one AF_PACKET socket per interface, filtered in the kernel.

Each socket is made with protocol 0 (it receives nothing yet), gets its classic BPF
program (``SO_ATTACH_FILTER``) and kernel timestamps (``SO_TIMESTAMPNS``), and only then is
bound to its interface for every protocol: no packet reaches it unfiltered. Packets are
read with ``MSG_TRUNC`` (the original length even when longer than the snap length); on a
loopback interface the outgoing copy of each packet is left out, as libpcap does, so each
packet is written once. ``PACKET_STATISTICS`` gives the kernel's received and dropped
counts (read once, at the end: reading resets them).
"""

from __future__ import annotations

import ctypes
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from collectors.bpf import Program
from collectors.pcapng import LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapngWriter

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
ARPHRD_ETHER, ARPHRD_LOOPBACK, ARPHRD_RAWIP, ARPHRD_NONE = 1, 772, 519, 65534
_LINKTYPES = {
    ARPHRD_ETHER: LINKTYPE_ETHERNET,
    ARPHRD_LOOPBACK: LINKTYPE_ETHERNET,  # Linux gives lo an all-zero Ethernet header
    ARPHRD_RAWIP: LINKTYPE_RAW,
    ARPHRD_NONE: LINKTYPE_RAW,  # tun devices: bare IP packets
}
_SYSFS = Path("/sys/class/net")


class NeedsPrivilege(Exception):
    """The process may not open packet sockets (no root, no CAP_NET_RAW)."""


@dataclass(frozen=True)
class Interface:
    name: str
    linktype: int
    loopback: bool


def _sysfs_int(name: str, attr: str, base: int = 10) -> int | None:
    try:
        return int((_SYSFS / name / attr).read_text().strip(), base)
    except (OSError, ValueError):
        return None


def default_interfaces() -> list[str]:
    """Interfaces that are up and not loopback, sorted by name."""
    chosen = []
    for _index, name in socket.if_nameindex():
        flags = _sysfs_int(name, "flags", 16) or 0
        if flags & IFF_UP and not flags & IFF_LOOPBACK:
            chosen.append(name)
    return sorted(chosen)


def describe(name: str) -> Interface | str:
    """The interface ``name`` with its pcap link type, or why it cannot be captured."""
    if name not in {n for _i, n in socket.if_nameindex()}:
        return f"interface {name!r} does not exist on this host"
    arphrd = _sysfs_int(name, "type")
    linktype = _LINKTYPES.get(arphrd) if arphrd is not None else None
    if linktype is None:
        return f"interface {name!r} has link type {arphrd} (ARPHRD), which is not captured"
    return Interface(name, linktype, arphrd == ARPHRD_LOOPBACK)


def check_privilege() -> None:
    """Raise :class:`NeedsPrivilege` when packet sockets are refused to this process."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError as exc:
        raise NeedsPrivilege("capture needs CAP_NET_RAW") from exc


def _attach(sock: socket.socket, program: Program) -> None:
    code = program.sock_filter()
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(program.instructions), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # the kernel copies it


@dataclass
class Counts:
    """Running totals, read by the status reporter."""

    packets: int = 0
    bytes: int = 0


@dataclass
class _Open:
    iface: Interface
    sock: socket.socket
    index: int  # pcapng interface id
    delivered: int = 0


@dataclass(frozen=True)
class Outcome:
    """How the capture ended: per interface (name, kernel received, dropped, delivered)."""

    ended: str
    stats: tuple[tuple[str, int, int, int], ...]
    error: str | None = None


class NativeCapture:
    """Capture ``interfaces`` into ``writer`` until the deadline, ``cancel`` or ``max_bytes``."""

    def __init__(
        self,
        interfaces: list[Interface],
        programs: dict[str, Program | None],
        snaplen: int,
        writer: PcapngWriter,
        filter_text: str | None,
    ) -> None:
        self._socks: list[_Open] = []
        self.snaplen = snaplen
        self._buf = bytearray(snaplen)
        self._view = memoryview(self._buf)
        self.writer = writer
        self.counts = Counts()
        try:
            for iface in interfaces:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
                self._socks.append(_Open(iface, sock, -1))
                program = programs.get(iface.name)
                if program is not None:
                    _attach(sock, program)
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                sock.bind((iface.name, ETH_P_ALL))
                sock.setblocking(False)
        except PermissionError as exc:
            self.close()
            raise NeedsPrivilege("capture needs CAP_NET_RAW") from exc
        except OSError:
            self.close()
            raise
        for s in self._socks:
            s.index = writer.interface(
                s.iface.name, s.iface.linktype, snaplen, filter_text=filter_text
            )

    def close(self) -> None:
        for s in self._socks:
            s.sock.close()

    def run(
        self,
        deadline: float,
        cancel: threading.Event,
        max_bytes: int | None,
        tick: Callable[[], None],
    ) -> Outcome:
        """Capture until ``deadline`` (monotonic), ``cancel`` or ``max_bytes``; ``tick`` about
        every half second. What is queued when it stops is read before the sockets close."""
        try:
            ended, error = self._loop(deadline, cancel, max_bytes, tick)
            stats = tuple((s.iface.name, *_statistics(s.sock), s.delivered) for s in self._socks)
        finally:
            self.close()  # also when writing the spool failed (a StoreError goes up)
        return Outcome(ended, stats, error)

    def _loop(
        self,
        deadline: float,
        cancel: threading.Event,
        max_bytes: int | None,
        tick: Callable[[], None],
    ) -> tuple[str, str | None]:
        """Read packets until the end; (why it ended, the read error if that was why)."""
        sel = selectors.DefaultSelector()
        for s in self._socks:
            sel.register(s.sock, selectors.EVENT_READ, s)
        ended = "duration"
        next_tick = time.monotonic() + 0.5
        try:
            while ended == "duration":
                now = time.monotonic()
                if cancel.is_set():
                    ended = "cancelled"
                    break
                if now >= deadline:
                    break
                for key, _ev in sel.select(timeout=min(0.2, deadline - now)):
                    if not self._drain(key.data, max_bytes):
                        ended = "max_bytes"
                        break
                if now >= next_tick:
                    self.writer.flush()
                    tick()
                    next_tick = now + 0.5
            for s in self._socks:  # what the kernel queued before the end
                if ended == "max_bytes" or not self._drain(s, max_bytes):
                    return "max_bytes", None
        except OSError as exc:
            return "error", f"reading packets failed: {exc.strerror or exc}"
        finally:
            sel.close()
        return ended, None

    def _drain(self, s: _Open, max_bytes: int | None) -> bool:
        """Write the packets queued on one socket; False once ``max_bytes`` is reached."""
        buf = self._buf
        anc = socket.CMSG_SPACE(16)
        while True:
            try:
                # MSG_TRUNC: ``length`` is the packet's real size, even beyond the buffer.
                length, ancdata, _flags, addr = s.sock.recvmsg_into([buf], anc, socket.MSG_TRUNC)
            except (BlockingIOError, InterruptedError):
                return True
            if s.iface.loopback and addr[2] == PACKET_OUTGOING:
                continue  # the same packet comes back as incoming
            stamp = 0
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    stamp = sec * 1_000_000_000 + nsec
            kept = min(length, self.snaplen)
            self.writer.packet(s.index, stamp or time.time_ns(), self._view[:kept], length)
            s.delivered += 1
            self.counts.packets += 1
            self.counts.bytes += kept
            if max_bytes is not None and self.counts.bytes >= max_bytes:
                return False


def _statistics(sock: socket.socket) -> tuple[int, int]:
    """The kernel's (received, dropped) counts for a packet socket since the last read."""
    received, dropped = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    return received, dropped
