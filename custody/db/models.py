"""The case database: typed SQLAlchemy 2 models (schema 2).

The ledger (``ledger_entries``) is the record. Every other table is an *index* over it, for
speed: each of its values is derived from the ledger alone by :mod:`custody.db.projection`,
``verify`` recomputes and compares every column of every row
(:mod:`custody.verify.index`), and ``chainproof case reindex`` rebuilds them. Index rows
carry their case id, so several cases can share one PostgreSQL database.

Values are kept as the ledger writes them: times as the ledger's text (ISO 8601 UTC with
``Z``; nanosecond file times as decimal seconds), names as text plus ``*_b64`` for bytes
that are not UTF-8, command lines as JSON. The migrations in ``migrations/versions`` are
literal DDL; ``tests/custody/db/test_schema.py`` checks that these models match them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Case(Base):
    """A case as its ledger describes it (``case_opened`` with later ``case_updated``).

    The row is also what the ledger writer locks before it appends (see
    :func:`custody.db.ledger.lock_head`), so it exists from the case's creation on.
    """

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    opened_seq: Mapped[int | None] = mapped_column(BigInteger)
    title: Mapped[str | None] = mapped_column(Text)
    incident_ref: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)
    organisation: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    requesting_party: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str | None] = mapped_column(Text)
    responsible: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[str | None] = mapped_column(Text)


class Examiner(Base):
    """A person known to the case by certificate fingerprint: their first ``identity_added``."""

    __tablename__ = "examiners"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    organisation: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    certificate_pem: Mapped[str] = mapped_column(Text)
    added_seq: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[str] = mapped_column(Text)


class Run(Base):
    """One collection run: its ``run_started`` and ``run_finished`` entries and its counts.

    The counts are the fold's (entries counted); the ledger writer keeps them current batch
    by batch, so a running run shows live counts.
    """

    __tablename__ = "runs"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(Text, primary_key=True)
    started_seq: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[str] = mapped_column(Text)
    examiner: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    command_line: Mapped[str] = mapped_column(Text)  # JSON list of argv, exactly
    tool_version: Mapped[str | None] = mapped_column(Text)
    tool_sha256: Mapped[str | None] = mapped_column(Text)
    archive: Mapped[str] = mapped_column(Text)  # evidence/<run>.tar, as recorded
    pid: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text)  # running until run_finished says otherwise
    finished_seq: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    archive_size: Mapped[int | None] = mapped_column(BigInteger)
    archive_sha256: Mapped[str | None] = mapped_column(Text)
    artifacts: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    regular_files: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)
    skipped: Mapped[int] = mapped_column(BigInteger)
    changed: Mapped[int] = mapped_column(BigInteger)


class Artifact(Base):
    """One ``artifact_collected`` entry: an archive member and what its source said."""

    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_run_collector", "case_id", "run_id", "collector"),)

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text)
    collector: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)  # file | symlink | directory | volatile | command
    member_name: Mapped[str] = mapped_column(Text)
    member_b64: Mapped[str | None] = mapped_column(Text)
    header_offset: Mapped[int] = mapped_column(BigInteger)
    data_offset: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    header_sha256: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(Text)
    sha1: Mapped[str] = mapped_column(Text)
    md5: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str | None] = mapped_column(Text)
    source_path_b64: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    gid: Mapped[int | None] = mapped_column(BigInteger)
    uname: Mapped[str | None] = mapped_column(Text)
    gname: Mapped[str | None] = mapped_column(Text)
    mtime: Mapped[str | None] = mapped_column(Text)
    atime: Mapped[str | None] = mapped_column(Text)
    ctime: Mapped[str | None] = mapped_column(Text)
    birthtime: Mapped[str | None] = mapped_column(Text)
    symlink_target: Mapped[str | None] = mapped_column(Text)
    symlink_target_b64: Mapped[str | None] = mapped_column(Text)
    changed: Mapped[str | None] = mapped_column(Text)  # why the file changed while read
    note: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    collected_at: Mapped[str] = mapped_column(Text)  # the entry's time


class CollectionError(Base):
    """One ``collection_error`` entry: something not collected (skipped, error, changed)."""

    __tablename__ = "collection_errors"
    __table_args__ = (Index("ix_collection_errors_run", "case_id", "run_id"),)

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text)
    collector: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    path_b64: Mapped[str | None] = mapped_column(Text)
    at: Mapped[str] = mapped_column(Text)  # the entry's time


class IndexState(Base):
    """How far the index of a case is projected: the last ledger entry it includes.

    ``ledger_seq`` :data:`UNBUILT` marks an index not built yet (a database just migrated):
    opening the case builds it from the ledger. A missing row is a damaged index.
    """

    __tablename__ = "index_state"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ledger_seq: Mapped[int] = mapped_column(BigInteger)
    ledger_head: Mapped[str] = mapped_column(Text)


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


#: ``index_state.ledger_seq`` of a case whose index was never built.
UNBUILT = -1

#: The index tables, in the order verification reports them.
INDEX_TABLES = ("cases", "examiners", "runs", "artifacts", "collection_errors", "index_state")
