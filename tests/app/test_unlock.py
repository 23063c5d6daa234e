"""The examiner's key unlocked in a child process while a command starts (issue 18)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app.identity import unlock_identity
from app.unlock import start_unlock
from custody.errors import ChainproofError, UsageError
from custody.record.keys import Identity
from tests.conftest import PASSPHRASE

# Run in a process of its own, as the CLI runs it: a single thread, so it forks.
PROBE = """
import sys
from app.unlock import start_unlock
from custody.errors import ChainproofError
pending = start_unlock(int(sys.argv[1]) if len(sys.argv) > 1 else None)
forked = pending.pid != 0
try:
    identity = pending.get()
except ChainproofError as exc:
    print(forked, type(exc).__name__, exc, sep="|")
else:
    sig = identity.sign(b"message")
    print(forked, identity.fingerprint, sig.hex(), sep="|")
"""


def _probe(*argv: str, **kw: object) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, **kw
    )
    return out.stdout.strip().split("|")


def test_the_child_unlocks_the_identity_that_signs(alice: Identity) -> None:
    forked, fingerprint, sig = _probe()
    assert forked == "True"
    assert fingerprint == alice.fingerprint
    public = alice.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(bytes.fromhex(sig), b"message", ec.ECDSA(hashes.SHA256()))


def test_the_passphrase_from_a_file_descriptor(
    alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHAINPROOF_PASSPHRASE")
    r, w = os.pipe()
    os.write(w, PASSPHRASE.encode() + b"\n")
    os.close(w)
    try:
        forked, fingerprint, _sig = _probe(str(r), pass_fds=(r,))
    finally:
        os.close(r)
    assert (forked, fingerprint) == ("True", alice.fingerprint)


def test_the_childs_error_is_the_one_the_command_would_raise(
    alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINPROOF_PASSPHRASE", "not the passphrase")
    with pytest.raises(ChainproofError) as inline:
        unlock_identity()
    forked, name, message = _probe()
    assert (forked, name, message) == ("True", type(inline.value).__name__, str(inline.value))
    assert name == "WrongPassphrase"


def test_no_identity_is_reported_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ChainproofError) as inline:
        unlock_identity()
    assert _probe()[1:] == [type(inline.value).__name__, str(inline.value)]


def test_a_prompt_unlocks_in_the_command_itself(
    alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No passphrase given: nothing forks; the prompt (none here: no terminal) comes when the
    identity is asked for, after the case was opened, as it always did."""
    monkeypatch.delenv("CHAINPROOF_PASSPHRASE")
    pending = start_unlock(None)
    assert pending.pid == 0
    with pytest.raises(UsageError, match="a passphrase is needed"):
        pending.get()


def test_closing_before_the_answer_ends_and_reaps_the_child(alice: Identity) -> None:
    probe = (
        "import os\n"
        "from app.unlock import start_unlock\n"
        "pending = start_unlock(None)\n"
        "pid = pending.pid\n"
        "pending.close()\n"
        "try:\n"
        "    os.waitpid(pid, 0)\n"
        "except ChildProcessError:\n"
        "    print(pid != 0, 'reaped')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "reaped"]
