"""Reading an RFC 3161 TimeStampResp and checking its token.

A token is a CMS SignedData whose content is a TSTInfo: the authority's statement that the
bytes with this digest (the message imprint) existed at ``genTime``. :func:`check_token`
checks what ``openssl ts -verify`` checks: the imprint against the bytes, the signed
attributes (content type, message digest of the TSTInfo, the ESS signing certificate), the
signature with the TSA's certificate carried in the token, the certificate's critical
timeStamping extended key usage, and, when CA certificates are given, its chain to them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from custody.errors import TimestampError

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha1": hashes.SHA1,
}
_GRANTED = ("granted", "granted_with_mods")


@dataclass(frozen=True)
class TokenFacts:
    """What a granted token states."""

    gen_time: dt.datetime
    imprint: bytes
    hash_algorithm: str
    nonce: int | None
    serial: int
    tsa: str
    token: cms.ContentInfo

    def digest_of(self, data: bytes) -> bytes:
        """``data``'s digest with the token's imprint algorithm."""
        return hashlib.new(self.hash_algorithm, data).digest()


def read_response(der: bytes) -> TokenFacts:
    """The facts of a granted TimeStampResp; a TimestampError when it is malformed,
    refused or holds no token."""
    try:
        resp = tsp.TimeStampResp.load(der, strict=True)
        status = resp["status"]["status"].native
        if status not in _GRANTED:
            why = resp["status"]["status_string"].native or status
            raise TimestampError(f"the timestamp authority refused: {why}")
        token = resp["time_stamp_token"]
        if token.native is None or token["content_type"].native != "signed_data":
            raise TimestampError("the timestamp response holds no signed token")
        info = token["content"]["encap_content_info"]
        if info["content_type"].native != "tst_info":
            raise TimestampError("the token's content is not a TSTInfo")
        tst = info["content"].parsed
        imprint = tst["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if algorithm not in _HASHES:
            raise TimestampError(f"the token's imprint uses {algorithm}, which is not supported")
        tsa = tst["tsa"]
        return TokenFacts(
            gen_time=tst["gen_time"].native.astimezone(dt.UTC),
            imprint=imprint["hashed_message"].native,
            hash_algorithm=algorithm,
            nonce=tst["nonce"].native,
            serial=tst["serial_number"].native,
            tsa=tsa.chosen.human_friendly if tsa.native is not None else "",
            token=token,
        )
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TimestampError(f"not a well-formed timestamp response: {exc}") from exc


def _attr(signed_attrs: Any, name: str) -> Any:
    for attr in signed_attrs:
        if attr["type"].native == name:
            return attr["values"][0]
    return None


def _signer_cert(signed: Any, sid: Any) -> tuple[x509.Certificate, list[x509.Certificate]]:
    certs = [
        x509.load_der_x509_certificate(c.chosen.dump())
        for c in signed["certificates"]
        if c.name == "certificate"
    ]
    if sid.name == "issuer_and_serial_number":
        serial = sid.chosen["serial_number"].native
        issuer = sid.chosen["issuer"].dump()
        for c in certs:
            if c.serial_number == serial and c.issuer.public_bytes() == issuer:
                return c, certs
    else:
        key_id = sid.chosen.native
        for c in certs:
            try:
                ski = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == key_id:
                return c, certs
    raise TimestampError("the token does not carry the TSA's certificate")


def _verify_signature(cert: x509.Certificate, si: Any, data: bytes, digest: str) -> None:
    key = cert.public_key()
    sig = si["signature"].native
    algo = _HASHES[digest]()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, data, ec.ECDSA(algo))
        elif isinstance(key, rsa.RSAPublicKey):
            if si["signature_algorithm"]["algorithm"].native == "rsassa_pss":
                pad: padding.AsymmetricPadding = padding.PSS(padding.MGF1(algo), padding.PSS.AUTO)
            else:
                pad = padding.PKCS1v15()
            key.verify(sig, data, pad, algo)
        else:
            raise TimestampError("the TSA's key type is not supported (RSA or EC)")
    except InvalidSignature:
        raise TimestampError("the TSA's signature on the token does not verify") from None


def _check_ess(signed_attrs: Any, cert: x509.Certificate) -> None:
    der = cert.public_bytes(serialization.Encoding.DER)
    v2 = _attr(signed_attrs, "signing_certificate_v2")
    if v2 is not None:
        first = v2["certs"][0]
        algorithm = first["hash_algorithm"]["algorithm"].native or "sha256"
        if hashlib.new(algorithm, der).digest() != first["cert_hash"].native:
            raise TimestampError("the token's ESS signing certificate is not the TSA's")
        return
    v1 = _attr(signed_attrs, "signing_certificate")
    if v1 is not None:
        if hashlib.sha1(der).digest() != v1["certs"][0]["cert_hash"].native:
            raise TimestampError("the token's ESS signing certificate is not the TSA's")
        return
    raise TimestampError("the token names no signing certificate (ESS)")


def _check_eku(cert: x509.Certificate) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise TimestampError("the TSA's certificate has no extended key usage") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TimestampError(
            "the TSA's certificate is not for timestamping only (its extended key usage must "
            "be timeStamping, critical)"
        )


def check_signature(facts: TokenFacts) -> x509.Certificate:
    """Check the token's CMS signature; its signer's certificate."""
    try:
        signed = facts.token["content"]
        infos = signed["signer_infos"]
        if len(infos) != 1:
            raise TimestampError(f"the token has {len(infos)} signers, not one")
        si = infos[0]
        digest = si["digest_algorithm"]["algorithm"].native
        if digest not in _HASHES:
            raise TimestampError(f"the token is signed with {digest}, which is not supported")
        attrs = si["signed_attrs"]
        if not attrs:
            raise TimestampError("the token's signature has no signed attributes")
        if _attr(attrs, "content_type").native != "tst_info":
            raise TimestampError("the token's signed content type is not TSTInfo")
        content = signed["encap_content_info"]["content"].contents
        if _attr(attrs, "message_digest").native != hashlib.new(digest, content).digest():
            raise TimestampError("the token's TSTInfo was changed after it was signed")
        cert, _ = _signer_cert(signed, si["sid"])
        _check_ess(attrs, cert)
        _check_eku(cert)
        data = attrs.dump()
        _verify_signature(cert, si, b"\x31" + data[1:], digest)
        return cert
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise TimestampError(f"the token cannot be read: {exc}") from exc


def check_chain(
    facts: TokenFacts, signer: x509.Certificate, anchors: Sequence[x509.Certificate]
) -> None:
    """Check that ``signer`` chains to one of ``anchors``, each certificate valid at the
    token's time (intermediates from the token or the anchors)."""
    try:
        pool = [
            x509.load_der_x509_certificate(c.chosen.dump())
            for c in facts.token["content"]["certificates"]
            if c.name == "certificate"
        ]
    except ValueError as exc:
        raise TimestampError(f"the token's certificates cannot be read: {exc}") from exc
    pool += list(anchors)
    at = facts.gen_time
    cert = signer
    for _depth in range(8):
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise TimestampError(
                f"certificate {cert.subject.rfc4514_string()} was not valid at the token's time"
            )
        if any(cert == a for a in anchors):
            return
        issuer = next((c for c in pool if c.subject == cert.issuer and _issued(cert, c)), None)
        if issuer is None or issuer == cert:
            break
        cert = issuer
    raise TimestampError(
        f"the TSA's certificate ({signer.subject.rfc4514_string()}) does not chain to the "
        "given TSA CA certificates"
    )


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
