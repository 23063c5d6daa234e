"""Entry point of the one-file binary built by ``build.spec`` (see docs/BUILD.md).

The same command line as ``python -m app``, with one addition: run without arguments, the
binary opens the desktop application when there is a display, and prints the help otherwise
(a remote shell). Nothing here imports Qt: ``chainproof --version`` stays fast.
"""

from __future__ import annotations

import os
import sys


def _restore_library_path() -> None:
    """Give child processes the library path the examiner's shell had, not the bundle's.

    On Linux the one-file bootloader points ``LD_LIBRARY_PATH`` at its unpacked libraries
    (and keeps the old value in ``LD_LIBRARY_PATH_ORIG``). This process already loaded
    what it needs; the host's own tools that the collectors run (journalctl, ss, ...)
    must use the host's libraries, or they may fail or behave differently.
    """
    if not getattr(sys, "frozen", False):
        return
    for var in ("LD_LIBRARY_PATH", "LIBPATH"):
        orig = os.environ.pop(f"{var}_ORIG", None)
        if orig is not None:
            os.environ[var] = orig
        elif var in os.environ:
            del os.environ[var]


def _has_display() -> bool:
    """Whether a window can be shown: a desktop session rather than a remote shell."""
    import importlib.util

    if importlib.util.find_spec("PySide6") is None:  # the CLI-only build (docs/BUILD.md)
        return False
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform in ("win32", "darwin"):
        return not (os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_CLIENT"))
    # The bundle has Qt's xcb platform plugin only (no Wayland): Wayland sessions use XWayland.
    return bool(os.environ.get("DISPLAY"))


def arguments(argv: list[str]) -> list[str]:
    """The command line to run: ``argv``, or ``gui`` / ``--help`` when it is empty."""
    if argv:
        return argv
    return ["gui"] if _has_display() else ["--help"]


def run() -> int:
    _restore_library_path()
    from app.cli import main

    return main(arguments(sys.argv[1:]))


if __name__ == "__main__":
    raise SystemExit(run())
