from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from custody.errors import (
    CertificateExpired,
    CorruptKeyFile,
    NoIdentity,
    UnsupportedKey,
    WrongPassphrase,
)
from custody.record.keys import (
    Identity,
    create_identity,
    import_identity,
    load_identity,
    save_identity,
    verify_signature,
)


def test_identity_round_trip_with_strong_encryption(
    tmp_path: Path, alice_identity: Identity
) -> None:
    path = tmp_path / "id.p12"
    save_identity(alice_identity, path, b"pw-123456789")
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = load_identity(path, b"pw-123456789")
    assert loaded.fingerprint == alice_identity.fingerprint
    assert (loaded.name, loaded.organisation, loaded.email) == (
        "Alice Examiner",
        "Example Forensics",
        "alice@example.org",
    )
    info = subprocess.run(
        ["openssl", "pkcs12", "-info", "-noout", "-in", str(path), "-passin", "pass:pw-123456789"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert (
        "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256" in info
    )
    assert "MAC: sha256, Iteration 600000" in info  # not the 2,048 cryptography writes
    assert "MAC length: 32, salt length: 16" in info
    wrong = subprocess.run(
        ["openssl", "pkcs12", "-info", "-noout", "-in", str(path), "-passin", "pass:pw-12345678"],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0 and "verify error" in wrong.stderr.lower()


@pytest.mark.parametrize("passphrase", ["pässwörd ünïcode", "日本語のパスフレーズ", "a"])
def test_non_ascii_passphrases_round_trip(
    tmp_path: Path, alice_identity: Identity, passphrase: str
) -> None:
    path = tmp_path / "id.p12"
    save_identity(alice_identity, path, passphrase.encode())
    assert load_identity(path, passphrase.encode()).fingerprint == alice_identity.fingerprint
    with pytest.raises(WrongPassphrase):
        load_identity(path, (passphrase + "x").encode())


def test_wrong_passphrase_is_named(tmp_path: Path, alice_identity: Identity) -> None:
    path = tmp_path / "id.p12"
    save_identity(alice_identity, path, b"right")
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        load_identity(path, b"wrong")


def test_corrupt_and_missing_key_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.p12"
    bad.write_bytes(os.urandom(600))
    with pytest.raises(CorruptKeyFile):
        load_identity(bad, b"x")
    with pytest.raises(NoIdentity, match="keys init"):
        load_identity(tmp_path / "absent.p12", b"x")


def test_expired_certificate_is_refused(tmp_path: Path) -> None:
    ident = create_identity(
        "Old",
        "Org",
        "old@example.org",
        days=30,
        valid_from=dt.datetime.now(dt.UTC) - dt.timedelta(days=60),
    )
    path = tmp_path / "old.p12"
    save_identity(ident, path, b"pw")
    with pytest.raises(CertificateExpired, match="expired"):
        load_identity(path, b"pw")


def test_signature_verifies_with_openssl(tmp_path: Path, alice_identity: Identity) -> None:
    msg = tmp_path / "msg"
    msg.write_bytes(b'{"a":1}')
    (tmp_path / "sig.der").write_bytes(alice_identity.sign(msg.read_bytes()))
    (tmp_path / "cert.pem").write_text(alice_identity.certificate_pem())
    pub = subprocess.run(
        ["openssl", "x509", "-in", str(tmp_path / "cert.pem"), "-pubkey", "-noout"],
        capture_output=True,
        check=True,
    ).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    out = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-verify",
            str(tmp_path / "pub.pem"),
            "-signature",
            str(tmp_path / "sig.der"),
            str(msg),
        ],
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "Verified OK"
    assert verify_signature(
        alice_identity.certificate, msg.read_bytes(), (tmp_path / "sig.der").read_bytes()
    )
    assert not verify_signature(
        alice_identity.certificate, b"other", (tmp_path / "sig.der").read_bytes()
    )


def _self_signed(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, cn: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    algo = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, algo)
    )


def test_import_rsa_identity_and_refuse_ed25519(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    src = tmp_path / "org.p12"
    src.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"org",
            key,
            _self_signed(key, "Org Examiner"),
            None,
            serialization.BestAvailableEncryption(b"orgpw"),
        )
    )
    dest = tmp_path / "mine.p12"
    ident = import_identity(src, b"orgpw", dest, b"mine")
    assert ident.name == "Org Examiner"
    again = load_identity(dest, b"mine")
    assert verify_signature(again.certificate, b"m", again.sign(b"m"))
    with pytest.raises(WrongPassphrase):
        import_identity(src, b"nope", tmp_path / "x.p12", b"mine")

    ed = ed25519.Ed25519PrivateKey.generate()
    src2 = tmp_path / "ed.p12"
    src2.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"ed",
            ed,
            _self_signed(ed, "Ed"),
            None,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(UnsupportedKey, match="P-256 or RSA"):
        import_identity(src2, b"pw", tmp_path / "y.p12", b"mine")
