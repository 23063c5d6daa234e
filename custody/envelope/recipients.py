"""Recipients of an encrypted bundle: who may receive one, and how the content key is
wrapped for each and unwrapped by one.

- RSA (at least 2,048 bits): KeyTransRecipientInfo, RSAES-OAEP with SHA-256 and MGF1-SHA-256.
- P-256: KeyAgreeRecipientInfo (RFC 5753): an ephemeral P-256 key per recipient, ECDH with
  the recipient's key, the X9.63 KDF with SHA-256 over ECC-CMS-SharedInfo, and AES-256 key
  wrap (RFC 3394) of the content key.

Reading also accepts what ``openssl cms -encrypt`` writes by default (RSA PKCS#1 v1.5, the
SHA-1 KDF, AES-128 or -192 wrap), so that an envelope made by openssl with an AES cipher
opens too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos, keys
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.x509.oid import NameOID

from custody.envelope import cms
from custody.errors import DamagedEnvelope, UnsupportedRecipient, WrongRecipient

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class Recipient:
    """A certificate an envelope is encrypted to."""

    certificate: x509.Certificate

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate's DER, lower hex (how the ledger names a recipient)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def kind(self) -> str:
        key = self.certificate.public_key()
        return f"RSA-{key.key_size}" if isinstance(key, rsa.RSAPublicKey) else "P-256"

    @property
    def name(self) -> str:
        return common_name(self.certificate)


def recipient(cert: x509.Certificate, now: dt.datetime | None = None) -> Recipient:
    """``cert`` as a recipient, or :class:`UnsupportedRecipient` saying why it cannot be
    one: its key type or size, or a validity period that excludes ``now``."""
    name = common_name(cert)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise UnsupportedRecipient(
                f"the certificate of {name} has an RSA key of {key.key_size} bits: at least "
                f"{MIN_RSA_BITS} are required"
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise UnsupportedRecipient(
                f"the certificate of {name} has an EC key on {key.curve.name}: only P-256 "
                "(secp256r1) or RSA recipients are supported"
            )
    else:
        raise UnsupportedRecipient(
            f"the certificate of {name} has a {type(key).__name__.lstrip('_')} key: only "
            "RSA or P-256 recipients are supported"
        )
    now = now or dt.datetime.now(dt.UTC)
    if now < cert.not_valid_before_utc:
        raise UnsupportedRecipient(
            f"the certificate of {name} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    if now > cert.not_valid_after_utc:
        raise UnsupportedRecipient(
            f"the certificate of {name} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    return Recipient(cert)


def recipient_info(r: Recipient, cek: bytes) -> asn1_cms.RecipientInfo:
    """The RecipientInfo that gives ``cek`` to ``r`` alone."""
    cert_der = r.certificate.public_bytes(serialization.Encoding.DER)
    key = r.certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        oaep = padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
        return cms.key_trans_info(cert_der, key.encrypt(cek, oaep))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    kek = _kdf("sha256", ephemeral.exchange(ec.ECDH(), key), cms.wrap_algorithm(), None, 32)
    return cms.key_agree_info(cert_der, point, keywrap.aes_key_wrap(kek, cek))


def _kdf(hash_name: str, z: bytes, wrap_der: bytes, ukm: bytes | None, size: int) -> bytes:
    shared = cms.ecc_shared_info(wrap_der, ukm, size)
    return X963KDF(algorithm=_HASHES[hash_name](), length=size, sharedinfo=shared).derive(z)


# --- opening -------------------------------------------------------------------------


def content_key(
    infos: Sequence[asn1_cms.RecipientInfo],
    key: PrivateKey,
    cert: x509.Certificate,
    name: str,
) -> bytes:
    """The content key of an envelope, unwrapped with ``key`` from the recipient entry that
    names ``cert``; :class:`WrongRecipient` when none does or the key does not open it."""
    try:
        return _content_key(infos, key, cert, name)
    except cms.PARSE_ERRORS as exc:
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise DamagedEnvelope(
            f"{name} is damaged: its recipient entry does not parse ({problem})"
        ) from None


def _content_key(
    infos: Sequence[asn1_cms.RecipientInfo], key: PrivateKey, cert: x509.Certificate, name: str
) -> bytes:
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    who = cms.issuer_and_serial(cert_der)
    ski = _subject_key_id(cert)
    for ri in infos:
        info = ri.chosen
        if ri.name == "ktri" and cms.names_recipient(info["rid"], who, ski):
            return _open_ktri(info, key, name)
        if ri.name == "kari":
            for rek in info["recipient_encrypted_keys"]:
                if cms.names_recipient(rek["rid"], who, ski):
                    return _open_kari(info, rek["encrypted_key"].native, key, name)
    listed = [_describe(ri) for ri in infos]
    raise WrongRecipient(
        f"{name} is not encrypted to {common_name(cert)} (certificate SHA-256 "
        f"{cert.fingerprint(hashes.SHA256()).hex()}): its recipients are the certificates "
        f"{'; '.join(listed) or '(none)'}"
    )


def common_name(cert: x509.Certificate) -> str:
    """How a message names a certificate: its subject's common name, else the subject."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names and isinstance(names[0].value, str):
        return names[0].value
    return cert.subject.rfc4514_string() or "a certificate with an empty subject"


def _describe(ri: asn1_cms.RecipientInfo) -> str:
    if ri.name == "ktri":
        return str(cms.describe_rid(ri.chosen["rid"]))
    if ri.name == "kari":
        return ", ".join(
            cms.describe_rid(rek["rid"]) for rek in ri.chosen["recipient_encrypted_keys"]
        )
    return f"a {ri.name} recipient (not supported)"


def _subject_key_id(cert: x509.Certificate) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return ext.value.digest


def _not_opened(name: str) -> WrongRecipient:
    return WrongRecipient(
        f"the key given does not open {name}: its certificate is named as a recipient, but "
        "the content key does not unwrap with this private key (another key under the same "
        "certificate name and serial, or a damaged envelope)"
    )


def _open_ktri(info: Any, key: PrivateKey, name: str) -> bytes:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _not_opened(name)
    alg = info["key_encryption_algorithm"]
    oid = alg["algorithm"].dotted
    pad: padding.AsymmetricPadding
    if oid == "1.2.840.113549.1.1.7":  # RSAES-OAEP
        params = alg["parameters"]
        if not isinstance(params, algos.RSAESOAEPParams):
            raise DamagedEnvelope(f"{name} is damaged: its RSAES-OAEP parameters do not parse")
        hash_name = params["hash_algorithm"]["algorithm"].native
        mgf = params["mask_gen_algorithm"]
        mgf_hash = mgf["parameters"]["algorithm"].native
        label = params["p_source_algorithm"]["parameters"].native or None
        if hash_name not in _HASHES or mgf_hash not in _HASHES or mgf["algorithm"].native != "mgf1":
            raise DamagedEnvelope(f"{name}: RSAES-OAEP with {hash_name} is not supported")
        pad = padding.OAEP(
            mgf=padding.MGF1(_HASHES[mgf_hash]()), algorithm=_HASHES[hash_name](), label=label
        )
    elif oid == "1.2.840.113549.1.1.1":  # RSAES-PKCS1-v1_5, openssl's default
        pad = padding.PKCS1v15()
    else:
        raise DamagedEnvelope(
            f"{name}: RSA key transport {alg['algorithm'].native} is not supported"
        )
    try:
        return key.decrypt(info["encrypted_key"].native, pad)
    except ValueError:
        raise _not_opened(name) from None


def _open_kari(info: Any, wrapped: bytes, key: PrivateKey, name: str) -> bytes:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise _not_opened(name)
    alg = info["key_encryption_algorithm"]
    scheme = alg["algorithm"].dotted
    if scheme not in cms.ECDH_STD_KDF:
        raise DamagedEnvelope(
            f"{name}: key agreement {alg['algorithm'].native} is not supported "
            "(RFC 5753 dhSinglePass-stdDH with the X9.63 KDF is)"
        )
    wrap_der = alg["parameters"].dump()
    wrap_oid = asn1_cms.KeyEncryptionAlgorithm.load(wrap_der)["algorithm"].dotted
    if wrap_oid not in cms.AES_WRAP:
        raise DamagedEnvelope(f"{name}: key wrap {wrap_oid} is not supported (AES key wrap is)")
    originator = info["originator"]
    if originator.name != "originator_key":
        raise DamagedEnvelope(f"{name}: the key agreement does not carry its ephemeral key")
    point = originator.chosen["public_key"].native
    curve = originator.chosen["algorithm"]["parameters"]
    if isinstance(curve, keys.ECDomainParameters) and (
        curve.name == "specified" or (curve.name == "named" and curve.chosen.dotted != cms.P256)
    ):
        raise DamagedEnvelope(f"{name}: the ephemeral key is not on P-256")
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, point)
    except ValueError:
        raise DamagedEnvelope(
            f"{name} is damaged: its ephemeral key is not a point of the curve"
        ) from None
    ukm = info["ukm"].native if info["ukm"].native is not None else None
    try:
        kek = _kdf(
            cms.ECDH_STD_KDF[scheme],
            key.exchange(ec.ECDH(), peer),
            wrap_der,
            ukm,
            cms.AES_WRAP[wrap_oid],
        )
        return keywrap.aes_key_unwrap(kek, wrapped)
    except (ValueError, InvalidKey, keywrap.InvalidUnwrap):
        raise _not_opened(name) from None
