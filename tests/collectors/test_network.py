"""The network collector: sockets (with a socket the test opens), interfaces, routes, DNS."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from collectors.base import CommandRecord, FileTarget
from collectors.network import parse_arp, parse_ipv4_routes, parse_ipv6_routes, parse_resolv_conf
from tests.collectors.helpers import jsonl, member


def test_listening_and_unix_sockets_appear_with_our_pid(run, tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(tmp_path / "s.sock"))
    unix.listen()
    port = listener.getsockname()[1]
    try:
        obs = run("network")
    finally:
        listener.close()
        unix.close()
    sockets = jsonl(obs, "volatile/network_connections.jsonl")
    tcp = [s for s in sockets if s["laddr"] == {"ip": "127.0.0.1", "port": port}]
    assert len(tcp) == 1
    assert tcp[0]["pid"] == os.getpid() and tcp[0]["status"] == "LISTEN"
    assert tcp[0]["family"] == "AF_INET" and tcp[0]["type"] == "SOCK_STREAM"
    assert tcp[0]["process_name"]
    ours = [s for s in sockets if s["laddr"] == str(tmp_path / "s.sock")]
    assert ours and ours[0]["pid"] == os.getpid() and ours[0]["family"] == "AF_UNIX"


def test_interfaces_routes_arp_dns(run) -> None:
    obs = run("network")
    interfaces = json.loads(member(obs, "volatile/network_interfaces.json"))
    assert "127.0.0.1" in [a["address"] for a in interfaces["lo"]["addresses"]]
    assert interfaces["lo"]["stats"]["isup"] is True
    routes = jsonl(obs, "volatile/routes.jsonl")
    assert all(r["family"] in ("inet", "inet6") for r in routes)
    assert isinstance(jsonl(obs, "volatile/arp.jsonl"), list)
    dns = json.loads(member(obs, "volatile/dns.json"))
    if Path("/etc/resolv.conf").exists():
        assert dns["resolv_conf"] == Path("/etc/resolv.conf").read_text()
    files = [o.path for o in obs if isinstance(o, FileTarget)]
    assert b"/etc/hosts" in files
    assert all(isinstance(o.argv, tuple) for o in obs if isinstance(o, CommandRecord))


def test_route_and_arp_parsers() -> None:
    v4 = parse_ipv4_routes(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    assert v4[0] | {"flags_raw": 0} == {
        "family": "inet",
        "interface": "eth0",
        "destination": "0.0.0.0",
        "gateway": "192.0.2.1",
        "mask": "0.0.0.0",
        "prefix": 0,
        "flags": "UG",
        "flags_raw": 0,
        "metric": 100,
        "mtu": 0,
    }
    assert v4[1]["destination"] == "192.0.2.0" and v4[1]["prefix"] == 24
    v6 = parse_ipv6_routes(
        "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
    )
    assert v6[0]["destination"] == "fd00::" and v6[0]["prefix"] == 64 and v6[0]["metric"] == 256
    arp = parse_arp(
        "IP address       HW type     Flags       HW address            Mask     Device\n"
        "192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n"
    )
    assert arp == [
        {
            "ip": "192.0.2.1",
            "hw_type": "0x1",
            "flags": "0x2",
            "mac": "02:fc:00:00:00:05",
            "mask": "*",
            "interface": "eth0",
            "complete": True,
        }
    ]
    dns = parse_resolv_conf(
        "# c\nnameserver 10.0.0.1\nnameserver ::1\nsearch a b\noptions ndots:2\n"
    )
    assert dns == {"nameservers": ["10.0.0.1", "::1"], "search": ["a", "b"], "options": ["ndots:2"]}
