"""Asking a timestamp authority for a token (RFC 3161 over HTTP, RFC 3161 section 3.4).

The request carries the SHA-256 of the exact bytes that were signed, a random 64-bit nonce
and ``certReq`` (so the token carries the TSA's certificate and ``openssl ts -verify`` needs
only the CA). The answer must be granted and its token must echo the nonce and the imprint;
anything else is a :class:`~custody.errors.TimestampError`. The standard library's urllib
does the HTTP: the call is synchronous (the stamper runs it on a thread of its own), needs
no event loop, and the raw answer is kept as the authority sent it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from asn1crypto import tsp

from custody.errors import TimestampError
from custody.timestamp.token import TokenFacts, read_response

QUERY_TYPE = "application/timestamp-query"
#: An answer larger than this is not a timestamp response.
MAX_RESPONSE = 1 << 20
DEFAULT_TIMEOUT = 10.0


def make_request(data: bytes, nonce: int | None = None) -> tuple[bytes, int]:
    """A DER TimeStampReq over SHA-256(``data``), and its nonce."""
    nonce = nonce if nonce is not None else int.from_bytes(os.urandom(8), "big") | 1
    req = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(data).digest(),
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return req.dump(), nonce


def check_url(url: str) -> str:
    """``url`` when it is an http or https URL with a host, else a TimestampError."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TimestampError(f"the timestamp authority must be an http(s) URL, not {url!r}")
    return url


@dataclass(frozen=True)
class Stamp:
    """A token the authority granted: the response as sent, and what its token states."""

    response: bytes
    facts: TokenFacts


class TsaClient:
    """One timestamp authority, by URL."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = check_url(url)
        self.timeout = timeout

    def stamp(self, data: bytes) -> Stamp:
        """A granted token over ``data``, checked against the request (nonce, imprint)."""
        request, nonce = make_request(data)
        answer = self._post(request)
        facts = read_response(answer)
        if facts.nonce != nonce:
            raise TimestampError(
                f"the timestamp authority {self.url} answered with nonce {facts.nonce}, "
                f"not the {nonce} asked for: the answer belongs to another request"
            )
        if facts.imprint != hashlib.sha256(data).digest() or facts.hash_algorithm != "sha256":
            raise TimestampError(
                f"the timestamp authority {self.url} stamped other bytes than those sent"
            )
        return Stamp(answer, facts)

    def _post(self, body: bytes) -> bytes:
        req = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": QUERY_TYPE}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data: bytes = resp.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as exc:
            raise TimestampError(
                f"the timestamp authority {self.url} refused the request: HTTP {exc.code} "
                f"{exc.reason}"
            ) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            why = getattr(exc, "reason", None) or exc
            raise TimestampError(
                f"the timestamp authority {self.url} could not be reached: {why}"
            ) from exc
        if len(data) > MAX_RESPONSE:
            raise TimestampError(f"the timestamp authority {self.url} sent over 1 MiB")
        return data
