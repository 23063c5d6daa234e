"""The artifact table after case.db's index was edited: it shows what the ledger records."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from app.cases import create_case
from app.collection import CollectionRun
from collectors.profiles import load_profile
from custody.record.keys import Identity
from ui.artifact_model import ArtifactTableModel


def test_table_shows_the_ledger_not_the_edited_index(
    qtbot: Any, tmp_path: Path, alice: Identity
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "evidence.txt").write_bytes(b"the evidence\n")
    case = create_case(tmp_path / "case", alice, title="UI index")
    profile = load_profile("none").with_paths([f"{src}/**"])
    assert CollectionRun(case, alice, profile).execute().status == "finished"
    model = ArtifactTableModel()
    model.set_case(case)
    columns = [key for key, _title in model.columns]
    shown = {
        model.data(model.index(r, 0)): [model.data(model.index(r, c)) for c in range(len(columns))]
        for r in range(model.rowCount())
    }
    target = str(src / "evidence.txt")
    assert target in shown

    db = sqlite3.connect(case.root / "case.db")
    db.execute(
        "UPDATE artifacts SET source_path = '/forged', sha256 = 'f00d', size = 1, "
        "collector = 'forged', collected_at = '1999-01-01T00:00:00.000000Z'"
    )
    db.commit()
    db.close()
    model.reload()
    after = {
        model.data(model.index(r, 0)): [model.data(model.index(r, c)) for c in range(len(columns))]
        for r in range(model.rowCount())
    }
    assert after == shown  # every value, every row: the ledger's
