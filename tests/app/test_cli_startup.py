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
