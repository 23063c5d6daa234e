"""Requesting tokens from a real TSA and checking them: imprint, signature, chain."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509

from custody.errors import TimestampError
from custody.timestamp.request import TsaClient, make_request
from custody.timestamp.store import TokenStore
from custody.timestamp.token import check_chain, check_signature, read_response
from tests.tsa_server import Tsa, make_ca


def _ca(tsa: Tsa) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(tsa.ca_pem.read_bytes())]


def test_request_carries_imprint_nonce_and_cert_req() -> None:
    der, nonce = make_request(b"signed bytes")
    req = tsp.TimeStampReq.load(der)
    assert (
        req["message_imprint"]["hashed_message"].native == hashlib.sha256(b"signed bytes").digest()
    )
    assert req["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert req["nonce"].native == nonce
    assert req["cert_req"].native is True


def test_a_granted_token_checks_out_and_openssl_agrees(tsa: Tsa, tmp_path: Path) -> None:
    stamp = TsaClient(tsa.url).stamp(b"entry body")
    facts = read_response(stamp.response)
    assert facts.imprint == hashlib.sha256(b"entry body").digest()
    cert = check_signature(facts)
    check_chain(facts, cert, _ca(tsa))
    (tmp_path / "body").write_bytes(b"entry body")
    (tmp_path / "t.tsr").write_bytes(stamp.response)
    done = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            tmp_path / "body",
            "-in",
            tmp_path / "t.tsr",
            "-CAfile",
            tsa.ca_pem,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip() == "Verification: OK", done.stderr


def test_another_ca_does_not_anchor_the_chain(tsa: Tsa, tmp_path: Path) -> None:
    facts = read_response(TsaClient(tsa.url).stamp(b"x").response)
    cert = check_signature(facts)
    other, _key = make_ca(tmp_path, "Other CA")
    with pytest.raises(TimestampError, match="does not chain"):
        check_chain(facts, cert, [other])


def test_changed_bytes_of_a_token_are_refused(tsa: Tsa) -> None:
    response = TsaClient(tsa.url).stamp(b"y").response
    with pytest.raises(TimestampError):
        read_response(response[: len(response) // 2])
    flipped = bytearray(response)
    flipped[-1] ^= 0x01  # inside the TSA's signature
    with pytest.raises(TimestampError, match="signature"):
        check_signature(read_response(bytes(flipped)))


def test_an_unreachable_authority_is_a_timestamp_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(TimestampError, match="could not be reached"):
        TsaClient(f"http://127.0.0.1:{port}/", timeout=2).stamp(b"z")
    with pytest.raises(TimestampError, match="http"):
        TsaClient("file:///etc/passwd")


def test_the_store_keeps_a_token_once(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    assert store.read(3) is None
    assert store.write(3, b"first")
    assert not store.write(3, b"second")
    assert store.read(3) == b"first"
    assert store.seqs() == {3}
    assert [p.name for p in store.dir.iterdir()] == ["3.tsr"]  # no temporary file left
