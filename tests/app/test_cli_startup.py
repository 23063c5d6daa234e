"""What a command loads at start-up: only what its work needs (issue 18)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any


def test_a_command_without_a_timestamp_authority_loads_no_stamping(
    make_case: Callable[..., Any],
) -> None:
    """No ``--tsa`` and no ``tsa_url`` in settings: the RFC 3161 client (asn1crypto's TSP,
    http.client) is never imported, and the command still works."""
    case = make_case()
    probe = (
        "import sys\n"
        "from app.cli import main\n"
        f"code = main(['note', {str(case.root)!r}, 'hello'])\n"
        "print(code, 'custody.timestamp.request' in sys.modules, 'app.timestamps' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert "Recorded note as ledger entry" in out
    assert out.splitlines()[-1] == "0 False False"


def test_a_collection_without_an_interrupted_export_loads_no_envelope_code(
    make_case: Callable[..., Any], tmp_path: Any
) -> None:
    """``collect`` recovers interrupted exports first; with none, the envelope code (and the
    asn1crypto it brings) is never imported."""
    case = make_case()
    target = tmp_path / "evidence.txt"
    target.write_bytes(b"evidence")
    probe = (
        "import sys\n"
        "from app.cli import main\n"
        f"code = main(['collect', {str(case.root)!r}, '--profile', 'none', '--path', "
        f"{str(target)!r}, '--no-progress'])\n"
        "print(code, 'app.export_recovery' in sys.modules, 'custody.envelope' in sys.modules,\n"
        "      'asn1crypto' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert "finished: 2 artifacts" in out
    assert out.splitlines()[-1] == "0 True False False"  # asked, and nothing was open
