"""Getting a passphrase: from a file descriptor, the environment, or a prompt; never argv."""

from __future__ import annotations

import argparse
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


def weak_passphrase_message(hint: str) -> str:
    return (
        f"the new passphrase is too weak ({hint}): use at least 12 characters with at least 6 "
        "different ones (a few unrelated words work well)"
    )


def read_new_passphrase(
    *, prompt: str = "New passphrase: ", env: str = ENV, fd: int | None = None, attempts: int = 3
) -> bytes:
    """A passphrase to protect a new or re-encrypted key: read as :func:`read_passphrase`
    does (asked twice at a prompt), and refused when :func:`strength_hint` finds it weak.

    At a prompt a weak or mistyped passphrase is asked for again (``attempts`` times in
    all); from ``fd`` or ``$env`` it is an error at once. Existing keys are never checked:
    they open with the passphrase they have.
    """
    interactive = fd is None and not os.environ.get(env) and _terminal()
    problem = ""
    for _ in range(attempts if interactive else 1):
        try:
            value = read_passphrase(prompt=prompt, env=env, fd=fd, confirm=True)
        except UsageError as exc:
            if not interactive:
                raise
            problem = str(exc)
        else:
            try:
                hint = strength_hint(value.decode("utf-8"))
            except UnicodeDecodeError:
                raise UsageError("the new passphrase is not UTF-8 text") from None
            if hint is None:
                return value
            problem = weak_passphrase_message(hint)
            if not interactive:
                raise UsageError(problem)
        sys.stderr.write(f"{problem[0].upper()}{problem[1:]}. Try again.\n")
    raise UsageError(problem)


def _terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def add_passphrase_fd(parser: argparse.ArgumentParser, whose: str = "your key") -> None:
    """The ``--passphrase-fd N`` option of a command that opens an identity."""
    parser.add_argument(
        "--passphrase-fd",
        type=int,
        metavar="N",
        help=f"read {whose} passphrase from this descriptor (else $CHAINPROOF_PASSPHRASE or a "
        "prompt)",
    )
