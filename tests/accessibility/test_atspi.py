"""The desktop app as a screen reader reads it: the AT-SPI tree of the running window.

The application runs under Xvfb with openbox, a private session bus and the AT-SPI bus, with
Qt's accessibility on; a separate client process (the system python3 with pyatspi, as Orca
uses) reads it and drives it through AT-SPI actions and key events. The case shown has a
recorded verification that failed.

In CI (``CI`` set) a missing system package fails the test: scripts/setup.sh --dev installs
them. Elsewhere the module is skipped with the list of what is missing.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.accessibility.session import (
    PACKAGES,
    Client,
    desktop,
    missing_tools,
    running_app,
)
from tests.conftest import PASSPHRASE

INTERACTIVE = {
    "push button",
    "toggle button",
    "check box",
    "radio button",
    "combo box",
    "text",
    "password text",
    "spin button",
    "list",
    "table",
    "tree",
    "tree table",
    "page tab",
    "menu item",
    "check menu item",
    "radio menu item",
    "list item",
}
PAGES = ("Cases", "Collect", "Artifacts", "Custody", "Verify")


def _require_tools() -> None:
    missing = missing_tools()
    if not missing:
        return
    message = f"missing for the AT-SPI test: {', '.join(missing)} (apt-get install {PACKAGES})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _failed_case(root: Path, home: Path) -> Path:
    """A case with one collection run and a recorded verification that failed."""
    from app.cases import create_case
    from app.collection import CollectionRun
    from app.verification import verify_case
    from collectors.profiles import load_profile
    from custody.record.keys import create_identity, save_identity

    alice = create_identity("Alice Examiner", "Example Forensics", "alice@example.org")
    save_identity(alice, home / "identity.p12", PASSPHRASE.encode())
    source = root / "source"
    for i in range(6):
        (source / f"d{i % 2}").mkdir(parents=True, exist_ok=True)
        (source / f"d{i % 2}" / f"f{i}.txt").write_text(f"file {i}\n" * 20)
    case = create_case(root / "case", alice, title="Screen reader case", incident_ref="INC-21")
    run = CollectionRun(case, alice, load_profile("none").with_paths([f"{source}/**"]))
    assert run.execute().status == "finished"
    (case.evidence_dir / "stray.tar").write_bytes(b"\0" * 1024)  # the next check fails
    assert not verify_case(case, sign_with=alice).ok
    return case.root


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """The app showing a failed case, and an AT-SPI client reading it."""
    _require_tools()
    root = tmp_path_factory.mktemp("atspi")
    home = root / "home"
    home.mkdir()
    case_dir = _failed_case(root, home)
    (home / "gui.ini").write_text(f"[cases]\nroot={root}\n")
    try:
        with desktop(root) as env, running_app(env, ["gui", str(case_dir)], home) as (app, c):
            _wait_for(c, {"role": "push button", "name": "extract the artifact to a folder"})
            yield c
            assert app.poll() is None, "the application ended during the test"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(c: Client, find: dict[str, Any], seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            nodes = [n for n in c.ask(cmd="tree") if _matches(n, find)]
        except AssertionError:  # the window changed while it was read: read it again
            nodes = []
        if nodes:
            return nodes[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing like {find} appeared in {seconds} s")
        time.sleep(0.5)


def _matches(n: dict[str, Any], find: dict[str, Any]) -> bool:
    return all(
        set(v).issubset(n["states"]) if k == "states" else n.get(k) == v for k, v in find.items()
    )


def _go(c: Client, page: str) -> None:
    """Switch the page the way a screen reader does: the navigation item's action."""
    c.ask(cmd="action", find={"role": "list item", "name": page}, action="Toggle")
    time.sleep(0.4)


def _node(c: Client, **find: Any) -> dict[str, Any]:
    node: dict[str, Any] = c.ask(cmd="find", find=find)
    return node


def test_the_navigation_item_action_switches_the_page(reader: Client) -> None:
    for page, there in (
        ("Verify", "verify the case"),
        ("Custody", "transfer custody"),
        ("Collect", "start collection"),
        ("Artifacts", "extract the artifact to a folder"),
    ):
        _go(reader, page)
        button = _node(reader, role="push button", name=there)
        assert "showing" in button["states"], f"{page}: its page is not shown"
        item = _node(reader, role="list item", name=page)
        assert "selected" in item["states"]


def test_every_interactive_widget_has_a_name(reader: Client) -> None:
    for page in PAGES:  # each screen is built when first shown
        _go(reader, page)
    tree = reader.ask(cmd="tree")
    interactive = [n for n in tree if n["role"] in INTERACTIVE]
    unnamed = [(n["role"], n["path"], n["description"]) for n in interactive if not n["name"]]
    assert len(interactive) > 70
    assert unnamed == []


def test_the_new_case_wizard_names_everything(reader: Client) -> None:
    _go(reader, "Cases")
    reader.ask(cmd="action", find={"role": "push button", "name": "new case"}, action="Press")
    # The identity is locked: the passphrase dialog comes first.
    passphrase = {"role": "password text", "name": "passphrase"}
    _wait_for(reader, passphrase, 30)
    reader.ask(cmd="set_text", find=passphrase, text=PASSPHRASE)
    reader.ask(
        cmd="action", find={"role": "push button", "name": "unlock the identity"}, action="Press"
    )
    wizard = _wait_for(reader, {"role": "combo box", "description": "severity"}, 30)
    try:
        tree = reader.ask(cmd="tree")
        unnamed = [
            (n["role"], n["path"]) for n in tree if n["role"] in INTERACTIVE and not n["name"]
        ]
        assert unnamed == []
        combos = [n for n in tree if n["role"] == "combo box"]
        purposes = {n["description"]: n["labelled_by"] for n in combos}
        assert purposes["severity"] == ["Severity"]
        assert purposes["incident status"] == ["Status"]
        assert wizard["labelled_by"] == ["Severity"]
    finally:
        reader.ask(cmd="keys", keys=["Escape"])
        time.sleep(0.5)


def test_state_labels_read_their_text(reader: Client) -> None:
    _go(reader, "Verify")
    tree = reader.ask(cmd="tree")
    labels = [n for n in tree if n["role"] == "label"]
    by_purpose = {n["description"]: n["name"] for n in labels if n["description"]}
    assert "FAILED" in by_purpose["verification result"]  # recorded, or checked here
    assert by_purpose["integrity: the last verification"].startswith("Integrity: ✗ FAILED")
    assert by_purpose["examiner"].startswith("Examiner: ")  # locked, or who unlocked it
    assert by_purpose["open case"].startswith("INC-21 · Screen reader case")
    assert by_purpose["run state"] == "Not started."
    assert by_purpose["current custodian"].startswith("Custodian: Alice Examiner")
    # No label hides its text behind a fixed name.
    hidden = [n["name"] for n in labels if n["name"] in by_purpose and n["description"] == ""]
    assert hidden == []


def test_combo_boxes_read_their_purpose(reader: Client) -> None:
    for page in PAGES:
        _go(reader, page)
    combos = {n["description"]: n for n in reader.ask(cmd="tree") if n["role"] == "combo box"}
    assert combos["collection profile"]["labelled_by"][0] == "Profile"
    assert combos["filter by collector"]["labelled_by"][0] == "Collector"
    assert combos["journal entry kind"]["labelled_by"][0] == "Kind"
    for combo in combos.values():
        assert combo["labelled_by"], f"combo box {combo['description']!r} has no label"


def test_custody_events_are_readable_as_text_from_the_chart(reader: Client) -> None:
    _go(reader, "Custody")
    nodes = reader.ask(cmd="tree")
    charts = [n for n in nodes if n["name"].startswith("custody timeline chart")]
    assert len(charts) == 1
    chart = charts[0]
    assert "signed acts" in chart["name"]
    assert "verification FAILED" in chart["description"]
    table = reader.ask(cmd="table", find={"role": "table", "name": "custody timeline events"})
    assert table["headers"] == ["Entry", "Time (UTC)", "Event", "Actor", "Result"]
    assert table["rows"] >= 4
    events = [row[2] for row in table["cells"]]
    assert events[0] == "case opened"
    assert "verified" in events
    failed = [row for row in table["cells"] if row[2] == "verified"]
    assert "✗ verification FAILED" in failed[-1][4]
    assert failed[-1][3] == "Alice Examiner"
    # From the chart, Enter reaches the table.
    reader.ask(cmd="focus", find={"name": chart["name"]})
    seen = reader.ask(cmd="keys", keys=["Return"])
    assert any(
        e["name"] == "custody timeline events"
        or (e["role"] == "table cell" and e["name"] in table["cells"][0])
        for e in seen
    ), seen


def _verify_in_the_window(c: Client) -> list[dict[str, str]]:
    """Verify the case from the Verify page (not recorded: no passphrase) once per session;
    the announcements seen while it ran."""
    done: list[dict[str, str]] | None = getattr(c, "verification_announcements", None)
    if done is not None:
        return done
    _go(c, "Verify")
    box = {"role": "check box", "name": "record the verification in the ledger"}
    if "checked" in _node(c, **box)["states"]:
        c.ask(cmd="action", find=box, action="Toggle")
    seen: list[dict[str, str]] = c.ask(
        cmd="listen",
        events=["object:announcement"],
        find={"role": "push button", "name": "verify the case"},
        action="Press",
        until="FAILED",
        seconds=60,
        timeout=90,
    )
    c.verification_announcements = seen  # type: ignore[attr-defined]
    return seen


def test_an_announcement_is_made_when_a_verification_ends(reader: Client) -> None:
    seen = _verify_in_the_window(reader)
    texts = [e["text"] for e in seen]
    assert any("FAILED" in t for t in texts), seen


#: Every table with rows (the findings: once a verification ran in the window).
TABLES = (
    ("Cases", "cases"),
    ("Artifacts", "artifacts"),
    ("Custody", "custody timeline events"),
    ("Custody", "ledger table"),
    ("Verify", "verification findings"),
    ("Verify", "verified artifacts"),
)


@pytest.mark.parametrize(("page", "table"), TABLES)
def test_tab_leaves_every_table(reader: Client, page: str, table: str) -> None:
    if table == "verification findings":
        _verify_in_the_window(reader)
    _go(reader, page)
    if table == "ledger table":  # on the Custody page's second tab
        tab = _node(reader, role="page tab", name="Ledger")
        reader.ask(
            cmd="action", find={"role": "page tab", "name": "Ledger"}, action=tab["actions"][0]
        )
    cells = reader.ask(cmd="table", find={"role": "table", "name": table})
    assert cells["rows"] > 0
    assert "showing" in _node(reader, role="table", name=table)["states"]
    inside = {table} | {name for row in cells["cells"] for name in row}
    for key in ("Tab", "Shift+Tab"):
        assert reader.ask(cmd="focus", find={"role": "table", "name": table})
        seen = reader.ask(cmd="keys", keys=[key])
        assert seen, f"{key} from {table}: no focus change"
        last = seen[-1]
        assert last["name"] not in inside or last["role"] not in {"table", "table cell"}, (
            f"{key} stayed in {table}: {seen}"
        )
