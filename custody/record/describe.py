"""One line for people about a ledger entry, from its typed event: the custody report's log
and the desktop app's ledger views say the same thing.

``names`` maps certificate fingerprints to examiners' names; an examiner it does not know is
shown by the start of the fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from custody.record.events import (
    Accessed,
    ArchiveSetAside,
    ArtifactCollected,
    CaseOpened,
    CaseUpdated,
    Checkpoint,
    CollectionProblem,
    Decision,
    Event,
    Exported,
    ExportFailed,
    ExportStarted,
    IdentityAdded,
    IndexRebuilt,
    JournalEvent,
    RunFinished,
    RunStarted,
    Sealed,
    Timestamped,
    ToolFootprint,
    Transferred,
    Verified,
)

#: Hex digits of a fingerprint or hash shown where the full value is given elsewhere.
SHORT = 16
#: Members an access line names before it says how many more there are.
ACCESS_NAMED = 5
#: Characters of a name or place in a line; of a path, reason or purpose; of a note's text.
#: Each part is cut on its own, so a very long value never hides the rest of the line.
NAME_CHARS = 200
REASON_CHARS = 400
TEXT_CHARS = 600
NOT_RECORDED = "not recorded"

Names = Mapping[str, str]
E = TypeVar("E", bound=Event)
_Describer = Callable[[Any, Names], str]
_DESCRIBERS: dict[type[Event], _Describer] = {}


def describe(event: Event, names: Names | None = None) -> str:
    """A one-line description of ``event`` for people."""
    names = names or {}
    for cls in type(event).__mro__:
        describer = _DESCRIBERS.get(cls)
        if describer is not None:
            return describer(event, names)
    return event.EVENT.replace("_", " ").capitalize()


def describe_unreadable(kind: str, problem: str) -> str:
    """The line for an entry whose payload cannot be read (``problem`` says why)."""
    return f"Unreadable {kind} entry: {problem}"


def name_of(fingerprint: str, names: Names) -> str:
    """An examiner's name, or the start of their certificate fingerprint when unknown."""
    name = names.get(fingerprint)
    return _short(name, NAME_CHARS) if name else f"{fingerprint[:SHORT]}..."


def _describes(cls: type[E]) -> Callable[[Callable[[E, Names], str]], Callable[[E, Names], str]]:
    def register(fn: Callable[[E, Names], str]) -> Callable[[E, Names], str]:
        _DESCRIBERS[cls] = fn
        return fn

    return register


def _text(value: object) -> str:
    return NOT_RECORDED if value is None or value == "" else str(value)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _name(value: object) -> str:
    """A name, path or place: "not recorded" when absent, cut past :data:`NAME_CHARS`."""
    return _short(_text(value), NAME_CHARS)


def _long(value: object) -> str:
    """A path, reason or purpose: "not recorded" when absent, cut past :data:`REASON_CHARS`."""
    return _short(_text(value), REASON_CHARS)


# --------------------------------------------------------------------------- the case


@_describes(CaseOpened)
def _case_opened(ev: CaseOpened, names: Names) -> str:
    return f"Case opened: {_name(ev.fields.title)}"


@_describes(CaseUpdated)
def _case_updated(ev: CaseUpdated, names: Names) -> str:
    changes = "; ".join(
        f"{_short(k, 40)} = {_short(v, 120) if v is not None else '(cleared)'}"
        for k, v in sorted(ev.changes.items())
    )
    reason = f". Reason: {_short(ev.reason, REASON_CHARS)}" if ev.reason else ""
    return f"Case record updated: {changes}{reason}"


@_describes(IdentityAdded)
def _identity_added(ev: IdentityAdded, names: Names) -> str:
    org = f", {_name(ev.organisation)}" if ev.organisation else ""
    return (
        f"{_name(ev.name)}{org} recorded as {_name(ev.role)} "
        f"(certificate {ev.fingerprint[:SHORT]}...)"
    )


# --------------------------------------------------------------------------- runs


def _footprint(unpacked: ToolFootprint) -> str:
    """What the one-file binary unpacked on the examined host (``RunStarted.tool_unpacked``)."""
    where = "in memory" if unpacked.in_memory else "on disk"
    return (
        f"; the one-file binary unpacked {unpacked.bytes:,} bytes into "
        f"{_name(unpacked.unpacked_to)} ({_name(unpacked.filesystem)}, {where})"
    )


@_describes(RunStarted)
def _run_started(ev: RunStarted, names: Names) -> str:
    text = (
        f"Collection run {ev.run_id[:8]} started on host {_name(ev.host)}, profile "
        f"{_name(ev.profile)}, tool {_name(ev.tool)} {_name(ev.tool_version)}"
    )
    return text + _footprint(ev.tool_unpacked) if ev.tool_unpacked else text


@_describes(RunFinished)
def _run_finished(ev: RunFinished, names: Names) -> str:
    size = f" ({ev.archive_size} bytes)" if ev.archive_size is not None else ""
    text = (
        f"Run {ev.run_id[:8]} {_name(ev.status)}: {ev.artifacts} artifacts, {ev.errors or 0} "
        f"errors, {ev.skipped or 0} skipped; archive {_name(ev.archive)}{size}"
    )
    return text + f"; reason: {_long(ev.reason)}" if ev.reason else text


@_describes(ArtifactCollected)
def _artifact(ev: ArtifactCollected, names: Names) -> str:
    changed = " [changed while read]" if ev.changed else ""
    return f"{_name(ev.collector)}: {_long(ev.shown_name)} ({ev.member.size} bytes){changed}"


@_describes(CollectionProblem)
def _problem(ev: CollectionProblem, names: Names) -> str:
    where = f"{_long(ev.path)}: " if ev.path else ""
    return f"{_name(ev.collector)} {_name(ev.kind)}: {where}{_long(ev.reason)}"


@_describes(Checkpoint)
def _checkpoint(ev: Checkpoint, names: Names) -> str:
    return f"Checkpoint ({_name(ev.reason)}) over entries {ev.covers_from}-{ev.covers_to}"


@_describes(ArchiveSetAside)
def _archive_set_aside(ev: ArchiveSetAside, names: Names) -> str:
    return (
        f"Archive {_name(ev.archive)} ({ev.size:,} bytes, SHA-256 {ev.sha256[:SHORT]}...) set "
        f"aside as {_name(ev.set_aside_as)}: {_long(ev.reason)}"
    )


# --------------------------------------------------------------------------- acts of people


@_describes(JournalEvent)
def _journal(ev: JournalEvent, names: Names) -> str:
    reason = f" Reason: {_short(ev.reason, REASON_CHARS)}" if ev.reason else ""
    return f"[{_name(ev.journal_kind)}] {_short(ev.text, TEXT_CHARS)}{reason}"


@_describes(Decision)
def _decision(ev: Decision, names: Names) -> str:
    reason = _short(ev.reason or "", REASON_CHARS)
    return f"Decision: {_short(ev.text, REASON_CHARS)}. Reason: {reason}"


@_describes(Transferred)
def _transferred(ev: Transferred, names: Names) -> str:
    giver = _name(ev.from_name) if ev.from_name else name_of(ev.from_fp, names)
    taker = _name(ev.to_name) if ev.to_name else name_of(ev.to_fp, names)
    return (
        f"Custody transferred from {giver} to {taker} at {_name(ev.location)}. "
        f"Reason: {_long(ev.reason)}"
    )


@_describes(Accessed)
def _accessed(ev: Accessed, names: Names) -> str:
    shown = ", ".join(_name(a) for a in ev.artifacts[:ACCESS_NAMED])
    more = len(ev.artifacts) - ACCESS_NAMED
    if not ev.artifacts:
        what = "the whole case"
    elif len(ev.artifacts) == 1:
        what = f"1 artifact: {shown}"
    else:
        what = f"{len(ev.artifacts)} artifacts: {shown}" + (f" and {more} more" if more > 0 else "")
    return f"Evidence accessed by {name_of(ev.by, names)}, {what}. Purpose: {_long(ev.purpose)}"


@_describes(Sealed)
def _sealed(ev: Sealed, names: Names) -> str:
    return (
        f"Case sealed after entry {ev.ledger_entries} (head {ev.ledger_head[:SHORT]}...); no "
        f"collection may follow. Reason: {_long(ev.reason)}"
    )


@_describes(Verified)
def _verified(ev: Verified, names: Names) -> str:
    return (
        f"Verification recorded: {_name(ev.result)}, {ev.findings} finding(s), {ev.entries} "
        f"entries, {ev.artifacts} artifacts"
    )


@_describes(Exported)
def _exported(ev: Exported, names: Names) -> str:
    return (
        f"Bundle {_name(ev.bundle_id)} exported ({_name(ev.format)}, {ev.files} files, "
        f"{ev.bytes:,} bytes, ledger entries 1-{ev.ledger_entries}) to {_long(ev.path)}; manifest "
        f"SHA-256 {ev.manifest_sha256[:SHORT]}...; verification {_name(ev.verification)}, "
        f"{ev.findings} finding(s)"
        + (
            f"; encrypted to {len(ev.encrypted_to)} recipient(s) ("
            + ", ".join(f"{fp[:SHORT]}..." for fp in ev.encrypted_to)
            + f"), envelope SHA-256 {(ev.p7m_sha256 or '')[:SHORT]}..."
            if ev.encrypted_to
            else ""
        )
    )


@_describes(ExportStarted)
def _export_started(ev: ExportStarted, names: Names) -> str:
    return (
        f"Export of bundle {_name(ev.bundle_id)} ({_name(ev.format)}, ledger entries "
        f"1-{ev.ledger_entries}) to {_long(ev.path)} started on host {_name(ev.host)}; staged "
        f"in {_long(ev.staging)}"
    )


@_describes(ExportFailed)
def _export_failed(ev: ExportFailed, names: Names) -> str:
    if ev.staging_files is None:
        staging = "no staging folder was left"
    else:
        staging = (
            f"its staging folder {_long(ev.staging)} was removed ({ev.staging_files} files, "
            f"{(ev.staging_bytes or 0):,} bytes)"
        )
    by = "; recorded by a later command" if ev.recovered else ""
    return (
        f"Export of bundle {_name(ev.bundle_id)} to {_long(ev.path)} did not complete: "
        f"{_long(ev.reason)}; {staging}{by}"
    )


@_describes(IndexRebuilt)
def _index_rebuilt(ev: IndexRebuilt, names: Names) -> str:
    return (
        f"Index rebuilt from entries 1-{ev.ledger_entries} ({ev.mismatches} difference(s) "
        f"found before). Reason: {_long(ev.reason)}"
    )


@_describes(Timestamped)
def _timestamped(ev: Timestamped, names: Names) -> str:
    seqs = ", ".join(str(n) for n in ev.seqs[:20])
    more = f" and {len(ev.seqs) - 20} more" if len(ev.seqs) > 20 else ""
    return (
        f"Timestamps added late by {_long(ev.tsa)} for {len(ev.seqs)} signed "
        f"entr{'y' if len(ev.seqs) == 1 else 'ies'} that had none when written ({seqs}{more}). "
        f"Reason: {_long(ev.reason)}"
    )
