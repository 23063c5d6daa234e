"""Fixtures for the collector tests: contexts, running collectors, dropping privileges."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors import REGISTRY
from collectors.base import CollectContext, Host, Observation


@pytest.fixture
def make_ctx(tmp_path: Path) -> Callable[..., CollectContext]:
    """Factory: a CollectContext for this host; the output dir defaults to a fresh ``case``."""

    def make(output_dir: Path | None = None, **options: Any) -> CollectContext:
        out = output_dir or tmp_path / "case"
        out.mkdir(parents=True, exist_ok=True)
        return CollectContext(host=Host.this(), options=options, output_dir=out)

    return make


@pytest.fixture
def run(make_ctx: Callable[..., CollectContext]) -> Callable[..., list[Observation]]:
    """Factory: run the named collector with options, return every observation."""

    def go(name: str, output_dir: Path | None = None, **options: Any) -> list[Observation]:
        return list(REGISTRY[name]().collect(make_ctx(output_dir, **options)))

    return go


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A temporary directory that an unprivileged user can reach (tmp_path is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="chainproof-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            full = Path(dirpath) / d
            if not full.is_symlink():
                full.chmod(stat.S_IRWXU)
    shutil.rmtree(path)
