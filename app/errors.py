"""The errors the CLI and the UI show to people: the one hierarchy of :mod:`custody.errors`.

Every error a service raises is a :class:`ChainproofError`; ``diagnostics()`` says what
happened and what to do, and ``exit_code`` is the CLI's exit status.
"""

from __future__ import annotations

from custody.errors import (
    Cancelled,
    CaseError,
    ChainproofError,
    ExportError,
    ExportRefused,
    NoIdentity,
    ProfileError,
    UsageError,
    VerificationError,
    WrongPassphrase,
)

__all__ = [
    "Cancelled",
    "CaseError",
    "ChainproofError",
    "ExportError",
    "ExportRefused",
    "NoIdentity",
    "ProfileError",
    "UsageError",
    "VerificationError",
    "WrongPassphrase",
]
