"""The evidence store: run archives by name, and nothing outside it reachable by a name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from custody.errors import StoreError
from custody.store.storage import LocalEvidenceStore, archive_name

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("evidence/1f0c.tar", "1f0c.tar"),
        ("evidence/../case.db", None),
        ("evidence/..", None),
        ("/evidence/x.tar", None),
        ("evidence/sub/x.tar", None),
        ("exports/x.tar", None),
        ("x.tar", None),
        ("", None),
    ],
)
def test_archive_names_come_only_from_evidence_references(reference: str, name: str) -> None:
    assert archive_name(reference) == name


def test_local_store_creates_lists_reads_and_resumes(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path / "evidence")
    assert store.names() == [] and not store.exists("r.tar")
    archive = store.create("r.tar")
    member = archive.add_bytes("volatile/x", b"hello\n", mtime_ns=0)
    archive.add_bytes("volatile/y", b"torn\n", mtime_ns=0)
    archive.flush()
    with pytest.raises(StoreError, match="already exists"):
        store.create("r.tar")
    assert store.names() == ["r.tar"] and store.size("r.tar") == archive.offset
    with store.open("r.tar") as f:
        f.seek(member.data_offset)
        assert f.read(member.size) == b"hello\n"
    archive.abandon()
    resumed = store.resume("r.tar", member.end)  # a crash: cut back to the last member kept
    assert resumed.close() == member.end + 1024
    assert store.size("r.tar") == member.end + 1024
    with pytest.raises(ValueError, match="not an archive name"):
        store.open("../case.db")
    assert store.spool() == tmp_path / "evidence"


def test_run_archives_are_reached_through_the_store_only() -> None:
    """Outside custody/store, nobody builds a path into the evidence folder or makes a
    RunArchive of a path: everything goes through an EvidenceStore."""
    found = []
    for package in ("app", "custody", "ui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_relative_to(ROOT / "custody" / "store"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.BinOp)
                    and isinstance(node.op, ast.Div)
                    and isinstance(node.left, ast.Attribute)
                    and node.left.attr == "evidence_dir"
                ) or (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "RunArchive"
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
