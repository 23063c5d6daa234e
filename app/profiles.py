"""Profiles and collectors as the CLI and the UI choose them.

Re-exports the validated profiles of :mod:`collectors.profiles` and the collector registry
of :mod:`collectors.base` (importing this module fills it), with the types a collector
defined outside ``collectors/`` needs (the desktop app's screenshot collector).
"""

from __future__ import annotations

from typing import Any

import collectors
from collectors.base import (
    REGISTRY,
    CollectContext,
    Collector,
    Volatility,
    ordered,
    register_collector,
)
from collectors.profiles import BUILTIN_PROFILES, Profile, load_profile
from custody.observations import Observation, Problem, VolatileRecord

_ = collectors  # importing the package registers every collector


def capture_problem(options: dict[str, Any]) -> str | None:
    """Why the capture collector's ``options`` are not valid, or None when they are."""
    from collectors.capture import Settings

    try:
        Settings.of(options)
    except ValueError as exc:
        return str(exc)
    return None


__all__ = [
    "BUILTIN_PROFILES",
    "REGISTRY",
    "CollectContext",
    "Collector",
    "Observation",
    "Problem",
    "Profile",
    "VolatileRecord",
    "Volatility",
    "capture_problem",
    "load_profile",
    "ordered",
    "register_collector",
]
