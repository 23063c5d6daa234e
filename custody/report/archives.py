"""What the report reads from the run archives: the system facts member, at the offset the
ledger recorded and only when it re-hashes to the recorded SHA-256, and the archive files'
sizes and SHA-256 (hashed here, streaming, because the report is made at export).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from custody.report.model import ArchiveFacts, RunReport

_SYSTEM_MAX = 8 << 20  # a system facts member larger than this is not read
_CHUNK = 1 << 20


def archive_path(run: RunReport, evidence_dir: Path) -> Path | None:
    """Where the run's archive is in ``evidence_dir`` (by its base name only)."""
    base = Path(run.started.archive).name
    if base in ("", ".", ".."):
        return None
    return evidence_dir / base


def read_system_facts(run: RunReport, evidence_dir: Path) -> None:
    """Load ``volatile/system.json`` from the archive, if it is there and re-hashes correctly."""
    recorded = run.system_member
    if recorded is None:
        run.system_note = "the run recorded no system facts (no volatile/system.json member)"
        return
    member, digests = recorded.event.member, recorded.event.digests
    path = archive_path(run, evidence_dir)
    if path is None or not path.is_file():
        run.system_note = "the run archive is not available to read the system facts from"
        return
    if member.size > _SYSTEM_MAX:
        run.system_note = f"the system facts member is {member.size} bytes; not read"
        return
    if member.data_offset < 0:
        run.system_note = "the ledger entry of the system facts has no data offset"
        return
    try:
        with path.open("rb") as f:
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


def archive_facts(run: RunReport, evidence_dir: Path, hash_archives: bool) -> ArchiveFacts:
    """The run archive's size and SHA-256 as found now (``hash_archives`` False: size only)."""
    path = archive_path(run, evidence_dir)
    name = run.archive_name
    if path is None:
        return ArchiveFacts(name, exists=False, error="the run names no archive")
    try:
        size = path.stat().st_size
    except OSError as exc:
        return ArchiveFacts(name, exists=False, error=exc.strerror or str(exc))
    if not hash_archives:
        return ArchiveFacts(name, exists=True, size=size)
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            while chunk := os.read(fd, _CHUNK):
                digest.update(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        return ArchiveFacts(name, exists=True, size=size, error=exc.strerror or str(exc))
    return ArchiveFacts(name, exists=True, size=size, sha256=digest.hexdigest())
