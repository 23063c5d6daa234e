"""Run leases on a real PostgreSQL server: held by a session, gone with it."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from custody.db.lease import AdvisoryLease, lease_key
from custody.errors import LeaseLost

pytestmark = pytest.mark.postgres


def _terminate(url: str, key: int) -> None:
    """End the session that holds ``key``, as a dropped connection would, and wait for it."""
    held = text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = :c "
        "AND objid::bigint = :o AND objsubid = 1"
    )
    where = {"c": (key >> 32) & 0xFFFFFFFF, "o": key & 0xFFFFFFFF}
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        pids = conn.execute(held, where).scalars().all()
        assert len(pids) == 1
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
        deadline = time.monotonic() + 10
        while conn.execute(held, where).first() is not None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    admin.dispose()


def test_a_lease_is_held_by_one_session_and_goes_with_it(pg_url: str) -> None:
    mine, theirs = create_engine(pg_url), create_engine(pg_url)
    lease = AdvisoryLease.try_take(mine, "case", "run")
    assert lease is not None and lease.held and not lease.found
    assert AdvisoryLease.try_take(theirs, "case", "run") is None  # held: the run is alive
    assert AdvisoryLease.try_take(theirs, "case", "other run") is not None
    assert lease.keep() is False  # still held: nothing to do
    lease.release()
    again = AdvisoryLease.try_take(theirs, "case", "run")
    assert again is not None
    again.release()
    # Released connections do not carry the lock back into the pool.
    back = AdvisoryLease.try_take(mine, "case", "run")
    assert back is not None
    back.release()
    mine.dispose()
    theirs.dispose()


def test_a_lost_session_is_taken_again_or_reported(pg_url: str) -> None:
    engine, other = create_engine(pg_url), create_engine(pg_url)
    lease = AdvisoryLease.try_take(engine, "case", "lost")
    assert lease is not None
    _terminate(pg_url, lease_key("case", "lost"))
    assert lease.keep() is True  # the lock was free: taken again on a new session
    assert AdvisoryLease.try_take(other, "case", "lost") is None
    _terminate(pg_url, lease_key("case", "lost"))
    recoverer = AdvisoryLease.try_take(other, "case", "lost")  # another process got it
    assert recoverer is not None
    with pytest.raises(LeaseLost, match="lease in the database was lost"):
        lease.keep()
    recoverer.release()
    engine.dispose()
    other.dispose()
