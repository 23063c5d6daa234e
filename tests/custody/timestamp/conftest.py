"""A real local timestamp authority (``openssl ts -reply``) for the timestamp tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tsa_server import Tsa, run_tsa


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tsa]:
    with run_tsa(tmp_path_factory.mktemp("tsa")) as running:
        yield running
