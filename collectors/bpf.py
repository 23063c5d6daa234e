"""Compiling a capture filter expression (tcpdump syntax) into a classic BPF program.

The kernel runs classic BPF (Linux ``SO_ATTACH_FILTER``, BSD/macOS ``BIOCSETF``), but the
expression language is libpcap's. Two compilers, in this order:

1. libpcap's own ``pcap_compile`` through ctypes on a "dead" handle of the interface's link
   type: in process, no privileges, no packets; the library's path and SHA-256 are recorded.
2. ``tcpdump -ddd`` (when libpcap cannot be loaded but tcpdump is installed, e.g. linked
   statically): the same compiler run as a program, opened on the interface.

Without either, a requested filter is refused with :class:`FilterError` (recorded, never a
capture of everything instead).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from collectors._util import sha256_file, which

__all__ = ["FilterError", "Program", "compile_filter"]

PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
_DLT_NAMES = {0: "NULL", 1: "EN10MB", 101: "RAW", 113: "LINUX_SLL"}
_LOCK = threading.Lock()  # pcap_compile is not thread-safe before libpcap 1.8


class FilterError(Exception):
    """The filter could not be compiled (bad expression, or no compiler on this host)."""


@dataclass(frozen=True)
class Program:
    """A classic BPF program: ``(code, jt, jf, k)`` per instruction, and what compiled it."""

    instructions: tuple[tuple[int, int, int, int], ...]
    compiler: str

    def sock_filter(self) -> bytes:
        """The instructions as ``struct sock_filter``/``struct bpf_insn`` array bytes."""
        import struct

        return b"".join(struct.pack("=HBBI", *i) for i in self.instructions)


class _Insn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class _Prog(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_Insn))]


@dataclass(frozen=True)
class _Libpcap:
    lib: ctypes.CDLL
    path: str
    version: str


def _loaded_path(fragment: str) -> str | None:
    """Where a shared library this process mapped lives (Linux: /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in maps.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and fragment in Path(parts[5]).name:
            return parts[5]
    return None


def _load_libpcap() -> _Libpcap | None:
    names = [ctypes.util.find_library("pcap"), "libpcap.so.1", "libpcap.so.0.8", "libpcap.so"]
    if sys.platform == "darwin":
        names.insert(0, "/usr/lib/libpcap.A.dylib")
    for name in filter(None, names):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.restype = ctypes.c_int
        lib.pcap_compile.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(_Prog),
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_uint32,
        ]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_Prog)]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        lib.pcap_lib_version.restype = ctypes.c_char_p
        version = (lib.pcap_lib_version() or b"libpcap").decode("ascii", "replace")
        path = name if Path(name).is_absolute() else (_loaded_path("libpcap") or name)
        return _Libpcap(lib, path, version)
    return None


def _describe(what: str, path: str) -> str:
    try:
        digest = sha256_file(path, follow=True)
    except OSError as exc:
        digest = f"unreadable: {exc.strerror}"
    return f"{what} ({path}, sha256 {digest})"


def _with_libpcap(pcap: _Libpcap, expr: str, linktype: int, snaplen: int) -> Program:
    with _LOCK:
        handle = pcap.lib.pcap_open_dead(linktype, snaplen)
        if not handle:
            raise FilterError(f"libpcap cannot open a handle for link type {linktype}")
        prog = _Prog()
        try:
            if pcap.lib.pcap_compile(
                handle, ctypes.byref(prog), expr.encode(), 1, PCAP_NETMASK_UNKNOWN
            ):
                why = (pcap.lib.pcap_geterr(handle) or b"").decode("utf-8", "replace")
                raise FilterError(f"capture filter {expr!r} does not compile: {why}")
            insns = tuple(
                (
                    prog.bf_insns[i].code,
                    prog.bf_insns[i].jt,
                    prog.bf_insns[i].jf,
                    prog.bf_insns[i].k,
                )
                for i in range(prog.bf_len)
            )
            pcap.lib.pcap_freecode(ctypes.byref(prog))
        finally:
            pcap.lib.pcap_close(handle)
    return Program(insns, _describe(f"{pcap.version} pcap_compile", pcap.path))


def parse_ddd(text: str) -> tuple[tuple[int, int, int, int], ...]:
    """``tcpdump -ddd`` output (a count, then ``code jt jf k`` a line) as instructions."""
    lines = [ln.split() for ln in text.strip().splitlines()]
    if not lines or len(lines[0]) != 1:
        raise FilterError(f"unexpected tcpdump -ddd output: {text[:200]!r}")
    count = int(lines[0][0])
    insns = tuple((int(a), int(b), int(c), int(d)) for a, b, c, d in lines[1:])
    if len(insns) != count:
        raise FilterError(f"tcpdump -ddd gave {len(insns)} instructions, announced {count}")
    return insns


def _with_tcpdump(tcpdump: str, expr: str, interface: str, snaplen: int) -> Program:
    argv = [tcpdump, "-ddd", "-i", interface, "-s", str(snaplen), expr]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FilterError(f"cannot run {tcpdump} -ddd: {exc}") from exc
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise FilterError(f"capture filter {expr!r} does not compile: {why[0]}")
    return Program(parse_ddd(done.stdout), _describe("tcpdump -ddd", tcpdump))


def compile_filter(
    expr: str, *, linktype: int, snaplen: int, interface: str, use_libpcap: bool = True
) -> Program:
    """``expr`` compiled for ``linktype`` (libpcap first, else ``tcpdump -ddd`` on
    ``interface``); :class:`FilterError` when it is invalid or nothing can compile it."""
    pcap = _load_libpcap() if use_libpcap else None
    if pcap is not None:
        return _with_libpcap(pcap, expr, linktype, snaplen)
    tcpdump = which("tcpdump")
    if tcpdump is not None:
        return _with_tcpdump(tcpdump, expr, interface, snaplen)
    raise FilterError(
        f"capture filter {expr!r} cannot be compiled on this host: neither libpcap "
        "(libpcap.so) nor tcpdump is installed; capture without a filter, or install libpcap"
    )


def dlt_name(linktype: int) -> str:
    """libpcap's name of a link type (``EN10MB``), or its number."""
    return _DLT_NAMES.get(linktype, str(linktype))
