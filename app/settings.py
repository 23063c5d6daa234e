"""The examiner's settings file (``settings.json`` in the configuration directory).

Read only; every key is optional. Known keys:

- ``tsa_url``: the RFC 3161 timestamp authority every signed entry is stamped by
  (``--tsa URL`` on a command overrides it);
- ``tsa_ca``: a PEM file of the authority's CA certificate(s), which ``verify`` checks the
  tokens' chain against when ``--tsa-ca`` is not given.

Unknown keys are left alone (other parts of the program may keep theirs here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.paths import settings_file
from custody.errors import UsageError
from custody.record.regular import read_regular


@dataclass(frozen=True)
class Settings:
    tsa_url: str | None = None
    tsa_ca: Path | None = None


def load_settings(path: Path | None = None) -> Settings:
    """The settings in ``path`` (default: the examiner's file); defaults when it is absent."""
    path = path or settings_file()
    try:
        raw = read_regular(path)
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise UsageError(f"cannot read the settings file {path}: {exc.strerror}") from exc
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise UsageError(f"the settings file {path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise UsageError(f"the settings file {path} must hold a JSON object")
    url, ca = doc.get("tsa_url"), doc.get("tsa_ca")
    for key, value in (("tsa_url", url), ("tsa_ca", ca)):
        if value is not None and (not isinstance(value, str) or not value):
            raise UsageError(f"the settings file {path}: {key} must be text")
    ca_path = Path(ca).expanduser() if ca else None
    if ca_path is not None and not ca_path.is_absolute():
        ca_path = path.parent / ca_path
    return Settings(tsa_url=url, tsa_ca=ca_path)


def tsa_url(given: str | None) -> str | None:
    """The authority to use: ``--tsa``, else the settings file's ``tsa_url``."""
    return given or load_settings().tsa_url
