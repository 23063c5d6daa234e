"""The CMS structures of an encrypted bundle (RFC 5652 EnvelopedData), built and parsed
with asn1crypto; only the outer headers and the content stream are written by hand
(:mod:`custody.envelope.der`), because their lengths come from the file size.

```
ContentInfo { envelopedData, [0] EnvelopedData {
    version 0 (RSA recipients only) or 2,
    recipientInfos SET { KeyTransRecipientInfo (RSA: RSAES-OAEP, SHA-256, MGF1-SHA-256)
                         | [1] KeyAgreeRecipientInfo (P-256: RFC 5753 ephemeral-static ECDH,
                           dhSinglePass-stdDH-sha256kdf-scheme, aes256-wrap) },
    EncryptedContentInfo { data, aes256-CBC { IV }, [0] IMPLICIT ciphertext } } }
```

Recipients are named by the issuer and serial number of their certificate, which is what
``openssl cms -decrypt -recip CERT.pem`` matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asn1crypto import algos, cms, core, keys
from asn1crypto import x509 as asn1_x509

from custody.envelope import der

ENVELOPED_DATA = "1.2.840.113549.1.7.3"
AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
DATA = "1.2.840.113549.1.7.1"

#: AES-CBC content encryption: OID -> key size in bytes.
AES_CBC = {
    "2.16.840.1.101.3.4.1.2": 16,
    "2.16.840.1.101.3.4.1.22": 24,
    "2.16.840.1.101.3.4.1.42": 32,
}
AES256_CBC = "2.16.840.1.101.3.4.1.42"
#: AES key wrap (RFC 3394): OID -> key size in bytes.
AES_WRAP = {
    "2.16.840.1.101.3.4.1.5": 16,
    "2.16.840.1.101.3.4.1.25": 24,
    "2.16.840.1.101.3.4.1.45": 32,
}
AES256_WRAP = "2.16.840.1.101.3.4.1.45"
#: RFC 5753 ephemeral-static ECDH schemes with the X9.63 KDF: OID -> hash name.
ECDH_STD_KDF = {
    "1.3.133.16.840.63.0.2": "sha1",
    "1.3.132.1.11.0": "sha224",
    "1.3.132.1.11.1": "sha256",
    "1.3.132.1.11.2": "sha384",
    "1.3.132.1.11.3": "sha512",
}
ECDH_SHA256_KDF = "1.3.132.1.11.1"
P256 = "1.2.840.10045.3.1.7"

#: The most octets the recipient list of an envelope may take: far above any real list.
MAX_RECIPIENT_INFOS = 4 << 20
#: What asn1crypto raises, lazily, on malformed octets (found by flipping every bit of
#: real envelopes): each is damage, said as such by the caller.
PARSE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)


def issuer_and_serial(cert_der: bytes) -> cms.IssuerAndSerialNumber:
    """How a recipient is named: its certificate's issuer and serial number."""
    tbs = asn1_x509.Certificate.load(cert_der)["tbs_certificate"]
    return cms.IssuerAndSerialNumber(
        {"issuer": tbs["issuer"], "serial_number": tbs["serial_number"]}
    )


def key_trans_info(cert_der: bytes, encrypted_key: bytes) -> cms.RecipientInfo:
    """An RSA recipient: the content key encrypted with RSAES-OAEP (SHA-256, MGF1-SHA-256)."""
    oaep = algos.RSAESOAEPParams(
        {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
        }
    )
    return cms.RecipientInfo(
        name="ktri",
        value=cms.KeyTransRecipientInfo(
            {
                "version": "v0",
                "rid": cms.RecipientIdentifier(
                    name="issuer_and_serial_number", value=issuer_and_serial(cert_der)
                ),
                "key_encryption_algorithm": {"algorithm": "rsaes_oaep", "parameters": oaep},
                "encrypted_key": encrypted_key,
            }
        ),
    )


def wrap_algorithm() -> bytes:
    """The key-wrap AlgorithmIdentifier (aes256-wrap, parameters absent: RFC 3565)."""
    return der.tlv(der.SEQUENCE, core.ObjectIdentifier(AES256_WRAP).dump())


def key_agree_info(
    cert_der: bytes, originator_point: bytes, encrypted_key: bytes
) -> cms.RecipientInfo:
    """A P-256 recipient (RFC 5753): the ephemeral public key, the scheme
    dhSinglePass-stdDH-sha256kdf-scheme with aes256-wrap, and the wrapped content key."""
    originator = keys.PublicKeyInfo(
        {"algorithm": keys.PublicKeyAlgorithm({"algorithm": "ec"}), "public_key": originator_point}
    )
    return cms.RecipientInfo(
        name="kari",
        value=cms.KeyAgreeRecipientInfo(
            {
                "version": "v3",
                "originator": cms.OriginatorIdentifierOrKey(
                    name="originator_key", value=originator
                ),
                "key_encryption_algorithm": {
                    "algorithm": ECDH_SHA256_KDF,
                    "parameters": core.Any.load(wrap_algorithm()),
                },
                "recipient_encrypted_keys": [
                    {
                        "rid": cms.KeyAgreementRecipientIdentifier(
                            name="issuer_and_serial_number", value=issuer_and_serial(cert_der)
                        ),
                        "encrypted_key": encrypted_key,
                    }
                ],
            }
        ),
    )


def ecc_shared_info(wrap_algorithm_der: bytes, ukm: bytes | None, key_bytes: int) -> bytes:
    """ECC-CMS-SharedInfo (RFC 5753 section 7.2), the X9.63 KDF's shared info: the key-wrap
    algorithm exactly as the envelope encodes it, the optional user keying material, and the
    wrap key's length in bits."""
    parts = wrap_algorithm_der
    if ukm is not None:
        parts += der.tlv(der.CONTEXT_0, der.tlv(der.OCTET_STRING, ukm))
    bits = (key_bytes * 8).to_bytes(4, "big")
    parts += der.tlv(0xA2, der.tlv(der.OCTET_STRING, bits))
    return der.tlv(der.SEQUENCE, parts)


def content_algorithm(iv: bytes) -> bytes:
    """aes256-CBC with its IV."""
    return bytes(algos.EncryptionAlgorithm({"algorithm": "aes256_cbc", "parameters": iv}).dump())


def cbc_length(size: int) -> int:
    """The AES-CBC ciphertext length of ``size`` octets with PKCS#7 padding."""
    return (size // 16 + 1) * 16


def envelope_prefix(
    recipient_infos: list[cms.RecipientInfo], iv: bytes, content_size: int
) -> bytes:
    """Every octet of the envelope before its ciphertext, with definite lengths computed
    from the ciphertext's length (that of ``content_size`` octets of plain text)."""
    ct_len = cbc_length(content_size)
    version = 0 if all(ri.name == "ktri" for ri in recipient_infos) else 2
    infos: bytes = cms.RecipientInfos(recipient_infos).dump()
    data_oid: bytes = core.ObjectIdentifier(DATA).dump()
    eci_head = data_oid + content_algorithm(iv) + der.header(der.CONTEXT_0_PRIMITIVE, ct_len)
    eci_len = len(eci_head) + ct_len
    version_der: bytes = core.Integer(version).dump()
    ed_head = version_der + infos + der.header(der.SEQUENCE, eci_len) + eci_head
    ed_len = len(ed_head) + ct_len
    ed_outer = der.header(der.SEQUENCE, ed_len)
    explicit = der.header(der.CONTEXT_0, len(ed_outer) + ed_len)
    oid: bytes = core.ObjectIdentifier(ENVELOPED_DATA).dump()
    ci_body_head = oid + explicit + ed_outer + ed_head
    ci_len = len(ci_body_head) + ct_len
    return der.header(der.SEQUENCE, ci_len) + ci_body_head


# --- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class ContentAlgorithm:
    """How the content is encrypted: AES-CBC with a key of ``key_size`` octets and an IV."""

    key_size: int
    iv: bytes


def parse_oid(element: bytes) -> str:
    return str(core.ObjectIdentifier.load(element).dotted)


def parse_content_algorithm(element: bytes) -> ContentAlgorithm | str:
    """The content algorithm, or why it cannot be used (for the caller's message)."""
    alg = algos.EncryptionAlgorithm.load(element)
    oid = alg["algorithm"].dotted
    if oid not in AES_CBC:
        return f"its content is encrypted with {alg['algorithm'].native}, not AES-CBC"
    iv = alg["parameters"].native
    if not isinstance(iv, bytes) or len(iv) != 16:
        return "its AES-CBC IV is not 16 bytes"
    return ContentAlgorithm(AES_CBC[oid], iv)


def parse_recipient_infos(element: bytes) -> list[cms.RecipientInfo]:
    """The recipient list; asn1crypto parses lazily, so every part is touched here to turn
    malformed octets into one of :data:`PARSE_ERRORS` now."""
    infos = cms.RecipientInfos.load(element)
    for ri in infos:
        _ = ri.chosen.native  # parses every field
    return list(infos)


def names_recipient(rid: Any, who: cms.IssuerAndSerialNumber, ski: bytes | None) -> bool:
    """Whether a recipient identifier (ktri's or kari's) names the certificate ``who`` (or
    its subject key identifier ``ski``)."""
    if rid.name == "issuer_and_serial_number":
        ias = rid.chosen
        return bool(
            ias["serial_number"].native == who["serial_number"].native
            and ias["issuer"] == who["issuer"]
        )
    if rid.name == "subject_key_identifier":
        return ski is not None and rid.chosen.native == ski
    if rid.name == "r_key_id":
        return ski is not None and rid.chosen["subject_key_identifier"].native == ski
    return False


def describe_rid(rid: Any) -> str:
    """A recipient identifier for a message: the certificate's issuer (its common name when
    it has one) and serial number in hex, or its key identifier."""
    if rid.name == "issuer_and_serial_number":
        ias = rid.chosen
        issuer = ias["issuer"]
        cn = issuer.native.get("common_name") if isinstance(issuer.native, dict) else None
        return (
            f"issued by {cn or issuer.human_friendly} with serial {ias['serial_number'].native:X}"
        )
    if rid.name == "subject_key_identifier":
        return f"key identifier {rid.chosen.native.hex()}"
    if rid.name == "r_key_id":
        return f"key identifier {rid.chosen['subject_key_identifier'].native.hex()}"
    return str(rid.name)
