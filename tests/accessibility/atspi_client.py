"""An AT-SPI client: reads a running application the way a screen reader does.

Run by the *system* ``python3`` (with pyatspi), never the venv's: one JSON command per line
on stdin, one JSON answer per line on stdout. The test (tests/accessibility/test_atspi.py)
starts the application under Xvfb and drives this client.

Commands (each a JSON object with ``cmd``):

- ``tree``: every object of the application's windows (role, name, description, states,
  the names of the objects labelling it, actions, text), with a path of child indexes.
- ``action``: do the named action of the first object matching ``find``.
- ``find``: the first object matching ``find`` (as in ``tree``, without a path).
- ``set_text``: set the text of an editable object matching ``find``.
- ``focus``: give keyboard focus to the first object matching ``find``.
- ``keys``: press ``keys`` (X key names) and return the focus changes seen.
- ``listen``: do an optional ``action``, then collect ``events`` for up to ``seconds``,
  ending early when one matches ``until`` (a substring of its text).
- ``table``: a table's headers and its first rows' cell texts, read through Table.
"""

from __future__ import annotations

import json
import sys
import time

import pyatspi
from gi.repository import GLib

SKIP_CHILDREN = {"table cell", "list item", "tree item", "column header", "row header"}
INTERACTIVE = {
    "push button",
    "toggle button",
    "check box",
    "radio button",
    "combo box",
    "text",
    "password text",
    "entry",
    "spin button",
    "slider",
    "list",
    "table",
    "tree",
    "tree table",
    "page tab",
    "menu item",
    "check menu item",
    "radio menu item",
    "menu",
    "link",
}


def role(acc: object) -> str:
    return str(acc.getRoleName())


def states(acc: object) -> list[str]:
    return [pyatspi.stateToString(s) for s in acc.getState().getStates()]


def labelled_by(acc: object) -> list[str]:
    names = []
    for rel in acc.getRelationSet():
        if rel.getRelationType() == pyatspi.RELATION_LABELLED_BY:
            for i in range(rel.getNTargets()):
                target = rel.getTarget(i)
                names.append(target.name or text_of(target))
    return names


def text_of(acc: object) -> str:
    try:
        t = acc.queryText()
    except NotImplementedError:
        return ""
    return str(t.getText(0, -1))


def actions(acc: object) -> list[str]:
    try:
        a = acc.queryAction()
    except NotImplementedError:
        return []
    return [a.getName(i) for i in range(a.nActions)]


def node(acc: object, path: list[int]) -> dict[str, object]:
    r = role(acc)
    return {
        "path": path,
        "role": r,
        "name": acc.name or "",
        "description": acc.description or "",
        "states": states(acc),
        "labelled_by": labelled_by(acc),
        "actions": actions(acc),
        "text": text_of(acc) if r in {"label", "status bar", "text", "static"} else "",
        "children": acc.childCount,
    }


def walk(acc: object, path: list[int], out: list[dict[str, object]], depth: int = 0) -> None:
    try:
        out.append(node(acc, path))
    except Exception:
        return
    if depth > 40:
        return
    r = role(acc)
    count = acc.childCount
    if r in {"table", "tree table", "tree", "list"}:
        count = min(count, 30)  # their cells: read through Table
    for i in range(count):
        try:
            child = acc.getChildAtIndex(i)
        except Exception:
            continue
        if child is not None:
            walk(child, [*path, i], out, depth + 1)


def application(pid: int) -> object:
    desktop = pyatspi.Registry.getDesktop(0)
    for _ in range(100):
        for i in range(desktop.childCount):
            app = desktop.getChildAtIndex(i)
            if app is not None and app.get_process_id() == pid:
                return app
        time.sleep(0.1)
    raise RuntimeError(f"no accessible application with pid {pid}")


def matches(n: dict[str, object], find: dict[str, object]) -> bool:
    for key, want in find.items():
        if key == "states":
            if not set(want).issubset(n["states"]):  # type: ignore[arg-type]
                return False
        elif n.get(key) != want:
            return False
    return True


def find_object(app: object, find: dict[str, object]) -> object:
    found: list[object] = []

    def visit(acc: object, depth: int) -> None:
        if found or depth > 40:
            return
        if matches(node(acc, []), find):
            found.append(acc)
            return
        count = acc.childCount
        in_cells = find.get("role") in SKIP_CHILDREN
        if role(acc) in {"table", "tree table", "tree", "list"} and not in_cells:
            count = 0
        for i in range(count):
            child = acc.getChildAtIndex(i)
            if child is not None:
                visit(child, depth + 1)

    visit(app, 0)
    if not found:
        raise LookupError(f"nothing matches {find}")
    return found[0]


def describe(acc: object) -> dict[str, str]:
    return {"role": role(acc), "name": acc.name or "", "description": acc.description or ""}


def run_loop(seconds: float, done: list[bool]) -> None:
    loop = GLib.MainLoop()
    deadline = time.monotonic() + seconds

    def tick() -> bool:
        if done[0] or time.monotonic() > deadline:
            loop.quit()
            return False
        return True

    GLib.timeout_add(20, tick)
    loop.run()


def press(keys: list[str]) -> None:
    for k in keys:
        mods = []
        *mods, name = k.split("+")
        codes = [_keycode(m) for m in mods]
        for c in codes:
            pyatspi.Registry.generateKeyboardEvent(c, None, pyatspi.KEY_PRESS)
        pyatspi.Registry.generateKeyboardEvent(_keycode(name), None, pyatspi.KEY_PRESSRELEASE)
        for c in reversed(codes):
            pyatspi.Registry.generateKeyboardEvent(c, None, pyatspi.KEY_RELEASE)
        time.sleep(0.15)


KEYCODES = {  # X keycodes of a standard (evdev) keyboard: Xvfb's default map
    "Tab": 23,
    "Shift": 50,
    "Control": 37,
    "Return": 36,
    "Down": 116,
    "Up": 111,
    "Escape": 9,
}


def _keycode(name: str) -> int:
    return KEYCODES[name]


def command(app: object, c: dict[str, object]) -> object:
    cmd = c["cmd"]
    if cmd == "tree":
        out: list[dict[str, object]] = []
        walk(app, [], out)
        return out
    if cmd == "action":
        acc = find_object(app, c["find"])  # type: ignore[arg-type]
        a = acc.queryAction()
        names = [a.getName(i) for i in range(a.nActions)]
        return bool(a.doAction(names.index(c["action"])))
    if cmd == "find":
        return node(find_object(app, c["find"]), [])  # type: ignore[arg-type]
    if cmd == "set_text":
        acc = find_object(app, c["find"])  # type: ignore[arg-type]
        return bool(acc.queryEditableText().setTextContents(str(c["text"])))
    if cmd == "focus":
        acc = find_object(app, c["find"])  # type: ignore[arg-type]
        return bool(acc.queryComponent().grabFocus())
    if cmd in {"keys", "listen"}:
        seen: list[dict[str, str]] = []
        done = [False]
        until = c.get("until")

        def on_event(event: object) -> None:
            if event.type.startswith("object:state-changed:focused") and not event.detail1:
                return
            item = describe(event.source)
            item["type"] = str(event.type)
            item["text"] = str(event.any_data) if event.any_data is not None else ""
            seen.append(item)
            if until and (until in item["text"] or until in item["name"]):
                done[0] = True

        events = c.get("events", ["object:state-changed:focused"])
        for e in events:  # type: ignore[union-attr]
            pyatspi.Registry.registerEventListener(on_event, e)
        try:
            run_loop(0.3, [False])  # the listener is known to the application before acting
            if cmd == "keys":
                for k in c["keys"]:  # type: ignore[union-attr]
                    press([k])
                    run_loop(float(c.get("pause", 0.4)), [False])
            elif c.get("action"):
                acc = find_object(app, c["find"])  # type: ignore[arg-type]
                a = acc.queryAction()
                names = [a.getName(i) for i in range(a.nActions)]
                a.doAction(names.index(c["action"]))
            run_loop(float(c.get("seconds", 1.0)), done)
        finally:
            for e in events:  # type: ignore[union-attr]
                pyatspi.Registry.deregisterEventListener(on_event, e)
        return seen
    if cmd == "table":
        acc = find_object(app, c["find"])  # type: ignore[arg-type]
        t = acc.queryTable()
        rows = min(t.nRows, int(c.get("rows", 50)))
        headers = [
            (t.getColumnHeader(j).name if t.getColumnHeader(j) else "") for j in range(t.nColumns)
        ]
        cells = [
            [(t.getAccessibleAt(i, j).name or "") for j in range(t.nColumns)] for i in range(rows)
        ]
        return {"rows": t.nRows, "columns": t.nColumns, "headers": headers, "cells": cells}
    raise ValueError(f"unknown command {cmd!r}")


def main() -> int:
    app = application(int(sys.argv[1]))
    print(json.dumps({"ok": True, "result": app.name}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = command(app, json.loads(line))
            answer = {"ok": True, "result": result}
        except Exception as exc:
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
