"""Fixtures for service-level tests: real collected cases."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cases import CaseHandle, create_case
from app.collection import CollectionRun, RunSummary
from collectors.profiles import load_profile
from custody.record.keys import Identity


def make_tree(root: Path, spec: dict[str, bytes]) -> Path:
    """Create files under ``root`` from {relative path: content}."""
    for rel, data in spec.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


@pytest.fixture
def collected_case(
    tmp_path: Path, alice: Identity
) -> Callable[..., tuple[CaseHandle, RunSummary, Path]]:
    """Factory: a case with one finished run of profile ``none`` over a small tree."""

    def make(
        spec: dict[str, bytes] | None = None, name: str = "case"
    ) -> tuple[CaseHandle, RunSummary, Path]:
        tree = make_tree(
            tmp_path / f"{name}-src",
            spec
            or {
                "a.txt": b"alpha\n",
                "b/c.bin": os.urandom(5000),
                "b/d.log": b"line\n" * 300,
                "e.txt": b"echo\n",
            },
        )
        case = create_case(tmp_path / name, alice, title="Tamper test", incident_ref="INC-9")
        profile = load_profile("none").with_paths([f"{tree}/**"])
        result = CollectionRun(case, alice, profile).execute()
        assert result.status == "finished"
        return case, result, tree

    return make
