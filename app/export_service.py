"""ExportService: verify a case, write its bundle (directory or zip), record the export.

The bundle is built in a hidden staging directory next to ``out`` and moved into place only
when complete, so a failed export leaves nothing that looks like a bundle. A zip is written
from that staging directory (sorted, fixed times) and the staging directory removed.
The signed ``exported`` entry is appended to the case's ledger after the bundle exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cases import CaseHandle
from app.verification import verify_case
from app.version import __version__
from custody.bundle.safezip import write_zip
from custody.bundle.writer import BundleResult, write_bundle
from custody.db.ledger import read_entries
from custody.errors import ExportError
from custody.record.events import Exported
from custody.record.keys import Identity
from custody.record.times import utc_text

Progress = Callable[[str], None]
MAX_FINDINGS_SHOWN = 20


@dataclass(frozen=True)
class ExportResult:
    """What an export made and where the case's ledger records it."""

    path: Path
    zip: bool
    bundle: BundleResult
    zip_sha256: str | None
    verified: bool
    findings: int
    exported_seq: int

    @property
    def bundle_id(self) -> str:
        return self.bundle.bundle_id


def _check_out(out: Path, as_zip: bool) -> None:
    if as_zip:
        if out.exists():
            raise ExportError(f"{out} already exists: choose a new file name for the bundle")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} exists and is not an empty directory: choose a new bundle path")
    if not out.parent.is_dir():
        raise ExportError(f"{out.parent} does not exist: create it first")


def _describe(findings: list[Any]) -> str:
    shown = [f"  - {f}" for f in findings[:MAX_FINDINGS_SHOWN]]
    if len(findings) > MAX_FINDINGS_SHOWN:
        shown.append(f"  ... and {len(findings) - MAX_FINDINGS_SHOWN} more")
    return "\n".join(shown)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


def export_case(
    case: CaseHandle,
    identity: Identity,
    out: Path,
    *,
    as_zip: bool = False,
    force: bool = False,
    bundle_id: str | None = None,
    generated_at: dt.datetime | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Verify ``case``, write its bundle to ``out`` and record a signed ``exported`` entry.

    Refuses (:class:`ExportError`, listing the findings) a case that fails verification
    unless ``force``; the bundle then states the failure in the manifest, report and guide.
    ``bundle_id`` and ``generated_at`` default to a new UUID and now; given the same values
    and the same case, the bundle's bytes are the same.
    """
    say = progress or (lambda _m: None)
    out = Path(out).absolute()
    _check_out(out, as_zip)
    bundle_id = bundle_id or str(uuid.uuid4())
    generated_at = (generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    writer = case.writer(identity)  # records the exporting examiner first if new
    say("verifying the case")
    report = verify_case(case)
    if not report.ok and not force:
        raise ExportError(
            f"the case at {case.root} fails verification ({len(report.findings)} problem(s)); "
            "nothing was exported. Fix or explain the problems, or export anyway with --force "
            "(the bundle will state the failure):\n" + _describe(report.findings)
        )
    entries = list(read_entries(case.sessions, case.case_id))[: report.entries]
    if not entries or entries[-1].entry_hash != report.head:
        raise ExportError("the case's ledger changed while it was verified; run the export again")
    staging = out.parent / f".{out.name}.partial-{bundle_id[:8]}"
    if staging.exists():
        raise ExportError(f"{staging} exists (a previous export was interrupted?); remove it")
    zip_sha256: str | None = None
    try:
        bundle = write_bundle(
            staging,
            entries=entries,
            evidence=case.evidence,
            verification=report,
            identity=identity,
            bundle_id=bundle_id,
            generated_at=generated_at,
            tool_version=__version__,
            forced=not report.ok,
            progress=say,
        )
        if as_zip:
            say(f"writing {out.name}")
            partial = out.with_name(f".{out.name}.partial")
            partial.unlink(missing_ok=True)
            names = [p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()]
            write_zip(partial, staging, names, timestamp=generated_at)
            zip_sha256 = _sha256_file(partial)
            partial.replace(out)
            shutil.rmtree(staging)
        else:
            if out.exists():
                out.rmdir()  # empty, checked above
            staging.replace(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    bundle = BundleResult(**{**bundle.__dict__, "root": out})
    entry = writer.append(
        Exported(
            bundle_id=bundle_id,
            generated_at=utc_text(generated_at),
            path=str(out),
            format="zip" if as_zip else "directory",
            manifest_sha256=bundle.manifest_sha256,
            sha256sums_sha256=bundle.sha256sums_sha256,
            ledger_entries=bundle.ledger_entries,
            ledger_head=bundle.ledger_head,
            files=bundle.files,
            bytes=bundle.bytes,
            verification="verified" if report.ok else "failed",
            findings=len(report.findings),
            zip_sha256=zip_sha256,
        )
    )
    assert entry is not None
    return ExportResult(
        path=out,
        zip=as_zip,
        bundle=bundle,
        zip_sha256=zip_sha256,
        verified=report.ok,
        findings=len(report.findings),
        exported_seq=entry.seq,
    )
