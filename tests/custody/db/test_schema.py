"""The migrations are literal DDL: 0001 is the format 1 schema as released, and the head
schema is what the live models describe."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine

from custody.db.engine import SCHEMA_HEAD, migrate
from custody.db.models import Base

FIXTURE_DB = Path(__file__).parents[2] / "fixtures" / "legacy-v1" / "case" / "case.db"
MIGRATIONS = Path(__file__).parents[3] / "custody" / "db" / "migrations"


def upgrade(engine: Engine, revision: str) -> None:
    """Run the migrations up to ``revision`` (not necessarily the head)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def sqlite_schema(path: Path) -> dict[str, object]:
    """Tables with their columns, indexes, keys and triggers, as SQLite reports them."""
    db = sqlite3.connect(path)
    try:
        out: dict[str, object] = {}
        for kind, name, sql in db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
            "AND name != 'alembic_version' ORDER BY type, name"
        ):
            if kind == "table":
                out[name] = (
                    db.execute(f"PRAGMA table_info({name})").fetchall(),
                    sorted(db.execute(f"PRAGMA index_list({name})").fetchall()),
                    db.execute(f"PRAGMA foreign_key_list({name})").fetchall(),
                )
            elif kind in ("index", "trigger"):
                out[f"{kind} {name}"] = re.sub(r"\s+", " ", sql or "").strip()
        return out
    finally:
        db.close()


def test_0001_is_the_released_format_1_schema(tmp_path: Path) -> None:
    released = tmp_path / "released.db"
    shutil.copyfile(FIXTURE_DB, released)  # made by the format 1 code
    fresh = tmp_path / "fresh.db"
    upgrade(create_engine(f"sqlite:///{fresh}"), "0001")
    assert sqlite_schema(fresh) == sqlite_schema(released)


def test_head_schema_is_what_the_models_describe(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'head.db'}")
    migrate(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        assert ctx.get_current_revision() == SCHEMA_HEAD
        assert compare_metadata(ctx, Base.metadata) == []


def test_ledger_stays_append_only_after_every_migration(tmp_path: Path) -> None:
    path = tmp_path / "case.db"
    migrate(create_engine(f"sqlite:///{path}"))
    db = sqlite3.connect(path)
    try:
        triggers = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    finally:
        db.close()
    assert triggers == {"ledger_entries_no_update", "ledger_entries_no_delete"}
