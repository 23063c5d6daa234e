"""The network collector: sockets with pids, interfaces, routes, neighbours, DNS configuration."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import psutil

from collectors._util import error, read_text, to_json, to_jsonl, which
from collectors.base import (
    CollectContext,
    Collector,
    CommandRecord,
    FileTarget,
    Observation,
    Problem,
    VolatileRecord,
    Volatility,
    register_collector,
)
from collectors.processes import connection_record

_RTF = {0x1: "U", 0x2: "G", 0x4: "H", 0x10: "D", 0x20: "M", 0x200: "!"}  # route(8) letters


def _flags(value: int) -> str:
    return "".join(letter for bit, letter in _RTF.items() if value & bit)


def parse_ipv4_routes(text: str) -> list[dict[str, Any]]:
    """``/proc/net/route`` (little-endian hex) as records."""

    def ip(field: str) -> str:
        return socket.inet_ntoa(struct.pack("<I", int(field, 16)))

    routes = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 11:
            continue
        flags = int(f[3], 16)
        routes.append(
            {
                "family": "inet",
                "interface": f[0],
                "destination": ip(f[1]),
                "gateway": ip(f[2]),
                "mask": ip(f[7]),
                "prefix": bin(int(f[7], 16)).count("1"),
                "flags": _flags(flags),
                "flags_raw": flags,
                "metric": int(f[6]),
                "mtu": int(f[8]),
            }
        )
    return routes


def parse_ipv6_routes(text: str) -> list[dict[str, Any]]:
    """``/proc/net/ipv6_route`` as records."""

    def ip(field: str) -> str:
        return str(ipaddress.IPv6Address(bytes.fromhex(field)))

    routes = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10:
            continue
        flags = int(f[8], 16)
        routes.append(
            {
                "family": "inet6",
                "interface": f[9],
                "destination": ip(f[0]),
                "prefix": int(f[1], 16),
                "source": ip(f[2]),
                "source_prefix": int(f[3], 16),
                "gateway": ip(f[4]),
                "metric": int(f[5], 16),
                "flags": _flags(flags),
                "flags_raw": flags,
            }
        )
    return routes


def parse_arp(text: str) -> list[dict[str, Any]]:
    """``/proc/net/arp`` as records."""
    entries = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 6:
            entries.append(
                {
                    "ip": f[0],
                    "hw_type": f[1],
                    "flags": f[2],
                    "mac": f[3],
                    "mask": f[4],
                    "interface": f[5],
                    "complete": bool(int(f[2], 16) & 0x2),
                }
            )
    return entries


def parse_resolv_conf(text: str) -> dict[str, Any]:
    """The nameservers, search domains and options of a resolv.conf."""
    parsed: dict[str, Any] = {"nameservers": [], "search": [], "options": []}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) < 2:
            continue
        key, values = words[0], words[1:]
        if key == "nameserver":
            parsed["nameservers"].append(values[0])
        elif key in ("search", "domain"):
            parsed["search"].extend(values)
        elif key == "options":
            parsed["options"].extend(values)
    return parsed


def _interfaces() -> dict[str, Any]:
    stats = psutil.net_if_stats()
    try:
        counters = psutil.net_io_counters(pernic=True)
    except OSError:
        counters = {}
    result: dict[str, Any] = {}
    for nic, addrs in psutil.net_if_addrs().items():
        entry: dict[str, Any] = {
            "addresses": [
                {
                    "family": getattr(a.family, "name", str(a.family)),
                    "address": a.address,
                    "netmask": a.netmask,
                    "broadcast": a.broadcast,
                    "ptp": a.ptp,
                }
                for a in addrs
            ]
        }
        if nic in stats:
            s = stats[nic]
            entry["stats"] = {
                "isup": s.isup,
                "duplex": getattr(s.duplex, "name", str(s.duplex)),
                "speed_mbps": s.speed,
                "mtu": s.mtu,
                "flags": getattr(s, "flags", None),
            }
        if nic in counters:
            entry["io"] = counters[nic]._asdict()
        result[nic] = entry
    return result


def _sockets(problems: list[Problem]) -> list[dict[str, Any]]:
    names: dict[int, str] = {}
    for proc in psutil.process_iter(["name"]):
        names[proc.pid] = proc.info.get("name") or ""
    try:
        conns = psutil.net_connections(kind="all")
    except psutil.AccessDenied:
        # macOS without root: only per process, for the processes we may inspect.
        conns = []
        denied = 0
        for proc in psutil.process_iter():
            try:
                conns.extend(c._replace(pid=proc.pid) for c in proc.net_connections(kind="all"))
            except (psutil.AccessDenied, psutil.NoSuchProcess):
                denied += 1
        if denied:
            problems.append(error(f"network: sockets of {denied} processes not readable"))
    records = []
    for conn in conns:
        record = connection_record(conn)
        record["process_name"] = names.get(conn.pid) if conn.pid is not None else None
        records.append(record)
    records.sort(key=lambda r: (r["pid"] is None, r["pid"] or 0, r["family"], str(r["laddr"])))
    return records


@register_collector
class Network(Collector):
    """Sockets with their processes, interfaces, routes, neighbours and DNS configuration."""

    name = "network"
    volatility = Volatility.NETWORK
    description = "Sockets with pids, interfaces and addresses, routes, ARP/neighbours, DNS"
    options_schema: ClassVar[dict[str, Any]] = {}

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        problems: list[Problem] = []
        system = ctx.host.system
        try:
            sockets = _sockets(problems)
            yield VolatileRecord(
                member="volatile/network_connections.jsonl",
                data=to_jsonl(sockets),
                description=f"{len(sockets)} sockets (inet and unix) with owning pid",
            )
        except Exception as exc:  # noqa: BLE001 - record and go on with the other parts
            problems.append(error(f"network: cannot list sockets: {exc}"))
        try:
            yield VolatileRecord(
                member="volatile/network_interfaces.json",
                data=to_json(_interfaces()),
                description="network interfaces: addresses, state, counters",
            )
        except Exception as exc:  # noqa: BLE001
            problems.append(error(f"network: cannot list interfaces: {exc}"))
        if system == "Linux":
            yield from self._linux(problems)
        elif system == "Windows":
            yield CommandRecord("volatile/routes.txt", ("route", "print"), "routing table")
            yield CommandRecord("volatile/arp.txt", ("arp", "-a"), "ARP table")
            yield CommandRecord("volatile/dns.txt", ("ipconfig", "/all"), "DNS and IP config")
            yield CommandRecord(
                "volatile/dns_cache.txt", ("ipconfig", "/displaydns"), "DNS resolver cache"
            )
            root = Path(os.environ.get("SYSTEMROOT", r"C:\Windows"))
            hosts = root / "System32" / "drivers" / "etc" / "hosts"
            if os.path.lexists(hosts):
                yield FileTarget(os.fsencode(hosts), "network:dns")
        elif system == "Darwin":
            yield CommandRecord("volatile/routes.txt", ("netstat", "-rn"), "routing table")
            yield CommandRecord("volatile/arp.txt", ("arp", "-an"), "ARP table")
            yield CommandRecord("volatile/ndp.txt", ("ndp", "-an"), "IPv6 neighbours")
            yield CommandRecord("volatile/dns.txt", ("scutil", "--dns"), "DNS configuration")
            yield from self._dns_files(problems)
        yield from problems

    def _linux(self, problems: list[Problem]) -> Iterator[Observation]:
        routes: list[dict[str, Any]] = []
        for path, parse in (
            ("/proc/net/route", parse_ipv4_routes),
            ("/proc/net/ipv6_route", parse_ipv6_routes),
        ):
            try:
                routes.extend(parse(read_text(path)))
            except (OSError, ValueError) as exc:
                problems.append(error(f"network: cannot read routes: {exc}", path))
        yield VolatileRecord(
            "volatile/routes.jsonl", to_jsonl(routes), "routing tables (IPv4, IPv6)"
        )
        try:
            arp = parse_arp(read_text("/proc/net/arp"))
            yield VolatileRecord("volatile/arp.jsonl", to_jsonl(arp), "ARP table (IPv4)")
        except (OSError, ValueError) as exc:
            problems.append(error(f"network: cannot read ARP table: {exc}", "/proc/net/arp"))
        if which("ip"):
            yield CommandRecord(
                "volatile/neighbours.txt", ("ip", "neigh", "show"), "neighbour table (IPv4, IPv6)"
            )
        yield from self._dns_files(problems)

    @staticmethod
    def _dns_files(problems: list[Problem]) -> Iterator[Observation]:
        dns: dict[str, Any] = {}
        path = "/etc/resolv.conf"
        try:
            if Path(path).is_symlink():
                dns["resolv_conf_link"] = str(Path(path).readlink())
            text = read_text(path)
            dns["resolv_conf"] = text
            dns.update(parse_resolv_conf(text))
        except FileNotFoundError:
            dns["resolv_conf"] = None
        except OSError as exc:
            problems.append(error(f"network: cannot read {path}: {exc.strerror}", path))
        yield VolatileRecord("volatile/dns.json", to_json(dns), "DNS resolver configuration")
        for name in ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf"):
            if os.path.lexists(name):
                yield FileTarget(os.fsencode(name), "network:dns")
