"""Opening a case database (SQLite file or PostgreSQL URL) and bringing its schema up to date."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from custody.errors import DatabaseError

SCHEMA_HEAD = "0002"
_MIGRATIONS = Path(__file__).with_name("migrations")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _text(raw: bytes) -> str:
    """SQLite TEXT as str; bytes that are not UTF-8 (a damaged file) are kept as surrogates,
    so a read never fails and the verifier reports the value as not the ledger's."""
    return raw.decode("utf-8", "surrogateescape")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.text_factory = _text
    cur = dbapi_conn.cursor()
    try:
        # WAL keeps readers (the GUI) working during a run; FULL makes each commit durable:
        # a committed ledger entry survives a power cut.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
    except UnicodeDecodeError as exc:
        # SQLite's message quotes the damaged schema, which the driver cannot decode.
        text = exc.object.decode("utf-8", "backslashreplace")
        raise sqlite3.DatabaseError(text) from exc
    finally:
        cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings Chainproof relies on."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:
        raise DatabaseError(f"cannot use database {redact(url)}: {exc}") from exc
    return engine


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return "<database url>"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic); cheap when it already is."""
    try:
        if current_revision(engine) == SCHEMA_HEAD:
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        from alembic.util import CommandError

        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, "head")
            except CommandError as exc:  # e.g. a revision this version does not know
                raise DatabaseError(
                    f"the schema of the case database {redact(str(engine.url))} cannot be "
                    f"brought up to date: {exc}"
                ) from exc
    except DBAPIError as exc:
        raise DatabaseError(_explain(exc, engine)) from exc


def _explain(exc: DBAPIError, engine: Engine) -> str:
    detail = str(exc.orig).strip() if exc.orig is not None else str(exc)
    where = redact(str(engine.url))
    if "file is not a database" in detail or "malformed" in detail:
        return f"the case database {where} is corrupt ({detail}); keep the file as it is and verify the case"
    return f"database error on {where}: {detail}"


def open_database(url: str) -> sessionmaker[Session]:
    """Open (and migrate) the database at ``url``; return a session factory."""
    engine = make_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


def insert_many(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys, in the same order) with the driver's own
    ``executemany``: about half the cost per row of a Core insert, which matters on the
    ledger writer's path (a ledger row and an index row per entry)."""
    if not rows:
        return
    conn = session.connection()
    sql = _insert_sql(table, tuple(rows[0]), conn.dialect.paramstyle)
    conn.exec_driver_sql(sql, [tuple(r.values()) for r in rows])


@functools.cache
def _insert_sql(table: Table, cols: tuple[str, ...], paramstyle: str) -> str:
    unknown = set(cols) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name} has no columns {sorted(unknown)}")
    mark = "?" if paramstyle == "qmark" else "%s"
    return f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"


@contextmanager
def snapshot(sessions: sessionmaker[Session]) -> Iterator[sessionmaker[Session]]:
    """Sessions that all read one consistent state of the database, and write nothing.

    Everything read through them sees the database as it was at their first read, even
    while another process appends (SQLite: one read transaction; PostgreSQL: REPEATABLE
    READ). Used to compare the index with the ledger without racing a writer.
    """
    engine: Engine = sessions.kw["bind"]
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # pysqlite would not begin for reads alone
        else:
            conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield sessionmaker(bind=conn, expire_on_commit=False)
        finally:
            conn.rollback()


def wrap_db_errors(exc: SQLAlchemyError, engine: Engine) -> DatabaseError:
    """Turn a driver error into a :class:`DatabaseError` that speaks to a person."""
    if isinstance(exc, DBAPIError):
        return DatabaseError(_explain(exc, engine))
    return DatabaseError(f"database error on {redact(str(engine.url))}: {exc}")
