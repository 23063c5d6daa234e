"""The chain and its signatures: every entry linked, hashed, and covered by a valid signature.

- ``seq`` contiguous from 1, each ``prev_hash`` the previous ``entry_hash``, each
  ``entry_hash`` the SHA-256 of the entry's canonical body (edited, deleted, reordered,
  inserted entries);
- every signature verifies against the certificate its ``identity_added`` entry carries;
  every act of a person is signed by its actor (transfers by both examiners); every entry is
  covered by a later valid signature (an unsigned tail is truncation or forgery).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509

from custody.errors import ChainproofError
from custody.record.canonical import sha256_hex
from custody.record.entry import GENESIS_HASH, Entry
from custody.record.events import (
    REGISTRY,
    Checkpoint,
    Event,
    IdentityAdded,
    Transferred,
    is_signed_kind,
)
from custody.record.keys import fingerprint, load_certificate_pem, verify_signature
from custody.verify.findings import Report


@dataclass
class _Pending:
    """A signed entry whose signer's certificate had not been introduced when it was read."""

    entry: Entry
    event: Event | None
    body: bytes


class Chain:
    """Checks the chain, identities and signatures entry by entry, in one pass."""

    def __init__(self, report: Report, case_id: str | None) -> None:
        self.report = report
        self.case_id = case_id
        self.certs: dict[str, x509.Certificate] = {}
        self.prev = GENESIS_HASH
        self.count = 0
        self.covered_through = 0  # highest seq committed to by a valid signature
        self.last_seq = 0
        self.pending: list[_Pending] = []
        #: Positions (1-based, in reading order) of entries whose content does not hash to
        #: their ``entry_hash``: a second pass over the same snapshot skips them by position.
        self.unhashed: set[int] = set()

    def feed(self, e: Entry, event: Event | None) -> None:
        """Check entry ``e``; ``event`` is its typed payload (None when it cannot be read:
        the fold reports that)."""
        report, where = self.report, f"entry {e.seq}"
        self.count += 1
        self.last_seq = e.seq
        if e.seq != self.count:
            report.add(
                "chain.seq",
                where,
                f"found at position {self.count}: entries are missing, inserted or reordered",
                e.seq,
            )
        if self.case_id is not None and e.case_id != self.case_id:
            report.add(
                "chain.case", where, f"belongs to case {e.case_id}, not {self.case_id}", e.seq
            )
        if e.prev_hash != self.prev:
            report.add(
                "chain.prev_hash",
                where,
                "prev_hash does not match the hash of the entry before it "
                "(an entry was deleted, inserted or reordered)",
                e.seq,
            )
        try:
            body = e.signed_bytes()
        except ValueError as exc:  # e.g. a lone surrogate: no canonical form, so not ours
            report.add(
                "chain.entry_hash",
                where,
                f"content has no canonical form ({exc}): the {e.event} entry was edited",
                e.seq,
            )
            body = b""
        if sha256_hex(body) != e.entry_hash:
            self.unhashed.add(self.count)
            report.add(
                "chain.entry_hash",
                where,
                f"content does not match its entry_hash: the {e.event} entry was edited",
                e.seq,
            )
        if e.event not in REGISTRY:
            report.add("chain.event", where, f"unknown event {e.event!r}", e.seq)
        if isinstance(event, IdentityAdded):
            self._add_identity(e, event)
        if isinstance(event, Checkpoint) and (
            event.head != e.prev_hash or event.covers_to != e.seq - 1
        ):
            report.add(
                "checkpoint.head", where, "checkpoint does not name the head it follows", e.seq
            )
        if e.signatures or is_signed_kind(e.event):
            if all(s.by in self.certs for s in e.signatures):
                self._signed(e, event, body)
            else:
                self.pending.append(_Pending(e, event, body))
        self.prev = e.entry_hash
        report.entries = self.count
        report.head = self.prev

    def _signed(self, e: Entry, event: Event | None, body: bytes) -> None:
        valid_by = _check_signatures(e, body, self.certs, self.report)
        _check_required_signers(e, event, valid_by, self.report)
        if valid_by:
            self.covered_through = max(self.covered_through, e.seq)

    def _add_identity(self, e: Entry, event: IdentityAdded) -> None:
        """Trust a certificate an ``identity_added`` entry carries, if it matches its fingerprint."""
        claimed = event.fingerprint
        try:
            cert = load_certificate_pem(event.certificate_pem)
        except ChainproofError as exc:
            self.report.add(
                "identity.certificate", f"entry {e.seq}", f"unreadable certificate: {exc}", e.seq
            )
            return
        if fingerprint(cert) != claimed:
            self.report.add(
                "identity.fingerprint",
                f"entry {e.seq}",
                f"certificate fingerprint {fingerprint(cert)} differs from the recorded {claimed}",
                e.seq,
            )
            return
        self.certs[claimed] = cert
        # The case opener signs case_opened before the entry introducing them is written.
        waiting, self.pending = self.pending, []
        for p in waiting:
            if all(s.by in self.certs for s in p.entry.signatures):
                self._signed(p.entry, p.event, p.body)
            else:
                self.pending.append(p)

    def finish(self) -> None:
        for p in self.pending:
            self._signed(p.entry, p.event, p.body)  # reports each unknown signer
        self.pending = []
        if self.last_seq and self.covered_through < self.last_seq:
            first = self.covered_through + 1
            self.report.add(
                "coverage.tail",
                f"entries {first}..{self.last_seq}",
                "not covered by any valid signature: the ledger was truncated after its last "
                "checkpoint, or entries were appended without the examiner's key",
                first,
            )


def _check_signatures(
    e: Entry, body: bytes, certs: Mapping[str, x509.Certificate], report: Report
) -> set[str]:
    valid: set[str] = set()
    for sig in e.signatures:
        cert = certs.get(sig.by)
        if cert is None:
            report.add(
                "signature.unknown_signer",
                f"entry {e.seq}",
                f"signed by {sig.by}, whose certificate no identity_added entry carries",
                e.seq,
            )
            continue
        try:
            der = sig.der
        except ValueError:
            der = b""
        if verify_signature(cert, body, der):
            valid.add(sig.by)
            report.signatures += 1
            report.signers[sig.by] = _cn(cert)
        else:
            report.add(
                "signature.invalid",
                f"entry {e.seq}",
                f"signature by {_cn(cert)} ({sig.by[:16]}...) does not verify: the entry was "
                "altered or signed with another key",
                e.seq,
            )
    return valid


def _check_required_signers(
    e: Entry, event: Event | None, valid_by: set[str], report: Report
) -> None:
    where = f"entry {e.seq}"
    if is_signed_kind(e.event) and e.actor not in valid_by:
        report.add(
            "signature.missing",
            where,
            f"{e.event} is an act of a person and carries no valid signature of its actor",
            e.seq,
        )
    if isinstance(event, Transferred):
        for role, fp in (("releasing", event.from_fp), ("receiving", event.to_fp)):
            if fp not in valid_by:
                report.add(
                    "signature.transfer",
                    where,
                    f"transfer lacks a valid signature of the {role} examiner",
                    e.seq,
                )


def _cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else fingerprint(cert)[:16]
