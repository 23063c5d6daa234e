"""Native packet capture on macOS (and the BSDs' layout): one ``/dev/bpfN`` per interface.

Each device is bound to its interface (``BIOCSETIF``), set to immediate mode, given its
filter (``BIOCSETF``) and read in buffers of ``bpf_hdr`` records (timestamp, captured and
original length, header length), each padded to 4 bytes. ``BIOCGDLT`` gives the link type,
``BIOCGSTATS`` the kernel's received and dropped counts. Opening a device needs root
(or the access_bpf group of Wireshark's ChmodBPF).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import select
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from collectors.bpf import Program
from collectors.pcapng import PcapngWriter

# ioctl numbers of <net/bpf.h> on macOS (64-bit).
BIOCGBLEN = 0x40044266
BIOCSBLEN = 0xC0044266
BIOCSETF = 0x80104267
BIOCGDLT = 0x4004426A
BIOCGSTATS = 0x4008426F
BIOCSETIF = 0x8020426C
BIOCIMMEDIATE = 0x80044270
BUFFER = 1 << 20


class BpfUnavailable(Exception):
    """No BPF device could be opened (no privilege, or all in use)."""


def _open_device() -> int:
    last: OSError | None = None
    for n in range(256):
        try:
            return os.open(f"/dev/bpf{n}", os.O_RDONLY)
        except FileNotFoundError:
            break
        except PermissionError as exc:
            raise BpfUnavailable("capture needs root (or access to /dev/bpf*)") from exc
        except OSError as exc:  # EBUSY: in use by another capture
            last = exc
    raise BpfUnavailable(f"no free BPF device ({last.strerror if last else 'none found'})")


@dataclass
class _Device:
    name: str
    fd: int
    linktype: int
    index: int = -1
    delivered: int = 0


def _ioctl_uint(fd: int, request: int, value: int = 0) -> int:
    buf = bytearray(struct.pack("I", value))
    fcntl.ioctl(fd, request, buf)
    return int(struct.unpack("I", buf)[0])


def _bind(name: str, program: Program | None) -> _Device:
    fd = _open_device()
    try:
        _ioctl_uint(fd, BIOCSBLEN, BUFFER)
        fcntl.ioctl(fd, BIOCSETIF, struct.pack("16s16x", name.encode()))
        _ioctl_uint(fd, BIOCIMMEDIATE, 1)
        if program is not None:
            code = program.sock_filter()
            buf = ctypes.create_string_buffer(code, len(code))
            fcntl.ioctl(
                fd, BIOCSETF, struct.pack("@IP", len(program.instructions), ctypes.addressof(buf))
            )
        return _Device(name, fd, _ioctl_uint(fd, BIOCGDLT))
    except OSError:
        os.close(fd)
        raise


class BpfCapture:
    """Capture the named interfaces into ``writer`` (see the module docstring)."""

    def __init__(
        self,
        names: list[str],
        programs: dict[str, Program | None],
        snaplen: int,
        writer: PcapngWriter,
        filter_text: str | None,
    ) -> None:
        self.devices: list[_Device] = []
        self.snaplen = snaplen
        self.writer = writer
        self.packets = 0
        self.bytes = 0
        try:
            for name in names:
                self.devices.append(_bind(name, programs.get(name)))
        except OSError:
            self.close()
            raise
        for d in self.devices:
            d.index = writer.interface(d.name, d.linktype, snaplen, filter_text=filter_text)

    def close(self) -> None:
        for d in self.devices:
            if d.fd >= 0:
                os.close(d.fd)
                d.fd = -1

    def _records(self, d: _Device, data: bytes) -> None:
        pos = 0
        while pos + 18 <= len(data):
            sec, usec, caplen, datalen, hdrlen = struct.unpack_from("IIIIH", data, pos)
            kept = min(caplen, self.snaplen)
            start = pos + hdrlen
            self.writer.packet(
                d.index, sec * 1_000_000_000 + usec * 1000, data[start : start + kept], datalen
            )
            d.delivered += 1
            self.packets += 1
            self.bytes += kept
            pos += (hdrlen + caplen + 3) & ~3

    def run(
        self,
        deadline: float,
        cancel: threading.Event,
        max_bytes: int | None,
        tick: Callable[[], None],
    ) -> tuple[str, list[tuple[str, int, int, int]]]:
        """Capture until the deadline, cancel or the size cap; (why it ended, per interface
        (name, received, dropped, delivered))."""
        ended = "duration"
        next_tick = time.monotonic() + 0.5
        fds = {d.fd: d for d in self.devices}
        while ended == "duration":
            now = time.monotonic()
            if cancel.is_set():
                ended = "cancelled"
                break
            if now >= deadline:
                break
            ready, _w, _x = select.select(list(fds), [], [], min(0.2, deadline - now))
            for fd in ready:
                try:
                    self._records(fds[fd], os.read(fd, BUFFER))
                except OSError as exc:
                    if exc.errno != errno.EAGAIN:
                        raise
                if max_bytes is not None and self.bytes >= max_bytes:
                    ended = "max_bytes"
            if now >= next_tick:
                self.writer.flush()
                tick()
                next_tick = now + 0.5
        stats = []
        for d in self.devices:
            buf = bytearray(8)
            fcntl.ioctl(d.fd, BIOCGSTATS, buf)
            received, dropped = struct.unpack("II", buf)
            stats.append((d.name, received, dropped, d.delivered))
        self.close()
        return ended, stats
