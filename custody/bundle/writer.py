"""The export bundle: everything a legal team needs to check a case without Chainproof.

:func:`write_bundle` writes, into a new directory and in this order (each file once, never
rewritten): ``evidence/<run>.tar`` (byte-for-byte copies) and ``evidence/<run>.sha256``
(GNU format over the archive's regular members), ``ledger.jsonl``, ``certs/<fp>.pem``,
``signatures/<seq>.json`` + ``signatures/<seq>-<n>.sig``, ``case.jsonld``,
``manifest.json`` + ``.sig``, ``custody-report.pdf`` (its pages carry the manifest's
SHA-256), ``VERIFY.md``, and last ``SHA256SUMS`` + ``.sig``. Signatures are DER over the
file's exact bytes (``openssl dgst -sha256 -verify``); ECDSA signatures made here are
deterministic (RFC 6979), so the same inputs give the same bundle.

The bundle holds the ledger as of its making; the export itself is recorded afterwards, in
the case's own ledger (``exported``), by the caller. No private key material is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custody.bundle.sha256sums import format_sums
from custody.errors import ExportError
from custody.record.canonical import canonical_json, sha256_hex
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected, parse
from custody.record.keys import Identity
from custody.record.names import from_text
from custody.report.caseuco import case_uco_chunks
from custody.verify.case import Report

BUNDLE_FORMAT = "chainproof-bundle/1"
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.json.sig"
LEDGER = "ledger.jsonl"
CASE_UCO = "case.jsonld"
REPORT_PDF = "custody-report.pdf"
VERIFY_MD = "VERIFY.md"
SUMS = "SHA256SUMS"
SUMS_SIG = "SHA256SUMS.sig"
#: Files written after the manifest, so the manifest names them but cannot hash them.
LATE_FILES = (REPORT_PDF, VERIFY_MD, SUMS, SUMS_SIG, MANIFEST, MANIFEST_SIG)
#: Artifact payload fields the manifest repeats from the ledger.
ARTIFACT_FIELDS = (
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
)
#: Artifact kinds that are not regular files once extracted (left out of ``<run>.sha256``).
NOT_REGULAR = frozenset({"symlink", "directory"})
_CHUNK = 4 << 20

Progress = Callable[[str], None]


def time_text(t: dt.datetime) -> str:
    """A UTC time as the ledger writes it."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def member_bytes(art: Mapping[str, Any]) -> bytes:
    """The exact name bytes of an artifact's archive member."""
    b64 = art.get("member_b64")
    return os.fsencode(from_text(str(art["member"]), str(b64) if b64 else None))


def regular_members(artifacts: Sequence[Mapping[str, Any]]) -> list[tuple[bytes, str]]:
    """``(member name bytes, sha256)`` of the artifacts ``<run>.sha256`` lists."""
    return [
        (member_bytes(a), str(a["sha256"])) for a in artifacts if a.get("kind") not in NOT_REGULAR
    ]


# --------------------------------------------------------------------------- the model


@dataclass
class RunRecord:
    """A run as the ledger tells it."""

    run_id: str
    started: Entry
    finished: Entry | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    problems: int = 0

    @property
    def archive(self) -> str:
        return str(self.started.payload.get("archive") or f"evidence/{self.run_id}.tar")


def artifact_record(e: Entry) -> dict[str, Any]:
    """The manifest's view of one ``artifact_collected`` entry."""
    a = parse(e)
    assert isinstance(a, ArtifactCollected)
    flat = {
        "run_id": a.run_id,
        "collector": a.collector,
        "kind": a.kind,
        "member": a.member.name,
        "member_b64": a.member.name_b64,
        "path": a.source.path if a.source else None,
        "path_b64": a.source.path_b64 if a.source else None,
        "size": a.member.size,
        "sha256": a.digests.sha256,
        "sha1": a.digests.sha1,
        "md5": a.digests.md5,
        "header_offset": a.member.header_offset,
        "data_offset": a.member.data_offset,
    }
    return {"seq": e.seq, **{k: v for k, v in flat.items() if v is not None}}


def ledger_runs(entries: Sequence[Entry]) -> list[RunRecord]:
    """Runs in ``run_started`` order with their artifacts; unknown runs are ignored."""
    runs: dict[str, RunRecord] = {}
    for e in entries:
        run_id = str(e.payload.get("run_id", ""))
        if e.event == "run_started":
            runs[run_id] = RunRecord(run_id, e)
        elif run_id in runs:
            run = runs[run_id]
            if e.event == "artifact_collected":
                run.artifacts.append(artifact_record(e))
            elif e.event == "collection_error":
                run.problems += 1
            elif e.event == "run_finished":
                run.finished = e
    return list(runs.values())


def ledger_examiners(entries: Sequence[Entry]) -> list[dict[str, Any]]:
    """Every examiner introduced by an ``identity_added`` entry, first introduction wins."""
    seen: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.event != "identity_added":
            continue
        fp = str(e.payload.get("fingerprint", ""))
        if fp and fp not in seen:
            seen[fp] = {
                "fingerprint": fp,
                "name": e.payload.get("name"),
                "organisation": e.payload.get("organisation"),
                "email": e.payload.get("email"),
                "role": e.payload.get("role"),
                "added_seq": e.seq,
                "certificate": f"certs/{fp}.pem",
                "_pem": str(e.payload.get("certificate_pem", "")),
            }
    return list(seen.values())


def run_json(
    run: RunRecord, archive_size: int | None, archive_sha256: str | None
) -> dict[str, Any]:
    p = run.started.payload
    f: Mapping[str, Any] = run.finished.payload if run.finished else {}
    return {
        "id": run.run_id,
        "archive": run.archive,
        "archive_size": archive_size,
        "archive_sha256": archive_sha256,
        "member_sums": f"evidence/{Path(run.archive).stem}.sha256",
        "host": p.get("host"),
        "profile": p.get("profile"),
        "examiner": p.get("examiner", run.started.actor),
        "tool_version": p.get("tool_version"),
        "tool_sha256": p.get("tool_sha256"),
        "command_line": p.get("command_line"),
        "started_at": run.started.at,
        "started_seq": run.started.seq,
        "finished_at": f.get("finished_at") or (run.finished.at if run.finished else None),
        "finished_seq": run.finished.seq if run.finished else None,
        "status": f.get("status", "incomplete"),
        "artifacts": len(run.artifacts),
        "regular_files": len(regular_members(run.artifacts)),
        "problems": run.problems,
        "bytes": sum(int(a["size"]) for a in run.artifacts),
    }


# --------------------------------------------------------------------------- writing


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


class _Writer:
    """Creates bundle files (never overwrites) and remembers each one's size and SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, tuple[int, str]] = {}

    def _path(self, name: str) -> Path:
        path = self.root.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def put(self, name: str, data: bytes) -> str:
        try:
            with open(self._path(name), "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise ExportError(f"cannot write {name} in {self.root}: {exc.strerror or exc}") from exc
        digest = sha256_hex(data)
        self.files[name] = (len(data), digest)
        return digest

    def put_stream(self, name: str, chunks: Iterable[bytes]) -> str:
        """Write ``chunks`` to a new file as they come, hashing them: for large documents."""
        h = hashlib.sha256()
        size = 0
        try:
            with open(self._path(name), "xb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise ExportError(f"cannot write {name} in {self.root}: {exc.strerror or exc}") from exc
        self.files[name] = (size, h.hexdigest())
        return h.hexdigest()

    def copy(self, name: str, src: Path, expected_size: int | None) -> tuple[int, str]:
        """Stream ``src`` into a new file (a copy, never a link), hashing it; check the size."""
        h = hashlib.sha256()
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        try:
            with open(src, "rb") as fin, open(self._path(name), "xb") as fout:
                source_size = os.fstat(fin.fileno()).st_size
                while n := fin.readinto(buf):
                    h.update(view[:n])
                    fout.write(view[:n])
                fout.flush()
                os.fsync(fout.fileno())
                size = os.fstat(fout.fileno()).st_size
        except OSError as exc:
            raise ExportError(
                f"cannot copy {src} to {name} in {self.root}: {exc.strerror or exc}"
            ) from exc
        if size != source_size or (expected_size is not None and size != expected_size):
            raise ExportError(
                f"copy of {src} is {size} bytes; the source has {source_size} and the ledger "
                f"recorded {expected_size}: the archive changed while it was copied"
            )
        self.files[name] = (size, h.hexdigest())
        return size, h.hexdigest()

    def add_existing(self, name: str) -> str:
        h = hashlib.sha256()
        path = self.root.joinpath(*name.split("/"))
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        self.files[name] = (path.stat().st_size, h.hexdigest())
        return h.hexdigest()


def write_bundle(
    out: Path,
    *,
    entries: Sequence[Entry],
    case: Mapping[str, Any],
    evidence_dir: Path,
    verification: Report,
    identity: Identity,
    bundle_id: str,
    generated_at: dt.datetime,
    tool_version: str,
    forced: bool = False,
    progress: Progress | None = None,
) -> BundleResult:
    """Write a bundle into ``out`` (a new or empty directory) from a case's ledger and evidence.

    ``entries`` is the ledger as verified (``verification``); a bundle of a case that failed
    verification is written only when ``forced``, and says so in every document.
    """
    from custody.report.build import build_signed_report

    say = progress or (lambda _m: None)
    if not entries:
        raise ExportError("the case ledger is empty: there is nothing to export")
    if not verification.ok and not forced:
        raise ExportError("the case failed verification; refusing to export it")
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ExportError(f"{out} is not empty: choose a new directory for the bundle")
    w = _Writer(out)
    runs = ledger_runs(entries)
    examiners = ledger_examiners(entries)
    if identity.fingerprint not in {x["fingerprint"] for x in examiners}:
        raise ExportError(
            f"the exporting examiner {identity.name} ({identity.fingerprint[:16]}...) has no "
            "identity_added entry in the ledger; record the identity in the case first"
        )

    # 1. evidence
    run_docs: list[dict[str, Any]] = []
    for run in runs:
        stem = Path(run.archive).stem
        name = f"evidence/{stem}.tar"
        say(f"copying {name}")
        src = evidence_dir / Path(run.archive).name
        expected = run.finished.payload.get("archive_size") if run.finished else None
        if src.is_file():
            size, digest = w.copy(name, src, int(expected) if expected is not None else None)
            run_docs.append(run_json(run, size, digest))
        elif forced:
            run_docs.append(run_json(run, None, None))
        else:
            raise ExportError(f"the archive of run {run.run_id} ({src}) is missing")
        w.put(f"evidence/{stem}.sha256", format_sums(regular_members(run.artifacts)))

    # 2. ledger, certificates, signatures
    say("writing the ledger")
    w.put_stream(LEDGER, (canonical_json(e.to_json()) + b"\n" for e in entries))
    for x in examiners:
        w.put(x["certificate"], x.pop("_pem").encode("ascii"))
    signature_docs: list[dict[str, Any]] = []
    for e in entries:
        if not e.signatures:
            continue
        body = f"signatures/{e.seq}.json"
        w.put(body, e.signed_bytes())
        sigs = []
        for n, s in enumerate(e.signatures, 1):
            sig_name = f"signatures/{e.seq}-{n}.sig"
            w.put(sig_name, s.der)
            sigs.append({"file": sig_name, "by": s.by})
        signature_docs.append({"seq": e.seq, "event": e.event, "body": body, "signatures": sigs})

    # 3. manifest and its CASE/UCO twin
    head = entries[-1].entry_hash
    verification_doc = {k: v for k, v in verification.to_json().items() if k != "subject"}
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "bundle_id": bundle_id,
        "generated_at": time_text(generated_at),
        "tool": {"name": "chainproof", "version": tool_version},
        "exported_by": {"fingerprint": identity.fingerprint, "name": identity.name},
        "case": dict(case),
        "ledger": {
            "file": LEDGER,
            "entries": len(entries),
            "first_seq": entries[0].seq,
            "last_seq": entries[-1].seq,
            "head": head,
            "note": "the ledger as of the bundle's making; the export itself is recorded by a "
            "later 'exported' entry in the case's own ledger",
        },
        "examiners": examiners,
        "runs": run_docs,
        "artifacts": [a for run in runs for a in run.artifacts],
        "signatures": signature_docs,
        "verification": {"forced": forced, **verification_doc},
    }
    say("writing case.jsonld")
    w.put_stream(CASE_UCO, case_uco_chunks(manifest))
    manifest["contents"] = [
        {"name": n, "size": s, "sha256": d} for n, (s, d) in sorted(w.files.items())
    ]
    manifest["files"] = sorted([*w.files, *LATE_FILES])
    manifest_bytes = canonical_json(manifest)
    manifest_sha256 = w.put(MANIFEST, manifest_bytes)
    w.put(MANIFEST_SIG, identity.sign(manifest_bytes))

    # 4. the signed report, then the guide
    say("writing the signed custody report")
    build_signed_report(
        entries=list(entries),
        verification=verification,
        manifest_sha256=manifest_sha256,
        bundle_id=bundle_id,
        generated_at=generated_at,
        evidence_dir=out / "evidence",
        identity=identity,
        out=out / REPORT_PDF,
    )
    if not (out / REPORT_PDF).is_file():
        raise ExportError(f"the custody report was not written to {out / REPORT_PDF}")
    w.add_existing(REPORT_PDF)
    guide = render_verify_md(
        manifest,
        manifest_sha256=manifest_sha256,
        entry_hashes={e.seq: e.entry_hash for e in entries if e.signatures},
    )
    w.put(VERIFY_MD, guide.encode("utf-8"))

    # 5. the signed list of every file
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
        ledger_entries=len(entries),
        ledger_head=head,
        files=len(w.files),
        bytes=sum(s for s, _d in w.files.values()),
    )


# --------------------------------------------------------------------------- VERIFY.md

_WORK = "~/chainproof-check"


def _colon_hex(fp: str) -> str:
    return ":".join(fp[i : i + 2] for i in range(0, len(fp), 2)).upper()


def _pub(fp: str) -> str:
    return f"{_WORK}/examiner-{fp[:16]}.pub"


def _block(lang: str, lines: Sequence[str]) -> str:
    return f"```{lang}\n" + "\n".join(lines) + "\n```\n"


def render_verify_md(
    manifest: Mapping[str, Any], *, manifest_sha256: str, entry_hashes: Mapping[int, str]
) -> str:
    """The step-by-step guide, filled in with this bundle's names, fingerprints and counts.

    Each command block (```` ```sh ````) is followed by its expected output (```` ```text ````);
    the commands run from the bundle folder and write only into ``~/chainproof-check``.
    """
    case = manifest["case"]
    exporter = manifest["exported_by"]
    examiners = manifest["examiners"]
    runs = manifest["runs"]
    ledger = manifest["ledger"]
    verification = manifest["verification"]
    late = {SUMS, SUMS_SIG}
    listed = sorted((n for n in manifest["files"] if n not in late), key=lambda n: n.encode())
    n_artifacts = len(manifest["artifacts"])
    out: list[str] = []
    add = out.append
    add("# How to check this evidence bundle\n")
    add(
        f"Bundle `{manifest['bundle_id']}`, made on {manifest['generated_at']} (UTC) by "
        f"{exporter['name']} with Chainproof {manifest['tool']['version']}.  \n"
        f"Case: **{case.get('title')}** (case id `{case.get('id')}`"
        + (f", incident {case['incident_ref']}" if case.get("incident_ref") else "")
        + ").\n"
    )
    if not verification.get("ok", False):
        add(
            "> **WARNING: this case FAILED verification when the bundle was made** "
            f"({len(verification.get('findings', []))} problem(s), listed in manifest.json under "
            "`verification` and in the custody report). The examiner exported it anyway "
            "(`--force`). The checks below show whether the bundle is as it was made; they do "
            "not repair what had already failed.\n"
        )
    add(
        f"The bundle holds the evidence of {len(runs)} collection run(s) ({n_artifacts} "
        f"collected items), the custody ledger that records every act on the case "
        f"({ledger['entries']} entries, entry 1 to {ledger['last_seq']}), the examiners' "
        "certificates, and signatures. With the free standard tools `sha256sum`, `openssl`, "
        "`tar` and a PDF reader you can check, without Chainproof, that nothing in it changed "
        "since the examiner signed it.\n"
    )
    add(
        "The ledger in this bundle stops where the bundle was made (its last entry's hash is "
        f"`{ledger['head']}`). Making the bundle was itself recorded afterwards, as an "
        "`exported` entry in the case's own ledger, with this bundle's id and the SHA-256 of "
        "its manifest.json and SHA256SUMS; that entry is therefore not in this bundle.\n"
    )
    add("## What is in this folder\n")
    add("| File | What it is |\n|---|---|")
    rows = [
        ("`evidence/<run>.tar`", "the evidence of each collection run, one tar archive per run"),
        ("`evidence/<run>.sha256`", "the SHA-256 of every file inside that archive"),
        ("`ledger.jsonl`", "the custody ledger: every act on the case, one entry per line"),
        ("`signatures/`", "each signed ledger entry's exact signed bytes and its signatures"),
        ("`certs/<fingerprint>.pem`", "each examiner's certificate (public, no key)"),
        ("`manifest.json` + `.sig`", "the case, runs, every item with its hashes; signed"),
        ("`case.jsonld`", "the same record in the CASE/UCO standard, for forensic tools"),
        ("`custody-report.pdf`", "the chain of custody report, signed by the examiner"),
        ("`SHA256SUMS` + `.sig`", "the SHA-256 of every other file; signed"),
    ]
    add("\n".join(f"| {a} | {b} |" for a, b in rows) + "\n")
    add("## Before you start\n")
    add(
        "You need a terminal: on Linux any; on macOS install GNU coreutils "
        "(`brew install coreutils`, then use `gsha256sum` for `sha256sum`); on Windows use WSL or "
        "Git Bash. If you received a zip file, unpack it into a new folder and go into it:\n"
    )
    add(_block("console", ["unzip BUNDLE.zip -d bundle", "cd bundle"]))
    add(
        "Run every command below from inside the bundle folder (the one holding this file). "
        f"Steps 2, 4 and 5 write helper files into the folder `{_WORK}` in your home folder, "
        "outside the bundle, so the bundle stays exactly as you received it. Each command is "
        "followed by the output it must print.\n"
    )

    add("## 1. Every file is intact\n")
    add(
        "`SHA256SUMS` lists the SHA-256 fingerprint of every other file in the bundle. This "
        "recomputes each one and compares:\n"
    )
    add(_block("sh", ["sha256sum -c SHA256SUMS"]))
    add(f"Expected output: these {len(listed)} lines, each ending in `OK`:\n")
    add(_block("text", [f"{n}: OK" for n in listed]))
    add(
        "A line ending in `FAILED`, or a message such as `No such file or directory`, means "
        "that file was changed or removed after the bundle was made. A file that is in the "
        "folder but not in this list was added later (`chainproof verify` reports those too).\n"
    )

    add("## 2. The file list and the manifest carry the examiner's signature\n")
    add(
        f"`SHA256SUMS.sig` and `manifest.json.sig` are signatures by {exporter['name']} "
        f"(certificate `certs/{exporter['fingerprint']}.pem`). First take the public key out of "
        "each examiner's certificate, then check both signatures with it:\n"
    )
    cmds = [f"mkdir -p {_WORK}"]
    cmds += [
        f"openssl x509 -in certs/{x['fingerprint']}.pem -pubkey -noout > {_pub(x['fingerprint'])}"
        for x in examiners
    ]
    epub = _pub(exporter["fingerprint"])
    cmds += [
        f"openssl dgst -sha256 -verify {epub} -signature SHA256SUMS.sig SHA256SUMS",
        f"openssl dgst -sha256 -verify {epub} -signature manifest.json.sig manifest.json",
    ]
    add(_block("sh", cmds))
    add("Expected output:\n")
    add(_block("text", ["Verified OK", "Verified OK"]))
    add(
        "`Verification failure` means the file or its signature was changed, or the signature "
        "was made with another key. Together, steps 1 and 2 show that every file is exactly "
        "as the examiner signed it.\n"
    )

    add("## 3. The certificates belong to the people named\n")
    add(
        "A signature only proves something if the certificate is really the examiner's. Print "
        "each certificate's SHA-256 fingerprint:\n"
    )
    add(
        _block(
            "sh",
            [
                f"openssl x509 -in certs/{x['fingerprint']}.pem -noout -fingerprint -sha256"
                for x in examiners
            ],
        )
    )
    add("Expected output:\n")
    add(_block("text", [f"sha256 Fingerprint={_colon_hex(x['fingerprint'])}" for x in examiners]))
    for x in examiners:
        who = ", ".join(str(v) for v in (x.get("name"), x.get("organisation"), x.get("email")) if v)
        add(f"- `{x['fingerprint']}`: {who} ({x.get('role') or 'examiner'})")
    add(
        "\nCompare each fingerprint with the one printed in custody-report.pdf (Personnel) and, "
        "above all, with one you obtained from the examiner or their organisation by another "
        "channel (in person, by phone, on letterhead). The certificates are self-signed, so "
        "this comparison is what ties them to a person. (The fingerprint is also the file's "
        "name, in lower case without colons.)\n"
    )

    add("## 4. The evidence archives hold exactly the recorded files\n")
    add(
        "Each collection run's evidence is one tar archive in `evidence/`, copied byte for "
        "byte from the case. Next to it, `<run>.sha256` lists the SHA-256 of each file the "
        "archive holds, as recorded when it was collected. Unpack each archive into its own "
        f"new folder under `{_WORK}` and check every file (the SHA-1 and MD5 of each file are "
        "in manifest.json and custody-report.pdf):\n"
    )
    for run in runs:
        stem = Path(str(run["archive"])).stem
        target = f"{_WORK}/{stem}"
        add(
            f"### Run {run['id']}\n\nHost {run.get('host') or 'unknown'}, profile "
            f"{run.get('profile')}, started {run.get('started_at')}, {run.get('status')}; "
            f"{run['artifacts']} items, of which {run['regular_files']} are files.\n"
        )
        if run.get("archive_sha256") is None:
            add("> The archive of this run was missing when the bundle was made.\n")
            continue
        if not run["regular_files"]:
            add("This archive holds no regular files, so there is nothing to compare.\n")
            continue
        add(
            _block(
                "sh",
                [
                    'B="$PWD"',
                    f"mkdir -p {target}",
                    f'tar -xf "$B/evidence/{stem}.tar" -C {target}',
                    f"chmod -R u+rwX {target}",
                    f"cd {target}",
                    f'sha256sum --quiet -c "$B/evidence/{stem}.sha256" && echo "All '
                    f'{run["regular_files"]} files of run {stem} match."',
                    'cd "$B"',
                ],
            )
        )
        add("Expected output:\n")
        add(_block("text", [f"All {run['regular_files']} files of run {stem} match."]))
    add(
        "`chmod` only makes the unpacked copies readable to you (some evidence files keep "
        "restrictive permissions from the machine they came from). Lines ending in `FAILED` "
        "name files whose bytes differ from what was recorded. Symbolic links and folders are "
        "recorded in the ledger but have no content to hash, so they are not listed.\n"
    )

    add("## 5. The custody ledger's signatures\n")
    add(
        "`ledger.jsonl` holds one ledger entry per line. Each entry contains the SHA-256 of "
        "the entry before it (`prev_hash`), so an entry's signature also vouches for every "
        "entry before it. For each signed entry, `signatures/<seq>.json` holds the exact bytes "
        "that were signed and `signatures/<seq>-<n>.sig` its n-th signature. Check them all "
        "(uses the keys from step 2):\n"
    )
    by_signer: dict[str, list[str]] = {}
    for doc in manifest["signatures"]:
        for sig in doc["signatures"]:
            by_signer.setdefault(str(sig["by"]), []).append(Path(sig["file"]).stem)
    lines: list[str] = []
    expected: list[str] = []
    known = {str(x["fingerprint"]) for x in examiners}
    for fp, stems in by_signer.items():
        if fp not in known:
            continue
        lines += [
            f"for s in {' '.join(stems)}; do",
            f'  printf "%s: " "$s"; openssl dgst -sha256 -verify {_pub(fp)} '
            '-signature "signatures/$s.sig" "signatures/${s%-*}.json"',
            "done",
        ]
        expected += [f"{s}: Verified OK" for s in stems]
    add(_block("sh", lines))
    add("Expected output:\n")
    add(_block("text", expected))
    last = manifest["signatures"][-1]
    add(
        f"The SHA-256 of an entry's signed bytes is its `entry_hash`. For the last signed "
        f"entry, {last['seq']} ({last['event']}), which vouches for the whole ledger:\n"
    )
    add(_block("sh", [f"sha256sum signatures/{last['seq']}.json"]))
    where = "on the last line" if last["seq"] == ledger["last_seq"] else "of that entry"
    add(f"Expected output (the entry_hash {where} of ledger.jsonl):\n")
    last_hash = entry_hashes[int(last["seq"])]
    add(_block("text", [f"{last_hash}  signatures/{last['seq']}.json"]))

    add("## 6. The signed custody report\n")
    add(
        "Open `custody-report.pdf` in a PDF reader that shows signatures (for example Adobe "
        "Acrobat Reader: the Signature Panel). It must say the document has not been modified "
        "since it was signed. Because the certificate is self-signed, the reader may say the "
        "signer's identity is unknown or not trusted: that is expected, and step 3 is how you "
        "check the identity. Every page shows the SHA-256 of this bundle's manifest.json, "
        f"`{manifest_sha256}`, which you can compare with "
        "`sha256sum manifest.json`. With poppler's `pdfsig`:\n"
    )
    add(_block("sh", ["pdfsig custody-report.pdf"]))
    add("Expected output, among other lines:\n")
    add(_block("text", ["  - Signature Validation: Signature is Valid."]))
    add(
        "`Digest Mismatch.` means the PDF was changed after it was signed. "
        "`Certificate issuer is unknown` is expected for a self-signed certificate.\n"
    )

    add("## 7. Optional: all of it at once, with Chainproof\n")
    add(
        "Chainproof repeats every check above, and more (every entry's hash chain, every "
        "signature against its certificate, every item's SHA-256, SHA-1 and MD5 at its recorded "
        "place in the archives, files added or removed). It works on this folder or on the "
        "zip file:\n"
    )
    add(_block("sh", ["chainproof verify ."]))
    add("Expected output, on its last line:\n")
    add(_block("text", ["RESULT: VERIFIED - every check holds."]))
    return "\n".join(out)
