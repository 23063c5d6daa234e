"""Encrypted bundles as CMS EnvelopedData: opened by ``openssl cms -decrypt`` for each
recipient and by our own streamed decryption; every damage a clear error, never a partial
output."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from custody.envelope import decrypt_file, encrypt_file, recipient, recipients_of
from custody.envelope.encrypt import OPENSSL_CMS_LIMIT
from custody.errors import (
    DamagedEnvelope,
    EnvelopeError,
    UnsupportedRecipient,
    WrongRecipient,
)
from tests.custody.envelope.conftest import Party, self_signed

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
MASKS = (0x01, 0x80, 0x10, 0xFF, 0x04, 0x40, 0x02, 0x20)


def openssl_decrypt(p7m: Path, party: Party, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "openssl",
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            str(p7m),
            "-recip",
            str(party.cert_pem),
            "-inkey",
            str(party.key_pem),
            "-out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )


def both(parties: dict[str, Party]) -> list:
    return [recipient(parties["rsa"].certificate), recipient(parties["p256"].certificate)]


@needs_openssl
@pytest.mark.parametrize("size", [0, 1, 15, 16, 4096, 300_001, (1 << 20) * 3 + 7])
def test_openssl_and_we_open_it_for_each_recipient(
    tmp_path: Path, parties: dict[str, Party], size: int
) -> None:
    data = os.urandom(size)
    src = tmp_path / "B.zip"
    src.write_bytes(data)
    env = encrypt_file(src, both(parties), tmp_path / "B.zip.p7m")
    assert env.size == (tmp_path / "B.zip.p7m").stat().st_size
    assert env.content_size == size
    assert env.fingerprints == tuple(
        parties[n].certificate.fingerprint(hashes.SHA256()).hex() for n in ("rsa", "p256")
    )
    for name in ("rsa", "p256"):
        party = parties[name]
        r = openssl_decrypt(env.path, party, tmp_path / f"openssl-{name}")
        assert r.returncode == 0, r.stderr
        assert (tmp_path / f"openssl-{name}").read_bytes() == data
        opened = decrypt_file(env.path, party.key, party.certificate, tmp_path / f"ours-{name}")
        assert (tmp_path / f"ours-{name}").read_bytes() == data
        assert (tmp_path / f"ours-{name}").stat().st_mode & 0o777 == 0o600  # plain text
        assert opened.size == size
        assert opened.sha256 == hashlib.sha256(data).hexdigest()


def test_structure_is_the_one_documented(tmp_path: Path, parties: dict[str, Party]) -> None:
    """DER with definite lengths; RSA: OAEP with SHA-256; P-256: RFC 5753 with the SHA-256
    KDF and aes256-wrap; content: aes256-CBC."""
    src = tmp_path / "f"
    src.write_bytes(b"x" * 1000)
    env = encrypt_file(src, both(parties), tmp_path / "f.p7m")
    raw = env.path.read_bytes()
    ci = asn1_cms.ContentInfo.load(raw, strict=True)  # strict: no byte left over
    assert ci["content_type"].native == "enveloped_data"
    ed = ci["content"]
    assert ed["version"].native == "v2"
    ktri, kari = (ri.chosen for ri in ed["recipient_infos"])
    assert ktri["key_encryption_algorithm"]["algorithm"].native == "rsaes_oaep"
    oaep = ktri["key_encryption_algorithm"]["parameters"]
    assert oaep["hash_algorithm"]["algorithm"].native == "sha256"
    assert oaep["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha256"
    assert ktri["rid"].chosen["serial_number"].native == parties["rsa"].certificate.serial_number
    assert kari["key_encryption_algorithm"]["algorithm"].dotted == "1.3.132.1.11.1"
    assert kari["key_encryption_algorithm"]["parameters"].dump() == bytes.fromhex(
        "300b060960864801650304012d"  # aes256-wrap, parameters absent
    )
    assert kari["originator"].chosen["algorithm"]["algorithm"].native == "ec"
    eci = ed["encrypted_content_info"]
    assert eci["content_encryption_algorithm"]["algorithm"].native == "aes256_cbc"
    assert len(eci["encrypted_content"].native) == 1008
    assert env.openssl_opens
    assert not dataclasses.replace(env, size=OPENSSL_CMS_LIMIT + 1).openssl_opens
    # Definite lengths everywhere: the outer SEQUENCE's length is the file's.
    assert raw[0] == 0x30 and raw[1] == 0x82 and int.from_bytes(raw[2:4], "big") + 4 == len(raw)


def test_rsa_only_is_version_0(tmp_path: Path, parties: dict[str, Party]) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"abc")
    env = encrypt_file(src, [recipient(parties["rsa"].certificate)], tmp_path / "f.p7m")
    assert asn1_cms.ContentInfo.load(env.path.read_bytes())["content"]["version"].native == "v0"
    assert len(recipients_of(env.path)) == 1


def test_a_recipient_given_twice_is_listed_once(tmp_path: Path, parties: dict[str, Party]) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"abc")
    r = recipient(parties["p256"].certificate)
    env = encrypt_file(src, [r, r], tmp_path / "f.p7m")
    assert len(env.recipients) == 1 and len(recipients_of(env.path)) == 1


@needs_openssl
@pytest.mark.parametrize(
    "options",
    [
        ["-aes-256-cbc"],  # openssl's defaults otherwise: PKCS#1 v1.5, definite lengths
        ["-aes-128-cbc", "-stream"],  # BER: indefinite lengths, ciphertext in pieces
        ["-aes-192-cbc", "-stream", "-keyopt", "ecdh_kdf_md:sha384"],
    ],
)
def test_we_open_what_openssl_writes(
    tmp_path: Path, parties: dict[str, Party], options: list[str]
) -> None:
    data = os.urandom(2_500_000)
    (tmp_path / "in").write_bytes(data)
    rsa_pem, ec_pem = parties["rsa"].cert_pem, parties["p256"].cert_pem
    subprocess.run(
        ["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", *options[:1]]
        + ["-in", str(tmp_path / "in"), "-out", str(tmp_path / "o.p7m")]
        + [o for o in options[1:] if o == "-stream"]
        + ["-recip", str(rsa_pem), "-recip", str(ec_pem)]
        + [o for o in options[1:] if o != "-stream"],
        check=True,
    )
    for name in ("rsa", "p256"):
        p = parties[name]
        decrypt_file(tmp_path / "o.p7m", p.key, p.certificate, tmp_path / name)
        assert (tmp_path / name).read_bytes() == data


@needs_openssl
def test_aes_gcm_auth_enveloped_data_is_named(tmp_path: Path, parties: dict[str, Party]) -> None:
    (tmp_path / "in").write_bytes(b"data")
    subprocess.run(
        [
            *("openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-gcm"),
            *("-in", str(tmp_path / "in"), "-out", str(tmp_path / "g.p7m")),
            str(parties["rsa"].cert_pem),
        ],
        check=True,
    )
    p = parties["rsa"]
    with pytest.raises(EnvelopeError, match=r"AuthEnvelopedData \(AES-GCM\).*openssl cms -decrypt"):
        decrypt_file(tmp_path / "g.p7m", p.key, p.certificate, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@needs_openssl
def test_openssl_default_3des_is_refused_by_name(tmp_path: Path, parties: dict[str, Party]) -> None:
    (tmp_path / "in").write_bytes(b"data")
    subprocess.run(
        [
            *("openssl", "cms", "-encrypt", "-binary", "-outform", "DER"),
            *("-in", str(tmp_path / "in"), "-out", str(tmp_path / "d.p7m")),
            str(parties["rsa"].cert_pem),
        ],
        check=True,
    )
    p = parties["rsa"]
    with pytest.raises(EnvelopeError, match="encrypted with tripledes_3key, not AES-CBC"):
        decrypt_file(tmp_path / "d.p7m", p.key, p.certificate, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.fixture
def sealed(tmp_path: Path, parties: dict[str, Party]) -> tuple[Path, bytes]:
    data = os.urandom(64 * 1024)  # a multiple of 16: the last block is all padding
    (tmp_path / "B.zip").write_bytes(data)
    env = encrypt_file(tmp_path / "B.zip", both(parties), tmp_path / "B.zip.p7m")
    return env.path, data


def test_wrong_recipient_is_named(
    tmp_path: Path, parties: dict[str, Party], sealed: tuple[Path, bytes]
) -> None:
    p7m, _ = sealed
    other = parties["other"]
    with pytest.raises(
        WrongRecipient,
        match=r"is not encrypted to other \(certificate SHA-256 [0-9a-f]{64}\): its recipients are the certificates issued by rsa with serial [0-9A-F]+; issued by p256 with serial [0-9A-F]+$",
    ) as e:
        decrypt_file(p7m, other.key, other.certificate, tmp_path / "out")
    assert "\n" not in str(e.value) and e.value.exit_code == 5
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("kind", ["rsa", "p256"])
def test_another_key_under_a_recipients_certificate(
    tmp_path: Path, parties: dict[str, Party], sealed: tuple[Path, bytes], kind: str
) -> None:
    """Same issuer and serial, another key: the unwrap fails, said as such."""
    p7m, _ = sealed
    cert = parties[kind].certificate
    key = (
        rsa.generate_private_key(65537, 3072)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    with pytest.raises(
        WrongRecipient, match=r"does not open .* does not unwrap with this private key"
    ):
        decrypt_file(p7m, key, cert, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("cut", "where"),
    [
        (1, "inside ContentInfo"),
        (40, "inside the recipient list"),
        (-5000, "inside the encrypted content"),
        (-1, "inside the encrypted content"),
    ],
)
def test_truncated_is_said_before_anything_is_written(
    tmp_path: Path, parties: dict[str, Party], sealed: tuple[Path, bytes], cut: int, where: str
) -> None:
    p7m, _ = sealed
    raw = p7m.read_bytes()
    short = tmp_path / "short.p7m"
    short.write_bytes(raw[:cut])
    p = parties["p256"]
    match = "is truncated: " + ("it has" if cut != 1 else "it ends at byte 1, " + where)
    with pytest.raises(DamagedEnvelope, match=match) as e:
        decrypt_file(short, p.key, p.certificate, tmp_path / "out")
    assert e.value.exit_code == 7 and "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_truncated_inner_lengths_are_caught_while_streaming(
    tmp_path: Path, parties: dict[str, Party]
) -> None:
    """A BER envelope (no outer length to compare with the file) cut inside its content."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    (tmp_path / "in").write_bytes(os.urandom(300_000))
    subprocess.run(
        [
            *("openssl", "cms", "-encrypt", "-binary", "-stream", "-outform", "DER"),
            *("-aes-256-cbc", "-in", str(tmp_path / "in"), "-out", str(tmp_path / "o.p7m")),
            str(parties["rsa"].cert_pem),
        ],
        check=True,
    )
    raw = (tmp_path / "o.p7m").read_bytes()
    (tmp_path / "cut.p7m").write_bytes(raw[: len(raw) // 2])
    p = parties["rsa"]
    with pytest.raises(
        DamagedEnvelope, match=r"is truncated: it ends at byte \d+, inside the encrypted content"
    ):
        decrypt_file(tmp_path / "cut.p7m", p.key, p.certificate, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bytes_after_the_end(
    tmp_path: Path, parties: dict[str, Party], sealed: tuple[Path, bytes]
) -> None:
    p7m, _ = sealed
    longer = tmp_path / "longer.p7m"
    longer.write_bytes(p7m.read_bytes() + b"\0")
    p = parties["rsa"]
    with pytest.raises(DamagedEnvelope, match="1 bytes follow the end of the envelope"):
        decrypt_file(longer, p.key, p.certificate, tmp_path / "out")


def test_a_flip_in_the_padding_block_fails_decryption(
    tmp_path: Path, parties: dict[str, Party], sealed: tuple[Path, bytes]
) -> None:
    """The content is a whole number of blocks, so its last block is 16 bytes of padding
    (0x10 each): flipping the last byte of the block before flips the last padding byte."""
    p7m, _ = sealed
    raw = bytearray(p7m.read_bytes())
    raw[-17] ^= 0x01
    bad = tmp_path / "bad.p7m"
    bad.write_bytes(raw)
    p = parties["p256"]
    with pytest.raises(DamagedEnvelope, match="does not end with valid padding"):
        decrypt_file(bad, p.key, p.certificate, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_flip_in_the_content_changes_the_bytes(
    tmp_path: Path, parties: dict[str, Party], sealed: tuple[Path, bytes]
) -> None:
    """AES-CBC has no integrity check: a flip inside the ciphertext garbles the bundle's
    bytes (the bundle's own signed checks catch it: tests/app/test_decrypt_cli.py)."""
    p7m, data = sealed
    raw = bytearray(p7m.read_bytes())
    raw[len(raw) - 30_000] ^= 0x80
    bad = tmp_path / "bad.p7m"
    bad.write_bytes(raw)
    p = parties["p256"]
    decrypt_file(bad, p.key, p.certificate, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() != data


@pytest.mark.parametrize("offset", [0, 5, 16, 21, 26])
def test_a_flip_in_the_outer_headers_is_damage(
    tmp_path: Path, parties: dict[str, Party], sealed: tuple[Path, bytes], offset: int
) -> None:
    p7m, _ = sealed
    raw = bytearray(p7m.read_bytes())
    raw[offset] ^= 0x04
    bad = tmp_path / "bad.p7m"
    bad.write_bytes(raw)
    p = parties["rsa"]
    with pytest.raises(EnvelopeError) as e:
        decrypt_file(bad, p.key, p.certificate, tmp_path / "out")
    assert "\n" not in str(e.value) and str(bad) in str(e.value)
    assert not (tmp_path / "out").exists()


def test_the_output_is_never_overwritten(
    tmp_path: Path, parties: dict[str, Party], sealed: tuple[Path, bytes]
) -> None:
    p7m, _ = sealed
    (tmp_path / "out").write_bytes(b"keep")
    p = parties["rsa"]
    with pytest.raises(EnvelopeError, match="already exists"):
        decrypt_file(p7m, p.key, p.certificate, tmp_path / "out")
    with pytest.raises(EnvelopeError, match="already exists"):
        encrypt_file(tmp_path / "B.zip", both(parties), tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"keep"


def test_pem_input_says_how_to_convert(tmp_path: Path, parties: dict[str, Party]) -> None:
    pem = tmp_path / "x.pem"
    pem.write_bytes(b"-----BEGIN CMS-----\nMIIB\n-----END CMS-----\n")
    p = parties["rsa"]
    with pytest.raises(DamagedEnvelope, match=r"not a CMS envelope in DER .*-outform DER"):
        decrypt_file(pem, p.key, p.certificate, tmp_path / "out")


def test_unsupported_recipients_are_refused(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    small = rsa.generate_private_key(65537, 1024)
    with pytest.raises(UnsupportedRecipient, match="RSA key of 1024 bits: at least 2048"):
        recipient(self_signed(small, "small"))
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(UnsupportedRecipient, match="EC key on secp384r1: only P-256"):
        recipient(self_signed(p384, "p384"))
    ed = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(UnsupportedRecipient, match="Ed25519PublicKey key: only RSA or P-256"):
        recipient(self_signed(ed, "ed"))
    p256 = ec.generate_private_key(ec.SECP256R1())
    old = self_signed(p256, "old", start=now - dt.timedelta(days=40), days=30)
    with pytest.raises(UnsupportedRecipient, match="the certificate of old expired on "):
        recipient(old)
    future = self_signed(p256, "future", start=now + dt.timedelta(days=1))
    with pytest.raises(UnsupportedRecipient, match="is not valid before"):
        recipient(future)
    assert UnsupportedRecipient("x").exit_code == 5


def test_no_recipient_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    from custody.errors import UsageError

    with pytest.raises(UsageError, match="at least one recipient"):
        encrypt_file(tmp_path / "f", [], tmp_path / "f.p7m")
    assert not (tmp_path / "f.p7m").exists()


def test_expired_recipient_still_opens_what_was_sealed_for_it(
    tmp_path: Path, parties: dict[str, Party], sealed: tuple[Path, bytes]
) -> None:
    """Decryption does not check dates: a bundle sealed while the certificate was valid
    opens after it expired (tested with a certificate of the same key, issuer and serial)."""
    p7m, data = sealed
    p = parties["p256"]
    now = dt.datetime.now(dt.UTC)
    expired = self_signed(
        p.key,
        "p256",
        start=now - dt.timedelta(days=400),
        days=1,
        serial=p.certificate.serial_number,
    )
    decrypt_file(p7m, p.key, expired, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


@pytest.mark.parametrize("who", ["rsa", "p256"])
def test_every_header_flip_is_a_clear_error_or_harmless(
    tmp_path: Path, parties: dict[str, Party], who: str
) -> None:
    """A flip of every byte before the ciphertext (masks in turn): a one-line Chainproof error, or the
    right bytes (a flip inside another recipient's entry), or different bytes only where
    the IV was flipped. Never another exception (asn1crypto parses lazily: every field is
    touched before use)."""
    data = os.urandom(100)
    (tmp_path / "in").write_bytes(data)
    env = encrypt_file(tmp_path / "in", both(parties), tmp_path / "in.p7m")
    raw = env.path.read_bytes()
    eci = asn1_cms.ContentInfo.load(raw)["content"]["encrypted_content_info"]
    iv = eci["content_encryption_algorithm"]["parameters"].native
    iv_at = raw.index(iv)
    header_end = len(raw) - len(eci["encrypted_content"].native)
    p = parties[who]
    outcomes: dict[str, int] = {}
    for offset in range(header_end):
        mask = MASKS[offset % len(MASKS)]
        bad = bytearray(raw)
        bad[offset] ^= mask
        (tmp_path / "bad.p7m").write_bytes(bad)
        out = tmp_path / "out"
        out.unlink(missing_ok=True)
        try:
            decrypt_file(tmp_path / "bad.p7m", p.key, p.certificate, out)
        except EnvelopeError as exc:
            assert "\n" not in str(exc), (offset, mask, str(exc))
            assert not out.exists()
            kind = type(exc).__name__
        else:
            same = out.read_bytes() == data
            assert same or iv_at <= offset < iv_at + 16, (offset, mask)
            kind = "same bytes" if same else "IV flipped"
        outcomes[kind] = outcomes.get(kind, 0) + 1
    assert outcomes["DamagedEnvelope"] and outcomes["IV flipped"] == 16, outcomes
