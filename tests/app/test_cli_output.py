"""What the command line prints is valid for its reader, whatever the names it carries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

LEGACY_BUNDLE = Path(__file__).parents[1] / "fixtures" / "legacy-v1" / "bundle.zip"


def test_verify_json_is_valid_utf8_for_a_bundle_name_that_is_not(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/bundle-\xff\xfe.zip"
    shutil.copy(LEGACY_BUNDLE, name)
    out = subprocess.run(
        [sys.executable, "-m", "app", "verify", "--json", name],
        capture_output=True,
        check=True,
    ).stdout
    doc = json.loads(out.decode("utf-8"))  # strict: raises on invalid UTF-8
    assert doc["ok"] is True
    assert os.fsencode(doc["subject"]) == name  # the exact bytes come back
