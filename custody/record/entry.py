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
from dataclasses import dataclass, field
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
_BASE64 = re.compile(r"[A-Za-z0-9+/=]*")


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
    #: The payload's text as the ledger stores it, when it was read from there: the bytes
    #: the entry was hashed over if nobody changed it.
    stored_payload: str | None = field(default=None, compare=False, repr=False)

    def body(self) -> dict[str, Any]:
        return entry_body(
            self.case_id, self.seq, self.at, self.actor, self.event, self.payload, self.prev_hash
        )

    def signed_bytes(self) -> bytes:
        """The exact bytes that ``entry_hash`` hashes and each signature signs: the
        canonical JSON of :meth:`body`."""
        stored = self._stored_body()
        return canonical_json(self.body()) if stored is None else stored

    def _stored_body(self) -> bytes | None:
        """The body composed around the stored payload text, if those bytes hash to
        ``entry_hash``; else None.

        Bytes with the recorded SHA-256 are the bytes hashed when the entry was written
        (finding others means breaking SHA-256), and the writer hashed the canonical form,
        so they equal ``canonical_json(body())`` without serialising the payload again. Any
        other text (edited, or re-encoded by hand) takes the canonical path and is judged
        on its content, exactly as before.
        """
        if self.stored_payload is None:
            return None
        body = composed_body(
            self.case_id,
            self.seq,
            self.at,
            self.actor,
            self.event,
            self.stored_payload.encode("utf-8", "surrogatepass"),
            self.prev_hash,
        )
        if body is None or sha256_hex(body) != self.entry_hash:
            return None
        return body

    def has_canonical_form(self) -> bool:
        """False when the entry's content has no canonical JSON (a lone surrogate escaped
        into its payload, an integer beyond 2^53: an edit, never written by us, which the
        chain check reports): no document can hold it as it holds the others."""
        try:
            self.signed_bytes()
        except ValueError:
            return False
        return True

    def ledger_line(self) -> bytes:
        """The entry as one line of ``ledger.jsonl``: ``canonical_json(to_json())`` and a
        newline."""
        body = self._stored_body()
        if (
            body is None
            or not _ASCII_FIELD.fullmatch(self.entry_hash)
            or not all(
                _ASCII_FIELD.fullmatch(s.by) and _BASE64.fullmatch(s.sig) for s in self.signatures
            )
        ):
            return _line(self.to_json())
        # The body's keys, with "entry_hash" and "signatures" in their sorted places.
        head, _, rest = body.partition(b'","event":"')
        rest, _, v = rest.rpartition(b',"v":')
        signatures = b",".join(
            b'{"by":"%s","sig":"%s"}' % (s.by.encode(), s.sig.encode()) for s in self.signatures
        )
        return b"".join(
            (
                head,
                b'","entry_hash":"',
                self.entry_hash.encode(),
                b'","event":"',
                rest,
                b',"signatures":[',
                signatures,
                b'],"v":',
                v,
                b"\n",
            )
        )

    def to_json(self) -> dict[str, Any]:
        """The entry as one line of ``ledger.jsonl``."""
        return {
            **self.body(),
            "entry_hash": self.entry_hash,
            "signatures": [{"by": s.by, "sig": s.sig} for s in self.signatures],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], line: bytes | None = None) -> Entry:
        """Parse one ``ledger.jsonl`` object; raises ``KeyError``/``TypeError``/``ValueError``
        when malformed. ``line``, the line it was read from, gives the payload's text as
        written (see :meth:`signed_bytes`)."""
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
            stored_payload=None if line is None else _payload_text(line),
        )


def _payload_text(line: bytes) -> str | None:
    """The payload's text in a line of ``ledger.jsonl`` as we write it: after the first
    ``"payload":`` and before the last ``,"prev_hash":"`` (the keys are sorted, and what
    follows the payload is hex, a number and base64). Only a guess until the body composed
    around it hashes to the entry's hash; None when the line has no such place."""
    start = line.find(b'"payload":')
    end = line.rfind(b',"prev_hash":"')
    if start < 0 or end < start:
        return None
    try:
        return line[start + 10 : end].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _line(value: dict[str, Any]) -> bytes:
    """``value`` as a line of canonical JSON; content that has none (a lone surrogate or a
    NaN: an edited entry, which verification reports) as sorted JSON with ASCII escapes,
    so that the line still shows what the ledger holds."""
    try:
        return canonical_json(value) + b"\n"
    except ValueError:
        text = json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
        return text.encode("ascii") + b"\n"


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

    Serialising the payload once saves half the cost of appending an entry.
    """
    body = composed_body(case_id, seq, at, actor, event, payload_json, prev_hash)
    if body is None:  # anything unusual takes the general path
        body = canonical_json(
            {
                **entry_body(case_id, seq, at, actor, event, {}, prev_hash),
                "payload": json.loads(payload_json),
            }
        )
    return body


def composed_body(
    case_id: str, seq: int, at: str, actor: str, event: str, payload_json: bytes, prev_hash: str
) -> bytes | None:
    """The body's canonical JSON around ``payload_json`` (taken to be canonical), or None
    when a field is not one of our plain ASCII formats.

    The body's keys are fixed ASCII names, so RFC 8785 orders them as written here, and
    values of those formats need no escaping.
    """
    if not (
        _ASCII_FIELD.fullmatch(actor)
        and _TIME.fullmatch(at)
        and _ASCII_FIELD.fullmatch(case_id)
        and _ASCII_FIELD.fullmatch(event)
        and _ASCII_FIELD.fullmatch(prev_hash)
        and type(seq) is int
    ):
        return None
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
