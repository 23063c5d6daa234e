"""RFC 3161 timestamps for the commands that write signed entries, and ``chainproof timestamp``.

:func:`stamping` wraps one command: with a timestamp authority (``--tsa URL``, else the
settings file's ``tsa_url``) every signed entry the command writes to its case is stamped by
a :class:`~custody.timestamp.stamper.Stamper` on a thread of its own, and the command waits
for the outstanding tokens at its end (at most :data:`WAIT` seconds). The custody PDF an
export signs meanwhile carries a signature timestamp (PAdES B-T). An entry the authority
did not stamp stays untimestamped: its missing ``timestamps/<seq>.tsr`` is the mark, and
the command says so. :func:`timestamp_case` stamps those later and records it in a signed
``timestamped`` entry naming them.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cases import CASE_FILE, CaseHandle
from custody.db.ledger import PROCESS_AFTER_COMMIT, read_entries
from custody.errors import TimestampError
from custody.record.events import SIGNED_EVENTS, Timestamped
from custody.record.keys import Identity
from custody.record.regular import read_regular
from custody.timestamp.request import TsaClient
from custody.timestamp.stamper import Stamper
from custody.timestamp.store import TokenStore

#: How long a command waits at its end for tokens still being requested.
WAIT = 30.0
LATE_REASON = (
    "stamped after the entries were written: no timestamp authority was reachable or "
    "configured then"
)


def _case_id(root: Path) -> str | None:
    try:
        value = json.loads(read_regular(root / CASE_FILE)).get("case_id")
    except (OSError, ValueError, AttributeError):
        return None  # not a case yet (case new), or the command itself reports it
    return value if isinstance(value, str) else None


@contextlib.contextmanager
def stamping(root: Path, url: str | None, *, pdf: bool = False) -> Iterator[Stamper | None]:
    """Stamp every signed entry written to the case at ``root`` during the block; with
    ``pdf``, report PDFs signed in it carry a signature timestamp too (PAdES B-T)."""
    if url is None:
        yield None
        return
    client = TsaClient(url)
    stamper = Stamper(client, TokenStore(root), _case_id(root))
    PROCESS_AFTER_COMMIT.append(stamper)
    try:
        if pdf:
            from custody.report.sign import pdf_timestamps  # loads pyHanko: only for exports

            with pdf_timestamps(url):
                yield stamper
        else:
            yield stamper
    finally:
        PROCESS_AFTER_COMMIT.remove(stamper)
        outcome = stamper.close(WAIT)
        if outcome.missed:
            n = len(outcome.missed)
            why = next(iter(outcome.missed.values()))
            sys.stderr.write(
                f"chainproof: note: {n} signed entr{'y' if n == 1 else 'ies'} not timestamped "
                f"({why}); 'chainproof timestamp {root}' adds the tokens later, recorded as "
                "late\n"
            )


def untimestamped(case: CaseHandle) -> list[int]:
    """The signed entries of the case that have no token."""
    have = TokenStore(case.root).seqs()
    return [e.seq for e in _signed(case) if e.seq not in have]


def _signed(case: CaseHandle) -> Iterator[Any]:
    for e in read_entries(case.sessions, case.case_id, events=sorted(SIGNED_EVENTS)):
        if e.signatures:
            yield e


def timestamp_counts(case: CaseHandle) -> dict[str, int]:
    """How many signed entries have a token, and how many have none."""
    have = TokenStore(case.root).seqs()
    signed = [e.seq for e in _signed(case)]
    stamped = sum(1 for s in signed if s in have)
    return {"signed": len(signed), "stamped": stamped, "untimestamped": len(signed) - stamped}


@dataclass(frozen=True)
class LateStamps:
    """What ``chainproof timestamp`` did: the entries stamped, and the entry recording it."""

    seqs: tuple[int, ...]
    recorded_seq: int | None


def timestamp_case(case: CaseHandle, identity: Identity, url: str) -> LateStamps:
    """Stamp every signed entry that has no token, then record them in a signed
    ``timestamped`` entry. When the authority fails part way, what was stamped is recorded
    and the error is raised after."""
    client = TsaClient(url)
    store = TokenStore(case.root)
    have = store.seqs()
    done: list[int] = []
    failure: TimestampError | None = None
    for e in _signed(case):
        if e.seq in have:
            continue
        try:
            stamp = client.stamp(e.signed_bytes())
        except TimestampError as exc:
            failure = exc
            break
        if store.write(e.seq, stamp.response):
            done.append(e.seq)
    recorded = None
    if done:
        entry = case.writer(identity).append(
            Timestamped(seqs=tuple(done), tsa=url, reason=LATE_REASON)
        )
        recorded = entry.seq if entry is not None else None
    if failure is not None:
        raise TimestampError(
            f"{failure.diagnostics()}; {len(done)} entr{'y' if len(done) == 1 else 'ies'} "
            f"stamped before it failed" + (f" (recorded as entry {recorded})" if recorded else "")
        )
    return LateStamps(tuple(done), recorded)
