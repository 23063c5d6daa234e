"""verify's token checks against the ledger: imprint per entry, times, late tokens, orphans."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from custody.record.entry import GENESIS_HASH, Entry, make_entry
from custody.record.events import Timestamped
from custody.record.fold import CaseState
from custody.record.keys import Identity
from custody.record.times import utc_text
from custody.timestamp.check import TimestampCheck
from custody.timestamp.request import TsaClient
from custody.timestamp.store import TokenStore
from tests.tsa_server import Tsa


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _entry(who: Identity, seq: int, at: dt.datetime, prev: str = GENESIS_HASH) -> Entry:
    return make_entry(
        "case-1", seq, utc_text(at), who.fingerprint, "note", {"text": f"n{seq}"}, prev, [who]
    )


def _check(store: TokenStore, fed: list[tuple[Entry, object]]) -> dict[str, list[int | None]]:
    check = TimestampCheck(store)
    for entry, event in fed:
        check.feed(entry, event)  # type: ignore[arg-type]
    check.finish(CaseState())
    codes: dict[str, list[int | None]] = {}
    for f in check.report.findings:
        codes.setdefault(f.code, []).append(f.seq)
    assert check.report.timestamps is not None
    return codes


def test_times_against_the_ledger(tsa: Tsa, tmp_path: Path, alice_identity: Identity) -> None:
    store = TokenStore(tmp_path)
    client = TsaClient(tsa.url)
    now = _now()
    on_time = _entry(alice_identity, 1, now)
    future = _entry(alice_identity, 2, now + dt.timedelta(hours=1))  # token before the entry
    old = _entry(alice_identity, 3, now - dt.timedelta(hours=1))  # token long after it
    unstamped = _entry(alice_identity, 4, now)
    for e in (on_time, future, old):
        store.write(e.seq, client.stamp(e.signed_bytes()).response)
    store.write(9, client.stamp(b"no entry").response)
    fed: list[tuple[Entry, object]] = [(e, None) for e in (on_time, future, old, unstamped)]
    codes = _check(store, fed)
    assert codes == {"timestamp.time": [2], "timestamp.late": [3], "timestamp.orphan": [9]}


def test_a_late_token_recorded_by_a_timestamped_act_is_accepted(
    tsa: Tsa, tmp_path: Path, alice_identity: Identity
) -> None:
    store = TokenStore(tmp_path)
    now = _now()
    old = _entry(alice_identity, 1, now - dt.timedelta(hours=1))
    store.write(1, TsaClient(tsa.url).stamp(old.signed_bytes()).response)
    act = _entry(alice_identity, 2, now, old.entry_hash)
    event = Timestamped(seqs=(1,), tsa=tsa.url, reason="late")
    check = TimestampCheck(store)
    check.feed(old, None)
    check.feed(act, event)
    check.finish(CaseState())
    assert check.report.findings == []
    assert check.report.timestamps is not None
    assert check.report.timestamps["late"] == 1
    assert check.report.timestamps["untimestamped_entries"] == [2]


def test_a_token_of_another_entry_is_an_imprint_finding(
    tsa: Tsa, tmp_path: Path, alice_identity: Identity
) -> None:
    store = TokenStore(tmp_path)
    a, b = _entry(alice_identity, 1, _now()), _entry(alice_identity, 2, _now())
    client = TsaClient(tsa.url)
    store.write(1, client.stamp(b.signed_bytes()).response)  # swapped
    store.write(2, client.stamp(a.signed_bytes()).response)
    assert _check(store, [(a, None), (b, None)]) == {"timestamp.imprint": [1, 2]}
