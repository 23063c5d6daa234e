"""The case database: typed SQLAlchemy 2 models.

The ledger (``ledger_entries``) is the record of truth; ``artifacts`` and
``collection_errors`` are indexes over it that make browsing and re-hashing fast.
Times are timezone-aware UTC; nanosecond file times are kept as decimal strings
(``"1700000000.123456789"``) because they exceed the integer range of canonical JSON.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A datetime stored without zone and always returned as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the case database")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    pass


class Case(Base):
    """A case: the evidence of one incident, and the incident record itself."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    incident_ref: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="reported")
    organisation: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    requesting_party: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str | None] = mapped_column(Text)
    responsible: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Examiner(Base):
    """A person who acted on the case, known by certificate fingerprint (SHA-256 of DER)."""

    __tablename__ = "examiners"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    name: Mapped[str] = mapped_column(Text)
    organisation: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    certificate_pem: Mapped[str] = mapped_column(Text)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Run(Base):
    """One collection run: one archive, many artifacts."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    profile: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # running | finished | interrupted | recovered
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    examiner: Mapped[str] = mapped_column(String(64))
    hostname: Mapped[str] = mapped_column(Text)
    command_line: Mapped[str] = mapped_column(Text)
    tool_version: Mapped[str] = mapped_column(String(32))
    tool_sha256: Mapped[str] = mapped_column(String(64))
    archive_name: Mapped[str] = mapped_column(Text)
    archive_size: Mapped[int | None] = mapped_column(BigInteger)
    archive_sha256: Mapped[str | None] = mapped_column(String(64))
    pid: Mapped[int | None] = mapped_column(Integer)
    artifact_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    bytes_collected: Mapped[int] = mapped_column(BigInteger, default=0)


class Artifact(Base):
    """One archive member: a copied file or a volatile record set."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("run_id", "member_name"),
        Index("ix_artifacts_run_collector", "run_id", "collector"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    ledger_seq: Mapped[int] = mapped_column(Integer)
    collector: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # file | symlink | directory | volatile
    member_name: Mapped[str] = mapped_column(Text)
    header_offset: Mapped[int] = mapped_column(BigInteger)
    data_offset: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sha1: Mapped[str] = mapped_column(String(40))
    md5: Mapped[str] = mapped_column(String(32))
    source_path: Mapped[str | None] = mapped_column(Text)
    source_path_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)
    mode: Mapped[int | None] = mapped_column(Integer)
    uid: Mapped[int | None] = mapped_column(Integer)
    gid: Mapped[int | None] = mapped_column(Integer)
    mtime: Mapped[str | None] = mapped_column(String(32))
    atime: Mapped[str | None] = mapped_column(String(32))
    ctime: Mapped[str | None] = mapped_column(String(32))
    birthtime: Mapped[str | None] = mapped_column(String(32))
    symlink_target: Mapped[str | None] = mapped_column(Text)
    changed_while_read: Mapped[bool] = mapped_column(Boolean, default=False)
    collected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CollectionError(Base):
    """Something that was not collected, and why: a skip or an error."""

    __tablename__ = "collection_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    ledger_seq: Mapped[int] = mapped_column(Integer)
    collector: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # skipped | error | changed
    path: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    """One append-only, hash-chained custody record. UPDATE and DELETE are refused by triggers."""

    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[str] = mapped_column(String(32))  # ISO 8601 UTC with microseconds, "Z"
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    signatures: Mapped[str | None] = mapped_column(Text)  # JSON list of {"by", "sig"}
