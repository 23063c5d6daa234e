"""Fixtures for the database tests: a throwaway PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg_server import postgres_server, skip_without_postgres


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A PostgreSQL server of the test module's own, started on first use and stopped after the
    module's last test; its SQLAlchemy URL. Skipped without the server binaries (outside CI)."""
    skip_without_postgres()
    with postgres_server() as url:
        yield url
