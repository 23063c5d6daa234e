"""Examiner identities: an ECDSA P-256 key and X.509 certificate in one PKCS#12 file.

The file is encrypted with PBES2 / AES-256-CBC and 600,000 PBKDF2-SHA256 rounds (not PKCS#8
PEM, whose encryption ``cryptography`` fixes at 2,048 rounds). Organisation-issued RSA or P-256
identities can be imported. Signatures are DER over the SHA-256 of the message, so
``openssl dgst -sha256 -verify pub.pem -signature sig.der msg`` checks them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from custody.durable import sync_directory
from custody.errors import (
    CertificateExpired,
    CorruptKeyFile,
    NoIdentity,
    UnsupportedKey,
    WrongPassphrase,
)
from custody.record.regular import read_regular
from custody.record.times import shown

KDF_ROUNDS = 600_000
MAC_SALT_BYTES = 16
VALIDITY_DAYS = 3 * 365

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER encoding, lower hex: how an examiner is named."""
    return cert.fingerprint(hashes.SHA256()).hex()


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificate_pem(pem: str | bytes) -> x509.Certificate:
    """A certificate from its PEM text; :class:`CorruptKeyFile` if it is not one."""
    try:
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:  # UnicodeEncodeError included: PEM is ASCII
        raise CorruptKeyFile(f"not a PEM certificate: {exc}") from exc


def _name_attr(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else None


@dataclass(frozen=True)
class Identity:
    """An unlocked examiner identity: can sign."""

    key: SigningKey
    certificate: x509.Certificate

    @functools.cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def name(self) -> str:
        return _name_attr(self.certificate, NameOID.COMMON_NAME) or "(unnamed)"

    @property
    def organisation(self) -> str | None:
        return _name_attr(self.certificate, NameOID.ORGANIZATION_NAME)

    @property
    def email(self) -> str | None:
        return _name_attr(self.certificate, NameOID.EMAIL_ADDRESS)

    def certificate_pem(self) -> str:
        return certificate_pem(self.certificate)

    def sign(self, message: bytes) -> bytes:
        """DER signature over SHA-256(message): ECDSA for P-256 keys, PKCS#1 v1.5 for RSA.

        ECDSA nonces are derived from the key and message (RFC 6979), so signing the same
        bytes twice gives the same signature: bundles are reproducible, and no weak random
        source can leak the key.
        """
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        return self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def verify_signature(cert: x509.Certificate, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` over ``message`` was made by the key of ``cert``."""
    public = cert.public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def check_validity(cert: x509.Certificate, at: dt.datetime | None = None) -> None:
    """Raise :class:`CertificateExpired` when ``at`` (default now) is outside the validity period."""
    now = at or dt.datetime.now(dt.UTC)
    if now < cert.not_valid_before_utc:
        raise CertificateExpired(
            f"certificate of {_name_attr(cert, NameOID.COMMON_NAME)} is not valid before "
            f"{shown(cert.not_valid_before_utc)}"
        )
    if now > cert.not_valid_after_utc:
        raise CertificateExpired(
            f"certificate of {_name_attr(cert, NameOID.COMMON_NAME)} expired on "
            f"{shown(cert.not_valid_after_utc)}; create or import a new identity "
            "(chainproof keys init / keys import)"
        )


def _encryption(passphrase: bytes) -> serialization.KeySerializationEncryption:
    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase)
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte (never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.chmod(0o600)
    tmp.replace(path)
    sync_directory(path.parent)


def save_identity(identity: Identity, path: Path, passphrase: bytes) -> None:
    """Store ``identity`` as an encrypted PKCS#12 file (mode 0600)."""
    if not passphrase:
        raise WrongPassphrase("an empty passphrase cannot protect an examiner key")
    data = pkcs12.serialize_key_and_certificates(
        name=identity.name.encode("utf-8"),
        key=identity.key,
        cert=identity.certificate,
        cas=None,
        encryption_algorithm=_encryption(passphrase),
    )
    _write_private(path, _strengthen_mac(data, passphrase))


def _strengthen_mac(p12: bytes, passphrase: bytes) -> bytes:
    """Replace the file's integrity MAC with one keyed at :data:`KDF_ROUNDS` iterations.

    ``cryptography`` fixes the PKCS#12 MAC key derivation at 2,048 iterations whatever the
    encryption rounds. Anyone holding the file could then test passphrases against the MAC
    some 300 times faster than against the 600,000-round key encryption. OpenSSL checks the
    rewritten MAC on every load (``openssl pkcs12 -info`` shows its iterations).
    """
    from asn1crypto import pkcs12 as asn1_pkcs12

    pfx = asn1_pkcs12.Pfx.load(p12)
    salt = os.urandom(MAC_SALT_BYTES)
    key = _pkcs12_mac_key(passphrase, salt, KDF_ROUNDS)
    content = pfx["auth_safe"]["content"].native
    digest = hmac.new(key, content, hashlib.sha256).digest()
    pfx["mac_data"] = asn1_pkcs12.MacData(
        {
            "mac": {"digest_algorithm": {"algorithm": "sha256"}, "digest": digest},
            "mac_salt": salt,
            "iterations": KDF_ROUNDS,
        }
    )
    return bytes(pfx.dump())


def _pkcs12_mac_key(passphrase: bytes, salt: bytes, iterations: int) -> bytes:
    """The PKCS#12 MAC key for HMAC-SHA-256 (RFC 7292, appendix B.2, ID 3).

    The passphrase is taken as UTF-8 and turned into a NUL-terminated BMPString, as OpenSSL 3
    does. A 32-byte key needs one block: iterated SHA-256 over ID || salt || passphrase, each
    of the last two repeated to a multiple of the 64-byte block.
    """
    v = 64
    try:
        bmp = passphrase.decode("utf-8").encode("utf-16-be") + b"\0\0"
    except UnicodeDecodeError as exc:
        raise WrongPassphrase("the passphrase is not valid UTF-8 text") from exc

    def fill(data: bytes) -> bytes:
        n = v * ((len(data) + v - 1) // v)
        return (data * (n // len(data) + 1))[:n] if data else b""

    a = hashlib.sha256(bytes([3]) * v + fill(salt) + fill(bmp)).digest()
    sha256 = hashlib.sha256
    for _ in range(iterations - 1):
        a = sha256(a).digest()
    return a


def create_identity(
    name: str,
    organisation: str,
    email: str,
    *,
    days: int = VALIDITY_DAYS,
    valid_from: dt.datetime | None = None,
) -> Identity:
    """A new P-256 key with a self-signed certificate naming the examiner."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, email),
        ]
    )
    now = valid_from or dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Identity(key=key, certificate=cert)


def _parse_pkcs12(data: bytes, passphrase: bytes, source: Path) -> Identity:
    try:
        key, cert, _cas = pkcs12.load_key_and_certificates(data, passphrase)
    except ValueError as exc:
        if "password" not in str(exc).lower():
            raise CorruptKeyFile(f"{source} is not a readable PKCS#12 key file: {exc}") from exc
        # OpenSSL says the same ("invalid password or PKCS12 data") when the integrity MAC
        # fails for a wrong passphrase and for changed bytes: tell them apart.
        damage = _pkcs12_damage(data, passphrase)
        if damage is not None:
            raise CorruptKeyFile(f"{source} is damaged: {damage}") from exc
        raise WrongPassphrase(
            f"wrong passphrase for {source}: it does not open the examiner key"
        ) from exc
    if key is None or cert is None:
        raise CorruptKeyFile(f"{source} holds no private key and certificate pair")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise UnsupportedKey(f"{source}: EC curve {key.curve.name} is not P-256")
    elif isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise UnsupportedKey(f"{source}: RSA key of {key.key_size} bits is too short")
    else:
        raise UnsupportedKey(
            f"{source}: {type(key).__name__} keys cannot sign Chainproof records "
            "(P-256 or RSA are required, so that pdfsig and openssl can check them)"
        )
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise CorruptKeyFile(f"{source}: the certificate does not belong to the private key")
    return Identity(key=key, certificate=cert)


#: The most PBKDF2 iterations tried when telling damage from a wrong passphrase: a damaged
#: count must not make that take minutes.
_MAX_TRIED_ROUNDS = 10 * KDF_ROUNDS


def _pkcs12_damage(data: bytes, passphrase: bytes) -> str | None:
    """Why a PKCS#12 file whose integrity MAC fails is damaged, or None when it may simply
    be a wrong passphrase.

    The file is damaged when its structure does not parse down to its encrypted parts, or
    when ``passphrase`` decrypts one of them (the certificate bag or the key bag, each
    encrypted on its own) to a well-formed value: the passphrase is then right, and some
    bytes changed. A wrong passphrase decrypts neither (AES-CBC padding and DER both fail).
    """
    from asn1crypto import keys as asn1_keys
    from asn1crypto import pkcs12 as asn1_pkcs12

    parts: list[tuple[Any, bytes, type[Any]]] = []
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        for info in pfx.authenticated_safe:
            kind = info["content_type"].native
            if kind == "encrypted_data":
                enc = info["content"]["encrypted_content_info"]
                parts.append(
                    (
                        enc["content_encryption_algorithm"],
                        enc["encrypted_content"].native,
                        asn1_pkcs12.SafeContents,
                    )
                )
            elif kind == "data":
                for bag in asn1_pkcs12.SafeContents.load(info["content"].native, strict=True):
                    if bag["bag_id"].native == "pkcs8_shrouded_key_bag":
                        value = bag["bag_value"]
                        parts.append(
                            (
                                value["encryption_algorithm"],
                                value["encrypted_data"].native,
                                asn1_keys.PrivateKeyInfo,
                            )
                        )
                    else:
                        _ = bag.native  # parses the bag: raises when it is malformed
            else:
                raise ValueError(f"unexpected content type {kind}")
        _ = pfx["mac_data"].native
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        # asn1crypto's message spans lines and quotes lengths read from the damage
        return "its PKCS#12 structure does not parse (bytes cut off, added or overwritten)"
    if not parts:
        return "it holds no encrypted key or certificate"
    for algorithm, ciphertext, shape in parts:
        if _decrypts(algorithm, ciphertext, shape, passphrase):
            return (
                "the passphrase opens it, but its contents fail the integrity check "
                "(changed bytes); restore the file from a backup"
            )
    return None


def _decrypts(algorithm: Any, ciphertext: bytes, shape: type[Any], passphrase: bytes) -> bool:
    """True when ``passphrase`` decrypts a PBES2 (PBKDF2, AES-CBC) part into ``shape``."""
    from cryptography.hazmat.primitives import padding as sym_padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        if algorithm["algorithm"].native != "pbes2" or algorithm.kdf != "pbkdf2":
            return False
        if algorithm.encryption_cipher != "aes" or algorithm.encryption_mode != "cbc":
            return False
        rounds = algorithm.kdf_iterations
        if not 0 < rounds <= _MAX_TRIED_ROUNDS:
            return False
        key = hashlib.pbkdf2_hmac(
            algorithm.kdf_hmac, passphrase, algorithm.kdf_salt, rounds, algorithm.key_length
        )
        decryptor = Cipher(algorithms.AES(key), modes.CBC(algorithm.encryption_iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = sym_padding.PKCS7(128).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
        _ = shape.load(plain, strict=True).native
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return False
    return True


def load_identity(path: Path, passphrase: bytes, *, check_dates: bool = True) -> Identity:
    """Open an examiner identity; wrong passphrase, corruption and expiry get their own errors."""
    try:
        data = read_regular(path)
    except FileNotFoundError:
        raise NoIdentity(
            f"no examiner identity at {path}: create one with "
            "'chainproof keys init --name NAME --org ORG --email EMAIL'"
        ) from None
    except OSError as exc:
        raise CorruptKeyFile(f"cannot read key file {path}: {exc.strerror}") from exc
    identity = _parse_pkcs12(data, passphrase, path)
    if check_dates:
        check_validity(identity.certificate)
    return identity


def import_identity(
    source: Path, source_passphrase: bytes, dest: Path, passphrase: bytes
) -> Identity:
    """Import an organisation-issued PKCS#12 identity, re-encrypted with our parameters."""
    try:
        data = read_regular(source)
    except OSError as exc:
        raise CorruptKeyFile(f"cannot read {source}: {exc.strerror}") from exc
    identity = _parse_pkcs12(data, source_passphrase, source)
    check_validity(identity.certificate)
    save_identity(identity, dest, passphrase)
    return identity
