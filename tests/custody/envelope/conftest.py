"""Recipients made in the test: an RSA-3072 and a P-256 key, each with a self-signed
certificate, written as PEM files for ``openssl cms``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Party:
    """A recipient: key, certificate, and both as PEM files."""

    name: str
    key: PrivateKey
    certificate: x509.Certificate
    cert_pem: Path
    key_pem: Path


def self_signed(
    key: PrivateKey,
    name: str,
    *,
    days: int = 30,
    start: dt.datetime | None = None,
    serial: int | None = None,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = start or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )


def make_party(directory: Path, name: str, key: PrivateKey) -> Party:
    cert = self_signed(key, name)
    directory.mkdir(parents=True, exist_ok=True)
    cert_pem = directory / f"{name}.pem"
    key_pem = directory / f"{name}.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Party(name, key, cert, cert_pem, key_pem)


@pytest.fixture(scope="session")
def parties(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Party]:
    """``rsa`` (RSA-3072), ``p256`` and ``other`` (P-256, no recipient of anything)."""
    d = tmp_path_factory.mktemp("parties")
    return {
        "rsa": make_party(d, "rsa", rsa.generate_private_key(65537, 3072)),
        "p256": make_party(d, "p256", ec.generate_private_key(ec.SECP256R1())),
        "other": make_party(d, "other", ec.generate_private_key(ec.SECP256R1())),
    }
