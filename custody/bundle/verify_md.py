"""VERIFY.md: how to check the bundle with standard tools, step by step, filled in with this
bundle's names, fingerprints and counts, all taken from the fold of its ledger.

Each step is one function returning its Markdown pieces. Each command block (```` ```sh ````)
is followed by its expected output (```` ```text ````); the commands run from the bundle
folder and write only into ``~/chainproof-check``.

The ledger's text is not trusted. Every value from it passes through
:func:`custody.report.pdf.text.printable` (the one place that escapes what cannot be printed
and cuts what is too long), then, in Markdown text, through :func:`md_text` (Markdown's
special characters escaped) or :func:`md_code` (a code span no backtick can leave). A value
goes into a command only when it matches a strict pattern (:func:`safe_stem`,
:func:`safe_fingerprint`), and then quoted with :func:`shlex.quote` all the same; one that
does not match is named in the text, which says what to do instead.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from custody.bundle.facts import LedgerFacts
from custody.bundle.layout import (
    MANIFEST,
    MANIFEST_SIG,
    REPORT_PDF,
    SUMS,
    SUMS_SIG,
    archive_file,
    archive_stem,
    certificate_file,
    member_sums_file,
    signed_body_file,
)
from custody.bundle.manifest import ExportFacts
from custody.record.fold import Examiner, RunState
from custody.report.caseuco import SHAPES_OFF, SHAPES_OFF_TEXT, ArchiveCopy, run_status
from custody.report.inventory import AnnexFile
from custody.report.pdf.text import HEADING_LIMIT, TEXT_LIMIT, printable
from custody.timestamp.store import TIMESTAMPS, seq_of

WORK = "~/chainproof-check"
#: Characters of a value from the ledger shown in the guide's text; longer ones are cut, and
#: the cut says so and that the whole value is in ledger.jsonl.
LIMIT = HEADING_LIMIT
#: Characters of a file name in an expected output.
NAME_LIMIT = TEXT_LIMIT

#: An archive's name without ``.tar`` that may go into a command: letters, digits, ``.``,
#: ``_`` and ``-``, starting with a letter or digit (so never ``.``, ``..`` or an option).
_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: A certificate fingerprint (SHA-256) as Chainproof writes it.
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: Characters that mean something to Markdown (CommonMark or GitHub's) inside a line.
_MD_SPECIAL = re.compile(r"[\\`*_\[\]<>&!|~$#]")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Guide:
    """Everything the guide states: the ledger's facts and the export's."""

    facts: LedgerFacts
    export: ExportFacts
    archives: Mapping[str, ArchiveCopy | None]
    #: Every file that SHA256SUMS lists, in its order.
    listed: Sequence[str]
    manifest_sha256: str
    #: The inventory files (also attached to the report); none in a bundle made before them.
    annexes: Sequence[AnnexFile] = ()

    @property
    def examiners(self) -> list[Examiner]:
        return list(self.facts.state.examiners.values())


# --------------------------------------------------------------------------- values


def md_text(value: object, limit: int = LIMIT) -> str:
    """A value from the ledger as Markdown text that reads as :func:`printable` shows it."""
    return _MD_SPECIAL.sub(r"\\\g<0>", printable(value, font=None, limit=limit))


def md_code(value: object, limit: int = LIMIT) -> str:
    """A value from the ledger as a Markdown code span that reads as :func:`printable` shows
    it: the fence is longer than any run of backticks in the value. Empty: ``(empty)``."""
    s = printable(value, font=None, limit=limit)
    if not s:
        return "(empty)"
    ticks = "`" * (max((len(m) for m in re.findall("`+", s)), default=0) + 1)
    if s[0] == "`" or s[-1] == "`" or (s[0] == " " and s[-1] == " " and s.strip(" ")):
        s = f" {s} "  # CommonMark takes one space off each end
    return f"{ticks}{s}{ticks}"


def plain(value: object, limit: int = NAME_LIMIT) -> str:
    """A value from the ledger in a ```` ```text ```` block (:func:`printable`; no markup)."""
    return printable(value, font=None, limit=limit)


def safe_stem(archive: str) -> str | None:
    """The run archive's stem when it may go into a command, else None."""
    stem = archive_stem(archive)
    return stem if _STEM.fullmatch(stem) else None


def safe_fingerprint(fp: str) -> str | None:
    """A certificate fingerprint (64 lower-case hex digits) that may go into a command."""
    return fp if _HEX64.fullmatch(fp) else None


def _q(word: str) -> str:
    """A checked value as one shell word (:func:`shlex.quote`: unchanged when it is plain)."""
    return shlex.quote(word)


def _colon_hex(fp: str) -> str:
    return ":".join(fp[i : i + 2] for i in range(0, len(fp), 2)).upper()


def _pub(fp: str) -> str:
    """The public key file of a checked fingerprint: the tilde stays outside the quotes."""
    return f"{WORK}/" + _q(f"examiner-{fp[:16]}.pub")


def _block(lang: str, lines: Sequence[str]) -> str:
    """A fenced block; a line that would close the fence is refused (values are
    :func:`printable` and never start a line, so that is a bug)."""
    for line in lines:
        if "\n" in line or _FENCE.match(line):
            raise ValueError(f"line would break its code block: {line!r}")
    return f"```{lang}\n" + "\n".join(lines) + "\n```\n"


# --------------------------------------------------------------------------- sections


def intro(g: Guide) -> list[str]:
    """Which bundle and case, a warning if verification failed, what is inside."""
    s, x = g.facts.state, g.export
    fields = s.fields
    incident = (
        f", incident {md_text(fields.incident_ref)}" if fields and fields.incident_ref else ""
    )
    title = f"**{md_text(s.title)}**" if s.title else "(no title recorded)"
    out = [
        "# How to check this evidence bundle\n",
        f"Bundle {md_code(x.bundle_id)}, made on {md_text(x.generated_at)} (UTC) by "
        f"{md_text(x.exporter.name)} with Chainproof {md_text(x.tool_version)}.  \n"
        f"Case: {title} (case id {md_code(s.case_id)}{incident}).\n",
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
        f"{md_code(s.head)}). Making the bundle was itself recorded afterwards, as an "
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
        ("`timestamps/<seq>.tsr`", "RFC 3161 timestamp tokens of signed entries, if any"),
        ("`certs/<fingerprint>.pem`", "each examiner's certificate (public, no key)"),
        ("`manifest.json` + `.sig`", "the case, runs, every item with its hashes; signed"),
        ("`case.jsonld`", "the same record in the CASE/UCO standard, for forensic tools"),
        ("`case-inventory-NNNN.jsonld`", "every artifact in CASE/UCO, 5,000 to a file"),
        ("`custody-report.pdf`", "the chain of custody report, signed by the examiner"),
        ("`inventory.csv`, `inventory.jsonl`", "every artifact, one row each, with its hashes"),
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
        "Names and other text from the ledger are shown here as text only. Characters that "
        "cannot be printed (control and format characters such as a line break, an escape or "
        "a right-to-left mark) are shown as escapes: `\\n`, `\\r`, `\\t`, `\\xNN`, `\\uNNNN`, "
        "`\\UNNNNNNNN`; `\\xNN` from 80 to ff stands for a byte of a name that is not UTF-8, as "
        f"the ledger writes it. A value longer than {LIMIT} characters ({NAME_LIMIT:,} for a "
        "file name in an expected output) is cut where marked; the whole value is in "
        "ledger.jsonl. The commands hold only names checked to be plain (letters, digits, "
        "`.`, `_` and `-`) and fingerprints of 64 hexadecimal digits; where a name is not "
        "plain, the step gives no command for it and says what to do instead.\n",
    ]


def step_files(g: Guide) -> list[str]:
    """1. ``sha256sum --strict -c SHA256SUMS``."""
    names = [plain(n) for n in g.listed]
    out = [
        "## 1. Every file is intact\n",
        "`SHA256SUMS` lists the SHA-256 fingerprint of every other file in the bundle. This "
        "recomputes each one and compares (`--strict` makes a line of the list that is not "
        "in the right form a failure, instead of a warning that is easy to miss):\n",
        _block("sh", [f"sha256sum --strict -c {_q(SUMS)}"]),
        f"Expected output: these {len(names)} lines, each ending in `OK`:\n",
        _block("text", [f"{n}: OK" for n in names]),
    ]
    if any(shown != n or "\\" in n for shown, n in zip(names, g.listed, strict=True)):
        out.append(
            "Some of these names hold characters that cannot be printed, or a backslash: they "
            "are shown above as escapes, and `sha256sum` prints them its own way (as they are, "
            "or escaped with a `\\` at the start of the line). "
            "`sha256sum --strict -c SHA256SUMS | cat -v` shows them without letting your terminal act "
            "on control characters.\n"
        )
    out.append(
        "A line ending in `FAILED`, or a message such as `No such file or directory`, means "
        "that file was changed or removed after the bundle was made. A file that is in the "
        "folder but not in this list was added later (`chainproof verify` reports those too).\n"
    )
    return out


def _checked(examiners: Sequence[Examiner]) -> list[str]:
    """The fingerprints that may go into commands, in order."""
    return [fp for x in examiners if (fp := safe_fingerprint(x.fingerprint)) is not None]


def step_signatures(g: Guide) -> list[str]:
    """2. The exporter's signatures over SHA256SUMS and manifest.json."""
    x = g.export.exporter
    fp = safe_fingerprint(x.fingerprint)
    out = [
        "## 2. The file list and the manifest carry the examiner's signature\n",
        f"`SHA256SUMS.sig` and `manifest.json.sig` are signatures by {md_text(x.name)} "
        f"(certificate {md_code(certificate_file(x.fingerprint))}). ",
    ]
    if fp is None:
        out[-1] += (
            "The ledger gives a fingerprint for this certificate that is not 64 hexadecimal "
            "digits, so no command is given for it: check the signatures with `chainproof "
            "verify` (step 7), which reports the fingerprint.\n"
        )
        return out
    out[-1] += (
        "First take the public key out of each examiner's certificate, then check both "
        "signatures with it:\n"
    )
    cmds = [f"mkdir -p {WORK}"]
    cmds += [
        f"openssl x509 -in {_q(certificate_file(e))} -pubkey -noout > {_pub(e)}"
        for e in _checked(g.examiners)
    ]
    cmds += [
        f"openssl dgst -sha256 -verify {_pub(fp)} -signature {_q(SUMS_SIG)} {_q(SUMS)}",
        f"openssl dgst -sha256 -verify {_pub(fp)} -signature {_q(MANIFEST_SIG)} {_q(MANIFEST)}",
    ]
    return [
        *out,
        _block("sh", cmds),
        "Expected output:\n",
        _block("text", ["Verified OK", "Verified OK"]),
        "`Verification failure` means the file or its signature was changed, or the signature "
        "was made with another key. Together, steps 1 and 2 show that every file is exactly "
        "as the examiner signed it.\n",
    ]


def step_certificates(g: Guide) -> list[str]:
    """3. Each certificate's fingerprint, to compare with one obtained another way."""
    checked = _checked(g.examiners)
    out = [
        "## 3. The certificates belong to the people named\n",
        "A signature only proves something if the certificate is really the examiner's. Print "
        "each certificate's SHA-256 fingerprint:\n",
        _block(
            "sh",
            [
                f"openssl x509 -in {_q(certificate_file(fp))} -noout -fingerprint -sha256"
                for fp in checked
            ],
        ),
        "Expected output:\n",
        _block("text", [f"sha256 Fingerprint={_colon_hex(fp)}" for fp in checked]),
    ]
    for x in g.examiners:
        who = ", ".join(md_text(v) for v in (x.name, x.organisation, x.email) if v)
        line = f"- {md_code(x.fingerprint)}: {who} ({md_text(x.role or 'examiner')})"
        if safe_fingerprint(x.fingerprint) is None:
            line += (
                ". This fingerprint is not 64 hexadecimal digits, so no command is given for "
                "its certificate; `chainproof verify` (step 7) reports it"
            )
        out.append(line)
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
    started = run.started.event
    out = [
        f"### Run {md_text(run.run_id)}\n\nHost {md_text(started.host or 'unknown')}, profile "
        f"{md_text(started.profile)}, started {md_text(run.started.at)}, "
        f"{md_text(run_status(run))}; {run.artifacts} items, of which {run.regular_files} "
        "are files.\n"
    ]
    if archive is None:
        return [*out, "> The archive of this run was missing when the bundle was made.\n"]
    if not run.regular_files:
        return [*out, "This archive holds no regular files, so there is nothing to compare.\n"]
    stem = safe_stem(run.archive)
    if stem is None:
        return [
            *out,
            f"The name of this run's archive, {md_code(archive_file(run.archive))}, is not a "
            "plain name (letters, digits, `.`, `_` and `-`, starting with a letter or digit), "
            "so no command is given for it (step 1 has checked the archive file itself). To "
            "check the files inside it, use "
            "`chainproof verify` (step 7), or copy the archive and its list "
            f"{md_code(member_sums_file(run.archive))} to plain names (for example with a "
            "file manager), unpack the archive into a new empty folder, and from inside that "
            "folder run `sha256sum --strict --quiet -c` with the list's path: it prints nothing when "
            "every file matches.\n",
        ]
    target = f"{WORK}/{_q(stem)}"
    done = f"All {run.regular_files} files of run {stem} match."
    sums = f'"$B"/{_q(member_sums_file(run.archive))}'
    return [
        *out,
        _block(
            "sh",
            [
                'B="$PWD"',
                f"mkdir -p {target}",
                f'tar -xf "$B"/{_q(archive_file(run.archive))} -C {target}',
                f"chmod -R u+rwX {target}",
                f"cd {target}",
                f"sha256sum --strict --quiet -c {sums} && echo {_q(done)}",
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
    unchecked = 0
    for by, stems in by_signer.items():
        fp = safe_fingerprint(by)
        if fp is None or fp not in g.facts.state.examiners:
            unchecked += len(stems)
            continue
        lines += [
            f"for s in {' '.join(map(_q, stems))}; do",
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
    if unchecked:
        out.append(
            f"{unchecked} signature(s) in `signatures/` were made by keys that are not an "
            "examiner's of this case, or whose fingerprint is not 64 hexadecimal digits, so "
            "no command is given for them: `chainproof verify` (step 7) reports them.\n"
        )
    if not g.facts.signed:
        return out
    last = g.facts.signed[-1]
    body = signed_body_file(last.seq)
    where = "on the last line" if last.seq == g.facts.last_seq else "of that entry"
    return [
        *out,
        f"The SHA-256 of an entry's signed bytes is its `entry_hash`. For the last signed "
        f"entry, {last.seq} ({md_text(last.event)}), which vouches for the whole ledger:\n",
        _block("sh", [f"sha256sum {_q(body)}"]),
        f"Expected output (the entry_hash {where} of ledger.jsonl):\n",
        _block("text", [f"{plain(last.entry_hash)}  {body}"]),
    ]


def step_timestamps(g: Guide) -> list[str]:
    """5, continued: the RFC 3161 tokens of the signed entries (only when there are some)."""
    prefix = f"{TIMESTAMPS}/"
    stamped = sorted(
        n
        for name in g.listed
        if name.startswith(prefix) and (n := seq_of(name[len(prefix) :])) is not None
    )
    if not stamped:
        return []
    signed = [s.seq for s in g.facts.signed]
    missing = [n for n in signed if n not in set(stamped)]
    out = [
        "### Timestamps of the signed entries (RFC 3161)\n",
        "A timestamp authority (TSA) dated the exact signed bytes of these entries: "
        "`timestamps/<seq>.tsr` is its answer for `signatures/<seq>.json`. You need the "
        "certificate of the CA that issued the TSA's certificate, `TSA-CA.pem`, obtained "
        "from the authority itself (it is not in this bundle: a certificate from the bundle "
        "would prove nothing). Then:\n",
        _block(
            "sh",
            [
                f"for s in {' '.join(str(n) for n in stamped)}; do",
                '  printf "%s: " "$s"; openssl ts -verify -data "signatures/$s.json" '
                '-in "timestamps/$s.tsr" -CAfile TSA-CA.pem 2>/dev/null',
                "done",
            ],
        ),
        "Expected output:\n",
        _block("text", [f"{n}: Verification: OK" for n in stamped]),
        "`openssl ts -reply -in timestamps/<seq>.tsr -text` shows a token's time "
        "(`Time stamp:`); it should be at or just after the entry's `at` in ledger.jsonl, "
        "unless a later `timestamped` entry of the ledger names the entry as stamped late.\n",
    ]
    if missing:
        out.append(
            f"{len(missing)} signed entr{'y has' if len(missing) == 1 else 'ies have'} no "
            f"token ({', '.join(map(str, missing[:20]))}{'...' if len(missing) > 20 else ''}): "
            "no timestamp authority was reachable or configured when "
            f"{'it was' if len(missing) == 1 else 'they were'} written.\n"
        )
    return out


def step_report(g: Guide) -> list[str]:
    """6. The signed PDF and the manifest hash on its pages."""
    return [
        "## 6. The signed custody report\n",
        "Open `custody-report.pdf` in a PDF reader that shows signatures (for example Adobe "
        "Acrobat Reader: the Signature Panel). It must say the document has not been modified "
        "since it was signed. Because the certificate is self-signed, the reader may say the "
        "signer's identity is unknown or not trusted: that is expected, and step 3 is how you "
        "check the identity. Every page shows the SHA-256 of this bundle's manifest.json, "
        f"{md_code(g.manifest_sha256)}, which you can compare with "
        "`sha256sum manifest.json`. With poppler's `pdfsig`:\n",
        _block("sh", [f"pdfsig {_q(REPORT_PDF)}"]),
        "Expected output, among other lines, both of these:\n",
        _block(
            "text",
            ["  - Total document signed", "  - Signature Validation: Signature is Valid."],
        ),
        "`Digest Mismatch.` means the PDF was changed after it was signed. "
        "`Not total document signed` means bytes were added after the signature, for "
        "example an incremental update: a PDF reader shows the added content in place of "
        "the signed pages, while `Signature is Valid.` is still printed, because that line "
        "speaks only of the signed bytes. Such a report is not the one the examiner signed "
        "(step 1 catches it too, as its SHA-256 no longer matches). "
        "`Certificate issuer is unknown` is expected for a self-signed certificate.\n",
    ]


def step_inventory(g: Guide) -> list[str]:
    """6, continued. The inventory files, and the copies attached to the signed report."""
    if not g.annexes:
        return []
    names = " ".join(_q(a.name) for a in g.annexes)
    got = f"{WORK}/attached"
    done = "The report's attachments are the bundle's inventory files."
    rows = ", ".join(f"{md_code(a.name)} ({a.rows:,} rows)" for a in g.annexes)
    return [
        "### The inventory of every artifact\n",
        f"The report is a summary; every artifact is listed, one row each in ledger order, in "
        f"{rows}. Step 1 checked them with the other files; their SHA-256 is also printed in "
        "the report (section 5.1 and Annex A), and the signed report carries them as "
        "attachments. This shows both, and compares the attached copies with the bundle's "
        "files:\n",
        _block("sh", [f"sha256sum {names}"]),
        "Expected output (the values printed in the report):\n",
        _block("text", [f"{a.sha256}  {a.name}" for a in g.annexes]),
        _block(
            "sh",
            [
                f"mkdir -p {got}",
                f"pdfdetach -saveall -o {got} {_q(REPORT_PDF)}",
                " && ".join(f"cmp {got}/{_q(a.name)} {_q(a.name)}" for a in g.annexes)
                + f" && echo {_q(done)}",
            ],
        ),
        "Expected output:\n",
        _block("text", [done]),
        "`inventory.jsonl` holds every value exactly as the ledger records it; "
        "`inventory.csv` (RFC 4180, UTF-8) gives the mode in octal and puts an apostrophe "
        "before a value that a spreadsheet would otherwise run as a formula. "
        "`chainproof verify` makes both again from ledger.jsonl and compares every byte.\n",
    ]


def step_case_uco(g: Guide) -> list[str]:
    """6, continued. The CASE/UCO files, validated with case_validate (case-utils)."""
    graphs = [n for n in g.listed if n.startswith("case") and n.endswith(".jsonld")]
    if SHAPES_OFF not in g.listed or not graphs:
        return []  # a bundle made before the split: case.jsonld alone, validated as it is
    n = len(graphs)
    return [
        f"**The CASE/UCO files.** The case is also described in the CASE/UCO standard (CASE 1.5.0) in {n} file(s): "
        "`case.jsonld` (the case, examiners, runs and archives) and `case-inventory-NNNN.jsonld` "
        "(5,000 artifacts each: a file with its name, path, size and SHA-256, a symbolic link "
        "with its target, a directory; SHA-1 and MD5 are in the inventory files). Each file is a complete graph that validates alone; together they "
        "are the whole case. Validate them with `case_validate` from case-utils "
        "(`pip install case-utils==0.18.0`), two at a time:\n",
        _block(
            "sh",
            [f"ls case*.jsonld | xargs -n 1 -P 2 case_validate --ontology-graph {SHAPES_OFF}"],
        ),
        f"Expected output: one `Conforms: True` for each of the {n} files, and no "
        "`Conforms: False`:\n",
        _block("text", ["Conforms: True"]),
        f"`{SHAPES_OFF}` switches off six of UCO's shapes, no more: three that case_validate "
        "runs as SPARQL queries parsed again for every node (about 0.1 s a node, hours for a "
        "large case), and three disjointness shapes (no node both a UcoThing and a UcoType, no "
        "facet also an object, no File also a URL) that cost it a third of the remaining time. "
        "What they check holds by construction, and `chainproof verify` checks it again: it "
        "compares every node, its types included, with the ledger. Every other shape stays on: "
        "each property's datatype, count and class. Its whole text:\n",
        _block("sh", [f"cat {SHAPES_OFF}"]),
        "Expected output:\n",
        _block("text", SHAPES_OFF_TEXT.decode("ascii").splitlines()),
        "Without `--ontology-graph`, each file also validates, only slowly. "
        "`chainproof verify` makes every file again from ledger.jsonl and compares it node by "
        "node: an artifact left out, moved to another file or listed twice is reported.\n",
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
            *step_timestamps(g),
            *step_report(g),
            *step_inventory(g),
            *step_case_uco(g),
            *step_chainproof(),
        ]
    )
