"""Memory stays bounded: encrypting and decrypting a 128 MiB bundle in a fresh process
raises its peak RSS by a few MB over the same process that only loads the code and keys
(measured for 1 GiB in docs/DESIGN.md: 36 MB encrypting, 42 MB decrypting, whole process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SIZE = 128 << 20
CHILD = r"""
import resource, sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric import ec
from custody.envelope import decrypt_file, encrypt_file, recipient
from tests.custody.envelope.conftest import self_signed

key = ec.generate_private_key(ec.SECP256R1())
cert = self_signed(key, "memory")
d = Path(sys.argv[2])
if sys.argv[1] == "work":
    env = encrypt_file(d / "big.zip", [recipient(cert)], d / "big.zip.p7m")
    opened = decrypt_file(env.path, key, cert, d / "back.zip")
    assert opened.size == env.content_size == (d / "big.zip").stat().st_size
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_kib(mode: str, d: Path) -> int:
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(d)],
        capture_output=True,
        text=True,
        cwd=root,
        check=True,
    )
    return int(done.stdout.strip())


def test_peak_memory_does_not_grow_with_the_bundle(tmp_path: Path) -> None:
    with open(tmp_path / "big.zip", "wb") as f:
        f.truncate(SIZE)  # sparse: the bytes are zeros, the work is real
    base = _peak_kib("base", tmp_path)
    work = _peak_kib("work", tmp_path)
    assert (tmp_path / "back.zip").stat().st_size == SIZE
    grown_mib = (work - base) / 1024
    assert grown_mib < 24, f"peak RSS grew by {grown_mib:.1f} MiB for a {SIZE >> 20} MiB bundle"
