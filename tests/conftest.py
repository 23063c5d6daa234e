"""Fixtures shared by every test: an isolated Chainproof home, examiners, cases."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Qt aborts the whole process without a display; offscreen needs no X server.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from custody.record.keys import Identity, create_identity, save_identity

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def chainproof_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test gets its own config dir; the examiner identity is installed there."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("CHAINPROOF_HOME", str(home))
    monkeypatch.setenv("CHAINPROOF_PASSPHRASE", PASSPHRASE)
    return home


@pytest.fixture(scope="session")
def alice_identity() -> Identity:
    return create_identity("Alice Examiner", "Example Forensics", "alice@example.org")


@pytest.fixture(scope="session")
def bob_identity() -> Identity:
    return create_identity("Bob Receiver", "Example Legal", "bob@example.org")


@pytest.fixture
def alice(alice_identity: Identity, chainproof_home: Path) -> Identity:
    """Alice's identity, also saved as this test's examiner key file."""
    save_identity(alice_identity, chainproof_home / "identity.p12", PASSPHRASE.encode())
    return alice_identity


@pytest.fixture
def make_case(tmp_path: Path, alice: Identity) -> Iterator[Callable[..., object]]:
    """Factory: a new case directory opened by Alice."""
    from app.cases import create_case

    counter = iter(range(1000))

    def make(title: str = "Test case", **fields: str) -> object:
        return create_case(tmp_path / f"case{next(counter)}", alice, title=title, **fields)

    yield make
