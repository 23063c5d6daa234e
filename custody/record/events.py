"""Ledger events: every kind declared once, as a typed, versioned payload with one writer and
one parser.

A writer builds an event object and hands it to the ledger; a reader gets it back from
:func:`parse`. Nothing else spells an event name or picks a payload dict apart. Each class
reads every version of its payload that was ever written (format 1 payloads are flat; an
event whose payload changed shape carries ``"v"``) and writes the current one. Fields a
reader does not know are kept in ``extra``, so an entry written by a newer version is still
read, and, since verification works on the stored bytes, still verified.

Nanosecond times travel as decimal strings (``"1700000000.123456789"``); names that are not
UTF-8 travel as text with ``\\xNN`` escapes plus ``*_b64`` with the exact bytes
(:mod:`custody.record.names`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from custody.errors import MalformedEvent
from custody.record.digests import Digests
from custody.record.entry import Entry

#: The case fields an examiner fills in, in the order forms and reports show them.
CASE_FIELDS = (
    "title",
    "incident_ref",
    "severity",
    "status",
    "organisation",
    "legal_basis",
    "requesting_party",
    "scope",
    "responsible",
    "description",
)
INCIDENT_STATUSES = ("reported", "assessed", "contained", "eradicated", "recovered", "closed")
SEVERITIES = ("low", "medium", "high", "critical")
#: Kinds of incident journal entry (DESIGN.md, Incident record).
JOURNAL_KINDS = (
    "note",
    "event_reported",
    "weakness_reported",
    "assessment",
    "decision",
    "action",
    "communication",
    "lesson_learned",
)
#: Artifact kinds whose archive member is not a regular file once extracted.
NOT_REGULAR_KINDS = frozenset({"symlink", "directory"})


# --------------------------------------------------------------------------- reading


class _Reader:
    """Typed access to one payload object; remembers which keys were read."""

    __slots__ = ("_kind", "_p", "_seq", "_used", "_where")

    def __init__(self, kind: str, p: Mapping[str, Any], seq: int | None, where: str = "") -> None:
        self._kind = kind
        self._p = p
        self._seq = seq
        self._used: set[str] = {"v"}
        self._where = where

    def _bad(self, key: str, problem: str) -> MalformedEvent:
        at = f"entry {self._seq}: " if self._seq is not None else ""
        name = f"{self._where}{key}"
        return MalformedEvent(
            f"{at}{self._kind} payload field {name!r} {problem}", seq=self._seq, field=name
        )

    def _get(self, key: str, required: bool) -> Any:
        self._used.add(key)
        value = self._p.get(key)
        if value is None and required:
            raise self._bad(key, "is missing")
        return value

    # The accessors below repeat _get's two lines: they run for every field of every entry
    # a verification reads, and a call less per field is a fifth of the parse.

    def text(self, key: str) -> str:
        self._used.add(key)
        value = self._p.get(key)
        if type(value) is not str:
            raise self._bad(key, "is missing" if value is None else "is not text")
        return value

    def opt_text(self, key: str) -> str | None:
        self._used.add(key)
        value = self._p.get(key)
        if value is not None and type(value) is not str:
            raise self._bad(key, "is not text")
        return value

    def integer(self, key: str) -> int:
        self._used.add(key)
        value = self._p.get(key)
        if type(value) is not int:
            raise self._bad(key, "is missing" if value is None else "is not an integer")
        return value

    def opt_integer(self, key: str) -> int | None:
        self._used.add(key)
        value = self._p.get(key)
        if value is not None and type(value) is not int:
            raise self._bad(key, "is not an integer")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if type(value) is not bool:
            raise self._bad(key, "is not true or false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._get(key, False)
        if value is None:
            return ()
        if not isinstance(value, list) or any(type(v) is not str for v in value):
            raise self._bad(key, "is not a list of texts")
        return tuple(value)

    def text_map(self, key: str) -> Mapping[str, str]:
        value = self._get(key, False)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or any(type(v) is not str for v in value.values()):
            raise self._bad(key, "is not an object of texts")
        return dict(value)

    def obj(self, key: str) -> Mapping[str, Any] | None:
        value = self._get(key, False)
        if value is not None and not isinstance(value, Mapping):
            raise self._bad(key, "is not an object")
        return value

    def part(self, key: str) -> _Reader | None:
        value = self.obj(key)
        if value is None:
            return None
        return _Reader(self._kind, value, self._seq, f"{self._where}{key}.")

    def rest(self) -> dict[str, Any]:
        """The keys nobody read: kept as the event's ``extra``."""
        return {k: v for k, v in self._p.items() if k not in self._used}


class _Shape:
    """The fields an object of one kind may hold, each with its exact type, and those it
    must hold: reads a well-formed object in a few C-level steps instead of a call per
    field. Each order of keys met is checked once and remembered (a few hundred at most:
    beyond that, each is checked anew, so memory stays flat on any ledger)."""

    _KEPT = 256

    def __init__(self, types: Mapping[str, type], required: tuple[str, ...]) -> None:
        self.types = dict(types)
        self.required = frozenset(required)
        self._known: dict[tuple[str, ...], tuple[type, ...] | None] = {}

    def _types_of(self, keys: tuple[str, ...]) -> tuple[type, ...] | None:
        """The type each key must have, in this order; None when a key is not one of the
        kind's or a required one is missing."""
        if not self.required.issubset(keys) or not all(k in self.types for k in keys):
            return None
        return tuple(self.types[k] for k in keys)

    def read(self, p: object) -> dict[str, Any] | None:
        """A copy of ``p`` when it is a dict holding only this kind's fields, each of its
        exact type (so none is None), and every required one; None for anything else,
        which the field-by-field :class:`_Reader` then reads or names."""
        if type(p) is not dict:
            return None
        keys = tuple(p)
        if keys in self._known:
            want = self._known[keys]
        else:
            want = self._types_of(keys)
            if len(self._known) < self._KEPT:
                self._known[keys] = want
        if want is None or tuple(map(type, p.values())) != want:
            return None
        return dict(p)


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without None: absent and None mean the same in every payload."""
    return {k: v for k, v in values.items() if v is not None}


# --------------------------------------------------------------------------- the base

E = TypeVar("E", bound="Event")


@dataclass(frozen=True, kw_only=True)
class Event:
    """A typed ledger payload. Subclasses declare ``EVENT``, ``VERSION`` and ``SIGNED`` through
    :func:`ledger_event` and implement ``_fields`` (write) and ``_read`` (read)."""

    EVENT: ClassVar[str]
    VERSION: ClassVar[int]
    #: Acts of a person are signed one by one; bulk events are covered by a checkpoint.
    SIGNED: ClassVar[bool]

    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def payload(self) -> dict[str, Any]:
        """The payload as written into the ledger (the current version)."""
        body = self._fields()
        if self.VERSION > 1:
            body["v"] = self.VERSION
        return {**self.extra, **body} if self.extra else body

    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        """The constructor arguments from a payload of version ``v``."""
        raise NotImplementedError

    @classmethod
    def from_payload(cls: type[E], payload: Mapping[str, Any], *, seq: int | None = None) -> E:
        """Read a payload of any version of this kind; raises :class:`MalformedEvent`."""
        if not isinstance(payload, Mapping):
            raise MalformedEvent(f"entry {seq}: {cls.EVENT} payload is not an object", seq=seq)
        v = payload.get("v", 1)
        if type(v) is not int or v < 1:
            raise MalformedEvent(
                f"entry {seq}: {cls.EVENT} payload has version {v!r}", seq=seq, field="v"
            )
        r = _Reader(cls.EVENT, payload, seq)
        args = cls._read(r, v)
        return cls(**args, extra=r.rest())


REGISTRY: dict[str, type[Event]] = {}


def ledger_event(
    kind: str, *, version: int = 1, signed: bool = True
) -> Callable[[type[E]], type[E]]:
    """Declare an event class: its name in the ledger, its payload version, whether signed."""

    def register(cls: type[E]) -> type[E]:
        if kind in REGISTRY:
            raise ValueError(f"ledger event {kind!r} is declared twice")
        cls.EVENT, cls.VERSION, cls.SIGNED = kind, version, signed
        REGISTRY[kind] = cls
        return cls

    return register


def parse(entry: Entry) -> Event:
    """The typed payload of ``entry``; raises :class:`MalformedEvent` naming entry and field."""
    return parse_payload(entry.event, entry.payload, seq=entry.seq)


def parse_payload(event: str, payload: Mapping[str, Any], *, seq: int | None = None) -> Event:
    """The typed event of kind ``event`` from a payload of any version."""
    cls = REGISTRY.get(event)
    if cls is None:
        at = f"entry {seq}: " if seq is not None else ""
        raise MalformedEvent(f"{at}unknown event {event!r}", seq=seq)
    return cls.from_payload(payload, seq=seq)


def is_signed_kind(kind: str) -> bool:
    """True for events a person answers for (each signed on its own)."""
    cls = REGISTRY.get(kind)
    return cls is not None and cls.SIGNED


# --------------------------------------------------------------------------- parts


@dataclass(frozen=True, kw_only=True)
class CaseFields:
    """What an examiner says of a case: its title and the incident record's fields."""

    title: str
    incident_ref: str | None = None
    severity: str | None = None
    status: str | None = None
    organisation: str | None = None
    legal_basis: str | None = None
    requesting_party: str | None = None
    scope: str | None = None
    responsible: str | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _compact({k: getattr(self, k) for k in CASE_FIELDS})

    def updated(self, changes: Mapping[str, str | None]) -> CaseFields:
        """These fields with ``changes`` applied (unknown names are ignored)."""
        values = {k: getattr(self, k) for k in CASE_FIELDS}
        values.update({k: v for k, v in changes.items() if k in values})
        if not values.get("title"):
            values["title"] = self.title
        return CaseFields(**values)

    @staticmethod
    def read(r: _Reader) -> CaseFields:
        return CaseFields(
            title=r.text("title"), **{k: r.opt_text(k) for k in CASE_FIELDS if k != "title"}
        )


def _read_digests(r: _Reader) -> Digests:
    return Digests(r.text("sha256"), r.text("sha1"), r.text("md5"))


def _digests_json(d: Digests) -> dict[str, str]:
    return {"sha256": d.sha256, "sha1": d.sha1, "md5": d.md5}


@dataclass(frozen=True, kw_only=True)
class MemberRef:
    """Where an artifact lies in its run archive, and what binds its header bytes.

    ``header_sha256`` is the SHA-256 of the archive bytes ``[header_offset, data_offset)``
    (None in format 1). ``mtime``, ``mode``, ``uid`` and ``gid`` are the header's for a member
    without a source file (volatile records, command output; their owner names are empty); a
    file's header takes them from its :class:`SourceFacts`.
    """

    name: str
    name_b64: str | None = None
    header_offset: int
    data_offset: int
    size: int
    header_sha256: str | None = None
    mtime: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @property
    def end(self) -> int:
        """Where the next member starts: the data padded to 512 bytes."""
        return self.data_offset + (self.size + 511) // 512 * 512

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "name": self.name,
                "name_b64": self.name_b64,
                "header_offset": self.header_offset,
                "data_offset": self.data_offset,
                "size": self.size,
                "header_sha256": self.header_sha256,
                "mtime": self.mtime,
                "mode": self.mode,
                "uid": self.uid,
                "gid": self.gid,
            }
        )

    @staticmethod
    def read(r: _Reader) -> MemberRef:
        return MemberRef(
            name=r.text("name"),
            name_b64=r.opt_text("name_b64"),
            header_offset=r.integer("header_offset"),
            data_offset=r.integer("data_offset"),
            size=r.integer("size"),
            header_sha256=r.opt_text("header_sha256"),
            mtime=r.opt_text("mtime"),
            mode=r.opt_integer("mode"),
            uid=r.opt_integer("uid"),
            gid=r.opt_integer("gid"),
        )


_MEMBER = _Shape(
    {
        "name": str,
        "name_b64": str,
        "header_offset": int,
        "data_offset": int,
        "size": int,
        "header_sha256": str,
        "mtime": str,
        "mode": int,
        "uid": int,
        "gid": int,
    },
    ("name", "header_offset", "data_offset", "size"),
)
_DIGESTS = _Shape({"sha256": str, "sha1": str, "md5": str}, ("sha256", "sha1", "md5"))


@dataclass(frozen=True, kw_only=True)
class SourceFacts:
    """What the source file system said of a collected file when it was read.

    ``mode`` holds the permission bits; times are decimal seconds; ``xattrs`` maps attribute
    names to base64 values; ``uname``/``gname`` are the owner names written into the archive
    header (None in format 1). ``inode`` and ``device`` are decimal text: a file system may
    number files beyond the integer range of canonical JSON (NFS file ids, for one).
    """

    path: str
    path_b64: str | None = None
    rule: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    uname: str | None = None
    gname: str | None = None
    mtime: str | None = None
    atime: str | None = None
    ctime: str | None = None
    birthtime: str | None = None
    symlink_target: str | None = None
    symlink_target_b64: str | None = None
    xattrs: Mapping[str, str] = field(default_factory=dict)
    inode: str | None = None
    device: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "path": self.path,
                "path_b64": self.path_b64,
                "rule": self.rule,
                "mode": self.mode,
                "uid": self.uid,
                "gid": self.gid,
                "uname": self.uname,
                "gname": self.gname,
                "mtime": self.mtime,
                "atime": self.atime,
                "ctime": self.ctime,
                "birthtime": self.birthtime,
                "symlink_target": self.symlink_target,
                "symlink_target_b64": self.symlink_target_b64,
                "xattrs": dict(self.xattrs) if self.xattrs else None,
                "inode": self.inode,
                "device": self.device,
            }
        )

    @staticmethod
    def read(r: _Reader) -> SourceFacts:
        return SourceFacts(
            path=r.text("path"),
            path_b64=r.opt_text("path_b64"),
            rule=r.opt_text("rule"),
            mode=r.opt_integer("mode"),
            uid=r.opt_integer("uid"),
            gid=r.opt_integer("gid"),
            uname=r.opt_text("uname"),
            gname=r.opt_text("gname"),
            mtime=r.opt_text("mtime"),
            atime=r.opt_text("atime"),
            ctime=r.opt_text("ctime"),
            birthtime=r.opt_text("birthtime"),
            symlink_target=r.opt_text("symlink_target"),
            symlink_target_b64=r.opt_text("symlink_target_b64"),
            xattrs=r.text_map("xattrs"),
            inode=r.opt_text("inode"),
            device=r.opt_text("device"),
        )

    @staticmethod
    def read_exact(p: object) -> SourceFacts | None:
        """:meth:`read` for a well-formed object, without a call per field (None: let
        :meth:`read` say what is wrong)."""
        found = _SOURCE.read(p)
        if found is None:
            return None
        xattrs = found.get("xattrs")
        if xattrs is not None:
            if any(type(v) is not str for v in xattrs.values()):
                return None
            found["xattrs"] = dict(xattrs)
        return SourceFacts(**found)


_SOURCE = _Shape(
    {
        "path": str,
        "path_b64": str,
        "rule": str,
        "mode": int,
        "uid": int,
        "gid": int,
        "uname": str,
        "gname": str,
        "mtime": str,
        "atime": str,
        "ctime": str,
        "birthtime": str,
        "symlink_target": str,
        "symlink_target_b64": str,
        "xattrs": dict,
        "inode": str,
        "device": str,
    },
    ("path",),
)


@dataclass(frozen=True, kw_only=True)
class CommandFacts:
    """A command whose standard output is the artifact: argv, exit status, when it ran."""

    argv: tuple[str, ...]
    exit_code: int | None = None
    started: str | None = None
    finished: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "argv": list(self.argv),
                "exit_code": self.exit_code,
                "started": self.started,
                "finished": self.finished,
            }
        )

    @staticmethod
    def read(r: _Reader) -> CommandFacts:
        return CommandFacts(
            argv=r.texts("argv"),
            exit_code=r.opt_integer("exit_code"),
            started=r.opt_text("started"),
            finished=r.opt_text("finished"),
        )


@dataclass(frozen=True, kw_only=True)
class CaptureFacts:
    """A packet capture that is the artifact: on which interfaces, with which filter, when
    (UTC and the host's monotonic clock, decimal seconds), how many packets were captured
    and their bytes kept (for a tool: the bytes it wrote), how many the kernel dropped
    (None: the method cannot tell), the snap length, why it ended
    (``duration``, ``cancelled``, ``max_bytes`` or ``error``), and how: ``method`` is
    ``native`` (the program's own capture) or the tool run (``tcpdump``, ``dumpcap``,
    ``pktmon``), with its path, version and SHA-256; ``compiler`` names what compiled the
    filter (libpcap's ``pcap_compile`` or ``tcpdump -ddd``, with its path and SHA-256)."""

    interfaces: tuple[str, ...]
    started: str
    finished: str
    started_monotonic: str
    finished_monotonic: str
    packets: int
    bytes: int
    method: str
    snaplen: int
    ended: str
    filter: str | None = None
    dropped: int | None = None
    tool_path: str | None = None
    tool_version: str | None = None
    tool_sha256: str | None = None
    compiler: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "interfaces": list(self.interfaces),
                "started": self.started,
                "finished": self.finished,
                "started_monotonic": self.started_monotonic,
                "finished_monotonic": self.finished_monotonic,
                "packets": self.packets,
                "bytes": self.bytes,
                "method": self.method,
                "snaplen": self.snaplen,
                "ended": self.ended,
                "filter": self.filter,
                "dropped": self.dropped,
                "tool_path": self.tool_path,
                "tool_version": self.tool_version,
                "tool_sha256": self.tool_sha256,
                "compiler": self.compiler,
            }
        )

    @staticmethod
    def read(r: _Reader) -> CaptureFacts:
        return CaptureFacts(
            interfaces=r.texts("interfaces"),
            started=r.text("started"),
            finished=r.text("finished"),
            started_monotonic=r.text("started_monotonic"),
            finished_monotonic=r.text("finished_monotonic"),
            packets=r.integer("packets"),
            bytes=r.integer("bytes"),
            method=r.text("method"),
            snaplen=r.integer("snaplen"),
            ended=r.text("ended"),
            filter=r.opt_text("filter"),
            dropped=r.opt_integer("dropped"),
            tool_path=r.opt_text("tool_path"),
            tool_version=r.opt_text("tool_version"),
            tool_sha256=r.opt_text("tool_sha256"),
            compiler=r.opt_text("compiler"),
        )


@dataclass(frozen=True, kw_only=True)
class ToolFootprint:
    """What a one-file binary unpacked on the examined host before it could run: where,
    how many bytes and files, on which file system, and whether that is in memory."""

    unpacked_to: str
    bytes: int
    files: int
    filesystem: str | None = None
    in_memory: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "unpacked_to": self.unpacked_to,
            "bytes": self.bytes,
            "files": self.files,
            "filesystem": self.filesystem,
            "in_memory": self.in_memory,
        }

    @staticmethod
    def read(r: _Reader) -> ToolFootprint:
        in_memory = r._get("in_memory", False)
        if in_memory is not None and type(in_memory) is not bool:
            raise r._bad("in_memory", "is not true or false")
        return ToolFootprint(
            unpacked_to=r.text("unpacked_to"),
            bytes=r.integer("bytes"),
            files=r.integer("files"),
            filesystem=r.opt_text("filesystem"),
            in_memory=in_memory,
        )


# --------------------------------------------------------------------------- the case


@ledger_event("case_opened")
@dataclass(frozen=True, kw_only=True)
class CaseOpened(Event):
    """The case is created: its id, fields and creation time (the first entry)."""

    case_id: str
    fields: CaseFields
    created_at: str

    def _fields(self) -> dict[str, Any]:
        return {
            "case": {"id": self.case_id, **self.fields.to_json()},
            "created_at": self.created_at,
        }

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        case = r.part("case")
        if case is None:
            raise r._bad("case", "is missing")
        return {
            "case_id": case.text("id"),
            "fields": CaseFields.read(case),
            "created_at": r.text("created_at"),
        }


@ledger_event("case_updated")
@dataclass(frozen=True, kw_only=True)
class CaseUpdated(Event):
    """Case fields changed by an examiner, with the reason."""

    changes: Mapping[str, str | None]
    reason: str | None = None

    def _fields(self) -> dict[str, Any]:
        return _compact({"changes": dict(self.changes), "reason": self.reason})

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        changes = r.obj("changes") or {}
        clean: dict[str, str | None] = {}
        for k, value in changes.items():
            if value is not None and type(value) is not str:
                raise r._bad(f"changes.{k}", "is not text")
            clean[str(k)] = value
        return {"changes": clean, "reason": r.opt_text("reason")}


@ledger_event("identity_added")
@dataclass(frozen=True, kw_only=True)
class IdentityAdded(Event):
    """An examiner joins the case; the entry carries their certificate (PEM)."""

    fingerprint: str
    name: str
    organisation: str | None = None
    email: str | None = None
    role: str = "examiner"
    certificate_pem: str

    def _fields(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "name": self.name,
            "organisation": self.organisation,
            "email": self.email,
            "role": self.role,
            "certificate_pem": self.certificate_pem,
        }

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "fingerprint": r.text("fingerprint"),
            "name": r.text("name"),
            "organisation": r.opt_text("organisation"),
            "email": r.opt_text("email"),
            "role": r.opt_text("role") or "examiner",
            "certificate_pem": r.text("certificate_pem"),
        }


# --------------------------------------------------------------------------- runs


@ledger_event("run_started")
@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """A collection run starts: host, profile, tool and its own hash, archive, command line.

    ``pid``, ``boot_id`` (Linux's ``/proc/sys/kernel/random/boot_id``; None elsewhere) and
    ``process_started_at`` (the process's start time, as the ledger writes times) name the
    collecting process, so recovery can tell it from another process that reuses its PID in a
    container or after a reboot (``app/recovery.py``). Runs of older versions lack the last two.
    """

    run_id: str
    host: str
    profile: str
    profile_sha256: str | None = None
    profile_collectors: Mapping[str, Any] = field(default_factory=dict)
    collectors: tuple[str, ...] = ()
    archive: str
    command_line: tuple[str, ...] = ()
    tool: str = "chainproof"
    tool_version: str | None = None
    tool_path: str | None = None
    tool_sha256: str | None = None
    tool_unpacked: ToolFootprint | None = None
    pid: int | None = None
    boot_id: str | None = None
    process_started_at: str | None = None
    examiner: str | None = None

    def _fields(self) -> dict[str, Any]:
        return _compact(
            {
                "run_id": self.run_id,
                "host": self.host,
                "profile": self.profile,
                "profile_sha256": self.profile_sha256,
                "profile_collectors": dict(self.profile_collectors),
                "collectors": list(self.collectors),
                "archive": self.archive,
                "command_line": list(self.command_line),
                "tool": self.tool,
                "tool_version": self.tool_version,
                "tool_path": self.tool_path,
                "tool_sha256": self.tool_sha256,
                "tool_unpacked": self.tool_unpacked.to_json() if self.tool_unpacked else None,
                "pid": self.pid,
                "boot_id": self.boot_id,
                "process_started_at": self.process_started_at,
                "examiner": self.examiner,
            }
        )

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        unpacked = r.part("tool_unpacked")
        return {
            "run_id": r.text("run_id"),
            "host": r.text("host"),
            "profile": r.text("profile"),
            "profile_sha256": r.opt_text("profile_sha256"),
            "profile_collectors": r.obj("profile_collectors") or {},
            "collectors": r.texts("collectors"),
            "archive": r.text("archive"),
            "command_line": r.texts("command_line"),
            "tool": r.opt_text("tool") or "chainproof",
            "tool_version": r.opt_text("tool_version"),
            "tool_path": r.opt_text("tool_path"),
            "tool_sha256": r.opt_text("tool_sha256"),
            "tool_unpacked": ToolFootprint.read(unpacked) if unpacked else None,
            "pid": r.opt_integer("pid"),
            "boot_id": r.opt_text("boot_id"),
            "process_started_at": r.opt_text("process_started_at"),
            "examiner": r.opt_text("examiner"),
        }


@ledger_event("artifact_collected", version=2, signed=False)
@dataclass(frozen=True, kw_only=True)
class ArtifactCollected(Event):
    """One archive member: a copied file, a symlink, a volatile record, command output or a
    packet capture (``capture``: how it was taken; absent from every other kind).

    Format 1 payloads were flat (``member``, ``header_offset``, ``sha256``, ``path``, ...);
    format 2 nests ``member``, ``digests``, ``source`` and ``command`` and binds the member's
    header bytes (``member.header_sha256``, the owner names in ``source``).
    """

    run_id: str
    collector: str
    kind: str
    member: MemberRef
    digests: Digests
    source: SourceFacts | None = None
    command: CommandFacts | None = None
    description: str | None = None
    changed: str | None = None
    note: str | None = None
    capture: CaptureFacts | None = None

    def _fields(self) -> dict[str, Any]:
        return _compact(
            {
                "run_id": self.run_id,
                "collector": self.collector,
                "kind": self.kind,
                "member": self.member.to_json(),
                "digests": _digests_json(self.digests),
                "source": self.source.to_json() if self.source else None,
                "command": self.command.to_json() if self.command else None,
                "description": self.description,
                "changed": self.changed,
                "note": self.note,
                "capture": self.capture.to_json() if self.capture else None,
            }
        )

    @classmethod
    def from_payload(
        cls, payload: Mapping[str, Any], *, seq: int | None = None
    ) -> ArtifactCollected:
        """As :meth:`Event.from_payload`; a well-formed format 2 payload of a file or record
        (no ``command``, no ``capture``) is read without a call per field, which is most of
        a verification's parse. Anything else, or anything that reader does not accept, takes
        the field-by-field reader, which also names what is wrong."""
        return _artifact_exact(payload) or super().from_payload(payload, seq=seq)

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        if v == 1:
            return cls._read_v1(r)
        member = r.part("member")
        digests = r.part("digests")
        if member is None:
            raise r._bad("member", "is missing")
        if digests is None:
            raise r._bad("digests", "is missing")
        source = r.part("source")
        command = r.part("command")
        capture = r.part("capture")
        return {
            "run_id": r.text("run_id"),
            "collector": r.text("collector"),
            "kind": r.text("kind"),
            "member": MemberRef.read(member),
            "digests": _read_digests(digests),
            "source": SourceFacts.read(source) if source else None,
            "command": CommandFacts.read(command) if command else None,
            "description": r.opt_text("description"),
            "changed": r.opt_text("changed"),
            "note": r.opt_text("note"),
            "capture": CaptureFacts.read(capture) if capture else None,
        }

    @classmethod
    def _read_v1(cls, r: _Reader) -> dict[str, Any]:
        member = MemberRef(
            name=r.text("member"),
            name_b64=r.opt_text("member_b64"),
            header_offset=r.integer("header_offset"),
            data_offset=r.integer("data_offset"),
            size=r.integer("size"),
        )
        source = None
        if r.opt_text("path") is not None:
            source = SourceFacts(
                path=r.text("path"),
                path_b64=r.opt_text("path_b64"),
                rule=r.opt_text("rule"),
                mode=r.opt_integer("mode"),
                uid=r.opt_integer("uid"),
                gid=r.opt_integer("gid"),
                mtime=r.opt_text("mtime"),
                atime=r.opt_text("atime"),
                ctime=r.opt_text("ctime"),
                birthtime=r.opt_text("birthtime"),
                symlink_target=r.opt_text("symlink_target"),
                xattrs=r.text_map("xattrs"),
            )
        command = None
        argv = r.texts("argv")
        if argv:
            command = CommandFacts(
                argv=argv,
                exit_code=r.opt_integer("exit_code"),
                started=r.opt_text("started"),
                finished=r.opt_text("finished"),
            )
        return {
            "run_id": r.text("run_id"),
            "collector": r.text("collector"),
            "kind": r.text("kind"),
            "member": member,
            "digests": _read_digests(r),
            "source": source,
            "command": command,
            "description": r.opt_text("description"),
            "changed": r.opt_text("changed") or None,
            "note": r.opt_text("note"),
        }

    @property
    def is_regular(self) -> bool:
        """True when the member is a regular file once extracted (``sha256sum`` lists it)."""
        return self.kind not in NOT_REGULAR_KINDS

    @property
    def shown_name(self) -> str:
        """What a person calls the artifact: its source path, else its member name."""
        return self.source.path if self.source else self.member.name


#: A format 2 ``artifact_collected`` payload of a file or record (no ``command``, no
#: ``capture``, no field a newer version added): what :func:`_artifact_exact` reads.
_ARTIFACT = _Shape(
    {
        "v": int,
        "run_id": str,
        "collector": str,
        "kind": str,
        "member": dict,
        "digests": dict,
        "source": dict,
        "description": str,
        "changed": str,
        "note": str,
    },
    ("v", "run_id", "collector", "kind", "member", "digests"),
)


def _artifact_exact(payload: Mapping[str, Any]) -> ArtifactCollected | None:
    """The event of a well-formed format 2 ``artifact_collected`` payload that
    :data:`_ARTIFACT` describes, exactly as the field-by-field reader gives it (no
    ``extra``: every key is one it reads); None for any other payload."""
    found = _ARTIFACT.read(payload)
    if found is None or found.pop("v") != 2:
        return None
    member = _MEMBER.read(found["member"])
    d = _DIGESTS.read(found["digests"])
    if member is None or d is None:
        return None
    found["member"] = MemberRef(**member)
    found["digests"] = Digests(d["sha256"], d["sha1"], d["md5"])
    if "source" in found:
        source = SourceFacts.read_exact(found["source"])
        if source is None:
            return None
        found["source"] = source
    return ArtifactCollected(**found)


def run_of_artifact(payload: Mapping[str, Any]) -> str | None:
    """The run an ``artifact_collected`` payload belongs to, without parsing the rest: for
    passes over a ledger that look at one run's artifacts (``run_id`` is at the top in every
    version)."""
    run_id = payload.get("run_id")
    return run_id if type(run_id) is str else None


@ledger_event("collection_error", signed=False)
@dataclass(frozen=True, kw_only=True)
class CollectionProblem(Event):
    """Something that was not collected, and why: ``kind`` is skipped, error or changed."""

    run_id: str
    collector: str
    kind: str
    reason: str
    path: str | None = None
    path_b64: str | None = None

    def _fields(self) -> dict[str, Any]:
        return _compact(
            {
                "run_id": self.run_id,
                "collector": self.collector,
                "kind": self.kind,
                "reason": self.reason,
                "path": self.path,
                "path_b64": self.path_b64,
            }
        )

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "run_id": r.text("run_id"),
            "collector": r.text("collector"),
            "kind": r.text("kind"),
            "reason": r.text("reason"),
            "path": r.opt_text("path"),
            "path_b64": r.opt_text("path_b64"),
        }


@ledger_event("run_finished", version=2)
@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    """A run ends (finished, interrupted, failed or recovered), with its counts and the size
    of its archive; format 2 adds the SHA-256 of the whole sealed archive, and
    ``end_marker`` False when the archive could not be closed (it then ends after its last
    member, without the end-of-archive blocks)."""

    run_id: str
    status: str
    reason: str = ""
    artifacts: int = 0
    errors: int | None = None
    skipped: int | None = None
    bytes: int | None = None
    archive: str
    archive_size: int | None = None
    archive_sha256: str | None = None
    end_marker: bool = True
    finished_at: str | None = None

    def _fields(self) -> dict[str, Any]:
        return _compact(
            {
                "run_id": self.run_id,
                "status": self.status,
                "reason": self.reason,
                "artifacts": self.artifacts,
                "errors": self.errors,
                "skipped": self.skipped,
                "bytes": self.bytes,
                "archive": self.archive,
                "archive_size": self.archive_size,
                "archive_sha256": self.archive_sha256,
                "end_marker": None if self.end_marker else False,
                "finished_at": self.finished_at,
            }
        )

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "run_id": r.text("run_id"),
            "status": r.text("status"),
            "reason": r.opt_text("reason") or "",
            "artifacts": r.opt_integer("artifacts") or 0,
            "errors": r.opt_integer("errors"),
            "skipped": r.opt_integer("skipped"),
            "bytes": r.opt_integer("bytes"),
            "archive": r.text("archive"),
            "archive_size": r.opt_integer("archive_size"),
            "archive_sha256": r.opt_text("archive_sha256"),
            "end_marker": r.flag("end_marker", default=True),
            "finished_at": r.opt_text("finished_at"),
        }


@ledger_event("checkpoint")
@dataclass(frozen=True, kw_only=True)
class Checkpoint(Event):
    """A signature over the head: covers every unsigned entry since the last signed one."""

    covers_from: int
    covers_to: int
    head: str
    reason: str = "periodic"

    def _fields(self) -> dict[str, Any]:
        return {
            "covers_from": self.covers_from,
            "covers_to": self.covers_to,
            "head": self.head,
            "reason": self.reason,
        }

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "covers_from": r.integer("covers_from"),
            "covers_to": r.integer("covers_to"),
            "head": r.text("head"),
            "reason": r.opt_text("reason") or "",
        }


@ledger_event("archive_set_aside")
@dataclass(frozen=True, kw_only=True)
class ArchiveSetAside(Event):
    """An archive in the evidence folder that no run of the ledger owns, moved out of it by a
    recovery: its former name (``evidence/<name>``), where it is now (``set-aside/<name>``,
    relative to the case), its size and SHA-256 when it was moved, and why. Such an archive
    was left by an older version killed between creating a run's archive and writing its
    ``run_started`` entry, or put there by someone; ``verify`` checks the file where it now
    is (docs/DESIGN.md, Archives)."""

    archive: str
    set_aside_as: str
    size: int
    sha256: str
    reason: str

    def _fields(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "set_aside_as": self.set_aside_as,
            "size": self.size,
            "sha256": self.sha256,
            "reason": self.reason,
        }

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "archive": r.text("archive"),
            "set_aside_as": r.text("set_aside_as"),
            "size": r.integer("size"),
            "sha256": r.text("sha256"),
            "reason": r.text("reason"),
        }


# --------------------------------------------------------------------------- acts of people


@dataclass(frozen=True, kw_only=True)
class JournalEvent(Event):
    """An incident journal entry: its kind (:data:`JOURNAL_KINDS`), text and reason."""

    journal_kind: str
    text: str
    reason: str | None = None

    def _fields(self) -> dict[str, Any]:
        return _compact({"kind": self.journal_kind, "text": self.text, "reason": self.reason})

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "journal_kind": r.opt_text("kind") or cls.EVENT,
            "text": r.text("text"),
            "reason": r.opt_text("reason"),
        }


@ledger_event("note")
@dataclass(frozen=True, kw_only=True)
class Note(JournalEvent):
    """A journal entry other than a decision."""


@ledger_event("decision")
@dataclass(frozen=True, kw_only=True)
class Decision(JournalEvent):
    """A decision, with the reason for it."""


@ledger_event("transferred")
@dataclass(frozen=True, kw_only=True)
class Transferred(Event):
    """A hand-over of the evidence, signed by the releasing and the receiving examiner."""

    from_fp: str
    from_name: str | None = None
    to_fp: str
    to_name: str | None = None
    reason: str
    location: str

    def _fields(self) -> dict[str, Any]:
        return _compact(
            {
                "from": self.from_fp,
                "from_name": self.from_name,
                "to": self.to_fp,
                "to_name": self.to_name,
                "reason": self.reason,
                "location": self.location,
            }
        )

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "from_fp": r.text("from"),
            "from_name": r.opt_text("from_name"),
            "to_fp": r.text("to"),
            "to_name": r.opt_text("to_name"),
            "reason": r.text("reason"),
            "location": r.text("location"),
        }


@ledger_event("accessed")
@dataclass(frozen=True, kw_only=True)
class Accessed(Event):
    """Someone looked at the evidence (all of it, or the members named), and why."""

    purpose: str
    by: str
    artifacts: tuple[str, ...] = ()

    def _fields(self) -> dict[str, Any]:
        return _compact(
            {"purpose": self.purpose, "by": self.by, "artifacts": list(self.artifacts) or None}
        )

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {"purpose": r.text("purpose"), "by": r.text("by"), "artifacts": r.texts("artifacts")}


@ledger_event("sealed")
@dataclass(frozen=True, kw_only=True)
class Sealed(Event):
    """The case is closed to collection; names the head it seals."""

    reason: str
    ledger_head: str
    ledger_entries: int

    def _fields(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "ledger_head": self.ledger_head,
            "ledger_entries": self.ledger_entries,
        }

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "reason": r.text("reason"),
            "ledger_head": r.text("ledger_head"),
            "ledger_entries": r.integer("ledger_entries"),
        }


@ledger_event("verified")
@dataclass(frozen=True, kw_only=True)
class Verified(Event):
    """An examiner verified the case and signed the result."""

    result: str
    findings: int
    entries: int
    artifacts: int
    ledger_head: str

    def _fields(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "findings": self.findings,
            "entries": self.entries,
            "artifacts": self.artifacts,
            "ledger_head": self.ledger_head,
        }

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "result": r.text("result"),
            "findings": r.integer("findings"),
            "entries": r.integer("entries"),
            "artifacts": r.integer("artifacts"),
            "ledger_head": r.text("ledger_head"),
        }

    @property
    def ok(self) -> bool:
        return self.result == "verified"


@ledger_event("export_started")
@dataclass(frozen=True, kw_only=True)
class ExportStarted(Event):
    """An export begins, before anything is written: which bundle, where it goes, the
    staging folder it is built in, and which ledger (entries 1 to ``ledger_entries``) and
    verification it holds. Its ``exported`` or ``export_failed`` entry follows; a process
    killed in between leaves it open, and the next command of the case on ``host`` closes it
    (docs/DESIGN.md, Bundles)."""

    bundle_id: str
    generated_at: str
    path: str
    format: str
    staging: str
    host: str
    ledger_entries: int
    ledger_head: str
    verification: str
    findings: int

    def _fields(self) -> dict[str, Any]:
        return {
            "bundle_id": self.bundle_id,
            "generated_at": self.generated_at,
            "path": self.path,
            "format": self.format,
            "staging": self.staging,
            "host": self.host,
            "ledger_entries": self.ledger_entries,
            "ledger_head": self.ledger_head,
            "verification": self.verification,
            "findings": self.findings,
        }

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "bundle_id": r.text("bundle_id"),
            "generated_at": r.text("generated_at"),
            "path": r.text("path"),
            "format": r.text("format"),
            "staging": r.text("staging"),
            "host": r.text("host"),
            "ledger_entries": r.integer("ledger_entries"),
            "ledger_head": r.text("ledger_head"),
            "verification": r.text("verification"),
            "findings": r.integer("findings"),
        }


@ledger_event("export_failed")
@dataclass(frozen=True, kw_only=True)
class ExportFailed(Event):
    """An export that did not put its bundle in place, and why; its staging folder is gone.

    ``staging_files`` and ``staging_bytes`` say what was removed from ``staging`` (None when
    there was no staging folder left). ``recovered`` is True when a later command recorded
    it, the exporting process having stopped without an end."""

    bundle_id: str
    path: str
    reason: str
    staging: str
    staging_files: int | None = None
    staging_bytes: int | None = None
    recovered: bool = False

    def _fields(self) -> dict[str, Any]:
        return _compact(
            {
                "bundle_id": self.bundle_id,
                "path": self.path,
                "reason": self.reason,
                "staging": self.staging,
                "staging_files": self.staging_files,
                "staging_bytes": self.staging_bytes,
                "recovered": self.recovered or None,
            }
        )

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "bundle_id": r.text("bundle_id"),
            "path": r.text("path"),
            "reason": r.text("reason"),
            "staging": r.text("staging"),
            "staging_files": r.opt_integer("staging_files"),
            "staging_bytes": r.opt_integer("staging_bytes"),
            "recovered": r.flag("recovered"),
        }


@ledger_event("exported")
@dataclass(frozen=True, kw_only=True)
class Exported(Event):
    """A bundle was made: its id, where, and the SHA-256 of its manifest and file list."""

    bundle_id: str
    generated_at: str
    path: str
    format: str
    manifest_sha256: str
    sha256sums_sha256: str
    ledger_entries: int
    ledger_head: str
    files: int
    bytes: int
    verification: str
    findings: int
    zip_sha256: str | None = None
    #: An encrypted export (``--encrypt-to``): the SHA-256 of each recipient's certificate
    #: and of the CMS envelope written at ``path``; absent (older entries) when in clear.
    encrypted_to: tuple[str, ...] = ()
    p7m_sha256: str | None = None

    def _fields(self) -> dict[str, Any]:
        return _compact(
            {
                "bundle_id": self.bundle_id,
                "generated_at": self.generated_at,
                "path": self.path,
                "format": self.format,
                "manifest_sha256": self.manifest_sha256,
                "sha256sums_sha256": self.sha256sums_sha256,
                "ledger_entries": self.ledger_entries,
                "ledger_head": self.ledger_head,
                "files": self.files,
                "bytes": self.bytes,
                "verification": self.verification,
                "findings": self.findings,
                "zip_sha256": self.zip_sha256,
                "encrypted_to": list(self.encrypted_to) or None,
                "p7m_sha256": self.p7m_sha256,
            }
        )

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        return {
            "bundle_id": r.text("bundle_id"),
            "generated_at": r.text("generated_at"),
            "path": r.text("path"),
            "format": r.text("format"),
            "manifest_sha256": r.text("manifest_sha256"),
            "sha256sums_sha256": r.text("sha256sums_sha256"),
            "ledger_entries": r.integer("ledger_entries"),
            "ledger_head": r.text("ledger_head"),
            "files": r.integer("files"),
            "bytes": r.integer("bytes"),
            "verification": r.text("verification"),
            "findings": r.integer("findings"),
            "zip_sha256": r.opt_text("zip_sha256"),
            "encrypted_to": r.texts("encrypted_to"),
            "p7m_sha256": r.opt_text("p7m_sha256"),
        }


@ledger_event("index_rebuilt")
@dataclass(frozen=True, kw_only=True)
class IndexRebuilt(Event):
    """The case database's index tables were rebuilt from the verified ledger."""

    ledger_head: str
    ledger_entries: int
    rows: Mapping[str, int]
    mismatches: int
    reason: str

    def _fields(self) -> dict[str, Any]:
        return {
            "ledger_head": self.ledger_head,
            "ledger_entries": self.ledger_entries,
            "rows": dict(self.rows),
            "mismatches": self.mismatches,
            "reason": self.reason,
        }

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        rows = r.obj("rows") or {}
        if any(type(n) is not int for n in rows.values()):
            raise r._bad("rows", "is not an object of counts")
        return {
            "ledger_head": r.text("ledger_head"),
            "ledger_entries": r.integer("ledger_entries"),
            "rows": dict(rows),
            "mismatches": r.integer("mismatches"),
            "reason": r.text("reason"),
        }


@ledger_event("timestamped")
@dataclass(frozen=True, kw_only=True)
class Timestamped(Event):
    """RFC 3161 tokens were added late (``chainproof timestamp``) for these signed entries,
    which had none when they were written (``timestamps/<seq>.tsr``)."""

    seqs: tuple[int, ...]
    tsa: str
    reason: str

    def _fields(self) -> dict[str, Any]:
        return {"seqs": list(self.seqs), "tsa": self.tsa, "reason": self.reason}

    @classmethod
    def _read(cls, r: _Reader, v: int) -> dict[str, Any]:
        seqs = r._get("seqs", True)
        if not isinstance(seqs, list) or any(type(n) is not int or n < 1 for n in seqs):
            raise r._bad("seqs", "is not a list of entry numbers")
        return {"seqs": tuple(seqs), "tsa": r.text("tsa"), "reason": r.text("reason")}


#: Event names a person answers for (each entry signed on its own).
SIGNED_EVENTS = frozenset(k for k, c in REGISTRY.items() if c.SIGNED)
#: Event names that come by the thousand, covered by the next signed checkpoint.
BULK_EVENTS = frozenset(k for k, c in REGISTRY.items() if not c.SIGNED)
