"""Unlock the examiner's identity in a child process while the command starts up.

Opening the PKCS#12 file (600,000 PBKDF2 rounds, :mod:`custody.record.keys`) costs about
a third of a second of CPU and holds the GIL, so a thread would not overlap it with the
command's imports and the opening of the case. On Linux, when the passphrase comes from
``--passphrase-fd`` or ``$CHAINPROOF_PASSPHRASE``, :func:`start_unlock` forks: the child
runs :func:`app.identity.unlock_identity` exactly as the command would, and hands back the
unlocked key (PKCS#8 DER) and certificate over a pipe private to the two processes; its
error, if any, is raised by :meth:`PendingIdentity.get` as the command would have raised
it. A passphrase that needs a prompt (or another system, or a process with threads)
unlocks in :meth:`PendingIdentity.get` itself, in the order the command always had.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.errors import ChainproofError
from app.passphrase import ENV

if TYPE_CHECKING:
    from app.identity import Identity


def start_unlock(passphrase_fd: int | None = None) -> PendingIdentity:
    """Start unlocking the examiner's identity; :meth:`PendingIdentity.get` returns it."""
    if passphrase_fd is None and not os.environ.get(ENV):
        return PendingIdentity(inline=lambda: _unlock(passphrase_fd))  # asks at get()
    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return PendingIdentity(inline=lambda: _unlock(passphrase_fd))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: unlock, answer, and never return into the command
        code = 1
        try:
            os.close(read_end)
            _answer(write_end, passphrase_fd)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    return PendingIdentity(pid=pid, read_end=read_end)


@dataclass
class PendingIdentity:
    """An identity being unlocked: in a child process (``pid``), or at :meth:`get`."""

    pid: int = 0
    read_end: int = -1
    inline: Callable[[], Identity] | None = None

    def get(self) -> Identity:
        """The unlocked identity, or the error unlocking it raised."""
        if self.inline is not None:
            return self.inline()
        chunks = []
        try:
            while chunk := os.read(self.read_end, 65536):
                chunks.append(chunk)
            os.waitpid(self.pid, 0)  # it has answered: it is ending
            self.pid = 0
        finally:
            self.close()
        return _identity(b"".join(chunks))

    def close(self) -> None:
        """Stop waiting: end the child if it still runs, and reap it (idempotent)."""
        if self.read_end >= 0:
            os.close(self.read_end)
            self.read_end = -1
        if self.pid:
            pid, self.pid = self.pid, 0
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


def _unlock(passphrase_fd: int | None) -> Identity:
    from app.identity import unlock_identity  # lazy: cryptography

    return unlock_identity(passphrase_fd)


def _answer(fd: int, passphrase_fd: int | None) -> None:
    """In the child: unlock, and write the key and certificate, or the error, to ``fd``."""
    try:
        identity = _unlock(passphrase_fd)
        from cryptography.hazmat.primitives import serialization

        key = identity.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert = identity.certificate.public_bytes(serialization.Encoding.DER)
        doc: dict[str, Any] = {
            "key": base64.b64encode(key).decode(),
            "cert": base64.b64encode(cert).decode(),
        }
    except ChainproofError as exc:
        doc = {"error": [type(exc).__module__, type(exc).__qualname__, str(exc)]}
    except BaseException as exc:  # noqa: BLE001 (a bug, re-raised in the command with its text)
        doc = {"crash": f"{type(exc).__name__}: {exc}"}
    data = json.dumps(doc).encode()
    while data:
        data = data[os.write(fd, data) :]
    os.close(fd)


def _identity(answer: bytes) -> Identity:
    """The identity the child sent, or its error raised here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from app.identity import Identity

    doc: dict[str, Any]
    try:
        doc = json.loads(answer) if answer else {"crash": "it ended without an answer"}
    except ValueError:
        doc = {"crash": "its answer is not JSON"}
    if "error" in doc:
        module, name, message = doc["error"]
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, ChainproofError):
            raise cls(message)
        raise ChainproofError(message)
    if "crash" in doc:
        raise RuntimeError(f"unlocking the identity failed in its child process: {doc['crash']}")
    key = serialization.load_der_private_key(base64.b64decode(doc["key"]), password=None)
    cert = x509.load_der_x509_certificate(base64.b64decode(doc["cert"]))
    return Identity(key=key, certificate=cert)  # type: ignore[arg-type] # as the child checked it
