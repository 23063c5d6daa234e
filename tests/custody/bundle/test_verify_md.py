"""VERIFY.md over a ledger full of hostile text.

A real case whose title, incident, examiner, hosts, profiles, run ids, member names and
archive names hold shell syntax (``$(touch PWNED)``, backticks, ``;``, quotes), line breaks,
ANSI escapes, right-to-left marks, 10 KB values and the escaped bytes of names that are not
UTF-8, exported for real. Its VERIFY.md holds no raw control character, reads (parsed as
CommonMark) as the text it states, and every ```` ```sh ```` block, run with ``sh`` in the
bundle folder, succeeds, prints what the guide says it prints, and creates nothing but the
guide's own helper files: no ``PWNED`` anywhere.

The escaping functions are checked over arbitrary text with hypothesis, against a real
CommonMark parser (markdown-it-py, which rich depends on).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from app.cases import CaseHandle, create_case
from custody.bundle.layout import VERIFY_MD, archive_stem
from custody.bundle.verify_md import LIMIT, md_code, md_text, safe_fingerprint, safe_stem
from custody.record.digests import Digests
from custody.record.events import (
    ArtifactCollected,
    IdentityAdded,
    MemberRef,
    RunFinished,
    RunStarted,
)
from custody.record.keys import Identity, create_identity
from custody.record.names import to_text
from custody.record.times import ns_text
from custody.report.pdf.text import printable
from custody.store.archive import MemberMeta, RunArchive
from tests.custody.bundle.helpers import ODD_FILES, add_run, export

TOOLS = ("sh", "sha256sum", "openssl", "tar", "pdfsig", "pdfdetach", "cmp")
needs_tools = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason="sh, sha256sum, openssl, tar, cmp, pdfsig and pdfdetach (poppler-utils) are part "
    "of the dev setup",
)

BIN = Path(sys.executable).parent
#: Shell syntax that runs ``touch PWNED`` wherever it is pasted unquoted or double-quoted,
#: and writes a file PWNED wherever it is pasted unquoted.
INJECT = "$(touch PWNED)`touch PWNED`;touch PWNED;'\"|&>PWNED"
#: What else a value can hold that must not reach Markdown or a terminal as it is.
NASTY = (
    " \n```\n# heading\r\n\x1b[31mred\x1b[0m\x07\x00\x7f\x85 \u200f\u202eRTL\u2066 "
    "\u05e9\u05dc\u05d5\u05dd <b>bold</b> &amp; [link](http://x) **star** _u_ ~~s~~ "
    "| pipe \\ back\\xff\\xfe $HOME "
)
BIG = "A" * 10_240
#: Run archive names (``evidence/<name>``) that may not go into a command, and why.
HOSTILE_ARCHIVES = (
    "$(touch PWNED).tar",  # command substitution
    "a`touch PWNED`;b c.tar",  # backticks, a separator, a space
    "x\ny\x1b[31m\u200f.tar",  # a line break, an ANSI escape, a right-to-left mark
    "..tar",  # its stem is "."
    "-rf.tar",  # an option
    "q'uo\"tes.tar",  # quotes
    "L" * 200 + " .tar",  # long, with a space
)
BLOCKS = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def hostile_identity() -> Identity:
    # X.509 allows 64 characters in a name and in an organisation
    return create_identity(
        "$(touch PWNED) `id`; \x1b[31m\u200fEve*_<b>", "Org; rm -rf ~\n|x&amp;", "eve@example.org"
    )


def add_hostile_run(case: CaseHandle, identity: Identity, name: str, n: int) -> str:
    """A finished run, written as a run writes it, with a hostile run id, host, profile,
    member name and archive name ``evidence/<name>``."""
    run_id = f"run {n} {INJECT}{NASTY}{uuid.uuid4()}"
    archive = RunArchive(case.evidence_dir / name)
    writer = case.writer(identity)
    writer.before_write = archive.flush
    writer.append(
        RunStarted(
            run_id=run_id,
            host=f"host{INJECT}{NASTY}{BIG}",
            profile=f"profile{INJECT}{NASTY}",
            archive=f"evidence/{name}",
            tool_version="test",
            examiner=identity.fingerprint,
        )
    )
    data = f"evidence of run {n}\n".encode()
    mtime = 1_700_000_000 * 10**9
    member_name = f"volatile/{INJECT}\n{n}.txt"
    member = archive.add_member(member_name, data, MemberMeta(mtime_ns=mtime, mode=0o644))
    text, b64 = to_text(member_name)
    writer.append(
        ArtifactCollected(
            run_id=run_id,
            collector="volatile",
            kind="volatile",
            member=MemberRef(
                name=text,
                name_b64=b64,
                header_offset=member.header_offset,
                data_offset=member.data_offset,
                size=member.size,
                header_sha256=member.header_sha256,
                mtime=ns_text(mtime),
                mode=0o644,
                uid=0,
                gid=0,
            ),
            digests=Digests(
                hashlib.sha256(data).hexdigest(),
                hashlib.sha1(data).hexdigest(),
                hashlib.md5(data).hexdigest(),
            ),
        )
    )
    writer.flush("run end")
    writer.before_write = None
    size = archive.close()
    writer.append(
        RunFinished(
            run_id=run_id,
            status="finished",
            artifacts=1,
            errors=0,
            skipped=0,
            bytes=len(data),
            archive=f"evidence/{name}",
            archive_size=size,
            archive_sha256=archive.sha256,
            finished_at="2024-05-01T11:00:00.000000Z",
        )
    )
    return run_id


def make_hostile_case(
    root: Path, identity: Identity, archives: tuple[str, ...] = HOSTILE_ARCHIVES
) -> CaseHandle:
    case = create_case(
        root,
        identity,
        title=f"Case {INJECT}{NASTY}{BIG}",
        incident_ref=f"INC{INJECT}{NASTY}",
        description=NASTY,
    )
    add_run(case, identity, ODD_FILES)  # a plain archive name: its commands are given and run
    for n, name in enumerate(archives):
        add_hostile_run(case, identity, name, n)
    return case


@pytest.fixture(scope="module")
def eve() -> Identity:
    return hostile_identity()


@pytest.fixture
def hostile_bundle(report_module: None, tmp_path: Path, eve: Identity) -> Path:
    case = make_hostile_case(tmp_path / "case", eve)
    out = tmp_path / "bundle"
    result = export(case, eve, out)
    assert result.verified, "the hostile case must verify: then step 7 must print VERIFIED"
    return out


@pytest.fixture
def forged_bundle(report_module: None, tmp_path: Path, alice: Identity) -> Path:
    """A case whose ledger names an examiner by a fingerprint that is shell syntax (the
    case fails verification, and is exported with ``force``)."""
    case = create_case(tmp_path / "case", alice, title="Forged fingerprint")
    add_run(case, alice, ODD_FILES)
    case.writer(alice).append(
        IdentityAdded(
            fingerprint="$(touch PWNED)`touch PWNED`",
            name=f"Mallory{INJECT}",
            certificate_pem=alice.certificate_pem(),
        )
    )
    out = tmp_path / "bundle"
    result = export(case, alice, out, force=True)
    assert not result.verified
    return out


# --------------------------------------------------------------------------- the text


def blocks(text: str, lang: str) -> list[str]:
    return [body for kind, body in BLOCKS.findall(text) if kind == lang]


def rendered_text(tokens: list[Token]) -> str:
    """The text a reader sees: every inline token's text, code span and code block."""
    out: list[str] = []
    for t in tokens:
        if t.type in ("fence", "code_block"):
            out.append(t.content)
        for c in t.children or []:
            if c.type in ("text", "code_inline"):
                out.append(c.content)
            elif c.type in ("softbreak", "hardbreak"):
                out.append("\n")
    return "".join(out)


@needs_tools
def test_verify_md_shows_hostile_values_as_text_only(hostile_bundle: Path) -> None:
    raw = (hostile_bundle / VERIFY_MD).read_bytes()
    text = raw.decode("utf-8")  # strict: valid UTF-8
    for n, line in enumerate(text.split("\n"), 1):
        assert line.isprintable(), f"line {n} holds a raw control or format character: {line!r}"
    # commands hold no value from the ledger that failed its check
    for body in blocks(text, "sh"):
        assert "PWNED" not in body and "$(" not in body and "`" not in body, body
    # every hostile archive is named (escaped) in the text, with no command for it
    for name in HOSTILE_ARCHIVES:
        assert safe_stem(f"evidence/{name}") is None
        stem = archive_stem(name)
        assert md_code(f"evidence/{stem}.tar") in text
    assert text.count("is not a plain name") == len(HOSTILE_ARCHIVES)
    # parsed as Markdown, it holds no markup from the ledger and states the values as they
    # are printed (escaped, cut at LIMIT with a note)
    tokens = MD.parse(text)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
    assert not kinds & {"html_inline", "html_block", "link_open", "image", "s_open", "em_open"}
    shown = rendered_text(tokens)
    title = printable(f"Case {INJECT}{NASTY}{BIG}", font=None, limit=LIMIT)
    assert "[… cut: 10," in title and title in shown
    assert printable(f"INC{INJECT}{NASTY}", font=None, limit=LIMIT) in shown
    assert "$(touch PWNED) `id`; \\x1b[31m\\u200fEve*_<b>" in shown
    runs = [
        n
        for n, t in enumerate(tokens)
        if t.type == "heading_open"
        and t.tag == "h3"
        and tokens[n + 1].content != "The inventory of every artifact"
    ]
    assert len(runs) == 1 + len(HOSTILE_ARCHIVES)  # one heading per run, none from a value
    for n in runs[1:]:
        assert "$(touch PWNED)" in (tokens[n + 1].children or [])[0].content


def run_blocks(bundle: Path, home: Path) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
    """Run each ```sh block of the bundle's VERIFY.md with ``sh -e`` in the bundle folder, in
    order; check that it succeeds and prints the lines of the ```text block after it."""
    env = {**os.environ, "HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    found = BLOCKS.findall((bundle / VERIFY_MD).read_text(encoding="utf-8"))
    ran = []
    for (kind, body), (next_kind, expected) in zip(found, [*found[1:], ("", "")], strict=True):
        if kind != "sh":
            continue
        assert next_kind == "text", body
        r = subprocess.run(
            ["sh", "-e", "-c", body],
            cwd=bundle,
            env=env,
            capture_output=True,
            text=True,
            errors="backslashreplace",
            stdin=subprocess.DEVNULL,
        )
        ran.append((body, r))
        if body.strip() == "chainproof verify .":
            continue  # the caller checks this one: it fails for a bundle exported with force
        assert r.returncode == 0, f"{body}\n{r.stdout}\n{r.stderr}"
        out = r.stdout.splitlines()
        if body.startswith("sha256sum --strict -c "):
            # sha256sum prints odd names its own way; every file is listed and OK
            assert len(out) == len(expected.splitlines()), r.stdout
            assert all(line.endswith(": OK") for line in out), r.stdout
        else:
            for line in expected.splitlines():
                assert line in out, f"{body}\nexpected {line!r} in:\n{r.stdout}"
    return ran


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes()
        for p in root.rglob("*")
    }


def check_commands(bundle: Path, root: Path, identity: Identity) -> None:
    """Run the guide's commands on ``bundle`` with a home folder in ``root``: they succeed,
    and nothing changes under ``root`` but the guide's own helper files."""
    home = root / "reader-home"
    home.mkdir()
    before = tree(root)
    ran = run_blocks(bundle, home)
    final = ran[-1][1]
    assert final.returncode == 0 and "RESULT: VERIFIED" in final.stdout, final.stdout
    commands = "\n".join(body for body, _ in ran)
    for needed in (
        "sha256sum --strict -c SHA256SUMS",
        "-pubkey -noout",
        "tar -xf",
        "pdfsig",
        "pdfdetach -saveall",
    ):
        assert needed in commands
    assert list(root.rglob("PWNED")) == []
    assert not (Path.cwd() / "PWNED").exists()
    # the commands wrote only their helper files: one key, one folder for the plain archive
    work = home / "chainproof-check"
    helpers = {p.relative_to(root).as_posix() for p in work.rglob("*")}
    after = tree(root)
    assert {k: v for k, v in after.items() if k not in helpers} == before | {
        "reader-home/chainproof-check": None
    }
    top = sorted(p.name for p in work.iterdir())
    (plain_run,) = [p.name for p in work.iterdir() if p.is_dir() and p.name != "attached"]
    assert top == sorted([f"examiner-{identity.fingerprint[:16]}.pub", "attached", plain_run])
    # the report's attachments, saved by the inventory step, are the bundle's own files
    assert sorted(p.name for p in (work / "attached").iterdir()) == [
        "inventory.csv",
        "inventory.jsonl",
    ]
    assert (bundle / "evidence" / f"{plain_run}.tar").is_file()


@needs_tools
def test_every_command_of_a_hostile_verify_md_runs_and_does_nothing_else(
    hostile_bundle: Path, tmp_path: Path, eve: Identity
) -> None:
    check_commands(hostile_bundle, tmp_path, eve)


@needs_tools
@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is part of the dev setup")
def test_a_hostile_zip_bundle_unpacked_as_the_guide_says(
    report_module: None, tmp_path: Path, eve: Identity
) -> None:
    # a zip refuses member names with control characters (custody/bundle/safezip.py)
    archives = tuple(n for n in HOSTILE_ARCHIVES if n.isprintable())
    case = make_hostile_case(tmp_path / "case", eve, archives)
    received = tmp_path / "received"
    received.mkdir()
    assert export(case, eve, received / "BUNDLE.zip", as_zip=True).verified
    text = zipfile.ZipFile(received / "BUNDLE.zip").read(VERIFY_MD).decode("utf-8")
    (unpack,) = blocks(text, "console")  # "unzip BUNDLE.zip -d bundle", "cd bundle"
    r = subprocess.run(["sh", "-e", "-c", unpack], cwd=received, capture_output=True)
    assert r.returncode == 0, r.stderr
    check_commands(received / "bundle", tmp_path, eve)


@needs_tools
def test_a_fingerprint_that_is_not_hex_gets_no_command(
    forged_bundle: Path, tmp_path: Path, alice: Identity
) -> None:
    text = (forged_bundle / VERIFY_MD).read_text(encoding="utf-8")
    assert "FAILED verification" in text
    assert "This fingerprint is not 64 hexadecimal digits" in text
    assert md_code("$(touch PWNED)`touch PWNED`") in text
    for body in blocks(text, "sh"):
        assert "PWNED" not in body, body
    home = tmp_path / "reader-home"
    home.mkdir()
    ran = run_blocks(forged_bundle, home)
    assert ran[-1][1].returncode != 0  # chainproof verify reports the forged examiner
    assert list(tmp_path.rglob("PWNED")) == []
    work = home / "chainproof-check"
    assert [p.name for p in work.glob("*.pub")] == [f"examiner-{alice.fingerprint[:16]}.pub"]


def test_checks_of_command_values() -> None:
    assert safe_stem("evidence/0b1c-uuid_x.1.tar") == "0b1c-uuid_x.1"
    for bad in ("evidence/..tar", "evidence/.x.tar", "evidence/-x.tar", "evidence/a b.tar"):
        assert safe_stem(bad) is None
    assert safe_stem("evidence/\u0661.tar") is None  # a digit, but not ASCII
    fp = hashlib.sha256(b"x").hexdigest()
    assert safe_fingerprint(fp) == fp
    for bad in (fp.upper(), fp[:-1], fp + "0", f"{fp[:-1]}\n", f"{fp}\n"):
        assert safe_fingerprint(bad) is None


# --------------------------------------------------------------------------- properties

#: Pieces of hostile text, beside arbitrary characters (surrogates included).
PIECES = (
    "`",
    "``",
    "```",
    "\\",
    "*",
    "_",
    "[a](b)",
    "<b>",
    "&amp;",
    "#",
    "|",
    "~~",
    "$",
    "!",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\x00",
    "\u200f",
    "\u202e",
    "\u00a0",
    "\ud800",
    "\\xff",
    "\u05e9",
    "e\u0301",
    "\U0001f600",
)
HOSTILE_TEXT = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(st.characters(exclude_categories=()), max_size=8)),
    max_size=40,
).map("".join) | st.text(st.characters(exclude_categories=()), min_size=230, max_size=300)


def inline(src: str) -> list[Token]:
    tokens = MD.parse(src)
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], src
    return tokens[1].children or []


@settings(max_examples=400, deadline=None)
@given(HOSTILE_TEXT)
def test_md_text_reads_as_printable_text(value: str) -> None:
    shown = md_text(value)
    assert shown.isprintable()
    shown.encode("utf-8")
    want = printable(value, font=None, limit=LIMIT)
    children = inline(f"x {shown} y")
    assert [c.type for c in children] == ["text"], children
    assert children[0].content == f"x {want} y"
    (heading,) = [t for t in MD.parse(f"### Run {shown}") if t.type == "inline"]
    assert [c.type for c in heading.children or []] == ["text"]
    assert rendered_text([heading]) == f"Run {want}".rstrip(" ")  # CommonMark strips the end


@settings(max_examples=400, deadline=None)
@given(HOSTILE_TEXT)
def test_md_code_is_one_code_span_of_printable_text(value: str) -> None:
    code = md_code(value)
    assert code.isprintable()
    want = printable(value, font=None, limit=LIMIT)
    children = inline(f"x {code} y")
    if not want:
        assert code == "(empty)"
        return
    assert [c.type for c in children] == ["text", "code_inline", "text"], children
    assert children[1].content == want
