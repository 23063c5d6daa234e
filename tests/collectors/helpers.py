"""Helpers shared by the collector tests (imported by name; fixtures live in conftest.py)."""

from __future__ import annotations

import json
import multiprocessing
import os
import pwd
from collections.abc import Callable
from typing import Any

from collectors.base import Observation, Problem, VolatileRecord


def member(observations: list[Observation], name: str) -> bytes:
    """The data of the volatile record called ``name`` (fails if absent)."""
    found = [o for o in observations if isinstance(o, VolatileRecord) and o.member == name]
    assert found, f"no member {name}; have {[getattr(o, 'member', o) for o in observations]}"
    return found[0].data


def jsonl(observations: list[Observation], name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in member(observations, name).splitlines()]


def problems(observations: list[Observation]) -> list[Problem]:
    return [o for o in observations if isinstance(o, Problem)]


def _child(queue: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        nobody = pwd.getpwnam("nobody")
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
        queue.put(("ok", fn(*args)))
    except BaseException as exc:
        queue.put(("error", repr(exc)))


def as_nobody(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in a forked child that dropped root for ``nobody``; return its result.

    Root reads everything, so permission-denied paths are tested this way (see PLATFORM.md).
    """
    if os.geteuid() != 0:
        return fn(*args)
    mp = multiprocessing.get_context("fork")
    queue = mp.Queue()
    proc = mp.Process(target=_child, args=(queue, fn, args))
    proc.start()
    status, value = queue.get(timeout=120)
    proc.join(timeout=30)
    assert status == "ok", value
    return value
