"""VERIFY.md: how to check the bundle with standard tools, step by step, filled in with this
bundle's names, fingerprints and counts, all taken from the fold of its ledger.

Each step is one function returning its Markdown pieces. Each command block (```` ```sh ````)
is followed by its expected output (```` ```text ````); the commands run from the bundle
folder and write only into ``~/chainproof-check``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from custody.bundle.facts import LedgerFacts
from custody.bundle.layout import archive_stem, certificate_file
from custody.bundle.manifest import ExportFacts
from custody.record.fold import Examiner, RunState
from custody.report.caseuco import ArchiveCopy, run_status

WORK = "~/chainproof-check"


@dataclass(frozen=True)
class Guide:
    """Everything the guide states: the ledger's facts and the export's."""

    facts: LedgerFacts
    export: ExportFacts
    archives: Mapping[str, ArchiveCopy | None]
    #: Every file that SHA256SUMS lists, in its order.
    listed: Sequence[str]
    manifest_sha256: str

    @property
    def examiners(self) -> list[Examiner]:
        return list(self.facts.state.examiners.values())


def _colon_hex(fp: str) -> str:
    return ":".join(fp[i : i + 2] for i in range(0, len(fp), 2)).upper()


def _pub(fp: str) -> str:
    return f"{WORK}/examiner-{fp[:16]}.pub"


def _block(lang: str, lines: Sequence[str]) -> str:
    return f"```{lang}\n" + "\n".join(lines) + "\n```\n"


# --------------------------------------------------------------------------- sections


def intro(g: Guide) -> list[str]:
    """Which bundle and case, a warning if verification failed, what is inside."""
    s, x = g.facts.state, g.export
    fields = s.fields
    incident = f", incident {fields.incident_ref}" if fields and fields.incident_ref else ""
    out = [
        "# How to check this evidence bundle\n",
        f"Bundle `{x.bundle_id}`, made on {x.generated_at} (UTC) by {x.exporter.name} with "
        f"Chainproof {x.tool_version}.  \n"
        f"Case: **{s.title or None}** (case id `{s.case_id}`{incident}).\n",
    ]
    if not x.verification.get("ok", False):
        findings = x.verification.get("findings", [])
        out.append(
            "> **WARNING: this case FAILED verification when the bundle was made** "
            f"({len(findings)} problem(s), listed in manifest.json under "
            "`verification` and in the custody report). The examiner exported it anyway "
            "(`--force`). The checks below show whether the bundle is as it was made; they do "
            "not repair what had already failed.\n"
        )
    out.append(
        f"The bundle holds the evidence of {len(s.runs)} collection run(s) ({s.artifacts} "
        f"collected items), the custody ledger that records every act on the case "
        f"({s.entries} entries, entry 1 to {g.facts.last_seq}), the examiners' "
        "certificates, and signatures. With the free standard tools `sha256sum`, `openssl`, "
        "`tar` and a PDF reader you can check, without Chainproof, that nothing in it changed "
        "since the examiner signed it.\n"
    )
    out.append(
        "The ledger in this bundle stops where the bundle was made (its last entry's hash is "
        f"`{s.head}`). Making the bundle was itself recorded afterwards, as an "
        "`exported` entry in the case's own ledger, with this bundle's id and the SHA-256 of "
        "its manifest.json and SHA256SUMS; that entry is therefore not in this bundle.\n"
    )
    return out


def contents_table() -> list[str]:
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
    return [
        "## What is in this folder\n",
        "| File | What it is |\n|---|---|",
        "\n".join(f"| {a} | {b} |" for a, b in rows) + "\n",
    ]


def before_you_start() -> list[str]:
    return [
        "## Before you start\n",
        "You need a terminal: on Linux any; on macOS install GNU coreutils "
        "(`brew install coreutils`, then use `gsha256sum` for `sha256sum`); on Windows use WSL or "
        "Git Bash. If you received a zip file, unpack it into a new folder and go into it:\n",
        _block("console", ["unzip BUNDLE.zip -d bundle", "cd bundle"]),
        "Run every command below from inside the bundle folder (the one holding this file). "
        f"Steps 2, 4 and 5 write helper files into the folder `{WORK}` in your home folder, "
        "outside the bundle, so the bundle stays exactly as you received it. Each command is "
        "followed by the output it must print.\n",
    ]


def step_files(g: Guide) -> list[str]:
    """1. ``sha256sum -c SHA256SUMS``."""
    return [
        "## 1. Every file is intact\n",
        "`SHA256SUMS` lists the SHA-256 fingerprint of every other file in the bundle. This "
        "recomputes each one and compares:\n",
        _block("sh", ["sha256sum -c SHA256SUMS"]),
        f"Expected output: these {len(g.listed)} lines, each ending in `OK`:\n",
        _block("text", [f"{n}: OK" for n in g.listed]),
        "A line ending in `FAILED`, or a message such as `No such file or directory`, means "
        "that file was changed or removed after the bundle was made. A file that is in the "
        "folder but not in this list was added later (`chainproof verify` reports those too).\n",
    ]


def step_signatures(g: Guide) -> list[str]:
    """2. The exporter's signatures over SHA256SUMS and manifest.json."""
    x = g.export.exporter
    epub = _pub(x.fingerprint)
    cmds = [f"mkdir -p {WORK}"]
    cmds += [
        f"openssl x509 -in {certificate_file(e.fingerprint)} -pubkey -noout > {_pub(e.fingerprint)}"
        for e in g.examiners
    ]
    cmds += [
        f"openssl dgst -sha256 -verify {epub} -signature SHA256SUMS.sig SHA256SUMS",
        f"openssl dgst -sha256 -verify {epub} -signature manifest.json.sig manifest.json",
    ]
    return [
        "## 2. The file list and the manifest carry the examiner's signature\n",
        f"`SHA256SUMS.sig` and `manifest.json.sig` are signatures by {x.name} "
        f"(certificate `{certificate_file(x.fingerprint)}`). First take the public key out of "
        "each examiner's certificate, then check both signatures with it:\n",
        _block("sh", cmds),
        "Expected output:\n",
        _block("text", ["Verified OK", "Verified OK"]),
        "`Verification failure` means the file or its signature was changed, or the signature "
        "was made with another key. Together, steps 1 and 2 show that every file is exactly "
        "as the examiner signed it.\n",
    ]


def step_certificates(g: Guide) -> list[str]:
    """3. Each certificate's fingerprint, to compare with one obtained another way."""
    out = [
        "## 3. The certificates belong to the people named\n",
        "A signature only proves something if the certificate is really the examiner's. Print "
        "each certificate's SHA-256 fingerprint:\n",
        _block(
            "sh",
            [
                f"openssl x509 -in {certificate_file(x.fingerprint)} -noout -fingerprint -sha256"
                for x in g.examiners
            ],
        ),
        "Expected output:\n",
        _block("text", [f"sha256 Fingerprint={_colon_hex(x.fingerprint)}" for x in g.examiners]),
    ]
    for x in g.examiners:
        who = ", ".join(v for v in (x.name, x.organisation, x.email) if v)
        out.append(f"- `{x.fingerprint}`: {who} ({x.role or 'examiner'})")
    out.append(
        "\nCompare each fingerprint with the one printed in custody-report.pdf (Personnel) and, "
        "above all, with one you obtained from the examiner or their organisation by another "
        "channel (in person, by phone, on letterhead). The certificates are self-signed, so "
        "this comparison is what ties them to a person. (The fingerprint is also the file's "
        "name, in lower case without colons.)\n"
    )
    return out


def run_check(run: RunState, archive: ArchiveCopy | None) -> list[str]:
    """4, per run: unpack the archive and check its members against ``<run>.sha256``."""
    stem = archive_stem(run.archive)
    target = f"{WORK}/{stem}"
    out = [
        f"### Run {run.run_id}\n\nHost {run.started.event.host or 'unknown'}, profile "
        f"{run.started.event.profile}, started {run.started.at}, {run_status(run)}; "
        f"{run.artifacts} items, of which {run.regular_files} are files.\n"
    ]
    if archive is None:
        return [*out, "> The archive of this run was missing when the bundle was made.\n"]
    if not run.regular_files:
        return [*out, "This archive holds no regular files, so there is nothing to compare.\n"]
    done = f"All {run.regular_files} files of run {stem} match."
    return [
        *out,
        _block(
            "sh",
            [
                'B="$PWD"',
                f"mkdir -p {target}",
                f'tar -xf "$B/evidence/{stem}.tar" -C {target}',
                f"chmod -R u+rwX {target}",
                f"cd {target}",
                f'sha256sum --quiet -c "$B/evidence/{stem}.sha256" && echo "{done}"',
                'cd "$B"',
            ],
        ),
        "Expected output:\n",
        _block("text", [done]),
    ]


def step_archives(g: Guide) -> list[str]:
    """4. Every run archive holds exactly the recorded files."""
    out = [
        "## 4. The evidence archives hold exactly the recorded files\n",
        "Each collection run's evidence is one tar archive in `evidence/`, copied byte for "
        "byte from the case. Next to it, `<run>.sha256` lists the SHA-256 of each file the "
        "archive holds, as recorded when it was collected. Unpack each archive into its own "
        f"new folder under `{WORK}` and check every file (the SHA-1 and MD5 of each file are "
        "in manifest.json and custody-report.pdf):\n",
    ]
    for run in g.facts.state.runs.values():
        out += run_check(run, g.archives.get(run.run_id))
    out.append(
        "`chmod` only makes the unpacked copies readable to you (some evidence files keep "
        "restrictive permissions from the machine they came from). Lines ending in `FAILED` "
        "name files whose bytes differ from what was recorded. Symbolic links and folders are "
        "recorded in the ledger but have no content to hash, so they are not listed.\n"
    )
    return out


def step_ledger(g: Guide) -> list[str]:
    """5. Every signature on a ledger entry, and the last signed entry's hash."""
    by_signer: dict[str, list[str]] = {}
    for s in g.facts.signed:
        for n, by in enumerate(s.signers, 1):
            by_signer.setdefault(by, []).append(f"{s.seq}-{n}")
    lines: list[str] = []
    expected: list[str] = []
    for fp, stems in by_signer.items():
        if fp not in g.facts.state.examiners:
            continue
        lines += [
            f"for s in {' '.join(stems)}; do",
            f'  printf "%s: " "$s"; openssl dgst -sha256 -verify {_pub(fp)} '
            '-signature "signatures/$s.sig" "signatures/${s%-*}.json"',
            "done",
        ]
        expected += [f"{s}: Verified OK" for s in stems]
    out = [
        "## 5. The custody ledger's signatures\n",
        "`ledger.jsonl` holds one ledger entry per line. Each entry contains the SHA-256 of "
        "the entry before it (`prev_hash`), so an entry's signature also vouches for every "
        "entry before it. For each signed entry, `signatures/<seq>.json` holds the exact bytes "
        "that were signed and `signatures/<seq>-<n>.sig` its n-th signature. Check them all "
        "(uses the keys from step 2):\n",
        _block("sh", lines),
        "Expected output:\n",
        _block("text", expected),
    ]
    if not g.facts.signed:
        return out
    last = g.facts.signed[-1]
    where = "on the last line" if last.seq == g.facts.last_seq else "of that entry"
    return [
        *out,
        f"The SHA-256 of an entry's signed bytes is its `entry_hash`. For the last signed "
        f"entry, {last.seq} ({last.event}), which vouches for the whole ledger:\n",
        _block("sh", [f"sha256sum {last.body}"]),
        f"Expected output (the entry_hash {where} of ledger.jsonl):\n",
        _block("text", [f"{last.entry_hash}  {last.body}"]),
    ]


def step_report(g: Guide) -> list[str]:
    """6. The signed PDF and the manifest hash on its pages."""
    return [
        "## 6. The signed custody report\n",
        "Open `custody-report.pdf` in a PDF reader that shows signatures (for example Adobe "
        "Acrobat Reader: the Signature Panel). It must say the document has not been modified "
        "since it was signed. Because the certificate is self-signed, the reader may say the "
        "signer's identity is unknown or not trusted: that is expected, and step 3 is how you "
        "check the identity. Every page shows the SHA-256 of this bundle's manifest.json, "
        f"`{g.manifest_sha256}`, which you can compare with "
        "`sha256sum manifest.json`. With poppler's `pdfsig`:\n",
        _block("sh", ["pdfsig custody-report.pdf"]),
        "Expected output, among other lines:\n",
        _block("text", ["  - Signature Validation: Signature is Valid."]),
        "`Digest Mismatch.` means the PDF was changed after it was signed. "
        "`Certificate issuer is unknown` is expected for a self-signed certificate.\n",
    ]


def step_chainproof() -> list[str]:
    """7. All of it at once, with Chainproof."""
    return [
        "## 7. Optional: all of it at once, with Chainproof\n",
        "Chainproof repeats every check above, and more (every entry's hash chain, every "
        "signature against its certificate, every item's SHA-256, SHA-1 and MD5 at its recorded "
        "place in the archives, files added or removed, and that manifest.json and case.jsonld "
        "say what the ledger says). It works on this folder or on the zip file:\n",
        _block("sh", ["chainproof verify ."]),
        "Expected output, on its last line:\n",
        _block("text", ["RESULT: VERIFIED - every check holds."]),
    ]


def render_verify_md(g: Guide) -> str:
    """The whole guide."""
    return "\n".join(
        [
            *intro(g),
            *contents_table(),
            *before_you_start(),
            *step_files(g),
            *step_signatures(g),
            *step_certificates(g),
            *step_archives(g),
            *step_ledger(g),
            *step_report(g),
            *step_chainproof(),
        ]
    )
