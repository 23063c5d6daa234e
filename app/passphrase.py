"""Getting a passphrase: from a file descriptor, the environment, or a prompt; never argv."""

from __future__ import annotations

import getpass
import os
import sys

from custody.errors import UsageError

ENV = "CHAINPROOF_PASSPHRASE"


def read_passphrase(
    *,
    prompt: str = "Passphrase: ",
    env: str = ENV,
    fd: int | None = None,
    confirm: bool = False,
) -> bytes:
    """The passphrase from ``fd`` (first line), else ``$env``, else an interactive prompt."""
    if fd is not None:
        try:
            with os.fdopen(fd, "rb", closefd=False) as stream:
                line = stream.readline()
        except OSError as exc:
            raise UsageError(
                f"cannot read the passphrase from file descriptor {fd}: {exc}"
            ) from exc
        value = line.rstrip(b"\r\n")
    elif os.environ.get(env):
        value = os.environ[env].encode("utf-8")
    elif sys.stdin is not None and sys.stdin.isatty():
        text = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != text:
            raise UsageError("the two passphrases differ")
        value = text.encode("utf-8")
    else:
        raise UsageError(
            f"a passphrase is needed: set {env}, pass --passphrase-fd N, or run in a terminal"
        )
    if not value:
        raise UsageError("the passphrase is empty")
    return value


def strength_hint(passphrase: str) -> str | None:
    """A short warning when a passphrase is weak, else None."""
    if len(passphrase) < 12:
        return "shorter than 12 characters"
    if len(set(passphrase)) < 6:
        return "too few different characters"
    return None
