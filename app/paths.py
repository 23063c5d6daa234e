"""Where Chainproof keeps its own files. ``CHAINPROOF_HOME`` redirects all of it (tests, USB use)."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """The examiner's configuration directory (identity, settings)."""
    home = os.environ.get("CHAINPROOF_HOME")
    if home:
        return Path(home)
    import platformdirs

    return Path(platformdirs.user_config_dir("chainproof", appauthor=False))


def identity_file() -> Path:
    """The examiner's PKCS#12 identity."""
    return config_dir() / "identity.p12"


def settings_file() -> Path:
    return config_dir() / "settings.json"
