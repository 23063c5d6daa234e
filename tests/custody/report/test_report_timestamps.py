"""The custody PDF's RFC 3161 timestamps: how many signed entries have a token, by which
authority, how many were stamped late, and how a reader checks them; read from the case's
``timestamps/`` (no network) and checked with pdftotext on the signed PDF."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.cases import CaseHandle
from app.journal import add_journal_entry
from app.timestamps import stamping, timestamp_case
from app.verification import tsa_anchors, verify_case
from custody.db.ledger import read_entries
from custody.record.keys import Identity
from custody.report.build import build_signed_report
from custody.store.storage import LocalEvidenceStore
from tests.custody.report.test_report import GENERATED, MANIFEST
from tests.tsa_server import Tsa, run_tsa

pytestmark = pytest.mark.skipif(
    shutil.which("pdfsig") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdfsig, pdftotext) is part of the dev setup: apt-get install poppler-utils",
)


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tsa]:
    with run_tsa(tmp_path_factory.mktemp("tsa")) as running:
        yield running


def _report(case: CaseHandle, alice: Identity, out: Path, tsa_ca: Path | None) -> str:
    """The signed report of ``case`` (verified with ``tsa_ca``), as one line of text."""
    verification = verify_case(case, tsa_anchors=tsa_anchors(tsa_ca) if tsa_ca else None)
    assert verification.ok, verification.render()
    build_signed_report(
        entries=list(read_entries(case.sessions, case.case_id)),
        verification=verification,
        manifest_sha256=MANIFEST,
        bundle_id="bundle-timestamps",
        generated_at=GENERATED,
        evidence=LocalEvidenceStore(case.evidence_dir),
        identity=alice,
        out=out,
    )
    assert (
        "Signature is Valid."
        in subprocess.run(["pdfsig", str(out)], capture_output=True, text=True, check=False).stdout
    )
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    return re.sub(r"\s+", " ", text)


def test_the_report_counts_the_tokens_names_the_authority_and_the_late_ones(
    make_case: Callable[..., CaseHandle], alice: Identity, tsa: Tsa, tmp_path: Path
) -> None:
    case = make_case("Stamped, partly late")  # 1 case_opened, 2 identity_added: no TSA then
    with stamping(case.root, tsa.url):
        late = timestamp_case(case, alice, tsa.url)  # 3 'timestamped': 1 and 2, late
        add_journal_entry(case, alice, kind="note", text="stamped as written")  # 4
    add_journal_entry(case, alice, kind="note", text="written with no authority")  # 5
    assert late.seqs == (1, 2) and late.recorded_seq == 3
    assert sorted(p.name for p in (case.root / "timestamps").iterdir()) == [
        "1.tsr",
        "2.tsr",
        "3.tsr",
        "4.tsr",
    ]

    flat = _report(case, alice, tmp_path / "report.pdf", tsa.ca_pem)
    assert "RFC 3161 timestamps" in flat
    assert "Signed entries timestamped 4 of 5" in flat
    assert "Untimestamped 1 (entries 5)" in flat
    assert re.search(r"Stamped late 2, each named by a 'timestamped' entry", flat)
    # The authority: the tokens' TSA name and the TSA certificate's subject, with the count.
    assert (
        "Timestamp authority Common Name: Test TSA (certificate subject CN=Test TSA): 4 tokens dated"
        in flat
    )
    assert "no findings; TSA chain checked against" in flat
    assert (
        "openssl ts -verify -data signatures/SEQ.json -in timestamps/SEQ.tsr -CAfile TSA-CA.pem"
        in flat
    )
    assert "Expected: Verification: OK" in flat and "VERIFY.md" in flat
    assert "No timestamp authority was used" not in flat


def test_a_case_without_tokens_says_no_authority_was_used(
    make_case: Callable[..., CaseHandle], alice: Identity, tmp_path: Path
) -> None:
    case = make_case("Never stamped")
    flat = _report(case, alice, tmp_path / "report.pdf", None)
    assert "No timestamp authority was used" in flat
    assert "RFC 3161 timestamps" not in flat
