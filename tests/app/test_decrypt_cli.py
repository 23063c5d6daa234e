"""An exported bundle encrypted to an RSA-3072 and a P-256 recipient: opened by ``openssl cms
-decrypt`` and by ``chainproof decrypt`` for each, and the result passes ``chainproof verify``;
a wrong key, a truncated file and flipped bytes each end in a one-line error with the exit
code of the CLI's table, never in a bundle that verifies."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.cases import create_case
from app.cli import main
from app.collection import CollectionRun
from app.encryption import encrypt_bundle, read_recipient
from app.export_recovery import recover_exports
from app.export_service import export_case
from app.progress import DecryptProgress
from app.stop_points import STOP_AT
from collectors.profiles import load_profile
from custody.errors import UsageError
from custody.record.keys import Identity, create_identity, save_identity
from tests.app.conftest import make_tree
from tests.conftest import PASSPHRASE
from tests.custody.envelope.conftest import self_signed
from tests.stopped import wait_stopped

CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MIB = 1 << 20
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@dataclass(frozen=True)
class Recipient:
    identity: Identity
    p12: Path
    cert_pem: Path
    key_pem: Path


@dataclass(frozen=True)
class Sealed:
    zip: Path
    p7m: Path
    rsa: Recipient
    p256: Recipient
    outsider: Recipient


def _recipient(d: Path, name: str, identity: Identity) -> Recipient:
    p12 = d / f"{name}.p12"
    save_identity(identity, p12, PASSPHRASE.encode())
    cert_pem = d / f"{name}.pem"
    cert_pem.write_bytes(identity.certificate.public_bytes(serialization.Encoding.PEM))
    key_pem = d / f"{name}.key"
    key_pem.write_bytes(
        identity.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Recipient(identity, p12, cert_pem, key_pem)


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, alice_identity: Identity) -> Sealed:
    """Once per module: a real case collected and exported as a zip, the zip encrypted to
    an RSA-3072 and a P-256 recipient (each a PKCS#12 identity made here)."""
    base = tmp_path_factory.mktemp("sealed")
    tree = make_tree(
        base / "src",
        {"a.txt": b"alpha\n", "b/c.bin": os.urandom(40_000), "b/d.log": b"line\n" * 300},
    )
    case = create_case(base / "case", alice_identity, title="Sealed", incident_ref="INC-19")
    profile = load_profile("none").with_paths([f"{tree}/**"])
    assert CollectionRun(case, alice_identity, profile).execute().status == "finished"
    result = export_case(case, alice_identity, base / "B.zip", as_zip=True)
    case.sessions.kw["bind"].dispose()
    key = rsa.generate_private_key(65537, 3072)
    rsa_identity = Identity(key=key, certificate=self_signed(key, "Legal RSA"))
    keys = base / "keys"
    keys.mkdir()
    rsa_r = _recipient(keys, "rsa", rsa_identity)
    p256_r = _recipient(keys, "p256", create_identity("Legal P256", "Firm", "p@firm.example"))
    outsider = _recipient(keys, "outsider", create_identity("Outsider", "Else", "o@x.example"))
    certs = [read_recipient(rsa_r.cert_pem), read_recipient(p256_r.cert_pem)]
    env = encrypt_bundle(result.path, certs, base / "B.zip.p7m")
    assert env.fingerprints == (rsa_identity.fingerprint, p256_r.identity.fingerprint)
    return Sealed(result.path, env.path, rsa_r, p256_r, outsider)


def cli(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@needs_openssl
@pytest.mark.parametrize("who", ["rsa", "p256"])
def test_openssl_and_chainproof_open_it_and_it_verifies(
    sealed: Sealed, tmp_path: Path, who: str
) -> None:
    r: Recipient = getattr(sealed, who)
    by_openssl = tmp_path / "openssl.zip"
    done = subprocess.run(
        [
            *("openssl", "cms", "-decrypt", "-inform", "DER", "-in", str(sealed.p7m)),
            *("-recip", str(r.cert_pem), "-inkey", str(r.key_pem), "-out", str(by_openssl)),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert by_openssl.read_bytes() == sealed.zip.read_bytes()
    code, out, err = cli("verify", by_openssl)
    assert code == 0, out + err

    ours = tmp_path / "ours.zip"
    code, out, err = cli("decrypt", sealed.p7m, "--out", ours, "--identity", r.p12)
    assert code == 0, err
    assert ours.read_bytes() == sealed.zip.read_bytes()
    assert f"as recipient Legal {'RSA' if who == 'rsa' else 'P256'}" in out
    assert f"SHA-256 of ours.zip: {hashlib.sha256(ours.read_bytes()).hexdigest()}" in out
    assert f"chainproof verify {ours}" in out
    code, out, err = cli("verify", ours)
    assert code == 0, out + err


def test_json_and_the_default_output_name(sealed: Sealed, tmp_path: Path) -> None:
    p7m = tmp_path / "Bundle.zip.p7m"
    shutil.copyfile(sealed.p7m, p7m)
    code, out, err = cli("decrypt", p7m, "--identity", sealed.p256.p12, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["out"] == str(tmp_path / "Bundle.zip")
    assert doc["bytes"] == sealed.zip.stat().st_size
    assert doc["recipient"] == sealed.p256.identity.fingerprint
    assert (tmp_path / "Bundle.zip").read_bytes() == sealed.zip.read_bytes()
    # A second time: the output exists and is kept.
    code, out, err = cli("decrypt", p7m, "--identity", sealed.p256.p12)
    assert code == 2 and "already exists" in err and err.count("\n") == 1


def test_the_examiner_identity_is_the_default_key(
    sealed: Sealed, tmp_path: Path, alice: Identity
) -> None:
    env = encrypt_bundle(sealed.zip, [alice.certificate], tmp_path / "to-alice.p7m")
    code, _out, err = cli("decrypt", env.path, "--out", tmp_path / "b.zip")
    assert code == 0, err
    assert (tmp_path / "b.zip").read_bytes() == sealed.zip.read_bytes()


def test_no_output_name_for_another_suffix(sealed: Sealed, tmp_path: Path) -> None:
    other = tmp_path / "bundle.enc"
    shutil.copyfile(sealed.p7m, other)
    code, _, err = cli("decrypt", other, "--identity", sealed.rsa.p12)
    assert code == 2 and "name the output with --out" in err


def test_wrong_recipient_exit_5_one_line(sealed: Sealed, tmp_path: Path) -> None:
    code, _out, err = cli(
        "decrypt", sealed.p7m, "--out", tmp_path / "x.zip", "--identity", sealed.outsider.p12
    )
    assert code == 5
    assert err.startswith("chainproof: ") and err.count("\n") == 1
    assert "is not encrypted to Outsider (certificate SHA-256 " in err
    assert "its recipients are the certificates issued by Legal RSA with serial " in err
    assert "; issued by Legal P256 with serial " in err
    assert not (tmp_path / "x.zip").exists()


def test_wrong_passphrase_exit_5(
    sealed: Sealed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINPROOF_PASSPHRASE", "not the passphrase at all")
    code, _, err = cli(
        "decrypt", sealed.p7m, "--out", tmp_path / "x.zip", "--identity", sealed.rsa.p12
    )
    assert code == 5 and "wrong passphrase" in err and err.count("\n") == 1


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.999])
def test_truncated_exit_7_one_line(sealed: Sealed, tmp_path: Path, keep: float) -> None:
    raw = sealed.p7m.read_bytes()
    short = tmp_path / "short.zip.p7m"
    short.write_bytes(raw[: max(1, int(len(raw) * keep))])
    code, _, err = cli("decrypt", short, "--identity", sealed.p256.p12)
    assert code == 7, err
    assert "is truncated" in err and err.count("\n") == 1
    assert not (tmp_path / "short.zip").exists()
    assert list(tmp_path.iterdir()) == [short]  # no hidden partial file either


def _ciphertext_span(p7m: Path) -> tuple[int, int, int]:
    """(IV offset, first ciphertext byte, end) of an envelope, read with asn1crypto."""
    raw = p7m.read_bytes()
    eci = asn1_cms.ContentInfo.load(raw)["content"]["encrypted_content_info"]
    iv = eci["content_encryption_algorithm"]["parameters"].native
    ct = eci["encrypted_content"].native
    return raw.index(iv), len(raw) - len(ct), len(raw)


def test_no_flipped_byte_is_silently_accepted(sealed: Sealed, tmp_path: Path) -> None:
    """Flips in the IV, the first block (the first local header), blocks across the
    evidence, the central directory at the end, the padding and the last byte: each fails
    decryption (exit 7) or gives a bundle that `chainproof verify` rejects (exit 6 or 7)."""
    iv_at, start, end = _ciphertext_span(sealed.p7m)
    n = end - start
    offsets = [iv_at, start, start + 40]
    offsets += [start + n * k // 4 for k in range(1, 4)]
    offsets += [end - 200, end - 40, end - 17, end - 1]
    outcomes: dict[str, int] = {}
    for offset in offsets:
        raw = bytearray(sealed.p7m.read_bytes())
        raw[offset] ^= 0x20
        bad = tmp_path / f"flip-{offset}.zip.p7m"
        bad.write_bytes(raw)
        code, _, err = cli("decrypt", bad, "--identity", sealed.rsa.p12)
        where = f"flip at byte {offset}"
        if code != 0:
            assert code == 7 and err.count("\n") == 1 and "damaged" in err, (where, err)
            assert not (tmp_path / f"flip-{offset}.zip").exists(), where
            outcomes["decryption failed"] = outcomes.get("decryption failed", 0) + 1
            continue
        out_zip = tmp_path / f"flip-{offset}.zip"
        assert out_zip.read_bytes() != sealed.zip.read_bytes(), where
        code, out, err = cli("verify", out_zip, "--json")
        assert code in (6, 7), (where, out, err)
        outcomes[f"verify exit {code}"] = outcomes.get(f"verify exit {code}", 0) + 1
        out_zip.unlink()
    assert outcomes.get("decryption failed", 0) >= 1, outcomes  # the padding flip at least
    assert sum(outcomes.values()) == len(offsets)


def test_a_recipient_file_that_is_no_certificate(sealed: Sealed, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"rsa\.key holds no X\.509 certificate"):
        read_recipient(sealed.rsa.key_pem)
    der = tmp_path / "p256.der"
    der.write_bytes(sealed.p256.identity.certificate.public_bytes(serialization.Encoding.DER))
    assert read_recipient(der) == sealed.p256.identity.certificate
    with pytest.raises(UsageError, match="cannot read the recipient certificate"):
        read_recipient(tmp_path / "missing.pem")


def test_progress_line_with_bytes_speed_and_eta() -> None:
    clock = [50.0]
    p = DecryptProgress(True, stream=io.StringIO(), live=False, clock=lambda: clock[0])
    p.expect(4 * MIB)
    clock[0] += 2
    p.advance(MIB)
    p.advance(MIB)
    assert (
        p.line(80)
        == f"decrypting 0:02 envelope {'━' * 6}{'╌' * 6} 50% 2.0 MiB/4.0 MiB 1.0 MiB/s ETA 0:02"
    )
    assert p.plain_line() == (
        "chainproof: 0:02 decrypting envelope: 50%, 2.0 MiB/4.0 MiB, 1.0 MiB/s, ETA 0:02"
    )
    p.complete()  # the whole envelope read and checked
    assert (
        p.plain_line() == "chainproof: 0:02 decrypting envelope: 100%, 4.0 MiB/4.0 MiB, 2.0 MiB/s"
    )
    quiet = DecryptProgress(False, stream=io.StringIO(), live=False)
    with quiet:
        quiet.expect(MIB)
        quiet.advance(MIB)
    assert quiet.plain_line() == "chainproof: 0:00 decrypting"  # nothing was counted


def _decrypt(sealed: Sealed, out: Path, *extra: str, stderr: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "app", "decrypt", str(sealed.p7m), "--out", str(out)),
            *("--identity", str(sealed.p256.p12), *extra),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )


def test_progress_in_a_terminal_a_pipe_and_quiet(sealed: Sealed, tmp_path: Path) -> None:
    """A terminal: one live line that fits it and ends at 100%, erased when done; a pipe
    (done within 5 s) or --no-progress or --json: nothing on stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 72, 0, 0))
    proc = _decrypt(sealed, tmp_path / "tty.zip", stderr=slave)
    os.close(slave)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the process closed the terminal
        while chunk := os.read(master, 65536):
            shown += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, shown
    assert b"Decrypted " in out and "\x1b[" in shown.decode()
    lines = [x for x in re.split(r"[\r\n]+", CSI.sub("", shown.decode())) if x.strip()]
    assert lines and all(x.startswith("decrypting ") and len(x) <= 72 for x in lines), lines
    assert re.search(r"envelope .*100% [\d.]+ [KM]iB/[\d.]+ [KM]iB", lines[-1]), lines
    for n, extra in enumerate(([], ["--no-progress"], ["--json"])):
        proc = _decrypt(sealed, tmp_path / f"pipe{n}.zip", *extra, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and err == b"", err
        assert (tmp_path / f"pipe{n}.zip").read_bytes() == sealed.zip.read_bytes()


def test_export_encrypt_to_puts_only_the_envelope_and_records_it(
    sealed: Sealed, tmp_path: Path, collected_case: Any, alice: Identity
) -> None:
    case, _, _ = collected_case()
    certs = [sealed.rsa.identity.certificate, sealed.p256.identity.certificate]
    out = tmp_path / "E.zip.p7m"
    result = export_case(case, alice, out, as_zip=True, encrypt_to=certs)
    assert result.path == out and result.envelope is not None
    assert [p.name for p in tmp_path.iterdir() if "E.zip" in p.name] == ["E.zip.p7m"]
    exported = case.state().exports[-1].event
    assert exported.path == str(out)
    assert exported.encrypted_to == (
        sealed.rsa.identity.fingerprint,
        sealed.p256.identity.fingerprint,
    )
    assert exported.p7m_sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    code, _, err = cli("decrypt", out, "--identity", sealed.p256.p12)
    assert code == 0, err
    plain = tmp_path / "E.zip"
    assert hashlib.sha256(plain.read_bytes()).hexdigest() == exported.zip_sha256
    code, report, err = cli("verify", plain)
    assert code == 0, report + err
    case.sessions.kw["bind"].dispose()


def test_export_cli_encrypt_to_usage(
    sealed: Sealed, tmp_path: Path, collected_case: Any, alice: Identity
) -> None:
    case, _, _ = collected_case()
    before = len(case.state().exports)
    rsa_pem = sealed.rsa.cert_pem
    code, _, err = cli("export", case.root, "--out", tmp_path / "C.zip", "--encrypt-to", rsa_pem)
    assert code == 2 and "name it with .p7m" in err
    code, _, err = cli("export", case.root, "--out", tmp_path / "C.zip.p7m")
    assert code == 2 and "--encrypt-to CERT.pem" in err
    code, _, err = cli(
        "export", case.root, "--out", tmp_path / "C.zip.p7m", "--encrypt-to", sealed.rsa.key_pem
    )
    assert code == 2 and "holds no X.509 certificate" in err
    key = ec.generate_private_key(ec.SECP256R1())
    old = self_signed(key, "Old", start=dt.datetime.now(dt.UTC) - dt.timedelta(days=90), days=30)
    old_pem = tmp_path / "old.pem"
    old_pem.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    code, _, err = cli(
        "export", case.root, "--out", tmp_path / "C.zip.p7m", "--encrypt-to", old_pem
    )
    assert code == 5 and "the certificate of Old expired on" in err and err.count("\n") == 1
    assert not (tmp_path / "C.zip.p7m").exists()
    assert len(case.state().exports) == before  # refused before anything was recorded
    code, out, err = cli(
        "export", case.root, "--out", tmp_path / "C.zip.p7m", "--encrypt-to", rsa_pem, "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["encrypted_to"] == [sealed.rsa.identity.fingerprint]
    assert doc["p7m_sha256"] == hashlib.sha256((tmp_path / "C.zip.p7m").read_bytes()).hexdigest()
    case.sessions.kw["bind"].dispose()


@pytest.mark.parametrize("step", ["export_zipped", "export_moved"])
def test_an_encrypted_export_killed_after_its_envelope_is_in_place_is_recorded_as_exported(
    sealed: Sealed, tmp_path: Path, collected_case: Any, alice: Identity, step: str
) -> None:
    """SIGKILL after ``step``; the next command closes the export. Once the envelope is at
    its path (export_moved), the staged plain zip identifies it: ``exported`` with the
    recipients and the envelope's SHA-256, and the staging folder with the plain zip gone.
    Before that (export_zipped) nothing is in place: ``export_failed``."""
    case, _, _ = collected_case()
    out = tmp_path / "K.zip.p7m"
    argv = [sys.executable, "-m", "app", "export", str(case.root), "--out", str(out),
            "--encrypt-to", str(sealed.rsa.cert_pem), "--no-progress"]  # fmt: skip
    env = {**os.environ, STOP_AT: step}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    wait_stopped(proc, step)
    proc.kill()
    proc.communicate(timeout=60)
    recovered = recover_exports(case, alice)
    assert [r.outcome for r in recovered] == ["completed" if step == "export_moved" else "failed"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") or "staging" in p.name]
    state = case.state()
    if step == "export_zipped":
        assert not out.exists() and state.failed_exports and not state.exports
        return
    exported = state.exports[-1].event
    assert exported.encrypted_to == (sealed.rsa.identity.fingerprint,)
    assert exported.p7m_sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    code, _, err = cli("decrypt", out, "--identity", sealed.rsa.p12)
    assert code == 0, err
    plain = tmp_path / "K.zip"
    assert hashlib.sha256(plain.read_bytes()).hexdigest() == exported.zip_sha256
    code, report, err = cli("verify", plain)
    assert code == 0, report + err
    case.sessions.kw["bind"].dispose()


def test_verify_of_an_envelope_says_to_decrypt_it_first(sealed: Sealed) -> None:
    code, _, err = cli("verify", sealed.p7m)
    assert code == 2
    assert "encrypted bundle" in err and "chainproof decrypt" in err and err.count("\n") == 1
