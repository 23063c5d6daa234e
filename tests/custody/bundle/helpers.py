"""Cases and bundles for the bundle tests: real pax tars, a real ledger, a real export."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cases import CaseHandle
from custody.bundle.layout import CASE_UCO, MANIFEST, MANIFEST_SIG, SUMS, SUMS_SIG
from custody.bundle.sha256sums import format_sums
from custody.record.canonical import canonical_json
from custody.record.digests import Digests
from custody.record.events import (
    ArtifactCollected,
    MemberRef,
    RunFinished,
    RunStarted,
    SourceFacts,
)
from custody.record.keys import Identity
from custody.record.names import to_text
from custody.record.times import ns_text
from custody.store.archive import MemberMeta, RunArchive

ODD_FILES: dict[str, bytes] = {
    "files/etc/hostname": b"box\n",
    "files/tmp/sp ace": b"space\n",
    "files/tmp/back\\slash": b"backslash\n",
    "files/tmp/new\nline": b"newline\n",
    "files/tmp/cr\rname": b"carriage return\n",
    "files/tmp/" + os.fsdecode(b"\xff\xfe-not-utf8"): b"bytes\n",
    "volatile/system.json": b'{"hostname": "box"}\n',
}
WHEN = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def add_run(case: CaseHandle, identity: Identity, files: dict[str, bytes]) -> str:
    """Append one finished run whose archive holds ``files``, written as a run writes it."""
    run_id = str(uuid.uuid4())
    archive = RunArchive(case.evidence_dir / f"{run_id}.tar")
    writer = case.writer(identity)
    writer.before_write = archive.flush
    writer.append(
        RunStarted(
            run_id=run_id,
            host="testhost",
            profile="none",
            archive=f"evidence/{run_id}.tar",
            tool_version="test",
            examiner=identity.fingerprint,
        )
    )
    mtime = 1_700_000_000 * 10**9
    for name, data in files.items():
        member = archive.add_member(name, data, MemberMeta(mtime_ns=mtime, mode=0o644))
        text, b64 = to_text(name)
        volatile = text.startswith("volatile/")
        source = None
        if not volatile:
            path, path_b64 = to_text("/" + name.removeprefix("files/"))
            source = SourceFacts(
                path=path,
                path_b64=path_b64,
                mode=0o644,
                uid=0,
                gid=0,
                uname="",
                gname="",
                mtime=ns_text(mtime),
            )
        writer.append(
            ArtifactCollected(
                run_id=run_id,
                collector="volatile" if volatile else "files",
                kind="volatile" if volatile else "file",
                member=MemberRef(
                    name=text,
                    name_b64=b64,
                    header_offset=member.header_offset,
                    data_offset=member.data_offset,
                    size=member.size,
                    header_sha256=member.header_sha256,
                    mtime=ns_text(mtime) if volatile else None,
                    mode=0o644 if volatile else None,
                    uid=0 if volatile else None,
                    gid=0 if volatile else None,
                ),
                digests=Digests(
                    hashlib.sha256(data).hexdigest(),
                    hashlib.sha1(data).hexdigest(),
                    hashlib.md5(data).hexdigest(),
                ),
                source=source,
            )
        )
    writer.flush("run end")
    writer.before_write = None
    size = archive.close()
    writer.append(
        RunFinished(
            run_id=run_id,
            status="finished",
            artifacts=len(files),
            errors=0,
            skipped=0,
            bytes=sum(len(d) for d in files.values()),
            archive=f"evidence/{run_id}.tar",
            archive_size=size,
            archive_sha256=archive.sha256,
            finished_at="2024-05-01T11:00:00.000000Z",
        )
    )
    return run_id


def export(case: CaseHandle, identity: Identity, out: Path, **kw: Any) -> Any:
    from app.export_service import export_case

    return export_case(case, identity, out, **kw)


Edit = Callable[[dict[str, Any]], None]


def resign(
    root: Path,
    identity: Identity,
    *,
    manifest: Edit | None = None,
    uco: Edit | None = None,
) -> None:
    """Edit manifest.json and/or case.jsonld (or any file, before calling this), list every
    file as it now is in the manifest's contents, sign the manifest again, write SHA256SUMS
    anew over every file and sign it: everything a dishonest signer can do."""
    if uco is not None:
        doc = json.loads((root / CASE_UCO).read_bytes())
        uco(doc)
        (root / CASE_UCO).write_text(json.dumps(doc, indent=1), encoding="utf-8")
    doc = json.loads((root / MANIFEST).read_bytes())
    for item in doc.get("contents", []):  # the manifest lists the files as they are now
        name = item.get("name")
        if isinstance(name, str) and (root / name).is_file():
            item["size"] = (root / name).stat().st_size
            item["sha256"] = hashlib.sha256((root / name).read_bytes()).hexdigest()
    if manifest is not None:
        manifest(doc)
    data = canonical_json(doc)
    (root / MANIFEST).write_bytes(data)
    (root / MANIFEST_SIG).write_bytes(identity.sign(data))
    names = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name not in (SUMS, SUMS_SIG)
    ]
    sums = format_sums((n, hashlib.sha256((root / n).read_bytes()).hexdigest()) for n in names)
    (root / SUMS).write_bytes(sums)
    (root / SUMS_SIG).write_bytes(identity.sign(sums))


def set_field(path: str, value: Any) -> Edit:
    """An edit of the JSON value at a dotted path (``runs.0.host``)."""

    def edit(m: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = m
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(last) if last.isdigit() else last] = value

    return edit
