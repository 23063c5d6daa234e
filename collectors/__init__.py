"""Collectors: sources on the examined host turned into observations.

Every collector module is imported here explicitly (no directory scanning), so importing
``collectors`` fills :data:`collectors.base.REGISTRY` and a frozen build needs no hidden imports.
"""

from __future__ import annotations

from collectors import (
    capture,
    containers,
    files,
    firewall,
    kernel,
    logs,
    mounts,
    network,
    packages,
    persistence,
    processes,
    system,
    timeline,
)
from collectors.base import REGISTRY, Collector, ordered, register_collector

__all__ = [
    "REGISTRY",
    "Collector",
    "capture",
    "containers",
    "files",
    "firewall",
    "kernel",
    "logs",
    "mounts",
    "network",
    "ordered",
    "packages",
    "persistence",
    "processes",
    "register_collector",
    "system",
    "timeline",
]
