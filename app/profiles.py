"""Profiles and collectors as the CLI and the UI choose them.

Re-exports the validated profiles of :mod:`collectors.profiles` and the collector registry
of :mod:`collectors.base` (importing this module fills it), with the types a collector
defined outside ``collectors/`` needs (the desktop app's screenshot collector).
"""

from __future__ import annotations

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
    "load_profile",
    "ordered",
    "register_collector",
]
