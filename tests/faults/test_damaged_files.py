"""Damaged files, as bad media, a crash or a careless hand leave them, under the real CLI.

Each file a command reads is damaged in many ways: single bytes flipped, the file cut short at
random lengths, blocks of random bytes written over it (4 KiB in case.db), deleted, replaced by
a directory, a FIFO, an empty file or a file of another kind, made unreadable. The commands
that read it then run as a real process would (``app.cli.main`` in a forked child: own
stdout and stderr, no terminal, a time limit). For every damage and command:

- no traceback, ever, and no hang;
- the exit code is one the README documents; any exit but 0 and 6 comes with one line on
  stderr naming the damaged file (an identity file that cannot be parsed is never called a
  wrong passphrase);
- ``verify --json`` prints valid JSON; exit 6 has findings, each naming its place;
- exit 0 only when the damage provably changes nothing: case.json parses to the same value,
  a case.db that verifies shows the same case, a certificate file holds the same certificate
  (or is the case's copy, deleted: the ledger holds the certificate). A bundle's files are
  all hashed into its signed SHA256SUMS (or are that file or its signature): any damage to
  one is exit 6 with a finding that names it.

Mode 0000 is made to count as root too: the child drops CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH. The default run makes ``CHAINPROOF_DAMAGE`` (100) random damages over
all kinds, plus the fixed ones (deleted, directory, FIFO, ...): every one on each file a
command reads first, in turn on a bundle's other kinds of file. The long run (every fixed
damage on every kind of file from 1,000 on)::

    CHAINPROOF_DAMAGE=3000 .venv/bin/python -m pytest -q -p no:cacheprovider \\
        tests/faults/test_damaged_files.py

``CHAINPROOF_DAMAGE_SEED`` picks another sequence (the seed is in every failure message);
``CHAINPROOF_DAMAGE_TIME`` the seconds after which a command counts as hung (60).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import io
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.cases import create_case
from app.collection import CollectionRun
from app.journal import add_journal_entry
from app.profiles import load_profile
from custody.errors import ChainproofError
from custody.record.keys import Identity, save_identity
from custody.record.regular import read_regular
from tests.app.conftest import make_tree
from tests.conftest import PASSPHRASE

DAMAGE = int(os.environ.get("CHAINPROOF_DAMAGE", "100"))
SEED = int(os.environ.get("CHAINPROOF_DAMAGE_SEED", "20261213"))
#: Seconds a command may take before it counts as hung.
TIME_LIMIT = int(os.environ.get("CHAINPROOF_DAMAGE_TIME", "60"))
#: Exit codes of the README's table, but 1 (an unexpected error: a traceback) and 130.
DOCUMENTED = {0, 2, 3, 4, 5, 6, 7}
#: How each file kind's share of the random damages is weighted.
WEIGHTS = {"case.json": 2, "case.db": 2, "identity": 1, "bundle": 6}
#: From this many random damages on, every fixed damage hits every kind of bundle file.
EVERY_FIXED = 1000
RANDOM_KINDS = ("flip", "truncate", "block")
FIXED_KINDS = ("delete", "directory", "fifo", "empty", "foreign", "unreadable")


# --- running the CLI as a process would ----------------------------------------------


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"chainproof {' '.join(self.args)} -> {self.code}\nstdout: {self.out}\nstderr: {self.err}"


def _drop_file_access_override() -> None:
    """As root, stop bypassing file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a
    mode 0000 file is unreadable, as for any examiner; the interpreter stays readable."""
    if os.geteuid() != 0:
        return

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[0].effective &= ~((1 << 1) | (1 << 2))
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def chainproof(*args: str | Path) -> Result:
    """``chainproof ARGS`` in a forked child of this (already importing) interpreter: stdin
    from /dev/null, stdout and stderr its own, ``TIME_LIMIT`` seconds at most. An uncaught
    exception prints its traceback and exits 1, as the interpreter would."""
    argv = [str(a) for a in args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
                signal.alarm(TIME_LIMIT)  # the default action ends the process
                _drop_file_access_override()
                from app.cli import main

                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
            except BaseException:
                traceback.print_exc()
            finally:
                with contextlib.suppress(OSError, ValueError):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return Result(
            tuple(argv),
            os.waitstatus_to_exitcode(status),
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


# --- damages -------------------------------------------------------------------------


@dataclass(frozen=True)
class Damage:
    """One damage to one file: ``name`` relative to its root."""

    name: str
    how: str  # flip, truncate, block, or one of FIXED_KINDS
    at: int = 0
    data: bytes = b""  # flip: the mask; block and foreign: the bytes written

    def __str__(self) -> str:
        if self.how == "flip":
            return f"{self.name}: byte {self.at} ^ {self.data[0]:#04x}"
        if self.how == "truncate":
            return f"{self.name}: cut to {self.at} bytes"
        if self.how == "block":
            return f"{self.name}: {len(self.data)} random bytes at {self.at}"
        return f"{self.name}: {self.how}"

    def apply(self, root: Path) -> None:
        path = root / self.name
        if self.how in ("flip", "block"):
            path.chmod(0o644)
            with open(path, "r+b") as f:
                f.seek(self.at)
                old = f.read(len(self.data))
                new = bytes(a ^ b for a, b in zip(old, self.data, strict=True))
                f.seek(self.at)
                f.write(new if self.how == "flip" else self.data)
        elif self.how == "truncate":
            path.chmod(0o644)
            os.truncate(path, self.at)
        elif self.how == "unreadable":
            path.chmod(0)
        else:
            path.unlink()
            if self.how == "directory":
                path.mkdir()
            elif self.how == "fifo":
                os.mkfifo(path)
            elif self.how in ("empty", "foreign"):
                path.write_bytes(self.data)


def random_damage(rng: random.Random, name: str, size: int, block: int) -> Damage:
    how = rng.choice(RANDOM_KINDS)
    if how == "flip":
        return Damage(name, how, rng.randrange(size), bytes([rng.randrange(1, 256)]))
    if how == "truncate":
        return Damage(name, how, rng.randrange(size))
    length = min(block, size)
    return Damage(name, how, rng.randrange(size - length + 1), rng.randbytes(length))


def fixed_damages(name: str, foreign: bytes, kinds: Sequence[str] = FIXED_KINDS) -> list[Damage]:
    return [Damage(name, how, data=foreign if how == "foreign" else b"") for how in kinds]


def random_damages(kind: str, files: dict[str, int], block: int = 512) -> list[Damage]:
    """This kind's share of ``DAMAGE`` over ``files`` ({name: size}), each file chosen in
    proportion to its size (a small one as if it had a quarter of the mean size)."""
    total = sum(WEIGHTS.values())
    count = max(len(files), DAMAGE * WEIGHTS[kind] // total)
    rng = random.Random(f"{SEED}-{kind}")
    names = sorted(files)
    weights = [max(files[n], sum(files.values()) // (4 * len(files))) for n in names]
    return [
        random_damage(rng, name, files[name], block)
        for name in rng.choices(names, weights, k=count)
    ]


# --- what is acceptable ---------------------------------------------------------------


@dataclass
class Tally:
    """What the commands did over one kind of file: exit codes, and every broken rule."""

    kind: str
    damages: int = 0
    codes: dict[int, int] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)

    def check(self, result: Result, damage: Damage, names: Sequence[str]) -> bool:
        """The rules every command obeys on a damaged file (see the module docstring);
        False when one is broken (it is kept in ``problems``)."""
        self.codes[result.code] = self.codes.get(result.code, 0) + 1
        where = f"{damage} (seed {SEED}): {result}"
        if result.code < 0:
            return self.fail(f"{where}\n  killed by signal {-result.code} (hung?)")
        if "Traceback" in result.err + result.out:
            return self.fail(f"{where}\n  a traceback")
        if result.code not in DOCUMENTED:
            return self.fail(f"{where}\n  an undocumented exit code")
        if result.code in (0, 6):
            return True
        lines = result.err.splitlines()
        refusal = result.args[0] == "export" and result.code == 7 and len(lines) > 1
        if (
            refusal
            and lines[0].startswith("chainproof: the case at ")
            and ("fails verification" in lines[0])
        ):
            return True  # the refusal lists verify's findings, one a line: they name places
        if len(lines) != 1 or not lines[0].startswith("chainproof: "):
            return self.fail(f"{where}\n  not one line on stderr")
        if not any(n in lines[0] for n in names):
            return self.fail(f"{where}\n  the message names none of {list(names)}")
        return True

    def findings(
        self, result: Result, damage: Damage, names: Sequence[str] = ()
    ) -> list[dict[str, Any]] | None:
        """``verify --json``'s findings, when its output is valid JSON whose ``ok`` matches
        the exit code and, with ``names``, a finding names one of them."""
        where = f"{damage} (seed {SEED}): {result}"
        try:
            doc = json.loads(result.out)
        except ValueError as exc:
            self.fail(f"{where}\n  not JSON: {exc}")
            return None
        found = list(doc["findings"])
        if doc["ok"] is not (result.code == 0):
            self.fail(f"{where}\n  ok is {doc['ok']}, the exit code {result.code}")
        elif result.code == 6 and not all(f["code"] and f["where"] and f["message"] for f in found):
            self.fail(f"{where}\n  a finding without code, place or message")
        elif (
            names
            and found
            and not any(n in f["where"] + f["message"] for f in found for n in names)
        ):
            self.fail(f"{where}\n  no finding names {list(names)}")
        return found

    def fail(self, problem: str) -> bool:
        self.problems.append(problem)
        return False

    def done(self) -> None:
        print(
            f"{self.kind}: {self.damages} damages, exit codes {sorted(self.codes.items())}, "
            f"{len(self.problems)} problems"
        )
        shown = "\n\n".join(self.problems[:12])
        assert not self.problems, f"{len(self.problems)} problems, the first:\n{shown}"


# --- the pristine files ----------------------------------------------------------------


@dataclass(frozen=True)
class Pristine:
    base: Path
    case: Path  # a case directory: a run, a note
    src: Path  # a tree to collect
    bundle: Path  # the case exported as a directory
    p12: bytes  # Alice's identity file, PASSPHRASE
    bob_p12: bytes  # Bob's, for a transfer


@pytest.fixture(scope="module")
def pristine(
    tmp_path_factory: pytest.TempPathFactory, alice_identity: Identity, bob_identity: Identity
) -> Pristine:
    pytest.importorskip("custody.report.build", reason="the PDF report module is not there")
    base = tmp_path_factory.mktemp("damage")
    base.chmod(0o755)
    src = make_tree(
        base / "src", {"a.txt": b"alpha\n", "d/b.bin": random.Random(3).randbytes(9000)}
    )
    case = create_case(base / "case", alice_identity, title="Damage", incident_ref="INC-D")
    profile = load_profile("none").with_paths([f"{src}/**"])
    assert CollectionRun(case, alice_identity, profile).execute().status == "finished"
    add_journal_entry(case, alice_identity, kind="note", text="before the damage")
    from app.export_service import export_case

    export_case(case, alice_identity, base / "bundle")
    case.sessions.kw["bind"].dispose()
    p12 = {}
    for who, identity in (("alice", alice_identity), ("bob", bob_identity)):
        save_identity(identity, base / f"{who}.p12", PASSPHRASE.encode())
        p12[who] = (base / f"{who}.p12").read_bytes()
    gc.collect()
    return Pristine(base, case.root, src, base / "bundle", p12["alice"], p12["bob"])


@pytest.fixture
def home(pristine: Pristine, chainproof_home: Path) -> Path:
    """This test's examiner home with Alice's identity; the commands imported once (in
    this process, on a copy), so that each forked child starts at once."""
    (chainproof_home / "identity.p12").write_bytes(pristine.p12)
    warm = pristine.base / "warm"
    if not warm.exists():
        shutil.copytree(pristine.case, warm / "case")
        shutil.copytree(pristine.bundle, warm / "bundle")
        from app.cli import main

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            for args in (
                ["keys", "show", "--unlock"],
                ["case", "show", str(warm / "case")],
                ["verify", str(warm / "case"), "--json"],
                ["verify", str(warm / "bundle"), "--json"],
                ["note", str(warm / "case"), "warm"],
            ):
                assert main(args) == 0, args
        gc.collect()
    return chainproof_home


def fresh(src: Path, dst: Path) -> Path:
    """A new copy of ``src`` at ``dst`` (the same path each time: paths are shown)."""
    if dst.exists():
        shutil.rmtree(dst)  # a file of mode 0000 goes too: its directory is writable
    shutil.copytree(src, dst)
    return dst


def sizes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --- the tests -------------------------------------------------------------------------


def act(pristine: Pristine, case: Path, out: Path, n: int) -> list[str | Path]:
    """The commands that write to a case, in turn (an export, slow, every fourth)."""
    return [
        ["collect", case, "--profile", "none", "--path", f"{pristine.src}/**", "--json"],
        ["note", case, "after the damage"],
        ["export", case, "--out", out, "--json"],
        ["note", case, "after the damage"],
    ][n % 4]


def _same_json(path: Path, original: bytes) -> bool:
    try:
        return bool(json.loads(read_regular(path)) == json.loads(original))
    except (OSError, ValueError):
        return False


def test_damaged_case_json(pristine: Pristine, home: Path, tmp_path: Path) -> None:
    """case.json: each damage fails with one line naming it (exit 3), or verify reports the
    case database it names (exit 6), or changes nothing case.json says."""
    original = (pristine.case / "case.json").read_bytes()
    damages = [
        *fixed_damages("case.json", os.urandom(200)),
        Damage("case.json", "foreign", data=b'["chainproof-case/1"]\n'),
        Damage("case.json", "foreign", data=b'{"format": "chainproof-case/1"}\n'),
        Damage("case.json", "foreign", data=original.replace(b'"case.db"', b'"evidence"')),
        Damage("case.json", "foreign", data=original.replace(b'"case.db"', b"7")),
        *random_damages("case.json", {"case.json": len(original)}, block=16),
    ]
    tally = Tally("case.json")
    for n, damage in enumerate(damages):
        case = fresh(pristine.case, tmp_path / "case")
        damage.apply(case)
        same = _same_json(case / "case.json", original)
        tally.damages += 1
        commands = [["case", "show", case, "--json"], ["verify", case, "--json"]]
        if n % 3 == 0:  # most damages stop at case.json, whatever the command
            commands.append(act(pristine, case, tmp_path / f"out{n}", n // 3))
        for args in commands:
            result = chainproof(*args)
            if not tally.check(result, damage, ["case.json", "case.db"]):
                continue
            if result.code == 0 and not same:
                tally.fail(f"{damage} (seed {SEED}): {result}\n  passed a changed case.json")
            if args[0] == "verify" and result.code in (0, 6):
                tally.findings(result, damage)
    tally.done()


def test_damaged_case_db(pristine: Pristine, home: Path, tmp_path: Path) -> None:
    """case.db cut short, overwritten with 4 KiB of random bytes, replaced by something else:
    one line naming it (exit 3), or verify's findings (exit 6); a case.db that still verifies
    shows the same case. (Single-bit flips: tests/app/test_random_flips.py.)"""
    size = (pristine.case / "case.db").stat().st_size
    rng = random.Random(f"{SEED}-case.db-fixed")
    damages = [
        *fixed_damages("case.db", b"not a database\n" * 300),
        Damage("case.db", "foreign", data=b"SQLite format 3\0" + rng.randbytes(size - 16)),
        Damage("case.db", "foreign", data=(pristine.case / "case.json").read_bytes()),
        Damage("case.db", "block", size // 2 - 2048, rng.randbytes(4096)),  # the middle
        Damage("case.db", "block", 0, rng.randbytes(4096)),  # the header page
        Damage("case.db", "truncate", 100),  # inside the header
        Damage("case.db", "truncate", size - 4096),  # the last page
        *[
            Damage(d.name, "truncate" if d.how == "flip" else d.how, d.at, d.data)
            for d in random_damages("case.db", {"case.db": size}, block=4096)
        ],
    ]
    clean = fresh(pristine.case, tmp_path / "case")
    expected = chainproof("case", "show", clean, "--json")
    assert expected.code == 0, expected
    tally = Tally("case.db")
    for n, damage in enumerate(damages):
        case = fresh(pristine.case, tmp_path / "case")
        damage.apply(case)
        tally.damages += 1
        show = chainproof("case", "show", case, "--json")
        verified = chainproof("verify", case, "--json")
        results = [show, verified]
        if n % 2 == 0:
            results.append(chainproof(*act(pristine, case, tmp_path / f"out{n}", n // 2)))
        for result in results:
            tally.check(result, damage, ["case.db"])
        if verified.code in (0, 6):
            tally.findings(verified, damage)
        if verified.code == 0 and (show.code, show.out) != (0, expected.out):
            tally.fail(f"{damage} (seed {SEED}): {verified}\n  verified, but shows {show}")
    tally.done()


def test_damaged_identity_files(
    pristine: Pristine, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The examiner's identity.p12, a receiving examiner's .p12, a certificate given with
    --trust and the case's copy of a certificate (identities/FP.pem)."""
    alice_pem = next((pristine.case / "identities").glob("*.pem"))
    p12 = {"identity.p12": len(pristine.p12)}
    damages = [
        *[
            Damage(f"home/{d.name}", d.how, d.at, d.data)
            for d in [
                *fixed_damages("identity.p12", pristine.p12[:600] + bytes(600)),
                *random_damages("identity", p12, block=64),
            ]
        ],
        # read as identity.p12 is, and as the case's certificate is: fewer fixed damages
        *fixed_damages("bob/bob.p12", b"\x30\x82" + os.urandom(900), ("fifo", "foreign")),
        *fixed_damages(
            "trust/alice.pem",
            alice_pem.read_bytes().replace(b"A", b"B"),
            ("delete", "directory", "fifo", "foreign"),
        ),
        *fixed_damages(f"case/identities/{alice_pem.name}", b"-----BEGIN CERTIFICATE-----\n"),
    ]
    rng = random.Random(f"{SEED}-pem")
    pem_size = alice_pem.stat().st_size
    for name in ("bob/bob.p12", "trust/alice.pem", f"case/identities/{alice_pem.name}"):
        size = len(pristine.bob_p12) if name.endswith(".p12") else pem_size
        damages += [random_damage(rng, name, size, 32) for _ in range(max(2, DAMAGE // 50))]
    monkeypatch.setenv("CHAINPROOF_TO_PASSPHRASE", PASSPHRASE)
    tally = Tally("identity files")
    for damage in damages:
        root = tmp_path / "w"
        if root.exists():
            shutil.rmtree(root)
        case = fresh(pristine.case, root / "case")
        (root / "home").mkdir()
        (root / "home" / "identity.p12").write_bytes(pristine.p12)
        (root / "bob").mkdir()
        (root / "bob" / "bob.p12").write_bytes(pristine.bob_p12)
        (root / "trust").mkdir()
        shutil.copy(alice_pem, root / "trust" / "alice.pem")
        damage.apply(root)
        tally.damages += 1
        monkeypatch.setenv("CHAINPROOF_HOME", str(root / "home"))
        name = damage.name.rsplit("/", 1)[-1]
        if damage.name.startswith("home/"):
            commands = [["keys", "show", "--unlock", "--json"]]
            if damage.how in FIXED_KINDS:
                commands.append(["note", case, "signed with a damaged key"])
        elif damage.name.startswith("bob/"):
            commands = [
                [
                    "transfer",
                    case,
                    "--to",
                    root / "bob" / "bob.p12",
                    "--reason",
                    "r",
                    "--location",
                    "l",
                ]
            ]
        elif damage.name.startswith("trust/"):
            commands = [["verify", case, "--json", "--trust", root / "trust" / "alice.pem"]]
        else:
            commands = [["verify", case, "--json"], ["case", "show", case, "--json"]]
        for args in commands:
            result = chainproof(*args)
            if not tally.check(result, damage, [name]):
                continue
            if args[0] == "verify" and result.code in (0, 6):
                tally.findings(result, damage, [] if "trust" in damage.name else [name])
            # The case's copy of a certificate may go: the ledger holds the certificate.
            changed = damage.name.endswith(".p12") or not (
                _same_certificate(root / damage.name, alice_pem)
                or (damage.name.startswith("case/") and damage.how == "delete")
            )
            if result.code == 0 and args[0] != "case" and changed:
                tally.fail(f"{damage} (seed {SEED}): {result}\n  passed a changed file")
            if "wrong passphrase" in result.err:
                tally.fail(f"{damage} (seed {SEED}): {result}\n  damage called a wrong passphrase")
    tally.done()


def _same_certificate(path: Path, original: Path) -> bool:
    from custody.record.keys import load_certificate_pem

    try:
        return load_certificate_pem(read_regular(path)) == load_certificate_pem(
            original.read_bytes()
        )
    except (OSError, ChainproofError):
        return False


def test_wrong_passphrase_and_damaged_key_file_say_different_things(
    pristine: Pristine, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINPROOF_PASSPHRASE", "not the passphrase")
    wrong = chainproof("keys", "show", "--unlock")
    assert wrong.code == 5 and wrong.err.startswith("chainproof: wrong passphrase for ")
    assert len(wrong.err.splitlines()) == 1 and "identity.p12" in wrong.err
    monkeypatch.setenv("CHAINPROOF_PASSPHRASE", PASSPHRASE)
    key = home / "identity.p12"
    for at in (len(pristine.p12) // 2, len(pristine.p12) - 40):  # the key bag, the MAC
        key.write_bytes(pristine.p12[:at] + bytes([pristine.p12[at] ^ 1]) + pristine.p12[at + 1 :])
        damaged = chainproof("keys", "show", "--unlock")
        assert damaged.code == 5, damaged
        assert "damaged" in damaged.err and "wrong passphrase" not in damaged.err, damaged
        assert len(damaged.err.splitlines()) == 1 and "identity.p12" in damaged.err


def bundle_damages(files: dict[str, int]) -> list[Damage]:
    """The fixed damages on one file of each kind (signatures/1.json, signatures/1-1.sig,
    ...): all of them on the files verify reads first, in turn on the others (all on all
    from ``EVERY_FIXED`` random damages on); then the random damages."""
    kinds: dict[str, str] = {}
    for name in sorted(files):
        kind = name.split("/")[0] + os.path.splitext(name)[1] if "/" in name else name
        kinds.setdefault(kind, name)
    rng = random.Random(f"{SEED}-bundle-fixed")
    damages = []
    for i, name in enumerate(sorted(kinds.values())):
        for j, how in enumerate(FIXED_KINDS):
            every = DAMAGE >= EVERY_FIXED or name in ("ledger.jsonl", "manifest.json", "SHA256SUMS")
            if every or (i + j) % 3 == 0:
                data = rng.randbytes(64) if how == "foreign" else b""
                damages.append(Damage(name, how, data=data))
    return damages + random_damages("bundle", files)


def test_damaged_bundle_directory(pristine: Pristine, home: Path, tmp_path: Path) -> None:
    """Every file of an exported bundle directory: ``verify --json`` exits 6 with valid JSON
    and a finding that names the file, for every damage (every file is hashed into the
    signed SHA256SUMS, or is that file or its signature)."""
    tally = Tally("bundle directory")
    for damage in bundle_damages(sizes(pristine.bundle)):
        bundle = fresh(pristine.bundle, tmp_path / "bundle")
        damage.apply(bundle)
        tally.damages += 1
        result = chainproof("verify", bundle, "--json")
        if not tally.check(result, damage, [damage.name]):
            continue
        if result.code != 6:
            tally.fail(f"{damage} (seed {SEED}): {result}\n  not exit 6")
            continue
        tally.findings(result, damage, [damage.name.rsplit("/", 1)[-1]])
    tally.done()
