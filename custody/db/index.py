"""Building a case's index from its ledger: on first open after a migration, and on request.

The rows themselves are :mod:`custody.db.projection`'s; this module runs the transactions.
Both functions lock the case's row as the ledger writer does, so no entry can be appended
while the index is rebuilt, and read the ledger inside that transaction.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from custody.db.engine import wrap_db_errors
from custody.db.ledger import lock_head, read_entries
from custody.db.models import UNBUILT, IndexState
from custody.db.projection import lock_case_row, rebuild
from custody.errors import DatabaseError


def _in(session: Session) -> sessionmaker[Session]:
    """Sessions that read through ``session``'s connection, inside its transaction."""
    return sessionmaker(bind=session.connection())


def catch_up(sessions: sessionmaker[Session], case_id: str) -> bool:
    """Build the case's index from its ledger if it was never built; True if it was built.

    A case's index is not built after a schema migration (0002 drops the old index tables
    and marks each case's ``index_state`` :data:`UNBUILT`); otherwise this costs one small
    query. Unlike ``chainproof case reindex`` it verifies nothing and records nothing: it
    does what the ledger writer would have done. A missing ``index_state`` row is damage,
    and a ledger whose values the database cannot hold (a damaged or forged ledger) leaves
    the index unbuilt: both are left for ``verify`` to report.
    """
    with sessions() as s:
        if not _unbuilt(s, case_id):
            return False
    try:
        with sessions.begin() as s:
            lock_case_row(s, case_id)
            if not _unbuilt(s, case_id):
                return False  # another process built it meanwhile
            rebuild(s, case_id, read_entries(_in(s), case_id))
    except (StatementError, ValueError) as exc:
        # A value the database refuses (e.g. text that cannot be encoded): the data's fault.
        if isinstance(exc, StatementError) and not _data_error(exc):
            raise
        return False
    return True


def _unbuilt(session: Session, case_id: str) -> bool:
    state = session.get(IndexState, case_id)
    return state is not None and state.ledger_seq == UNBUILT


def _data_error(exc: StatementError) -> bool:
    return isinstance(exc, DataError | IntegrityError) or isinstance(exc.orig, ValueError)


def rebuild_index(
    sessions: sessionmaker[Session], case_id: str, *, head: tuple[int, str] | None = None
) -> dict[str, int]:
    """Replace the case's index with the rows of its ledger, in one transaction.

    ``head`` (seq, entry hash) is the ledger head the caller verified: if entries were
    appended since, nothing is changed and :class:`DatabaseError` says so. Returns the rows
    written per table.
    """
    engine = sessions.kw["bind"]
    try:
        with sessions.begin() as s:
            lock_case_row(s, case_id)
            now = lock_head(s, case_id)
            if head is not None and now != head:
                raise DatabaseError(
                    f"the ledger of case {case_id} changed while it was verified (head now "
                    f"entry {now[0]}, verified {head[0]}); nothing was rebuilt: run it again"
                )
            return rebuild(s, case_id, read_entries(_in(s), case_id))
    except SQLAlchemyError as exc:
        raise wrap_db_errors(exc, engine) from exc
