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
    ArtifactCollected,
    CaseOpened,
    CaseUpdated,
    Checkpoint,
    CollectionProblem,
    Decision,
    Event,
    Exported,
    IdentityAdded,
    IndexRebuilt,
    JournalEvent,
    RunFinished,
    RunStarted,
    Sealed,
    ToolFootprint,
    Transferred,
    Verified,
)

#: Hex digits of a fingerprint or hash shown where the full value is given elsewhere.
SHORT = 16
#: Members an access line names before it says how many more there are.
ACCESS_NAMED = 5
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
    return names.get(fingerprint) or f"{fingerprint[:SHORT]}..."


def _describes(cls: type[E]) -> Callable[[Callable[[E, Names], str]], Callable[[E, Names], str]]:
    def register(fn: Callable[[E, Names], str]) -> Callable[[E, Names], str]:
        _DESCRIBERS[cls] = fn
        return fn

    return register


def _text(value: object) -> str:
    return NOT_RECORDED if value is None or value == "" else str(value)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- the case


@_describes(CaseOpened)
def _case_opened(ev: CaseOpened, names: Names) -> str:
    return f"Case opened: {_text(ev.fields.title)}"


@_describes(CaseUpdated)
def _case_updated(ev: CaseUpdated, names: Names) -> str:
    changes = "; ".join(
        f"{k} = {_short(v, 120) if v is not None else '(cleared)'}"
        for k, v in sorted(ev.changes.items())
    )
    reason = f". Reason: {_short(ev.reason, 400)}" if ev.reason else ""
    return f"Case record updated: {changes}{reason}"


@_describes(IdentityAdded)
def _identity_added(ev: IdentityAdded, names: Names) -> str:
    org = f", {ev.organisation}" if ev.organisation else ""
    return (
        f"{_text(ev.name)}{org} recorded as {_text(ev.role)} "
        f"(certificate {ev.fingerprint[:SHORT]}...)"
    )


# --------------------------------------------------------------------------- runs


def _footprint(unpacked: ToolFootprint) -> str:
    """What the one-file binary unpacked on the examined host (``RunStarted.tool_unpacked``)."""
    where = "in memory" if unpacked.in_memory else "on disk"
    return (
        f"; the one-file binary unpacked {unpacked.bytes:,} bytes into "
        f"{_text(unpacked.unpacked_to)} ({_text(unpacked.filesystem)}, {where})"
    )


@_describes(RunStarted)
def _run_started(ev: RunStarted, names: Names) -> str:
    text = (
        f"Collection run {ev.run_id[:8]} started on host {_text(ev.host)}, profile "
        f"{_text(ev.profile)}, tool {_text(ev.tool)} {_text(ev.tool_version)}"
    )
    return text + _footprint(ev.tool_unpacked) if ev.tool_unpacked else text


@_describes(RunFinished)
def _run_finished(ev: RunFinished, names: Names) -> str:
    size = f" ({ev.archive_size} bytes)" if ev.archive_size is not None else ""
    text = (
        f"Run {ev.run_id[:8]} {_text(ev.status)}: {ev.artifacts} artifacts, {ev.errors or 0} "
        f"errors, {ev.skipped or 0} skipped; archive {_text(ev.archive)}{size}"
    )
    return text + f"; reason: {ev.reason}" if ev.reason else text


@_describes(ArtifactCollected)
def _artifact(ev: ArtifactCollected, names: Names) -> str:
    changed = " [changed while read]" if ev.changed else ""
    return f"{ev.collector}: {ev.shown_name} ({ev.member.size} bytes){changed}"


@_describes(CollectionProblem)
def _problem(ev: CollectionProblem, names: Names) -> str:
    where = f"{ev.path}: " if ev.path else ""
    return f"{ev.collector} {ev.kind}: {where}{ev.reason}"


@_describes(Checkpoint)
def _checkpoint(ev: Checkpoint, names: Names) -> str:
    return f"Checkpoint ({_text(ev.reason)}) over entries {ev.covers_from}-{ev.covers_to}"


# --------------------------------------------------------------------------- acts of people


@_describes(JournalEvent)
def _journal(ev: JournalEvent, names: Names) -> str:
    reason = f" Reason: {_short(ev.reason, 400)}" if ev.reason else ""
    return f"[{_text(ev.journal_kind)}] {_short(ev.text, 600)}{reason}"


@_describes(Decision)
def _decision(ev: Decision, names: Names) -> str:
    return f"Decision: {_short(ev.text, 400)}. Reason: {_short(ev.reason or '', 400)}"


@_describes(Transferred)
def _transferred(ev: Transferred, names: Names) -> str:
    giver = ev.from_name or name_of(ev.from_fp, names)
    taker = ev.to_name or name_of(ev.to_fp, names)
    return (
        f"Custody transferred from {giver} to {taker} at {_text(ev.location)}. "
        f"Reason: {_text(ev.reason)}"
    )


@_describes(Accessed)
def _accessed(ev: Accessed, names: Names) -> str:
    shown = ", ".join(ev.artifacts[:ACCESS_NAMED])
    more = len(ev.artifacts) - ACCESS_NAMED
    if not ev.artifacts:
        what = "the whole case"
    elif len(ev.artifacts) == 1:
        what = f"1 artifact: {shown}"
    else:
        what = f"{len(ev.artifacts)} artifacts: {shown}" + (f" and {more} more" if more > 0 else "")
    return f"Evidence accessed by {name_of(ev.by, names)}, {what}. Purpose: {_text(ev.purpose)}"


@_describes(Sealed)
def _sealed(ev: Sealed, names: Names) -> str:
    return (
        f"Case sealed after entry {ev.ledger_entries} (head {ev.ledger_head[:SHORT]}...); no "
        f"collection may follow. Reason: {_text(ev.reason)}"
    )


@_describes(Verified)
def _verified(ev: Verified, names: Names) -> str:
    return (
        f"Verification recorded: {_text(ev.result)}, {ev.findings} finding(s), {ev.entries} "
        f"entries, {ev.artifacts} artifacts"
    )


@_describes(Exported)
def _exported(ev: Exported, names: Names) -> str:
    return (
        f"Bundle {ev.bundle_id} exported ({ev.format}, {ev.files} files, {ev.bytes:,} bytes, "
        f"ledger entries 1-{ev.ledger_entries}) to {ev.path}; manifest SHA-256 "
        f"{ev.manifest_sha256[:SHORT]}...; verification {ev.verification}, {ev.findings} "
        "finding(s)"
    )


@_describes(IndexRebuilt)
def _index_rebuilt(ev: IndexRebuilt, names: Names) -> str:
    return (
        f"Index rebuilt from entries 1-{ev.ledger_entries} ({ev.mismatches} difference(s) "
        f"found before). Reason: {_text(ev.reason)}"
    )
