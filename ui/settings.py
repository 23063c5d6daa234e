"""Remembered GUI state: QSettings (organisation "Chainproof"), redirected by CHAINPROOF_HOME."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

from app.paths import config_dir

ORGANISATION = "Chainproof"
APPLICATION = "Chainproof"


def settings() -> QSettings:
    """The GUI's settings: ``CHAINPROOF_HOME/gui.ini`` when redirected, else the platform's."""
    if os.environ.get("CHAINPROOF_HOME"):
        return QSettings(str(config_dir() / "gui.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)
