"""Reading the run's system facts (``volatile/system.json``, as archived) for the report."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from custody.report.model import NOT_RECORDED

#: Users named before the report says how many more there are.
USERS_NAMED = 30


def flatten(value: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """Scalar facts of a JSON object as ``a.b.c: value`` pairs; lists summarised."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k), depth + 1)
    elif isinstance(value, list):
        if all(not isinstance(v, Mapping | list) for v in value):
            yield prefix, ", ".join(str(v) for v in value) or "(none)"
        else:
            yield prefix, f"{len(value)} item(s)"
            for i, v in enumerate(value[:20]):
                text = json.dumps(v, ensure_ascii=False, sort_keys=True)
                yield f"{prefix}[{i}]", text if len(text) < 400 else text[:397] + "..."
    else:
        yield prefix, "null" if value is None else str(value)


def fact(facts: Mapping[str, Any] | None, *paths: str) -> str | None:
    """The first of ``paths`` (dotted) present in ``facts``, as text."""
    if not facts:
        return None
    for path in paths:
        node: Any = facts
        for part in path.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                node = None
                break
        if node not in (None, "", [], {}):
            return str(node)
    return None


def users(facts: Mapping[str, Any] | None) -> str:
    """The users logged on, with their terminal and remote host."""
    listed = facts.get("users") if facts else None
    if not isinstance(listed, list):
        return NOT_RECORDED
    if not listed:
        return "none"
    names = []
    for u in listed[:USERS_NAMED]:
        if isinstance(u, Mapping):
            name = str(u.get("name", "?"))
            where = u.get("terminal") or ""
            host = u.get("host") or ""
            names.append(
                name + (f" ({where}{', from ' + host if host else ''})" if where or host else "")
            )
        else:
            names.append(str(u))
    more = f" and {len(listed) - USERS_NAMED} more" if len(listed) > USERS_NAMED else ""
    return ", ".join(names) + more
