"""The firewall collector: the packet filter's rules as the kernel holds them now.

``nft list ruleset``, ``iptables-save`` and ``ip6tables-save``, each recorded with its exact
argv and exit status; a tool the host does not have is recorded as "not present" (the rules
may still exist: a host with nftables rules and no ``nft`` binary says so). Cost: well under
a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from collectors._util import skipped, which
from collectors.base import (
    CollectContext,
    Collector,
    CommandRecord,
    Host,
    NotCompatible,
    Observation,
    Volatility,
    register_collector,
)

#: (member, argv, description) of each rule dump.
COMMANDS = (
    (
        "volatile/firewall_nft_ruleset.txt",
        ("nft", "list", "ruleset"),
        "nftables ruleset (nft list ruleset)",
    ),
    (
        "volatile/firewall_iptables_save.txt",
        ("iptables-save",),
        "IPv4 iptables rules and counters (iptables-save)",
    ),
    (
        "volatile/firewall_ip6tables_save.txt",
        ("ip6tables-save",),
        "IPv6 ip6tables rules and counters (ip6tables-save)",
    ),
)


@register_collector
class Firewall(Collector):
    """Packet filter rules: nft list ruleset, iptables-save, ip6tables-save."""

    name = "firewall"
    volatility = Volatility.NETWORK
    description = "Firewall rules: nft list ruleset, iptables-save, ip6tables-save (under 1 s)"
    options_schema: ClassVar[dict[str, Any]] = {}

    def check_compatible(self, host: Host) -> None:
        if host.system != "Linux":
            raise NotCompatible("nftables and iptables are Linux packet filters")

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        for member, argv, description in COMMANDS:
            if which(argv[0]) is None:
                yield skipped(f"firewall: {argv[0]} not present: {description} not taken")
                continue
            yield CommandRecord(member, argv, description, timeout_s=60)
