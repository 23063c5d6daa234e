"""Database triggers that refuse UPDATE and DELETE on the ledger, for SQLite and PostgreSQL.

They stop mistakes and casual edits. An attacker with raw database access can drop them;
the hash chain and the signatures are what catch that (see ``custody/verify/case.py``).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

GUARDED_TABLES = ("ledger_entries",)

_SQLITE = """
CREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {OP} ON {table}
BEGIN SELECT RAISE(ABORT, 'the custody ledger is append-only: {OP} refused'); END
"""

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION chainproof_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the custody ledger is append-only: % refused', TG_OP;
END $$ LANGUAGE plpgsql
"""

_PG_TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION chainproof_refuse_change()
"""

_PG_TRUNCATE = """
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION chainproof_refuse_change()
"""


def create_append_only_guards(conn: Connection) -> None:
    """Install the guards on every append-only table of the connected database."""
    dialect = conn.dialect.name
    for table in GUARDED_TABLES:
        if dialect == "sqlite":
            for op in ("update", "delete"):
                conn.execute(text(_SQLITE.format(table=table, op=op, OP=op.upper())))
        elif dialect == "postgresql":
            conn.execute(text(_PG_FUNCTION))
            conn.execute(text(_PG_TRIGGER.format(table=table)))
            conn.execute(text(_PG_TRUNCATE.format(table=table)))
        else:
            raise NotImplementedError(f"no append-only guard for {dialect}")
