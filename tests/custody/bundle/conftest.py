"""Fixtures for the bundle tests: a case with one run of odd names, and its bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cases import CaseHandle, create_case
from custody.record.keys import Identity
from tests.custody.bundle.helpers import ODD_FILES, add_run, export


@pytest.fixture
def report_module() -> None:
    pytest.importorskip(
        "custody.report.build", reason="custody/report/build.py (the PDF report) is not there yet"
    )


@pytest.fixture
def case(tmp_path: Path, alice: Identity) -> CaseHandle:
    handle = create_case(tmp_path / "case", alice, title="Export test", incident_ref="INC-42")
    add_run(handle, alice, ODD_FILES)
    return handle


@pytest.fixture
def bundle(report_module: None, case: CaseHandle, alice: Identity, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    export(case, alice, out)
    return out
