"""What ``verify`` checks of every token (case and bundle alike).

For each signed entry that has ``timestamps/<seq>.tsr``: the response is granted and well
formed, its message imprint is the digest of that entry's signed bytes (a token moved to
another entry fails here), the TSA's CMS signature holds, and, with TSA CA certificates,
the TSA's certificate chains to them (without them, the report says the chain was not
checked). Times: a token may not be older than its entry beyond :data:`SKEW`; one taken
more than :data:`ON_TIME` after its entry must be named by a ``timestamped`` act and not be
younger than that act; tokens taken as entries were written never go back in ledger order.
A token of no signed entry is a finding. An entry without a token is untimestamped: counted
and named, not a finding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from custody.errors import TimestampError
from custody.record.entry import Entry
from custody.record.events import Event, Timestamped
from custody.record.fold import CaseState
from custody.record.times import parse_utc
from custody.timestamp.policy import ON_TIME, SKEW
from custody.timestamp.store import TokenStore, seq_of, token_file
from custody.timestamp.token import check_chain, check_signature, read_response
from custody.verify.findings import Report

#: Untimestamped entries named in the report (the count is always given).
NAMED = 20


@dataclass(frozen=True)
class TsaAnchors:
    """The CA certificates a token's TSA certificate must chain to, and where they came from."""

    certs: Sequence[x509.Certificate]
    name: str


@dataclass(frozen=True)
class _Stamped:
    seq: int
    at: dt.datetime
    gen_time: dt.datetime


class TimestampCheck:
    """A ledger tap (:class:`~custody.verify.case.LedgerTap`) that checks each signed
    entry's token as the ledger passes, and the times once the whole ledger is known;
    :meth:`add_to` then puts the findings and counts into the verification's report."""

    def __init__(self, store: TokenStore, anchors: TsaAnchors | None = None) -> None:
        self.store = store
        self.report = Report(str(store.dir))
        self.anchors = anchors
        self.finished = False
        self.signed: set[int] = set()
        self.missing: list[int] = []
        self.stamped: list[_Stamped] = []
        self.late: dict[int, tuple[int, dt.datetime]] = {}  # seq -> (act seq, act time)

    def feed(self, entry: Entry, event: Event | None) -> None:
        if isinstance(event, Timestamped):
            at = _time(entry.at)
            if at is not None:
                for n in event.seqs:
                    self.late.setdefault(n, (entry.seq, at))
        if not entry.signatures:
            return
        self.signed.add(entry.seq)
        where = token_file(entry.seq)
        try:
            data = self.store.read(entry.seq)
        except OSError as exc:
            self.report.add("timestamp.unreadable", where, f"cannot be read: {exc.strerror}")
            return
        if data is None:
            self.missing.append(entry.seq)
            return
        try:
            facts = read_response(data)
            if facts.imprint != facts.digest_of(entry.signed_bytes()):
                self.report.add(
                    "timestamp.imprint",
                    where,
                    f"stamps other bytes than entry {entry.seq}'s signed body: the token "
                    "belongs to another entry or was changed",
                    entry.seq,
                )
                return
            signer = check_signature(facts)
            if self.anchors is not None:
                check_chain(facts, signer, self.anchors.certs)
        except TimestampError as exc:
            code = "timestamp.chain" if "chain" in str(exc) else "timestamp.invalid"
            self.report.add(code, where, exc.diagnostics(), entry.seq)
            return
        at = _time(entry.at)
        if at is not None:
            self.stamped.append(_Stamped(entry.seq, at, facts.gen_time))

    def finish(self, state: CaseState) -> None:
        """Check the times against the ledger, tokens of no signed entry, and say what was
        found in ``report.timestamps``."""
        self.finished = True
        newest: _Stamped | None = None
        late = 0
        for s in self.stamped:
            where = token_file(s.seq)
            act = self.late.get(s.seq)
            if s.gen_time < s.at - SKEW:
                self.report.add(
                    "timestamp.time",
                    where,
                    f"is dated {_t(s.gen_time)}, before entry {s.seq} was written "
                    f"({_t(s.at)}): the entry's time or the token is wrong",
                    s.seq,
                )
            elif act is not None:
                late += 1
                if s.gen_time > act[1] + SKEW:
                    self.report.add(
                        "timestamp.time",
                        where,
                        f"is dated {_t(s.gen_time)}, after entry {act[0]} ({_t(act[1])}) "
                        "that records it as added",
                        s.seq,
                    )
            elif s.gen_time > s.at + ON_TIME:
                self.report.add(
                    "timestamp.late",
                    where,
                    f"is dated {_t(s.gen_time)}, long after entry {s.seq} ({_t(s.at)}), and "
                    "no 'timestamped' entry records it as added late",
                    s.seq,
                )
            else:
                if newest is not None and s.gen_time < newest.gen_time - SKEW:
                    self.report.add(
                        "timestamp.order",
                        where,
                        f"is dated {_t(s.gen_time)}, before the token of the earlier entry "
                        f"{newest.seq} ({_t(newest.gen_time)}): tokens do not follow the "
                        "ledger's order",
                        s.seq,
                    )
                if newest is None or s.gen_time > newest.gen_time:
                    newest = s
        for name in self.store.names():
            if name.startswith("."):
                continue  # a token being written
            n = seq_of(name)
            if n is None or n not in self.signed:
                self.report.add(
                    "timestamp.orphan",
                    f"timestamps/{name}",
                    "belongs to no signed entry of the ledger",
                    n,
                )
        self.report.timestamps = self.summary(late)

    def summary(self, late: int) -> dict[str, Any]:
        if self.anchors is None:
            chain = "not checked (give the TSA's CA certificate with --tsa-ca)"
        else:
            chain = f"checked against {self.anchors.name}"
        return {
            "signed_entries": len(self.signed),
            "stamped": len(self.signed) - len(self.missing),
            "late": late,
            "untimestamped": len(self.missing),
            "untimestamped_entries": self.missing[:NAMED],
            "tsa_chain": chain,
        }

    def add_to(self, report: Report) -> None:
        """Put this check's findings and counts into ``report``."""
        report.findings.extend(self.report.findings)
        report.timestamps = self.report.timestamps


def _time(text: str) -> dt.datetime | None:
    try:
        return parse_utc(text)
    except ValueError:
        return None


def _t(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
