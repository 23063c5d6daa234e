"""What a collector is, what it yields, and the registry that orders them.

A collector only *observes*: it yields :data:`Observation` values and never writes the
evidence store or the ledger. The run (``app/collection.py``) hands each observation to
the store, which copies and hashes, and records the outcome in the ledger. The observation
types live in :mod:`custody.observations` (shared with the store) and are re-exported here.
"""

from __future__ import annotations

import enum
import platform
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from collectors.exclusions import NeverCollect
from custody.observations import (
    CommandRecord,
    FileTarget,
    Observation,
    Problem,
    SpooledRecord,
    VolatileRecord,
)

__all__ = [
    "REGISTRY",
    "CollectContext",
    "Collector",
    "CommandRecord",
    "FileTarget",
    "Host",
    "NotCompatible",
    "Observation",
    "Problem",
    "SpooledRecord",
    "VolatileRecord",
    "Volatility",
    "ordered",
    "register_collector",
]


class Volatility(enum.IntEnum):
    """Order of volatility (RFC 3227): lower runs first."""

    SYSTEM = 10
    CAPTURE = 15  # started right after the system's facts; runs beside the others
    PROCESSES = 20
    NETWORK = 30
    KERNEL = 35  # ring buffer, modules, sysctl: kernel state, after the process table
    MOUNTS = 37  # mount tables and block devices
    PERSISTENCE = 40
    LOGS = 50
    FILES = 60
    SCREENSHOT = 70


@dataclass(frozen=True)
class Host:
    """The machine being examined."""

    system: str  # platform.system(): Linux, Windows, Darwin

    @classmethod
    def this(cls) -> Host:
        return cls(system=platform.system())


@dataclass
class CollectContext:
    """What a collector may know about the run it serves.

    ``tool`` holds the facts the running program states about itself (name, version, the
    SHA-256 of what runs, ...; see ``app/tool.py``), which the system collector records:
    collectors never import the program that runs them. ``never_collect`` is what the run
    keeps out of every walk (the program itself, cases, the examiner's keys; see
    :mod:`collectors.exclusions`). ``spool_dir`` is a directory on the evidence's own
    storage where a collector may write output it produces over time (a
    :class:`~custody.store.spool.HashedSpool`), handed to the run as a
    :class:`SpooledRecord`.
    """

    host: Host
    options: Mapping[str, Any]
    output_dir: Path  # never collect from here: it is our own output
    cancel: threading.Event = field(default_factory=threading.Event)
    status: Callable[[str], None] = lambda _message: None  # short progress text
    tool: Mapping[str, Any] = field(default_factory=dict)
    never_collect: NeverCollect = field(default_factory=NeverCollect)
    spool_dir: Path | None = None

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()


class NotCompatible(Exception):
    """Raised by :meth:`Collector.check_compatible` when the collector cannot run on this host."""


class Collector:
    """Base class: subclasses set ``name``, ``volatility`` and implement :meth:`collect`."""

    name: ClassVar[str]
    volatility: ClassVar[Volatility]
    description: ClassVar[str] = ""
    #: option name -> type: a Python type, a tuple of types, or a ``collectors._util.Opt``.
    options_schema: ClassVar[dict[str, Any]] = {}
    #: True: the run starts it on a thread of its own at its turn and goes on with the next
    #: collectors; its observations are recorded when it ends (a time-boxed capture).
    concurrent: ClassVar[bool] = False

    def check_compatible(self, host: Host) -> None:
        """Raise :class:`NotCompatible` with a reason if this collector cannot run on ``host``."""

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        raise NotImplementedError


REGISTRY: dict[str, type[Collector]] = {}
_C = TypeVar("_C", bound=type[Collector])


def register_collector(cls: _C) -> _C:
    """Class decorator: add a collector to the registry; a duplicate name is a programming error."""
    if cls.name in REGISTRY:
        raise ValueError(f"collector {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def ordered(names: list[str] | None = None) -> list[type[Collector]]:
    """Registered collectors (all, or those named), most volatile first."""
    chosen = REGISTRY.values() if names is None else [REGISTRY[n] for n in names]
    return sorted(chosen, key=lambda c: c.volatility)
