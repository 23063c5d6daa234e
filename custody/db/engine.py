"""Opening a case database (SQLite file or PostgreSQL URL) and bringing its schema up to date."""

from __future__ import annotations

import collections
import functools
import itertools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, text
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


#: Rows fetched from the driver per call by :func:`read_rows`: bounded memory, few calls.
READ_BATCH = 2000
_CURSOR_NAMES = itertools.count(1)
_NOT_UTF8 = "Could not decode to UTF-8"


def read_rows(
    session: Session, sql: str, params: Sequence[Any], *, batch: int = READ_BATCH
) -> Iterator[tuple[Any, ...]]:
    """The rows of one SELECT (``?`` marks its parameters) straight from the driver's cursor.

    The values are what a Core ``select()`` of the same columns returns (our column types
    have no result processing on SQLite or psycopg), without its per-row work: a few
    microseconds less per row on a bulk read. Rows are fetched ``batch`` at a time, through
    a server-side cursor on PostgreSQL, so memory stays flat. SQLite text is decoded in C;
    only after a value that is not UTF-8 (a damaged file) is the query read again with the
    connection's own text factory (:func:`_text`), skipping the rows already given. That
    relies on the caller ordering the rows by a unique key, so that the second reading gives
    them in the first one's order (rows appended meanwhile sort after them): the ledger reads
    order by ``seq, id``, the index's bulk tables by ``seq``, their primary key within a case.
    Driver errors are raised as SQLAlchemy's (:class:`~sqlalchemy.exc.DBAPIError`), as a Core
    execute raises them.
    """
    conn = session.connection()
    dialect = conn.dialect
    if dialect.paramstyle != "qmark":
        sql = sql.replace("%", "%%").replace("?", "%s")
    params = tuple(params)
    base_error: type[Exception] = dialect.loaded_dbapi.Error
    try:
        if dialect.name == "sqlite":
            yield from _sqlite_rows(conn, sql, params, batch)
        else:
            yield from _cursor_rows(conn, sql, params, batch)
    except base_error as exc:
        wrapped = DBAPIError.instance(sql, params, exc, base_error, dialect=dialect)
        raise cast(Exception, wrapped) from exc


def _cursor_rows(
    conn: Connection, sql: str, params: tuple[Any, ...], batch: int
) -> Iterator[tuple[Any, ...]]:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    if conn.dialect.name == "postgresql":  # server-side: the client holds one batch at a time
        cursor = dbapi.cursor(name=f"chainproof_read_{next(_CURSOR_NAMES)}")
    else:
        cursor = dbapi.cursor()
    with closing(cursor):
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(batch):
            yield from rows


def _sqlite_rows(
    conn: Connection, sql: str, params: tuple[Any, ...], batch: int
) -> Iterator[tuple[Any, ...]]:
    dbapi = conn.connection.dbapi_connection
    assert isinstance(dbapi, sqlite3.Connection)
    own_factory = dbapi.text_factory
    given = 0
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, params)
        while True:
            # The factory is read as each row is made: C's strict UTF-8 for our fetch only,
            # the connection's own between fetches (other queries run on it meanwhile).
            dbapi.text_factory = str
            try:
                rows = cursor.fetchmany(batch)
            except sqlite3.OperationalError as exc:
                if _NOT_UTF8 not in str(exc):
                    raise
                break  # this batch is lost: read again, the slow way, from row ``given``
            finally:
                dbapi.text_factory = own_factory
            if not rows:
                return
            given += len(rows)
            yield from rows
        cursor.close()
        cursor = dbapi.cursor()
        cursor.execute(sql, params)
        collections.deque(itertools.islice(cursor, given), maxlen=0)  # skip what was given
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        cursor.close()


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
