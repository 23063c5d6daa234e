"""The export bundle: everything a legal team needs to check a case without Chainproof.

:func:`write_bundle` writes, into a new directory (each file once, never rewritten), in one
pass over the ledger: ``ledger.jsonl``, ``signatures/<seq>.json`` +
``signatures/<seq>-<n>.sig`` (+ ``timestamps/<seq>.tsr``, the entry's RFC 3161 token, when
the case has one), ``evidence/<run>.sha256`` (GNU format over the archive's regular
members), ``inventory.csv`` and ``inventory.jsonl`` (every artifact, one row each), the
CASE/UCO inventory files (``case-inventory-NNNN.jsonld``) and the artifacts of
``manifest.json``; then ``evidence/<run>.tar`` (byte-for-byte copies), ``certs/<fp>.pem``,
``case.jsonld`` and ``uco-shapes-off.ttl``, the rest of ``manifest.json`` + ``.sig``,
``custody-report.pdf`` (its pages carry the manifest's SHA-256; the inventory files are
attached to it), ``VERIFY.md``, and last ``SHA256SUMS`` + ``.sig``. Signatures are DER
over the file's exact bytes (``openssl dgst -sha256 -verify``); ECDSA signatures made here
are deterministic (RFC 6979), so the same inputs give the same bundle.

Every fact the documents state comes from the fold of the ledger (:mod:`custody.bundle.facts`)
and, per artifact, from its typed event as the ledger is replayed. The ledger is never held:
it is read, parsed and folded once, in the pass that writes the files above and gathers the
report's content, including the signed entries its Annex B lists (with the full inventory,
the report's annexes read it again). Each archive is copied and hashed in one read, and a
``monitor`` (:class:`~custody.verify.progress.Monitor`) hears how far it is (phases
``write`` in entries, then ``copy`` in bytes) and may cancel it. The bundle holds the
ledger as of its making; the export itself is recorded afterwards, in the case's own ledger
(``exported``), by the caller. No private key material is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from custody.bundle.facts import FactsTap, LedgerFacts, member_name_bytes
from custody.bundle.files import BundleFiles, StreamFile, sign_digest
from custody.bundle.layout import (
    LATE_FILES,
    LEDGER,
    MANIFEST,
    MANIFEST_SIG,
    REPORT_PDF,
    SUMS,
    SUMS_SIG,
    VERIFY_MD,
    archive_file,
    certificate_file,
    member_sums_file,
    signature_file,
    signed_body_file,
)
from custody.bundle.manifest import MANIFEST_HEAD, ExportFacts, artifact_chunk, manifest_tail
from custody.bundle.sha256sums import format_line, format_sums
from custody.bundle.verify_md import Guide, render_verify_md
from custody.errors import ExportError
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected
from custody.record.fold import CaseState, Folder, RunState
from custody.record.keys import Identity
from custody.record.times import utc_text
from custody.report.caseuco import (
    CASE_UCO,
    SHAPES_OFF,
    SHAPES_OFF_TEXT,
    ArchiveCopy,
    InventoryFiles,
    case_uco_chunks,
    custody_nodes,
    inventory_graphs,
)
from custody.report.data import ModelStream
from custody.report.entries import EntrySource, entry_reader
from custody.report.inventory import AnnexFile, InventoryWriter, counted_artifacts
from custody.report.model import ArchiveFacts, text_or_not_recorded
from custody.store.storage import EVIDENCE, EvidenceStore, LocalEvidenceStore, archive_name
from custody.timestamp.store import token_file
from custody.verify.findings import Report
from custody.verify.progress import ENTRY_STEP, Monitor

__all__ = ["COPY", "LEDGER", "PASSES", "WRITE", "BundleResult", "Progress", "write_bundle"]
# LEDGER: app/verification.py

Progress = Callable[[str], None]
#: The RFC 3161 token (TimeStampResp, DER) of a signed entry by seq, or None.
Tokens = Callable[[int], bytes | None]

#: Monitor phases, in order: the ledger folded and its documents written in :data:`PASSES`
#: pass (entries, of PASSES times its length), then the archives copied (bytes).
WRITE = "write"
COPY = "copy"
PASSES = 1


@dataclass(frozen=True)
class BundleResult:
    """What :func:`write_bundle` made."""

    root: Path
    bundle_id: str
    generated_at: dt.datetime
    manifest_sha256: str
    sha256sums_sha256: str
    ledger_entries: int
    ledger_head: str
    files: int
    bytes: int


class _Passes:
    """Counts the entries of each pass over the ledger for the monitor, which checks the
    cancel token as it goes."""

    def __init__(self, monitor: Monitor, count: int) -> None:
        self.monitor = monitor
        self.count = count
        self.done = 0

    def start(self, phase: str, passes: int) -> None:
        self.done = 0
        self.monitor.start(phase, self.count * passes)

    def read(self, entries: Iterable[Entry]) -> Iterator[Entry]:
        for n, e in enumerate(entries, 1):
            if n % ENTRY_STEP == 0:
                self.monitor.update(self.done + n)
            yield e
        self.done += self.count
        self.monitor.update(self.done)


def _copy_evidence(
    w: BundleFiles,
    facts: LedgerFacts,
    evidence: EvidenceStore,
    forced: bool,
    say: Progress,
    monitor: Monitor,
) -> dict[str, ArchiveCopy | None]:
    """Copy each run's archive, hashing it as it is copied; the copies' sizes and hashes."""
    runs = list(facts.state.runs.values())
    total = 0
    for run in runs:
        stored = archive_name(run.archive)
        if stored is not None and evidence.exists(stored):
            total += evidence.size(stored)
    monitor.start(COPY, total)
    copied = 0

    def advance(n: int) -> None:
        nonlocal copied
        copied += n
        monitor.update(copied)

    copies: dict[str, ArchiveCopy | None] = {}
    for run in runs:
        name = archive_file(run.archive)
        say(f"copying {name}")
        stored = archive_name(run.archive)
        f = run.finished.event if run.finished else None
        src = f"{evidence.location}/{stored or run.archive}"
        if stored is not None and evidence.exists(stored):
            with evidence.open(stored) as source:
                size, digest = w.copy(name, source, src, f.archive_size if f else None, advance)
            if f is not None and f.archive_sha256 not in (None, digest) and not forced:
                raise ExportError(
                    f"the archive of run {run.run_id} ({src}) has SHA-256 {digest}; the ledger "
                    f"recorded {f.archive_sha256} when it was sealed: it changed since"
                )
            copies[run.run_id] = ArchiveCopy(size, digest)
        elif forced:
            copies[run.run_id] = None
        else:
            raise ExportError(f"the archive of run {run.run_id} ({src}) is missing")
    monitor.finish()
    return copies


class _OnePass:
    """The one pass over the ledger: it folds each entry (the facts and the report's content
    gathered as it goes) and writes ledger.jsonl and the signatures (per entry), and the
    member lists, the inventory, the CASE/UCO inventory files and the manifest's artifacts
    (per artifact the fold counts)."""

    def __init__(
        self,
        w: BundleFiles,
        out: Path,
        report: ModelStream,
        timestamps: Tokens | None = None,
    ) -> None:
        self.w = w
        self.timestamps = timestamps
        self.report = report
        self.opened: list[StreamFile] = []
        self.ledger = self._open(LEDGER)
        self.sums: dict[str, StreamFile] = {}  # by run id, opened at its first member
        self.manifest = self._open(MANIFEST)
        self.manifest.write(MANIFEST_HEAD)
        self.inventory = InventoryWriter(out)
        self.uco: InventoryFiles | None = None  # from the first artifact (its ids need the case)
        self.uco_deferred = False
        self.uco_files: list[StreamFile] = []

    def _open(self, name: str) -> StreamFile:
        f = self.w.open(name)
        self.opened.append(f)
        return f

    def _member_sums(self, run: RunState) -> StreamFile:
        f = self.sums.get(run.run_id)
        if f is None:
            f = self.sums[run.run_id] = self._open(member_sums_file(run.archive))
        return f

    def run(self, entries: Iterable[Entry]) -> LedgerFacts:
        """Make the pass; the facts of the ledger."""
        folder = Folder()
        state = folder.state
        tap = FactsTap()
        take = self.report.take
        ledger = self.ledger.write
        manifest = self.manifest.write
        inventory = self.inventory.add
        first = True
        for entry, event in folder.feed(entries):
            if isinstance(event, ArtifactCollected) and not entry.has_canonical_form():
                event = None  # no document can hold it: ledger.jsonl alone shows it
            tap.feed(entry, event)
            take(folder, entry, event)
            ledger(entry.ledger_line())
            if entry.signatures:
                self._signed(entry)
            if not isinstance(event, ArtifactCollected):
                continue
            run = state.runs.get(event.run_id)
            if run is None:
                continue  # not counted: its run was not started
            seq = entry.seq
            if event.is_regular:
                line = format_line(event.digests.sha256, member_name_bytes(event))
                self._member_sums(run).write(line)
            inventory(seq, event)
            manifest(artifact_chunk(seq, event, first))
            first = False
            self._uco(state, event)
        for run in state.runs.values():  # a run without regular members has an empty list
            self._member_sums(run)
        if self.uco is not None:
            self.uco.close()
        return tap.finish(state)

    def _signed(self, entry: Entry) -> None:
        self.w.put(signed_body_file(entry.seq), entry.signed_bytes())
        for n, sig in enumerate(entry.signatures, 1):
            self.w.put(signature_file(entry.seq, n), sig.der)
        token = self.timestamps(entry.seq) if self.timestamps else None
        if token is not None:
            self.w.put(token_file(entry.seq), token)

    def _uco(self, state: CaseState, event: ArtifactCollected) -> None:
        if self.uco is None and not self.uco_deferred:
            # The node ids derive from the case's id: the first case_opened entry's, never
            # changed after. Without one yet, the files are written after the pass.
            if state.case_id is None:
                self.uco_deferred = True
            else:
                self.uco = InventoryFiles(state.case_id, self._open_uco)
        if self.uco is not None:
            self.uco.add(event)

    def _open_uco(self, name: str) -> StreamFile:
        f = self.w.open(name)
        self.uco_files.append(f)  # closed by InventoryFiles; abandoned here on a failure
        return f

    def finish(self) -> tuple[AnnexFile, AnnexFile]:
        """Close every file but the manifest (its tail needs the others' hashes)."""
        for f in self.opened:
            if f is not self.manifest:
                f.close()
        return self.inventory.close()

    def abandon(self) -> None:
        for f in [*self.opened, *self.uco_files]:
            f.abandon()
        self.inventory.abandon()


def _write_one_pass(
    w: BundleFiles,
    out: Path,
    entries: Iterable[Entry],
    report: ModelStream,
    timestamps: Tokens | None = None,
) -> tuple[LedgerFacts, tuple[AnnexFile, AnnexFile], StreamFile, bool]:
    """The pass that folds the ledger, writes its files and the per-artifact documents, and
    gathers the report's content into ``report``; the facts, the inventory files,
    manifest.json still open after its artifacts, and whether the CASE/UCO inventory files
    are still to be written (a ledger whose first artifact comes before its case_opened
    entry: their node ids derive from the case's id)."""
    files = _OnePass(w, out, report, timestamps)
    try:
        facts = files.run(entries)
        annexes = files.finish()
        for a in annexes:
            w.add_written(a.name, a.size, a.sha256)
    except BaseException:
        files.abandon()
        raise
    return facts, annexes, files.manifest, files.uco_deferred


def _write_case_uco(
    w: BundleFiles,
    facts: LedgerFacts,
    archives: dict[str, ArchiveCopy | None],
    tool_version: str,
    deferred: Iterable[tuple[int, ArtifactCollected]] | None,
) -> None:
    """case.jsonld (the custody graph), the inventory files when ``deferred`` (the artifacts,
    in a pass of their own), and the shapes' settings."""
    state = facts.state
    w.put_stream(CASE_UCO, case_uco_chunks(custody_nodes(state, archives, tool_version)))
    if deferred is not None:
        for name, nodes in inventory_graphs(state, deferred, tool_version):
            w.put_stream(name, case_uco_chunks(nodes))
    w.put(SHAPES_OFF, SHAPES_OFF_TEXT)


def write_bundle(
    out: Path,
    *,
    entries: EntrySource,
    evidence: EvidenceStore,
    verification: Report,
    identity: Identity,
    bundle_id: str,
    generated_at: dt.datetime,
    tool_version: str,
    forced: bool = False,
    progress: Progress | None = None,
    full_inventory: bool = False,
    monitor: Monitor | None = None,
    entry_count: int | None = None,
    timestamps: Tokens | None = None,
) -> BundleResult:
    """Write a bundle into ``out`` (a new or empty directory) from a case's ledger and evidence.

    ``entries`` is the ledger as verified (``verification``): a list, or a function that
    reads it anew each time (it is read in one pass and never held); a bundle
    of a case that failed verification is written only when ``forced``, and says so in
    every document. ``full_inventory``: the PDF lists every artifact and every ledger entry
    too (else it stays short, and the inventory files alone list the artifacts).
    ``monitor`` hears the phases ``write`` (of ``entry_count`` entries: given, or the
    list's length) and ``copy`` and may stop the export
    (:class:`~custody.errors.Cancelled`); ``progress`` hears a line per step.
    ``timestamps(seq)``: the RFC 3161 token of a signed entry (a TimeStampResp), or None;
    each goes to ``timestamps/<seq>.tsr``.
    """
    from custody.report.build import build_signed_report

    say = progress or (lambda _m: None)
    monitor = monitor or Monitor()
    read = entry_reader(entries)
    if entry_count is None:
        entry_count = 0 if callable(entries) else len(entries)
    if not verification.ok and not forced:
        raise ExportError("the case failed verification; refusing to export it")
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ExportError(f"{out} is not empty: choose a new directory for the bundle")
    w = BundleFiles(out)

    # 1. one pass: the fold, ledger, signatures, member lists, inventory, CASE/UCO inventory
    #    files, manifest's artifacts, the report's content
    say("writing the ledger")
    passes = _Passes(monitor, entry_count)
    passes.start(WRITE, PASSES)
    taken = ModelStream(verification)
    facts, annexes, manifest, uco_deferred = _write_one_pass(
        w, out, passes.read(read()), taken, timestamps
    )
    monitor.finish()
    state = facts.state
    try:
        if not state.entries:
            raise ExportError("the case ledger is empty: there is nothing to export")
        exporter = state.examiners.get(identity.fingerprint)
        if exporter is None:
            raise ExportError(
                f"the exporting examiner {identity.name} ({identity.fingerprint[:16]}...) has "
                "no identity_added entry in the ledger; record the identity in the case first"
            )
        export = ExportFacts(
            bundle_id=bundle_id,
            generated_at=utc_text(generated_at),
            tool_version=tool_version,
            exporter=exporter,
            verification={k: v for k, v in verification.to_json().items() if k != "subject"},
            forced=forced,
        )

        # 2. evidence, copied and hashed in one read; the documents of the whole case
        archives = _copy_evidence(w, facts, evidence, forced, say, monitor)
        for x in state.examiners.values():
            w.put(certificate_file(x.fingerprint), x.certificate_pem.encode("ascii"))
        _write_case_uco(
            w, facts, archives, tool_version, counted_artifacts(read()) if uco_deferred else None
        )
        say("writing manifest.json")
        contents = [{"name": n, "size": s, "sha256": d} for n, (s, d) in sorted(w.files.items())]
        files = sorted([*w.files, *LATE_FILES])
        manifest.write(manifest_tail(facts, archives, export, contents=contents, files=files))
    except BaseException:
        manifest.abandon()
        raise
    manifest.close()
    manifest_sha256 = w.files[MANIFEST][1]
    w.put(MANIFEST_SIG, sign_digest(identity, manifest_sha256))

    # 3. the signed report (its content gathered in the pass above), then the guide
    say("writing the signed custody report")
    build_signed_report(
        entries=read,
        taken=taken,
        verification=verification,
        manifest_sha256=manifest_sha256,
        bundle_id=bundle_id,
        generated_at=generated_at,
        evidence=LocalEvidenceStore(out / EVIDENCE),
        identity=identity,
        out=out / REPORT_PDF,
        annexes=annexes,
        full_inventory=full_inventory,
        archive_digests={
            run_id: ArchiveFacts(
                text_or_not_recorded(state.runs[run_id].archive), True, c.size, c.sha256
            )
            for run_id, c in archives.items()
            if c is not None
        },
    )
    monitor.finish()
    if not (out / REPORT_PDF).is_file():
        raise ExportError(f"the custody report was not written to {out / REPORT_PDF}")
    w.add_existing(REPORT_PDF)
    listed = sorted({*w.files, VERIFY_MD}, key=lambda n: n.encode())
    guide = Guide(facts, export, archives, listed, manifest_sha256, annexes)
    w.put(VERIFY_MD, render_verify_md(guide).encode("utf-8"))

    # 4. the signed list of every file
    on_disk = {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()
    }
    extra = on_disk - set(w.files)
    if extra:
        raise ExportError(f"unexpected files in the bundle: {', '.join(sorted(extra))}")
    sums = format_sums((n, d) for n, (_s, d) in w.files.items())
    sums_sha256 = w.put(SUMS, sums)
    w.put(SUMS_SIG, identity.sign(sums))
    return BundleResult(
        root=out,
        bundle_id=bundle_id,
        generated_at=generated_at,
        manifest_sha256=manifest_sha256,
        sha256sums_sha256=sums_sha256,
        ledger_entries=state.entries,
        ledger_head=state.head,
        files=len(w.files),
        bytes=sum(s for s, _d in w.files.values()),
    )
