"""manifest.json: the bundle's facts as its ledger gives them, written as a stream.

Each part of the manifest is built by one function from the fold of the ledger (case,
ledger, examiners, runs, custody) or from one typed :class:`ArtifactCollected` event
(artifacts). The verifier builds the same parts from the bundle's ledger and compares them
with the manifest field by field (:mod:`custody.bundle.manifest_check`).

The manifest is RFC 8785 canonical JSON. Its top-level keys are ASCII, so canonical order is
plain sorted order and ``artifacts`` comes first: it is written artifact by artifact, and
the document, however large the case, is never whole in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from custody.bundle.facts import LedgerFacts, SignedEntry
from custody.bundle.layout import (
    BUNDLE_FORMAT,
    LEDGER,
    LEDGER_NOTE,
    certificate_file,
    member_sums_file,
)
from custody.record.canonical import canonical_json
from custody.record.events import ArtifactCollected
from custody.record.flat_json import FlatObject
from custody.record.fold import CaseState, Examiner, RunState
from custody.report.caseuco import ArchiveCopy, run_examiner, run_finished_at, run_status

#: Run fields that describe the bundle's copy of the archive (the file, when the ledger
#: does not record them).
ARCHIVE_FIELDS = ("archive_size", "archive_sha256")


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class ExportFacts:
    """What the export itself adds: which bundle, when, by whom, with which tool."""

    bundle_id: str
    generated_at: str
    tool_version: str
    exporter: Examiner
    verification: Mapping[str, Any]
    forced: bool


# --------------------------------------------------------------------------- the parts


def case_doc(state: CaseState) -> dict[str, Any]:
    """The case's fields as ``case_opened`` and later ``case_updated`` entries leave them."""
    fields = state.fields.to_json() if state.fields else {}
    return _compact({**fields, "created_at": state.created_at, "id": state.case_id})


def ledger_doc(facts: LedgerFacts) -> dict[str, Any]:
    s = facts.state
    return {
        "file": LEDGER,
        "entries": s.entries,
        "first_seq": facts.first_seq,
        "last_seq": facts.last_seq,
        "head": s.head,
        "note": LEDGER_NOTE,
    }


def examiner_doc(x: Examiner) -> dict[str, Any]:
    return _compact(
        {
            "fingerprint": x.fingerprint,
            "name": x.name,
            "organisation": x.organisation,
            "email": x.email,
            "role": x.role,
            "added_seq": x.added.seq,
            "added_at": x.added.at,
            "certificate": certificate_file(x.fingerprint),
        }
    )


def run_doc(run: RunState, archive: ArchiveCopy | None) -> dict[str, Any]:
    """A run as its ``run_started`` and ``run_finished`` entries and the fold's counts give it;
    ``archive`` is the size and SHA-256 of its archive (None when it was missing)."""
    s = run.started.event
    f = run.finished
    return _compact(
        {
            "id": run.run_id,
            "archive": run.archive,
            "archive_size": archive.size if archive else None,
            "archive_sha256": archive.sha256 if archive else None,
            "member_sums": member_sums_file(run.archive),
            "host": s.host,
            "profile": s.profile,
            "profile_sha256": s.profile_sha256,
            "examiner": run_examiner(run),
            "tool": s.tool,
            "tool_version": s.tool_version,
            "tool_sha256": s.tool_sha256,
            "command_line": list(s.command_line) or None,
            "started_at": run.started.at,
            "started_seq": run.started.seq,
            "finished_at": run_finished_at(run),
            "finished_seq": f.seq if f else None,
            "status": run_status(run),
            "reason": (f.event.reason or None) if f else None,
            "artifacts": run.artifacts,
            "regular_files": run.regular_files,
            "problems": run.problems,
            "errors": run.errors,
            "skipped": run.skipped,
            "changed": run.changed,
            "bytes": run.bytes,
            "collectors": dict(sorted(run.collectors.items())) or None,
        }
    )


#: The fields of one artifact in the manifest, in the order ``examine`` lists them.
_ARTIFACT_FIELDS = (
    "seq",
    "run_id",
    "collector",
    "kind",
    "member",
    "member_b64",
    "path",
    "path_b64",
    "size",
    "sha256",
    "sha1",
    "md5",
    "header_offset",
    "data_offset",
    "header_sha256",
    "mode",
    "uid",
    "gid",
    "uname",
    "gname",
    "mtime",
    "symlink_target",
    "symlink_target_b64",
    "changed",
)


def artifact_doc(seq: int, a: ArtifactCollected) -> dict[str, Any]:
    """One artifact: where it is, its hashes, and what its archive header binds."""
    values = _artifact_sorted(seq, a)
    return {k: values[k] for k in _ARTIFACT_FIELDS if values[k] is not None}


def signature_doc(s: SignedEntry) -> dict[str, Any]:
    return {
        "seq": s.seq,
        "event": s.event,
        "body": s.body,
        "signatures": [{"file": f, "by": by} for f, by in s.files()],
    }


def custody_doc(state: CaseState) -> dict[str, Any]:
    """Who holds the evidence, every hand-over, how often it was accessed, and the seal."""

    def name(fp: str, recorded: str | None) -> str | None:
        x = state.examiners.get(fp)
        return x.name if x else recorded

    seal = state.seal
    return _compact(
        {
            "custodian": state.custodian,
            "custodian_name": name(state.custodian, None) if state.custodian else None,
            "transfers": [
                _compact(
                    {
                        "seq": t.seq,
                        "at": t.at,
                        "from": t.event.from_fp,
                        "from_name": name(t.event.from_fp, t.event.from_name),
                        "to": t.event.to_fp,
                        "to_name": name(t.event.to_fp, t.event.to_name),
                        "reason": t.event.reason,
                        "location": t.event.location,
                    }
                )
                for t in state.transfers
            ],
            "accessed": len(state.access),
            "sealed": {
                "seq": seal.seq,
                "at": seal.at,
                "reason": seal.event.reason,
                "ledger_head": seal.event.ledger_head,
                "ledger_entries": seal.event.ledger_entries,
            }
            if seal
            else None,
        }
    )


def exporter_doc(x: Examiner) -> dict[str, Any]:
    return {"fingerprint": x.fingerprint, "name": x.name}


def runs_doc(state: CaseState, archives: Mapping[str, ArchiveCopy | None]) -> list[dict[str, Any]]:
    return [run_doc(r, archives.get(r.run_id)) for r in state.runs.values()]


# --------------------------------------------------------------------------- writing


MANIFEST_HEAD = b'{"artifacts":['


def artifact_chunk(seq: int, a: ArtifactCollected, first: bool) -> bytes:
    """One artifact of the manifest's list, with the comma before it unless ``first``:
    ``canonical_json(artifact_doc(seq, a))``, written from :func:`_artifact_sorted` when
    its values are plain (the export writes one per artifact)."""
    doc = _ARTIFACT.encode(_artifact_sorted(seq, a))
    if doc is None:
        doc = canonical_json(artifact_doc(seq, a))
    return doc if first else b"," + doc


def _artifact_sorted(seq: int, a: ArtifactCollected) -> dict[str, Any]:
    """Every field of :data:`_ARTIFACT_FIELDS`, None where nothing is recorded, keys in
    sorted order (the order of its canonical JSON)."""
    m, src, d = a.member, a.source, a.digests
    header = src if src is not None else m
    return {
        "changed": a.changed,
        "collector": a.collector,
        "data_offset": m.data_offset,
        "gid": header.gid,
        "gname": src.gname if src else None,
        "header_offset": m.header_offset,
        "header_sha256": m.header_sha256,
        "kind": a.kind,
        "md5": d.md5,
        "member": m.name,
        "member_b64": m.name_b64,
        "mode": header.mode,
        "mtime": header.mtime,
        "path": src.path if src else None,
        "path_b64": src.path_b64 if src else None,
        "run_id": a.run_id,
        "seq": seq,
        "sha1": d.sha1,
        "sha256": d.sha256,
        "size": m.size,
        "symlink_target": src.symlink_target if src else None,
        "symlink_target_b64": src.symlink_target_b64 if src else None,
        "uid": header.uid,
        "uname": src.uname if src else None,
    }


_ARTIFACT = FlatObject(sorted(_ARTIFACT_FIELDS), omit_none=True)


def manifest_tail(
    facts: LedgerFacts,
    archives: Mapping[str, ArchiveCopy | None],
    export: ExportFacts,
    *,
    contents: Sequence[Mapping[str, Any]],
    files: Sequence[str],
) -> bytes:
    """The rest of the manifest after its artifacts: the list closed, every other part."""
    state = facts.state
    rest: dict[str, Any] = {
        "bundle_id": export.bundle_id,
        "case": case_doc(state),
        "contents": list(contents),
        "custody": custody_doc(state),
        "examiners": [examiner_doc(x) for x in state.examiners.values()],
        "exported_by": exporter_doc(export.exporter),
        "files": list(files),
        "format": BUNDLE_FORMAT,
        "generated_at": export.generated_at,
        "ledger": ledger_doc(facts),
        "runs": runs_doc(state, archives),
        "signatures": [signature_doc(s) for s in facts.signed],
        "tool": {"name": "chainproof", "version": export.tool_version},
        "verification": {"forced": export.forced, **export.verification},
    }
    assert min(rest) > "artifacts"  # canonical (sorted) key order
    parts = [b"]"]
    for key in sorted(rest):
        parts.append(b"," + canonical_json(key) + b":" + canonical_json(rest[key]))
    parts.append(b"}")
    return b"".join(parts)


def manifest_chunks(
    facts: LedgerFacts,
    artifacts: Iterable[tuple[int, ArtifactCollected]],
    archives: Mapping[str, ArchiveCopy | None],
    export: ExportFacts,
    *,
    contents: Sequence[Mapping[str, Any]],
    files: Sequence[str],
) -> Iterator[bytes]:
    """The canonical JSON of the manifest, in pieces: artifacts one by one, then the rest.
    (The export writes the same pieces, :data:`MANIFEST_HEAD`, :func:`artifact_chunk` and
    :func:`manifest_tail`, as its one pass over the ledger goes.)"""
    yield MANIFEST_HEAD
    first = True
    for seq, a in artifacts:
        yield artifact_chunk(seq, a, first)
        first = False
    yield manifest_tail(facts, archives, export, contents=contents, files=files)
