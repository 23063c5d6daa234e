"""Rules of the code's shape that a linter cannot state: one owner for the record."""

from __future__ import annotations

import ast
from pathlib import Path

from custody.record.events import JOURNAL_KINDS, REGISTRY

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "collectors", "custody", "ui", "benchmarks", "scripts")
#: Event names that are also ordinary words of the record (journal kinds, results, states):
#: the literal alone does not say which is meant, so they cannot be checked this way.
AMBIGUOUS = {*JOURNAL_KINDS, "verified", "sealed"}


def test_no_event_name_is_spelled_outside_its_declaration() -> None:
    """Every event kind is named once, in custody/record/events.py; others use its EVENT."""
    names = set(REGISTRY) - AMBIGUOUS
    assert {"artifact_collected", "run_started", "checkpoint", "transferred"} <= names
    spelled = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "custody" / "record" / "events.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            # Keys of a document written out (manifest.json's "accessed" count) are fields of
            # that document, not event names.
            keys = {id(k) for d in ast.walk(tree) if isinstance(d, ast.Dict) for k in d.keys}
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and node.value in names and id(node) not in keys:
                    spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert spelled == []


def test_no_payload_is_picked_apart_by_hand() -> None:
    """Outside the record package, nobody reads ``.payload[...]`` or ``.payload.get(...)``."""
    found = []
    for package in ("app", "collectors", "custody", "ui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_relative_to(ROOT / "custody" / "record"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                target = None
                if isinstance(node, ast.Subscript):
                    target = node.value
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "get"
                ):
                    target = node.func.value
                if isinstance(target, ast.Attribute) and target.attr == "payload":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
