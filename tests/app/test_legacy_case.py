"""A case made by the format 1 code keeps verifying, exporting and taking new acts.

tests/fixtures/legacy-v1 was made by the commit named in its made-by-commit.txt (flat
artifact payloads, no header digests, the first index schema). Every test works on a copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LEGACY = Path(__file__).parents[1] / "fixtures" / "legacy-v1"
PASSPHRASE = "legacy fixture passphrase"


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "CHAINPROOF_HOME": str(home),
        "CHAINPROOF_PASSPHRASE": PASSPHRASE,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def legacy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the format 1 case, and a home holding its examiner's key."""
    case = tmp_path / "case"
    shutil.copytree(LEGACY / "case", case)
    for tar in (case / "evidence").glob("*.tar"):
        tar.chmod(0o444)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(LEGACY / "alice.p12", home / "identity.p12")
    return case, home


def test_format_1_case_verifies_exports_and_its_bundle_verifies(
    legacy: tuple[Path, Path], tmp_path: Path
) -> None:
    case, home = legacy
    out = run(home, "verify", str(case))
    assert "RESULT: VERIFIED" in out.stdout
    show = json.loads(run(home, "case", "show", str(case), "--json").stdout)
    assert show["title"] == "Legacy fixture case" and show["sealed"]
    assert [r["artifacts"] for r in show["runs"]] == [9, 2]
    run(home, "export", str(case), "--out", str(tmp_path / "b.zip"), "--zip")
    assert "RESULT: VERIFIED" in run(home, "verify", str(tmp_path / "b.zip")).stdout
    # The bundle made by the format 1 code still verifies too.
    shutil.copy(LEGACY / "bundle.zip", tmp_path / "old.zip")
    assert "RESULT: VERIFIED" in run(home, "verify", str(tmp_path / "old.zip")).stdout


def test_format_1_case_takes_new_signed_acts(legacy: tuple[Path, Path]) -> None:
    case, home = legacy
    run(home, "note", str(case), "read again by the new code")
    run(home, "verify", str(case), "--sign")
    assert "RESULT: VERIFIED" in run(home, "verify", str(case)).stdout
    # Sealed by the old code: the new code still refuses to collect into it.
    refused = run(home, "collect", str(case), "--profile", "none", check=False)
    assert refused.returncode == 3 and "sealed" in refused.stderr
