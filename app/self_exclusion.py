"""What a collection never collects, computed once a run.

A first user's triage of a machine whose checkout and virtualenv sat in /tmp collected the
tool's own files (61% of the artifacts) and, with ``HOME`` under /tmp, the examiner's
identity.p12. So every run, whatever its profile and ``--path`` globs, keeps out:

- the running program: its packages, the virtual environment it runs in (``sys.prefix``
  when that is a venv), a one-file build's unpack directory (``sys._MEIPASS``) and the
  executable, and the source checkout it runs from (the directory above ``app/`` when its
  pyproject.toml names the project ``chainproof``);
- the case being written;
- other Chainproof cases and bundles, by their marker files (a case: ``case.json`` beside
  ``evidence/`` and ``identities/``; a bundle: its manifest, ledger and signed
  ``SHA256SUMS``, as a directory or at the top of a ``.zip``);
- the examiner's configuration and identity (:func:`app.paths.config_dir`): the whole
  directory when it holds only Chainproof's files, else those files alone.

This module only says what and why (:class:`collectors.exclusions.NeverCollect`); the
collectors prune it during their walks and the run records each exclusion in the ledger
as a skip, with the reason and a count.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import sys
import tomllib
from pathlib import Path

from app.cases import CASE_FILE
from app.paths import config_dir
from app.tool import SOURCE_PACKAGES
from collectors.exclusions import ExcludedRoot, Marker, NeverCollect
from custody.bundle.layout import LEDGER, MANIFEST, SUMS, SUMS_SIG
from custody.store.storage import EVIDENCE

__all__ = ["MARKERS", "never_collect", "program_roots"]

#: The packages a Chainproof install consists of (the desktop app's and the resources too).
PACKAGES = (*SOURCE_PACKAGES, "ui", "resources")
#: Chainproof's files in its configuration directory (app/paths.py; app/identity.py writes
#: the certificate beside the key, app/identity_backup.py dated copies; the desktop app's
#: settings).
CONFIG_FILES = ("identity*.p12", "identity*.pem", "settings.json", "gui.ini*")

MARKERS = (
    Marker((CASE_FILE, EVIDENCE, "identities"), "another Chainproof case"),
    Marker((MANIFEST, LEDGER, SUMS, SUMS_SIG), "a Chainproof bundle", zip=True),
)


def never_collect(case_root: Path) -> NeverCollect:
    """What a run into the case at ``case_root`` never collects."""
    roots = [
        *program_roots(),
        ExcludedRoot(str(case_root.resolve()), "the case being written"),
        *config_roots(),
    ]
    return NeverCollect(roots=tuple(roots), markers=MARKERS)


def program_roots() -> list[ExcludedRoot]:
    """The running program's own files."""
    roots: list[ExcludedRoot] = []
    frozen = bool(getattr(sys, "frozen", False))
    if frozen:
        roots.append(ExcludedRoot(sys.executable, "Chainproof's own executable"))
        meipass = getattr(sys, "_MEIPASS", None)
        if isinstance(meipass, str):
            roots.append(ExcludedRoot(meipass, "Chainproof's own unpacked program files"))
            folder = Path(sys.executable).resolve().parent
            if Path(meipass).resolve().is_relative_to(folder):  # a one-folder build
                roots.append(ExcludedRoot(str(folder), "Chainproof's own program folder"))
    elif (checkout := source_checkout()) is not None:
        roots.append(ExcludedRoot(str(checkout), "Chainproof's own source checkout"))
    if sys.prefix != sys.base_prefix and not frozen:
        roots.append(ExcludedRoot(sys.prefix, "Chainproof's own virtual environment"))
    for package in PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            roots.append(
                ExcludedRoot(location, f"Chainproof's own program files, package {package}")
            )
    return [r for r in roots if _not_everything(r.path)]


def source_checkout() -> Path | None:
    """The source checkout this program runs from: the directory above ``app/`` when its
    pyproject.toml names the project ``chainproof``; None when installed."""
    root = Path(__file__).resolve().parent.parent
    try:
        with open(root / "pyproject.toml", "rb") as f:
            project = tomllib.load(f).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return root if isinstance(project, dict) and project.get("name") == "chainproof" else None


def config_roots() -> list[ExcludedRoot]:
    """The examiner's configuration and identity: the whole directory when it holds nothing
    but Chainproof's files (or is Chainproof's own), else each of those files."""
    directory = config_dir().absolute()
    reason = "the examiner's Chainproof configuration and identity"
    try:
        names = [e.name for e in os.scandir(directory)]
    except OSError:
        names = []
    ours = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in CONFIG_FILES)]
    dedicated = directory.name.lower() == "chainproof" or len(ours) == len(names)
    if dedicated and _not_everything(str(directory)):
        return [ExcludedRoot(str(directory), reason)]
    return [ExcludedRoot(str(directory / n), reason) for n in sorted(ours)]


def _not_everything(path: str) -> bool:
    """False for a directory that holds far more than Chainproof: the file system root,
    the examiner's home, or one above it (a misconfigured path must not hide them)."""
    real = Path(path).resolve()
    home = Path.home().resolve()
    return real != Path(real.anchor) and not home.is_relative_to(real)
