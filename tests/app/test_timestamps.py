"""RFC 3161 timestamps end to end, against a real local TSA (``openssl ts -reply``).

One case is made for the module through the real CLI with ``--tsa`` (case new, collect,
note, seal, export); the tests check it and damaged copies of its bundle with ``openssl
ts``, ``pdfsig`` and ``chainproof verify``. An unreachable TSA leaves the work done and the
entries untimestamped; ``chainproof timestamp`` then adds them, recorded as late.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from app.cases import open_case
from app.cli import main
from app.verification import verify_target
from custody.db.ledger import read_entries
from custody.record.events import Timestamped, parse
from custody.record.keys import Identity, save_identity
from tests.conftest import PASSPHRASE
from tests.tsa_server import Tsa, make_ca, run_tsa


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tsa]:
    with run_tsa(tmp_path_factory.mktemp("tsa")) as running:
        yield running


def _run(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@dataclass(frozen=True)
class Stamped:
    case: Path
    bundle: Path


@pytest.fixture(scope="module")
def stamped(
    tsa: Tsa, tmp_path_factory: pytest.TempPathFactory, alice_identity: Identity
) -> Iterator[Stamped]:
    """A case whose every command ran with ``--tsa``, and its exported bundle."""
    root = tmp_path_factory.mktemp("stamped")
    home = root / "home"
    home.mkdir()
    save_identity(alice_identity, home / "identity.p12", PASSPHRASE.encode())
    src = root / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha\n")
    (src / "sub" / "b.bin").write_bytes(os.urandom(3000))
    saved = {k: os.environ.get(k) for k in ("CHAINPROOF_HOME", "CHAINPROOF_PASSPHRASE")}
    os.environ.update(CHAINPROOF_HOME=str(home), CHAINPROOF_PASSPHRASE=PASSPHRASE)
    case, bundle = root / "case", root / "bundle"
    try:
        for argv in (
            ("case", "new", case, "--title", "Timestamped case"),
            ("collect", case, "--profile", "none", "--path", f"{src}/**", "--no-progress"),
            ("note", case, "looked at the host"),
            ("seal", case, "--reason", "collection complete"),
            ("export", case, "--out", bundle, "--no-progress"),
        ):
            code, _out, err = _run(*argv, "--tsa", tsa.url)
            assert code == 0, err
            assert "not timestamped" not in err
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield Stamped(case, bundle)


def _openssl_ts(data: Path, token: Path, ca: Path, *extra: str) -> str:
    done = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            str(data),
            "-in",
            str(token),
            "-CAfile",
            str(ca),
            *list(extra),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def _signed_seqs(bundle: Path) -> list[int]:
    return sorted(int(p.stem) for p in (bundle / "signatures").glob("*.json"))


def test_every_signed_entry_has_a_token_that_openssl_accepts(stamped: Stamped, tsa: Tsa) -> None:
    b = stamped.bundle
    seqs = _signed_seqs(b)
    assert len(seqs) >= 6  # case_opened, identity_added, run start/end, checkpoints, note, seal
    assert sorted(int(p.stem) for p in (b / "timestamps").glob("*.tsr")) == seqs
    for s in seqs:
        out = _openssl_ts(b / f"signatures/{s}.json", b / f"timestamps/{s}.tsr", tsa.ca_pem)
        assert out == "Verification: OK", s
    sums = (b / "SHA256SUMS").read_text()
    assert all(f"  timestamps/{s}.tsr\n" in sums for s in seqs)
    guide = (b / "VERIFY.md").read_text()
    assert "openssl ts -verify" in guide
    assert f"{seqs[-1]}: Verification: OK" in guide


def test_case_and_bundle_verify_with_every_token_checked(stamped: Stamped, tsa: Tsa) -> None:
    for target in (stamped.case, stamped.bundle):
        report = verify_target(target, tsa_ca=tsa.ca_pem)
        assert report.ok, report.render()
        t = report.timestamps
        assert t is not None
        assert t["untimestamped"] == 0 and t["stamped"] == t["signed_entries"] > 0
        assert str(tsa.ca_pem) in t["tsa_chain"]
    # The case kept stamping after the bundle was made: its export entries have tokens too.
    code, out, _err = _run("case", "show", stamped.case, "--json")
    counts = json.loads(out)["timestamps"]
    assert (
        code == 0
        and counts["untimestamped"] == 0
        and counts["stamped"] > len(_signed_seqs(stamped.bundle))
    )
    unchecked = verify_target(stamped.bundle)
    assert unchecked.ok and unchecked.timestamps is not None
    assert "not checked" in unchecked.timestamps["tsa_chain"]
    assert "not checked" in unchecked.render()


def test_the_report_pdf_is_pades_b_t(stamped: Stamped, tsa: Tsa, tmp_path: Path) -> None:
    pdf = stamped.bundle / "custody-report.pdf"
    text = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True).stdout
    assert "Signature is Valid." in text and "Total document signed" in text
    with pdf.open("rb") as f:
        sig = PdfFileReader(f).embedded_signatures[0]
        info = sig.signer_info
        attrs = {a["type"].native: a for a in info["unsigned_attrs"]}
        token = attrs["signature_time_stamp_token"]["values"][0]
        value = info["signature"].native
    (tmp_path / "token.der").write_bytes(token.dump())
    (tmp_path / "sigvalue").write_bytes(value)
    out = _openssl_ts(tmp_path / "sigvalue", tmp_path / "token.der", tsa.ca_pem, "-token_in")
    assert out == "Verification: OK"


def _copy(stamped: Stamped, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(stamped.bundle, copy)
    return copy


def _codes(report_findings: list[object]) -> dict[str, set[int | None]]:
    codes: dict[str, set[int | None]] = {}
    for f in report_findings:
        codes.setdefault(f.code, set()).add(f.seq)  # type: ignore[attr-defined]
    return codes


def test_tokens_swapped_between_entries_fail(stamped: Stamped, tsa: Tsa, tmp_path: Path) -> None:
    b = _copy(stamped, tmp_path)
    one, two = _signed_seqs(b)[:2]
    t1, t2 = b / f"timestamps/{one}.tsr", b / f"timestamps/{two}.tsr"
    d1, d2 = t1.read_bytes(), t2.read_bytes()
    for path, data in ((t1, d2), (t2, d1)):
        path.chmod(0o644)
        path.write_bytes(data)
    report = verify_target(b, tsa_ca=tsa.ca_pem)
    assert _codes(report.findings)["timestamp.imprint"] == {one, two}
    code, out, _err = _run("verify", b, "--tsa-ca", tsa.ca_pem, "--no-progress")
    assert code == 6 and f"timestamps/{one}.tsr: stamps other bytes" in out


def test_truncated_or_altered_tokens_fail(stamped: Stamped, tsa: Tsa, tmp_path: Path) -> None:
    b = _copy(stamped, tmp_path)
    one, two = _signed_seqs(b)[:2]
    cut, flip = b / f"timestamps/{one}.tsr", b / f"timestamps/{two}.tsr"
    data = cut.read_bytes()
    cut.chmod(0o644)
    cut.write_bytes(data[:-40])
    flipped = bytearray(flip.read_bytes())
    flipped[-1] ^= 0x01
    flip.chmod(0o644)
    flip.write_bytes(bytes(flipped))
    codes = _codes(verify_target(b, tsa_ca=tsa.ca_pem).findings)
    assert codes["timestamp.invalid"] == {one, two}


def test_a_wrong_tsa_ca_fails(stamped: Stamped, tmp_path: Path) -> None:
    make_ca(tmp_path, "Some Other CA")
    report = verify_target(stamped.bundle, tsa_ca=tmp_path / "Some Other CA.pem")
    assert set(_codes(report.findings)) == {"timestamp.chain"}
    assert _codes(report.findings)["timestamp.chain"] == set(_signed_seqs(stamped.bundle))


def test_an_unreachable_tsa_leaves_entries_untimestamped_until_chainproof_timestamp(
    tsa: Tsa, tmp_path: Path, alice: Identity
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/tsa"  # nothing listens once closed
    case = tmp_path / "case"
    code, _out, err = _run("case", "new", case, "--title", "Offline", "--tsa", dead)
    assert code == 0 and "not timestamped" in err and "could not be reached" in err
    code, _out, err = _run("note", case, "written while the TSA was down", "--tsa", dead)
    assert code == 0 and "chainproof timestamp" in err
    assert not (case / "timestamps").exists()
    code, out, _err = _run("case", "show", case)
    assert code == 0 and "0 of 3 signed entries have an RFC 3161 token; 3 untimestamped" in out
    report = verify_target(case, tsa_ca=tsa.ca_pem)
    assert report.ok and report.timestamps is not None
    assert report.timestamps["untimestamped_entries"] == [1, 2, 3]
    assert (
        "  timestamps: none (no RFC 3161 token for any of the 3 signed entries; "
        "'chainproof timestamp CASE' adds them)"
    ) in report.render().splitlines()

    code, out, err = _run("timestamp", case, "--tsa", tsa.url)
    assert code == 0, err
    assert "Timestamped 3 signed entries late; recorded as ledger entry 4" in out
    handle = open_case(case)
    act = parse(next(iter(read_entries(handle.sessions, handle.case_id, seqs=[4]))))
    assert isinstance(act, Timestamped) and act.seqs == (1, 2, 3) and act.tsa == tsa.url
    assert sorted(p.name for p in (case / "timestamps").iterdir()) == [
        "1.tsr",
        "2.tsr",
        "3.tsr",
        "4.tsr",  # the 'timestamped' entry itself, stamped as it was written
    ]
    report = verify_target(case, tsa_ca=tsa.ca_pem)
    assert report.ok, report.render()
    assert report.timestamps is not None
    assert report.timestamps["late"] == 3 and report.timestamps["untimestamped"] == 0
    assert "  timestamps: 4 of 4 signed entries have an RFC 3161 token (3 added late" in (
        report.render()
    )
    code, out, _err = _run("timestamp", case, "--tsa", tsa.url)
    assert code == 0 and "nothing to do" in out
    code, _out, err = _run("timestamp", case, "--tsa", dead)
    assert code == 0  # nothing is missing, so the authority is not asked
