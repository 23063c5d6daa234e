"""One ledger entry: its body, the canonical bytes that are hashed and signed, its signatures.

Each entry's *body* is ``{"v", "case_id", "seq", "at", "actor", "event", "payload",
"prev_hash"}``. Its canonical JSON (RFC 8785) is both what ``entry_hash`` hashes (SHA-256)
and what a signature signs (ECDSA P-256 over SHA-256), so ``openssl dgst -sha256 -verify``
checks a signature on the exported body bytes alone. The first entry's ``prev_hash`` is
:data:`GENESIS_HASH`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from custody.errors import SignatureError
from custody.record.canonical import canonical_json, sha256_hex

if TYPE_CHECKING:  # signing needs cryptography; reading entries does not
    from custody.record.keys import Identity

FORMAT_VERSION = 1
GENESIS_HASH = "0" * 64

# Field values that need no JSON escaping: ids, hex hashes, event names and our timestamps.
_ASCII_FIELD = re.compile(r"[A-Za-z0-9_.:-]*")
_TIME = re.compile(r"[0-9T:.Z-]*")


@dataclass(frozen=True)
class Signature:
    """One signature on an entry: who (certificate fingerprint) and the DER bytes, base64."""

    by: str
    sig: str

    @property
    def der(self) -> bytes:
        return base64.b64decode(self.sig)


@dataclass(frozen=True)
class Entry:
    """One ledger entry as stored and exported. ``event`` names the payload's type; the
    typed payload is :func:`custody.record.events.parse` of the entry."""

    case_id: str
    seq: int
    at: str
    actor: str
    event: str
    payload: Mapping[str, Any]
    prev_hash: str
    entry_hash: str
    signatures: tuple[Signature, ...] = ()

    def body(self) -> dict[str, Any]:
        return entry_body(
            self.case_id, self.seq, self.at, self.actor, self.event, self.payload, self.prev_hash
        )

    def signed_bytes(self) -> bytes:
        """The exact bytes that ``entry_hash`` hashes and each signature signs."""
        return canonical_json(self.body())

    def to_json(self) -> dict[str, Any]:
        """The entry as one line of ``ledger.jsonl``."""
        return {
            **self.body(),
            "entry_hash": self.entry_hash,
            "signatures": [{"by": s.by, "sig": s.sig} for s in self.signatures],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Entry:
        """Parse one ``ledger.jsonl`` object; raises ``KeyError``/``TypeError``/``ValueError``
        when malformed."""
        payload = obj["payload"]
        if not isinstance(payload, Mapping):
            raise TypeError("payload is not an object")
        return cls(
            case_id=str(obj["case_id"]),
            seq=int(obj["seq"]),
            at=str(obj["at"]),
            actor=str(obj["actor"]),
            event=str(obj["event"]),
            payload=dict(payload),
            prev_hash=str(obj["prev_hash"]),
            entry_hash=str(obj["entry_hash"]),
            signatures=tuple(Signature(str(s["by"]), str(s["sig"])) for s in obj["signatures"]),
        )


def entry_body(
    case_id: str,
    seq: int,
    at: str,
    actor: str,
    event: str,
    payload: Mapping[str, Any],
    prev_hash: str,
) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "case_id": case_id,
        "seq": seq,
        "at": at,
        "actor": actor,
        "event": event,
        "payload": payload,
        "prev_hash": prev_hash,
    }


def make_entry(
    case_id: str,
    seq: int,
    at: str,
    actor: str,
    event: str,
    payload: Mapping[str, Any],
    prev_hash: str,
    signers: Sequence[Identity] = (),
) -> Entry:
    """Build (hash and sign) one entry."""
    return make_entry_from_json(
        case_id, seq, at, actor, event, payload, canonical_json(payload), prev_hash, signers
    )


def make_entry_from_json(
    case_id: str,
    seq: int,
    at: str,
    actor: str,
    event: str,
    payload: Mapping[str, Any],
    payload_json: bytes,
    prev_hash: str,
    signers: Sequence[Identity] = (),
) -> Entry:
    """Build one entry around its payload's canonical JSON (``payload_json``)."""
    body = body_bytes(case_id, seq, at, actor, event, payload_json, prev_hash)
    try:
        signatures = tuple(
            Signature(s.fingerprint, base64.b64encode(s.sign(body)).decode("ascii"))
            for s in signers
        )
    except ValueError as exc:
        raise SignatureError(f"signing ledger entry {seq} failed: {exc}") from exc
    return Entry(case_id, seq, at, actor, event, payload, prev_hash, sha256_hex(body), signatures)


def body_bytes(
    case_id: str, seq: int, at: str, actor: str, event: str, payload_json: bytes, prev_hash: str
) -> bytes:
    """``canonical_json(entry_body(...))``, composed around the already canonical payload.

    The body's keys are fixed ASCII names, so RFC 8785 orders them as written here; each
    value is canonicalised on its own. Serialising the payload once saves half the cost of
    appending an entry. :meth:`Entry.signed_bytes` recomputes the body the plain way, and
    the verifier compares the two on every entry.
    """
    if not (
        _ASCII_FIELD.fullmatch(actor)
        and _TIME.fullmatch(at)
        and _ASCII_FIELD.fullmatch(case_id)
        and _ASCII_FIELD.fullmatch(event)
        and _ASCII_FIELD.fullmatch(prev_hash)
    ):
        # Anything unusual takes the general path; the fast one is for our own formats.
        body = entry_body(case_id, seq, at, actor, event, {}, prev_hash)
        return canonical_json({**body, "payload": json.loads(payload_json)})
    return b"".join(
        (
            b'{"actor":"',
            actor.encode(),
            b'","at":"',
            at.encode(),
            b'","case_id":"',
            case_id.encode(),
            b'","event":"',
            event.encode(),
            b'","payload":',
            payload_json,
            b',"prev_hash":"',
            prev_hash.encode(),
            b'","seq":',
            b"%d" % seq,
            b',"v":',
            b"%d" % FORMAT_VERSION,
            b"}",
        )
    )
