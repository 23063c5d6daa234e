"""A run's lease in PostgreSQL: a session-level advisory lock on a connection of its own.

A running collection holds the lease of its run for as long as it runs. The lock belongs to
the database session, so the server releases it when the session ends: when the process
dies, is killed, or loses its connection. Whoever wants to recover a run takes its lease
first, without waiting; a lease that is held means the run is alive, wherever it runs.
"""

from __future__ import annotations

import contextlib
import hashlib

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from custody.db.engine import wrap_db_errors
from custody.errors import LeaseLost

#: Keeps run leases apart from any other advisory lock an application may take.
_NAMESPACE = b"chainproof run lease\0"


def lease_key(case_id: str, run_id: str) -> int:
    """The advisory lock key (a signed 64-bit integer) of one run of one case."""
    digest = hashlib.sha256(_NAMESPACE + f"{case_id}/{run_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLease:
    """The lease of one run, held by a dedicated connection (see the module docstring)."""

    def __init__(self, engine: Engine, key: int, conn: Connection) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = conn

    @classmethod
    def try_take(cls, engine: Engine, case_id: str, run_id: str) -> AdvisoryLease | None:
        """The run's lease, or None when another session holds it (the run is alive)."""
        key = lease_key(case_id, run_id)
        try:
            conn = _connect(engine)
            try:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            except BaseException:
                _drop(conn)
                raise
        except SQLAlchemyError as exc:
            raise wrap_db_errors(exc, engine) from exc
        if not got:
            _drop(conn)
            return None
        return cls(engine, key, conn)

    #: A free advisory lock leaves no trace: nothing tells whether the run ever held it.
    found = False

    @property
    def held(self) -> bool:
        return self._conn is not None

    def keep(self) -> bool:
        """Make sure the lease still holds; True when it had to be taken again on a new
        session (the caller then checks that no one ended the run meanwhile)."""
        if self.alive():
            return False
        if self.retake():
            return True
        raise LeaseLost(
            "this run's lease in the database was lost (its connection dropped) and another "
            "process holds it now: the run stops here, without writing more; the next "
            "collection records its end"
        )

    def alive(self) -> bool:
        """Whether the lease's session still exists (then it still holds the lock)."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            _drop(self._conn)
            self._conn = None
            return False
        return True

    def retake(self) -> bool:
        """After the session was lost: take the lock again on a new one, if it is free."""
        if self.alive():
            return True
        try:
            conn = _connect(self.engine)
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
        except SQLAlchemyError:
            return False
        if not got:
            _drop(conn)
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        """End the lease: the session is closed, and the lock goes with it."""
        if self._conn is not None:
            _drop(self._conn)
            self._conn = None


def _connect(engine: Engine) -> Connection:
    # Autocommit: the lease's session never sits "idle in transaction" for a run's life.
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _drop(conn: Connection) -> None:
    """Close the connection for good (not back to the pool, where the lock would live on)."""
    with contextlib.suppress(SQLAlchemyError):
        conn.invalidate()
        conn.close()
