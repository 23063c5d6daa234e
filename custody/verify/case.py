"""Verification: does the record hold? The legal team's view, from the ledger and archives alone.

Checks, each failure named by entry or artifact:
- chain: ``seq`` contiguous from 1, each ``prev_hash`` the previous ``entry_hash``, each
  ``entry_hash`` the SHA-256 of the entry's canonical body (edited, deleted, reordered,
  inserted entries);
- signatures: every signature verifies against the certificate its ``identity_added`` entry
  carries; every act of a person is signed by its actor (transfers by both examiners);
  every entry is covered by a later valid signature (unsigned tail = truncation or forgery);
  certificate files match the ledger (swapped certificates); optional trusted signers;
- runs: each started run is finished (else incomplete), its archive exists, has the recorded
  size, contains exactly the recorded members (added / removed members), and every member
  re-hashes to the recorded SHA-256, SHA-1 and MD5 (edited bytes); no archive lacks a run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from cryptography import x509

from custody.errors import ChainproofError
from custody.record.canonical import canonical_json, sha256_hex
from custody.record.entry import GENESIS_HASH, Entry
from custody.record.events import REGISTRY, ArtifactCollected, is_signed_kind
from custody.record.fold import Folder, RunState
from custody.record.keys import fingerprint, load_certificate_pem, verify_signature

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold. ``code`` is stable for machines; ``message`` is for people."""

    code: str
    where: str
    message: str
    seq: int | None = None
    run_id: str | None = None  # set when the finding concerns a whole run or its archive

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Report:
    """The outcome of a verification."""

    subject: str
    findings: list[Finding] = field(default_factory=list)
    entries: int = 0
    signatures: int = 0
    artifacts: int = 0
    bytes_hashed: int = 0
    runs: int = 0
    head: str = GENESIS_HASH
    signers: dict[str, str] = field(default_factory=dict)  # fingerprint -> name

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(
        self,
        code: str,
        where: str,
        message: str,
        seq: int | None = None,
        run_id: str | None = None,
    ) -> None:
        self.findings.append(Finding(code, where, message, seq, run_id))

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "ok": self.ok,
            "entries": self.entries,
            "signatures_verified": self.signatures,
            "artifacts": self.artifacts,
            "bytes_hashed": self.bytes_hashed,
            "runs": self.runs,
            "ledger_head": self.head,
            "signers": self.signers,
            "findings": [
                {
                    "code": f.code,
                    "where": f.where,
                    "message": f.message,
                    "seq": f.seq,
                    "run_id": f.run_id,
                }
                for f in self.findings
            ],
        }

    def render(self) -> str:
        lines = [f"Verification of {self.subject}"]
        lines.append(
            f"  ledger: {self.entries} entries, {self.signatures} signatures verified, "
            f"head {self.head}"
        )
        lines.append(
            f"  evidence: {self.runs} runs, {self.artifacts} artifacts re-hashed "
            f"({self.bytes_hashed} bytes)"
        )
        for fp, name in sorted(self.signers.items(), key=lambda kv: kv[1]):
            lines.append(f"  signer: {name} (certificate SHA-256 {fp})")
        if self.ok:
            lines.append("RESULT: VERIFIED - every check holds.")
        else:
            lines.append(f"RESULT: FAILED - {len(self.findings)} problem(s):")
            lines.extend(f"  - {f}" for f in self.findings)
        return "\n".join(lines)


class _Art(NamedTuple):
    """What the archive checks need of one artifact entry."""

    seq: int
    member: str
    header_offset: int
    data_offset: int
    size: int
    sha256: str
    sha1: str
    md5: str
    mtime: str | None


@dataclass
class _Run:
    run_id: str
    started_seq: int
    archive: str
    finished: Mapping[str, Any] | None = None
    artifacts: list[_Art] = field(default_factory=list)

    @classmethod
    def of(cls, state: RunState, artifacts: list[_Art]) -> _Run:
        f = state.finished
        finished = (
            {"archive_size": f.event.archive_size, "archive_sha256": f.event.archive_sha256}
            if f is not None
            else None
        )
        return cls(state.run_id, state.started.seq, state.archive, finished, artifacts)


def _art(seq: int, a: ArtifactCollected) -> _Art:
    m, d = a.member, a.digests
    return _Art(
        seq,
        m.name,
        m.header_offset,
        m.data_offset,
        m.size,
        d.sha256,
        d.sha1,
        d.md5,
        a.source.mtime if a.source else None,
    )


def verify(
    subject: str,
    entries: Iterable[Entry],
    *,
    evidence_dir: Path,
    certificate_files: Iterable[Path] = (),
    trusted: Iterable[x509.Certificate] = (),
    case_id: str | None = None,
) -> Report:
    """Verify a whole case record: ledger entries, certificates and run archives.

    The ledger is read in one pass and not held in memory: each run keeps a compact record
    of its artifacts for the archive checks that follow.
    """
    report = Report(subject)
    chain = _Chain(report, case_id)
    folder = Folder()
    members: dict[str, list[_Art]] = {}
    for e in entries:
        chain.feed(e)
        event = folder.apply(e)
        if isinstance(event, ArtifactCollected) and event.run_id in folder.state.runs:
            members.setdefault(event.run_id, []).append(_art(e.seq, event))
    chain.finish()
    state = folder.state
    for problem in state.problems:
        where = (
            f"run {problem.run_id}" if problem.code.startswith("run.") else f"entry {problem.seq}"
        )
        report.add(problem.code, where, problem.message, problem.seq, problem.run_id)
    runs = {rid: _Run.of(r, members.get(rid, [])) for rid, r in state.runs.items()}
    for r in state.runs.values():
        _check_run_counts(r, report)
    _check_certificate_files(certificate_files, chain.certs, report)
    trusted_fps = {fingerprint(c) for c in trusted}
    if trusted_fps:
        for fp in sorted(report.signers):
            if fp not in trusted_fps:
                report.add(
                    "signer.untrusted",
                    f"signer {report.signers[fp]}",
                    f"certificate {fp} is not among the trusted certificates given",
                )
    report.runs = len(runs)
    for run in runs.values():
        if run.finished is None:
            report.add(
                "run.incomplete",
                f"run {run.run_id}",
                "has no run_finished entry: the run is incomplete (crashed, still running, or "
                "the ledger was truncated)",
                run_id=run.run_id,
            )
        _check_run(run, evidence_dir.parent, report)
    _check_orphan_archives(runs, evidence_dir, report)
    return report


def _check_certificate_files(
    files: Iterable[Path], certs: Mapping[str, x509.Certificate], report: Report
) -> None:
    for path in files:
        try:
            cert = load_certificate_pem(path.read_bytes())
        except (OSError, ChainproofError) as exc:
            report.add("certificate.unreadable", f"certificate {path.name}", str(exc))
            continue
        fp = fingerprint(cert)
        stem = path.stem
        if stem != fp:
            report.add(
                "certificate.swapped",
                f"certificate {path.name}",
                f"file holds certificate {fp}, not the one its name ({stem}) says: the "
                "certificate was swapped",
            )
        elif fp not in certs:
            report.add(
                "certificate.unknown",
                f"certificate {path.name}",
                "no identity_added entry in the ledger introduces this certificate",
            )


@dataclass
class _Pending:
    """A signed entry whose signer's certificate had not been introduced when it was read."""

    entry: Entry
    body: bytes


class _Chain:
    """Checks the chain, identities and signatures entry by entry, in one pass."""

    def __init__(self, report: Report, case_id: str | None) -> None:
        self.report = report
        self.case_id = case_id
        self.certs: dict[str, x509.Certificate] = {}
        self.prev = GENESIS_HASH
        self.count = 0
        self.covered_through = 0  # highest seq committed to by a valid signature
        self.last_seq = 0
        self.pending: list[_Pending] = []

    def feed(self, e: Entry) -> None:
        report, where = self.report, f"entry {e.seq}"
        self.count += 1
        self.last_seq = e.seq
        if e.seq != self.count:
            report.add(
                "chain.seq",
                where,
                f"found at position {self.count}: entries are missing, inserted or reordered",
                e.seq,
            )
        if self.case_id is not None and e.case_id != self.case_id:
            report.add(
                "chain.case", where, f"belongs to case {e.case_id}, not {self.case_id}", e.seq
            )
        if e.prev_hash != self.prev:
            report.add(
                "chain.prev_hash",
                where,
                "prev_hash does not match the hash of the entry before it "
                "(an entry was deleted, inserted or reordered)",
                e.seq,
            )
        body = canonical_json(e.body())
        if sha256_hex(body) != e.entry_hash:
            report.add(
                "chain.entry_hash",
                where,
                f"content does not match its entry_hash: the {e.event} entry was edited",
                e.seq,
            )
        if e.event not in REGISTRY:
            report.add("chain.event", where, f"unknown event {e.event!r}", e.seq)
        if e.event == "identity_added":
            self._add_identity(e)
        checkpoint_ok = (
            e.payload.get("head") == e.prev_hash and e.payload.get("covers_to") == e.seq - 1
        )
        if e.event == "checkpoint" and not checkpoint_ok:
            report.add(
                "checkpoint.head", where, "checkpoint does not name the head it follows", e.seq
            )
        if e.signatures or is_signed_kind(e.event):
            if all(s.by in self.certs for s in e.signatures):
                self._signed(e, body)
            else:
                self.pending.append(_Pending(e, body))
        self.prev = e.entry_hash
        report.entries = self.count
        report.head = self.prev

    def _signed(self, e: Entry, body: bytes) -> None:
        valid_by = _check_signatures(e, body, self.certs, self.report)
        _check_required_signers(e, valid_by, self.report)
        if valid_by:
            self.covered_through = max(self.covered_through, e.seq)

    def _add_identity(self, e: Entry) -> None:
        """Trust a certificate an ``identity_added`` entry carries, if it matches its fingerprint."""
        pem = e.payload.get("certificate_pem")
        claimed = e.payload.get("fingerprint")
        try:
            cert = load_certificate_pem(str(pem))
        except ChainproofError as exc:
            self.report.add(
                "identity.certificate", f"entry {e.seq}", f"unreadable certificate: {exc}", e.seq
            )
            return
        if fingerprint(cert) != claimed:
            self.report.add(
                "identity.fingerprint",
                f"entry {e.seq}",
                f"certificate fingerprint {fingerprint(cert)} differs from the recorded {claimed}",
                e.seq,
            )
            return
        self.certs[str(claimed)] = cert
        # The case opener signs case_opened before the entry introducing them is written.
        waiting, self.pending = self.pending, []
        for p in waiting:
            if all(s.by in self.certs for s in p.entry.signatures):
                self._signed(p.entry, p.body)
            else:
                self.pending.append(p)

    def finish(self) -> None:
        for p in self.pending:
            self._signed(p.entry, p.body)  # reports each unknown signer
        self.pending = []
        if self.last_seq and self.covered_through < self.last_seq:
            first = self.covered_through + 1
            self.report.add(
                "coverage.tail",
                f"entries {first}..{self.last_seq}",
                "not covered by any valid signature: the ledger was truncated after its last "
                "checkpoint, or entries were appended without the examiner's key",
                first,
            )


def _check_signatures(
    e: Entry, body: bytes, certs: Mapping[str, x509.Certificate], report: Report
) -> set[str]:
    valid: set[str] = set()
    for sig in e.signatures:
        cert = certs.get(sig.by)
        if cert is None:
            report.add(
                "signature.unknown_signer",
                f"entry {e.seq}",
                f"signed by {sig.by}, whose certificate no identity_added entry carries",
                e.seq,
            )
            continue
        try:
            der = sig.der
        except ValueError:
            der = b""
        if verify_signature(cert, body, der):
            valid.add(sig.by)
            report.signatures += 1
            report.signers[sig.by] = _cn(cert)
        else:
            report.add(
                "signature.invalid",
                f"entry {e.seq}",
                f"signature by {_cn(cert)} ({sig.by[:16]}...) does not verify: the entry was "
                "altered or signed with another key",
                e.seq,
            )
    return valid


def _check_required_signers(e: Entry, valid_by: set[str], report: Report) -> None:
    where = f"entry {e.seq}"
    if is_signed_kind(e.event) and e.actor not in valid_by:
        report.add(
            "signature.missing",
            where,
            f"{e.event} is an act of a person and carries no valid signature of its actor",
            e.seq,
        )
    if e.event == "transferred":
        for role in ("from", "to"):
            fp = e.payload.get(role)
            if fp not in valid_by:
                report.add(
                    "signature.transfer",
                    where,
                    f"transfer lacks a valid signature of the {'releasing' if role == 'from' else 'receiving'} examiner",
                    e.seq,
                )


def _cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else fingerprint(cert)[:16]


def _check_run_counts(run: RunState, report: Report) -> None:
    """A run's end must claim what its entries show: artifacts, errors, skips and bytes."""
    if run.finished is None:
        return
    f = run.finished.event
    claims = {
        "artifacts": (f.artifacts, run.artifacts),
        "errors": (f.errors, run.errors),
        "skipped": (f.skipped, run.skipped),
        "bytes": (f.bytes, run.bytes),
    }
    for name, (claimed, counted) in claims.items():
        if claimed is not None and claimed != counted:
            report.add(
                "run.counts",
                f"run {run.run_id}",
                f"run_finished (entry {run.finished.seq}) says {claimed} {name}; the ledger's "
                f"entries for the run give {counted}",
                run.finished.seq,
                run.run_id,
            )


def _check_run(run: _Run, root: Path, report: Report) -> None:
    path = root / run.archive
    where = f"archive {run.archive}"
    if not run.archive.startswith("evidence/") or ".." in Path(run.archive).parts:
        report.add(
            "run.archive_name",
            f"run {run.run_id}",
            f"unsafe archive name {run.archive!r}",
            run_id=run.run_id,
        )
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        report.add(
            "archive.missing",
            where,
            f"cannot be opened ({exc.strerror}): the evidence of run {run.run_id} is missing",
            run_id=run.run_id,
        )
        return
    try:
        size = os.fstat(fd).st_size
        expected_size = run.finished.get("archive_size") if run.finished else None
        if expected_size is not None and size != expected_size:
            report.add(
                "archive.size",
                where,
                f"is {size} bytes; the ledger recorded {expected_size}: bytes were appended or cut",
                run_id=run.run_id,
            )
        for art in run.artifacts:
            report.artifacts += 1
            _check_artifact(fd, art, report, where)
    finally:
        os.close(fd)
    _check_members(path, run, report, where)


def _check_artifact(fd: int, art: _Art, report: Report, where: str) -> None:
    name, seq, offset, size = art.member, art.seq, art.data_offset, art.size
    hashes = {"sha256": hashlib.sha256(), "sha1": hashlib.sha1(), "md5": hashlib.md5()}
    remaining, pos = size, offset
    while remaining:
        chunk = os.pread(fd, min(_CHUNK, remaining), pos)
        if not chunk:
            report.add(
                "artifact.truncated",
                f"artifact {name} (entry {seq})",
                f"{where} ends before the member's recorded {size} bytes",
                seq,
            )
            return
        for h in hashes.values():
            h.update(chunk)
        remaining -= len(chunk)
        pos += len(chunk)
    report.bytes_hashed += size
    for algo, h in hashes.items():
        recorded = getattr(art, algo)
        if h.hexdigest() != recorded:
            report.add(
                f"artifact.{algo}",
                f"artifact {name} (entry {seq})",
                f"{algo.upper()} of the archived bytes is {h.hexdigest()}, the ledger recorded "
                f"{recorded}: the evidence bytes were altered",
                seq,
            )
            return


def _check_members(path: Path, run: _Run, report: Report, where: str) -> None:
    """The archive holds exactly the recorded members, at the recorded offsets."""
    from custody.record.names import to_text
    from custody.store.archive import read_members

    recorded = {a.header_offset: a for a in run.artifacts}
    seen: set[int] = set()
    try:
        for info, header_offset, data_offset in read_members(path):
            name = to_text(info.name)[0]
            hit = recorded.get(header_offset)
            if hit is None or hit.member != name or hit.data_offset != data_offset:
                report.add(
                    "archive.added_member",
                    where,
                    f"member {name!r} at offset {header_offset} is not recorded in the ledger: "
                    "a file was added to the archive",
                    run_id=run.run_id,
                )
                continue
            seen.add(header_offset)
            pax_mtime = info.pax_headers.get("mtime")
            if hit.mtime is not None and pax_mtime is not None and pax_mtime != hit.mtime:
                report.add(
                    "archive.metadata",
                    f"artifact {name} (entry {hit.seq})",
                    f"archive header says mtime {pax_mtime}, the ledger recorded {hit.mtime}",
                    hit.seq,
                )
    except (OSError, ChainproofError, ValueError) as exc:
        report.add(
            "archive.unreadable",
            where,
            f"cannot be read as a tar archive: {exc}",
            run_id=run.run_id,
        )
        return
    for header_offset, art in sorted(recorded.items()):
        if header_offset not in seen:
            report.add(
                "archive.missing_member",
                f"artifact {art.member} (entry {art.seq})",
                f"no such member at offset {header_offset} in {where}: it was removed or moved",
                art.seq,
            )


def _check_orphan_archives(runs: Mapping[str, _Run], evidence_dir: Path, report: Report) -> None:
    known = {Path(r.archive).name for r in runs.values()}
    if not evidence_dir.is_dir():
        return
    for path in sorted(evidence_dir.glob("*.tar")):
        if path.name not in known:
            report.add(
                "archive.orphan",
                f"archive evidence/{path.name}",
                "no run in the ledger owns this archive: its run's entries were removed, or the "
                "archive was added",
            )
