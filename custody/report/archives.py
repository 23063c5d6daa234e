"""What the report reads from the run archives: the system facts member, at the offset the
ledger recorded and only when it re-hashes to the recorded SHA-256, and the archive files'
sizes and SHA-256 (hashed here, streaming, because the report is made at export).
"""

from __future__ import annotations

import hashlib
import json

from custody.report.model import ArchiveFacts, RunReport
from custody.store.storage import EvidenceStore, archive_name

_SYSTEM_MAX = 8 << 20  # a system facts member larger than this is not read
_CHUNK = 1 << 20


def _name(run: RunReport) -> str | None:
    return archive_name(run.started.archive)


def read_system_facts(run: RunReport, evidence: EvidenceStore) -> None:
    """Load ``volatile/system.json`` from the archive, if it is there and re-hashes correctly."""
    recorded = run.system_member
    if recorded is None:
        run.system_note = "the run recorded no system facts (no volatile/system.json member)"
        return
    member, digests = recorded.event.member, recorded.event.digests
    name = _name(run)
    if name is None or not evidence.exists(name):
        run.system_note = "the run archive is not available to read the system facts from"
        return
    if member.size > _SYSTEM_MAX:
        run.system_note = f"the system facts member is {member.size} bytes; not read"
        return
    if member.data_offset < 0:
        run.system_note = "the ledger entry of the system facts has no data offset"
        return
    try:
        with evidence.open(name) as f:
            f.seek(member.data_offset)
            data = f.read(member.size)
    except OSError as exc:
        run.system_note = f"cannot read the system facts: {exc.strerror or exc}"
        return
    if hashlib.sha256(data).hexdigest() != digests.sha256:
        run.system_note = "the archived system facts do not match their recorded SHA-256; not shown"
        return
    try:
        facts = json.loads(data)
    except ValueError as exc:
        run.system_note = f"the system facts are not valid JSON ({exc}); not shown"
        return
    if not isinstance(facts, dict):
        run.system_note = "the system facts are not a JSON object; not shown"
        return
    run.system = facts


def archive_facts(run: RunReport, evidence: EvidenceStore, hash_archives: bool) -> ArchiveFacts:
    """The run archive's size and SHA-256 as found now (``hash_archives`` False: size only)."""
    stored = _name(run)
    name = run.archive_name
    if stored is None:
        return ArchiveFacts(name, exists=False, error="the run names no archive")
    try:
        size = evidence.size(stored)
    except OSError as exc:
        return ArchiveFacts(name, exists=False, error=exc.strerror or str(exc))
    if not hash_archives:
        return ArchiveFacts(name, exists=True, size=size)
    digest = hashlib.sha256()
    try:
        with evidence.open(stored) as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        return ArchiveFacts(name, exists=True, size=size, error=exc.strerror or str(exc))
    return ArchiveFacts(name, exists=True, size=size, sha256=digest.hexdigest())
