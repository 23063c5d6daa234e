"""Single-byte flips over a case's archive and its case.db, as an adversary or bad media would.

Every flip must either be reported by ``chainproof verify`` (exit 6, each finding naming its
place) or change nothing that a command or an export shows. Zero tracebacks. The default run
makes ``CHAINPROOF_FLIPS`` flips (150); the documented long run is::

    CHAINPROOF_FLIPS=5000 .venv/bin/python -m pytest -q tests/app/test_random_flips.py

``CHAINPROOF_FLIP_SEED`` picks another sequence (the seed is printed on failure).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import browse
from app.cases import open_case, summary
from app.cli import main
from app.collection import CollectionRun
from app.journal import add_journal_entry, record_access, record_transfer
from app.profiles import load_profile
from app.verification import verify_case
from custody.db.ledger import read_entries
from custody.record.canonical import canonical_json
from custody.record.keys import Identity
from tests.app.conftest import make_tree

FLIPS = int(os.environ.get("CHAINPROOF_FLIPS", "150"))
SEED = int(os.environ.get("CHAINPROOF_FLIP_SEED", "20261201"))


@pytest.fixture(scope="module")
def pristine(
    tmp_path_factory: pytest.TempPathFactory, alice_identity: Identity, bob_identity: Identity
) -> Path:
    """A small real case: files of every kind the store handles, custody acts, a signed verify."""
    base = tmp_path_factory.mktemp("flips")
    tree = make_tree(
        base / "src",
        {
            "a.txt": b"alpha\n",
            "dir/big.bin": random.Random(1).randbytes(300_000),  # streamed, not in the ring
            "dir/empty": b"",
            "dir/name with space.txt": b"space\n",
            "dir/" + os.fsdecode(b"caf\xe9.txt"): b"latin-1 name\n",
            "dir/" + "x" * 120 + ".txt": b"long name\n",
        },
    )
    os.symlink("../a.txt", tree / "dir" / "link")
    os.setxattr(tree / "a.txt", "user.note", b"flip test")
    from app.cases import create_case

    case = create_case(base / "case", alice_identity, title="Flips", incident_ref="INC-F")
    profile = load_profile("none").with_paths([f"{tree}/**"])
    assert CollectionRun(case, alice_identity, profile).execute().status == "finished"
    add_journal_entry(case, alice_identity, kind="decision", text="keep it", reason="evidence")
    record_access(case, alice_identity, purpose="review", artifacts=[f"files{tree / 'a.txt'}"])
    record_transfer(case, alice_identity, bob_identity, reason="hand-over", location="lab")
    report = verify_case(case, sign_with=alice_identity)
    assert report.ok, report.render()
    case.sessions.kw["bind"].dispose()
    return case.root


def _cli(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


def _view(root: Path) -> str:
    """A digest of what a person is shown: case show, every listing row and detail, the
    ledger's rows and entries (an export is made from those entries and the archives)."""
    case = open_case(root)
    try:
        h = hashlib.sha256()
        h.update(json.dumps(summary(case), sort_keys=True, default=str).encode())
        keys = browse.artifact_keys(case, browse.ArtifactFilter())
        for key, row in sorted(browse.artifact_rows(case, keys).items()):
            h.update(repr(row).encode())
            h.update(json.dumps(browse.artifact_details(case, key), default=str).encode())
        seqs = browse.ledger_keys(case, include_bulk=True)
        h.update(repr(sorted(browse.ledger_rows(case, seqs).items())).encode())
        for e in read_entries(case.sessions, case.case_id):
            h.update(canonical_json(e.to_json()))
        return h.hexdigest()
    finally:
        case.sessions.kw["bind"].dispose()


def _targets(root: Path) -> list[Path]:
    return [root / "case.db", *sorted((root / "evidence").glob("*.tar"))]


def _flips(root: Path) -> Iterator[tuple[str, int, int]]:
    rng = random.Random(SEED)
    sizes = {p.relative_to(root).as_posix(): p.stat().st_size for p in _targets(root)}
    names = sorted(sizes)
    for _ in range(FLIPS):
        name = rng.choice(names)
        yield name, rng.randrange(sizes[name]), 1 << rng.randrange(8)


def test_every_flip_is_reported_or_changes_nothing_shown(pristine: Path, tmp_path: Path) -> None:
    work = tmp_path / "case"  # every copy lives here: the path is part of what is shown
    shutil.copytree(pristine, work)
    expected = _view(work)
    caught = unchanged = 0
    for n, (name, offset, bit) in enumerate(_flips(pristine)):
        where = f"flip {n} (seed {SEED}): {name} byte {offset} bit {bit:#04x}"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(pristine, work)
        target = work / name
        target.chmod(0o644)
        with open(target, "r+b") as f:
            f.seek(offset)
            byte = f.read(1)[0]
            f.seek(offset)
            f.write(bytes([byte ^ bit]))
        try:
            code, text = _cli("verify", str(work), "--json")
        except Exception as exc:  # a traceback is a bug: say which flip made it
            raise AssertionError(f"{where}: verify raised {exc!r}") from exc
        if code == 6:
            doc = json.loads(text[: text.rindex("}") + 1])
            assert doc["findings"], where
            assert all(f["where"] and f["code"] for f in doc["findings"]), where
            caught += 1
        else:
            assert code == 0, f"{where}: verify exited {code}: {text}"
            # Every byte of a sealed run archive is bound: a flip there never passes.
            assert not name.endswith(".tar"), f"{where}: an archive flip passed verification"
            assert _view(work) == expected, f"{where}: verify passed but what is shown changed"
            unchanged += 1
    assert caught + unchanged == FLIPS
    print(f"{FLIPS} flips (seed {SEED}): {caught} reported, {unchanged} changed nothing shown")
