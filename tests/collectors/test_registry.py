"""The registry: every collector registered once, in order of volatility; no Qt; fast enough."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectors import REGISTRY, ordered
from collectors.base import CollectContext, Collector, Host, Volatility, register_collector
from collectors.profiles import load_profile

ROOT = Path(__file__).resolve().parents[2]


def test_all_collectors_registered_in_order() -> None:
    # The desktop app registers its own screenshot collector when ui/ is imported (by an
    # earlier test in the same process): only the collectors package's own are fixed here.
    builtin = [c for c in ordered() if c.__module__.startswith("collectors.")]
    assert {c.__module__.split(".")[0] for c in ordered()} <= {"collectors", "ui"}
    assert [c.name for c in builtin] == [
        "system",
        "capture",
        "containers",
        "processes",
        "firewall",
        "network",
        "kernel",
        "mounts",
        "persistence",
        "packages",
        "logs",
        "files",
        "timeline",
    ]
    for cls in REGISTRY.values():
        assert cls.description and isinstance(cls.options_schema, dict)


def test_duplicate_registration_is_refused() -> None:
    class Again(Collector):
        name = "system"
        volatility = Volatility.SYSTEM

    with pytest.raises(ValueError, match="registered twice"):
        register_collector(Again)


def test_importing_collectors_does_not_import_qt() -> None:
    code = (
        "import sys, collectors, collectors.profiles; "
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_minimal_profile_takes_seconds_at_most(tmp_path: Path) -> None:
    profile = load_profile("minimal")
    start = time.monotonic()
    for name, options in profile.collectors.items():
        ctx = CollectContext(Host.this(), options, tmp_path)
        assert list(REGISTRY[name]().collect(ctx))
    assert time.monotonic() - start < 5


def test_collectors_write_nothing_to_the_output_dir(tmp_path: Path) -> None:
    # The timeline walks the output dir and two system trees (SUID files in /usr/bin), not
    # the whole host: what it writes does not depend on how much it walks.
    roots = [str(tmp_path), "/etc", "/usr/bin"]
    options = {"root": str(tmp_path / "none"), "journal": False, "roots": roots}
    ctx = CollectContext(Host.this(), options, tmp_path)
    for cls in ordered():
        if cls.name != "files":
            list(cls().collect(ctx))
    assert list(tmp_path.iterdir()) == []


def test_cancel_stops_the_long_collectors(tmp_path: Path) -> None:
    ctx = CollectContext(Host.this(), {"targets": ["/usr/**"]}, tmp_path)
    ctx.cancel.set()
    assert list(REGISTRY["files"]().collect(ctx)) == []
    assert list(REGISTRY["processes"]().collect(ctx)) == []
