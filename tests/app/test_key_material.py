"""No private key bytes are written anywhere but the examiner's key file."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.export_service import export_case
from app.journal import add_journal_entry, record_transfer
from app.verification import verify_case
from custody.record.keys import Identity


def _needles(identity: Identity) -> list[bytes]:
    key = identity.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return [der, scalar, base64.b64encode(scalar), scalar.hex().encode(), b"PRIVATE KEY"]


def test_case_directory_and_home_hold_no_private_key(
    collected_case, alice: Identity, bob_identity: Identity, chainproof_home: Path
) -> None:
    case, _, _ = collected_case()
    add_journal_entry(
        case, alice, kind="decision", text="Image the disk", reason="ransom note found"
    )
    record_transfer(case, alice, bob_identity, reason="to the lab", location="Room 101")
    assert verify_case(case, sign_with=alice).ok
    export_case(case, alice, case.exports_dir / "bundle", as_zip=False, force=False)
    export_case(case, alice, case.exports_dir / "bundle.zip", as_zip=True, force=False)
    needles = _needles(alice) + _needles(bob_identity)
    searched = 0
    for root in (case.root, chainproof_home):
        for path in root.rglob("*"):
            if not path.is_file() or path == chainproof_home / "identity.p12":
                continue
            data = path.read_bytes()
            searched += 1
            for needle in needles:
                assert needle not in data, f"{path} holds private key material"
    assert searched >= 10  # case.db (+ WAL), archive, certificates, the bundle's files, the zip
