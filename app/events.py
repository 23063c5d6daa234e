"""The ledger's event kinds, for the desktop app: the one declaration of :mod:`custody.record.events`.

The UI groups and colours entries by kind; it names each kind by its class's ``EVENT``, never
by a string of its own.
"""

from __future__ import annotations

from custody.record.events import (
    Accessed,
    ArchiveSetAside,
    CaseOpened,
    CaseUpdated,
    Checkpoint,
    Decision,
    Exported,
    ExportFailed,
    ExportStarted,
    IdentityAdded,
    IndexRebuilt,
    Note,
    RunFinished,
    RunStarted,
    Sealed,
    Transferred,
    Verified,
)

__all__ = [
    "Accessed",
    "ArchiveSetAside",
    "CaseOpened",
    "CaseUpdated",
    "Checkpoint",
    "Decision",
    "ExportFailed",
    "ExportStarted",
    "Exported",
    "IdentityAdded",
    "IndexRebuilt",
    "Note",
    "RunFinished",
    "RunStarted",
    "Sealed",
    "Transferred",
    "Verified",
]
