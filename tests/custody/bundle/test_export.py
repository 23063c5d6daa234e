"""The export bundle, built from cases made here (real pax tars, real ledger), checked with
the real tools a legal team would use: sha256sum, tar, openssl, and our verifier."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from app.cases import CaseHandle
from app.verification import verify_target
from custody.bundle.safezip import MAX_RATIO, write_zip
from custody.bundle.verify import verify_bundle_dir
from custody.bundle.zipextract import unpack_zip
from custody.db.ledger import read_entries
from custody.errors import ExportError
from custody.record.canonical import canonical_json
from custody.record.events import ArtifactCollected, parse
from custody.record.keys import Identity, create_identity, verify_signature
from custody.verify.findings import Report
from tests.custody.bundle.helpers import ODD_FILES, WHEN, export


def run(cmd: list[str] | str, cwd: Path, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, shell=isinstance(cmd, str), **kw)


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


# --------------------------------------------------------------------------- layout


def test_bundle_layout_manifest_and_exported_entry(
    bundle: Path, case: CaseHandle, alice: Identity
) -> None:
    names = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    (run_id,) = [n[len("evidence/") : -4] for n in names if n.endswith(".tar")]
    for expected in (
        "manifest.json",
        "manifest.json.sig",
        "ledger.jsonl",
        f"certs/{alice.fingerprint}.pem",
        f"evidence/{run_id}.tar",
        f"evidence/{run_id}.sha256",
        "case.jsonld",
        "custody-report.pdf",
        "VERIFY.md",
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "signatures/1.json",
        "signatures/1-1.sig",
    ):
        assert expected in names
    raw = (bundle / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    assert canonical_json(manifest) == raw  # byte-stable
    assert manifest["case"]["title"] == "Export test"
    assert manifest["case"]["incident_ref"] == "INC-42"
    assert len(manifest["artifacts"]) == len(ODD_FILES)
    assert (
        manifest["runs"][0]["archive_sha256"]
        == hashlib.sha256((bundle / f"evidence/{run_id}.tar").read_bytes()).hexdigest()
    )
    assert set(manifest["files"]) == names
    uuid.UUID(manifest["bundle_id"])
    entries = list(read_entries(case.sessions, case.case_id))
    lines = (bundle / "ledger.jsonl").read_bytes().splitlines()
    # the bundle's ledger ends just before the export's own entries, export_started and
    # exported, both signed, in the case
    assert [json.loads(x) for x in lines] == [e.to_json() for e in entries[:-2]]
    assert lines == [canonical_json(e.to_json()) for e in entries[:-2]]
    started, exported = entries[-2:]
    assert started.event == "export_started" and exported.event == "exported"
    assert started.payload["bundle_id"] == manifest["bundle_id"]
    assert started.payload["ledger_head"] == manifest["ledger"]["head"] == started.prev_hash
    assert [s.by for s in started.signatures] == [alice.fingerprint]
    assert exported.payload["bundle_id"] == manifest["bundle_id"]
    assert exported.payload["manifest_sha256"] == hashlib.sha256(raw).hexdigest()
    assert (
        exported.payload["sha256sums_sha256"]
        == hashlib.sha256((bundle / "SHA256SUMS").read_bytes()).hexdigest()
    )
    assert exported.prev_hash == started.entry_hash
    assert [s.by for s in exported.signatures] == [alice.fingerprint]
    assert verify_signature(alice.certificate, exported.signed_bytes(), exported.signatures[0].der)
    copy = bundle / f"evidence/{run_id}.tar"
    original = case.evidence_dir / f"{run_id}.tar"
    assert copy.read_bytes() == original.read_bytes()
    assert copy.stat().st_ino != original.stat().st_ino  # a copy, not a link


def test_bundle_verifies(bundle: Path) -> None:
    report = verify_target(bundle)
    assert report.ok, report.render()
    assert report.artifacts == len(ODD_FILES)


def test_sha256sum_and_openssl_accept_the_bundle(bundle: Path, alice: Identity) -> None:
    check = run(["sha256sum", "-c", "SHA256SUMS"], bundle)
    assert check.returncode == 0, check.stdout + check.stderr
    assert b"FAILED" not in check.stdout
    pub = bundle.parent / "examiner.pub"
    with pub.open("wb") as f:
        subprocess.run(
            ["openssl", "x509", "-in", f"certs/{alice.fingerprint}.pem", "-pubkey", "-noout"],
            cwd=bundle,
            stdout=f,
            check=True,
        )
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    last = manifest["signatures"][-1]
    for sig, msg in (
        ("SHA256SUMS.sig", "SHA256SUMS"),
        ("manifest.json.sig", "manifest.json"),
        ("signatures/1-1.sig", "signatures/1.json"),
        (last["signatures"][0]["file"], last["body"]),
    ):
        out = run(
            ["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", sig, msg], bundle
        )
        assert out.stdout.strip() == b"Verified OK", (sig, out.stdout, out.stderr)


def test_odd_names_round_trip_through_real_tar_and_sha256sum(bundle: Path) -> None:
    (tar,) = (bundle / "evidence").glob("*.tar")
    sums = tar.with_suffix(".sha256")
    x = bundle.parent / "x"
    x.mkdir()
    run(["tar", "-xf", str(tar), "-C", str(x)], bundle).check_returncode()
    check = run(["sha256sum", "-c", str(sums)], x)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(b": OK\n") == len(ODD_FILES)
    assert b"files/tmp/back\\slash: OK" in check.stdout
    assert b"\\files/tmp/new\\nline: OK" in check.stdout
    assert b"files/tmp/cr\rname: OK" in check.stdout
    assert b"files/tmp/\xff\xfe-not-utf8: OK" in check.stdout


def test_no_private_key_material_in_the_bundle(bundle: Path, alice: Identity) -> None:
    der = alice.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    scalar = alice.key.private_numbers().private_value.to_bytes(32, "big")  # type: ignore[union-attr]
    needles = [der, scalar, b"PRIVATE KEY", base64.b64encode(scalar), scalar.hex().encode()]
    for path in bundle.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                assert needle not in data, f"{path.name} holds private key material"


# --------------------------------------------------------------------------- tampering


def _tamper_tar(root: Path) -> str:
    (tar,) = (root / "evidence").glob("*.tar")
    data = bytearray(tar.read_bytes())
    manifest = json.loads((root / "manifest.json").read_bytes())
    art = next(a for a in manifest["artifacts"] if a["member"] == "files/etc/hostname")
    data[art["data_offset"]] ^= 0x01
    tar.write_bytes(bytes(data))
    return f"evidence/{tar.name}"


def _tamper_ledger(root: Path) -> str:
    path = root / "ledger.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    obj = json.loads(lines[0])
    obj["payload"]["case"]["title"] = "Another title"
    lines[0] = canonical_json(obj) + b"\n"
    path.write_bytes(b"".join(lines))
    return "ledger.jsonl"


def _delete(root: Path) -> str:
    (root / "signatures" / "1.json").unlink()
    return "signatures/1.json"


def _add(root: Path) -> str:
    (root / "evidence" / "planted.txt").write_bytes(b"not collected\n")
    return "evidence/planted.txt"


def _swap_cert(root: Path) -> str:
    (cert,) = (root / "certs").glob("*.pem")
    other = create_identity("Mallory", "Elsewhere", "m@example.org")
    cert.write_text(other.certificate_pem())
    return f"certs/{cert.name}"


def _edit_manifest(root: Path) -> str:
    path = root / "manifest.json"
    manifest = json.loads(path.read_bytes())
    manifest["artifacts"][0]["sha256"] = "0" * 64
    path.write_bytes(canonical_json(manifest))
    return "manifest.json"


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_tamper_tar, {"bundle.altered", "artifact.sha256"}),
        (_tamper_ledger, {"bundle.altered", "chain.entry_hash"}),
        (_delete, {"bundle.deleted", "bundle.signature_file"}),
        (_add, {"bundle.added"}),
        (_swap_cert, {"bundle.altered", "certificate.swapped"}),
        (_edit_manifest, {"bundle.altered", "bundle.signature", "manifest.mismatch"}),
    ],
    ids=["evidence-byte", "ledger-line", "deleted-file", "added-file", "swapped-cert", "manifest"],
)
def test_tampering_is_caught_precisely(bundle: Path, tamper: Any, expected: set[str]) -> None:
    name = tamper(bundle)
    report = verify_bundle_dir(bundle)
    assert not report.ok
    assert expected <= codes(report), report.render()
    named = [f for f in report.findings if f.code.startswith("bundle.") and f.where == name]
    if any(c.startswith("bundle.") for c in expected):
        assert named, report.render()


# --------------------------------------------------------------------------- refusals


def test_refuses_non_empty_out(
    report_module: None, case: CaseHandle, alice: Identity, tmp_path: Path
) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "x").write_text("x")
    with pytest.raises(ExportError, match="not an empty directory"):
        export(case, alice, out)
    zip_out = tmp_path / "b.zip"
    zip_out.write_bytes(b"")
    with pytest.raises(ExportError, match="already exists"):
        export(case, alice, zip_out, as_zip=True)
    assert [e.event for e in read_entries(case.sessions, case.case_id)][-1] != "exported"


def test_failed_case_is_refused_unless_forced(
    report_module: None, case: CaseHandle, alice: Identity, tmp_path: Path
) -> None:
    (tar,) = case.evidence_dir.glob("*.tar")
    tar.chmod(stat.S_IWUSR | stat.S_IRUSR)
    data = bytearray(tar.read_bytes())
    art = next(
        a.member
        for e in read_entries(case.sessions, case.case_id, events=["artifact_collected"])
        if isinstance(a := parse(e), ArtifactCollected) and a.member.name == "files/etc/hostname"
    )
    data[art.data_offset] ^= 0xFF
    tar.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="fails verification") as info:
        export(case, alice, tmp_path / "b")
    assert "artifact" in str(info.value)  # the findings are listed
    assert not (tmp_path / "b").exists()
    result = export(case, alice, tmp_path / "b", force=True)
    assert not result.verified
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_bytes())
    assert manifest["verification"]["ok"] is False and manifest["verification"]["forced"] is True
    assert "FAILED verification" in (tmp_path / "b" / "VERIFY.md").read_text()
    entries = list(read_entries(case.sessions, case.case_id))
    assert entries[-1].event == "exported" and entries[-1].payload["verification"] == "failed"


# --------------------------------------------------------------------------- zip


def test_zip_bundle_verifies_and_is_deterministic(
    report_module: None, case: CaseHandle, alice: Identity, tmp_path: Path
) -> None:
    twin_root = tmp_path / "twin"
    shutil.copytree(case.root, twin_root)
    from app.cases import open_case

    twin = open_case(twin_root)
    bundle_id = str(uuid.uuid4())
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    export(case, alice, a, as_zip=True, bundle_id=bundle_id, generated_at=WHEN)
    time.sleep(1.1)  # the wall clock moves on: nothing of it may reach the bundle
    export(twin, alice, b, as_zip=True, bundle_id=bundle_id, generated_at=WHEN)
    report = verify_target(a)
    assert report.ok, report.render()
    assert report.subject == str(a)
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        names = za.namelist()
        assert names == sorted(names)
        assert not any(n.startswith("/") or n.endswith("/") for n in names)
        for info in za.infolist():
            assert info.date_time == (2024, 5, 1, 12, 0, 0)
            stored = info.filename.endswith((".tar", ".pdf", ".sig"))
            assert info.compress_type == (
                zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            ) or info.filename.endswith(".sig")
        differing = [n for n in names if za.read(n) != zb.read(n)]
    assert differing == []
    assert a.read_bytes() == b.read_bytes()


def test_write_zip_is_deterministic(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "evidence").mkdir(parents=True)
    (src / "evidence" / "r.tar").write_bytes(os.urandom(3000))
    (src / "VERIFY.md").write_text("hello\n" * 100)
    for i, dest in enumerate((tmp_path / "1.zip", tmp_path / "2.zip")):
        os.utime(src / "VERIFY.md", (1_000_000 * (i + 1), 1_000_000 * (i + 1)))
        write_zip(dest, src, ["VERIFY.md", "evidence/r.tar"][:: 1 - 2 * i], timestamp=WHEN)
    assert (tmp_path / "1.zip").read_bytes() == (tmp_path / "2.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "1.zip") as z:
        info = z.getinfo("evidence/r.tar")
        assert info.compress_type == zipfile.ZIP_STORED
        assert (info.external_attr >> 16) == stat.S_IFREG | 0o644
        assert z.getinfo("VERIFY.md").compress_type == zipfile.ZIP_DEFLATED


def _crafted(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for info, data in entries:
            z.writestr(info, data)
    return path


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("../x", b"x")], r"'\.\./x'.*'\.\.'"),
        ([("/etc/x", b"x")], r"'/etc/x'.*absolute"),
        ([("C:\\x", b"x")], r"'C:\\\\x'.*absolute"),
        ([("C:/x", b"x")], r"'C:/x'.*absolute"),
        ([("evidence\\..\\..\\x", b"x")], r"backslash"),
        ([("a/./b", b"x")], r"'a/\./b'"),
        ([(_symlink_info("evidence/link"), b"/etc/passwd")], r"'evidence/link'.*symbolic link"),
        ([("ledger.jsonl", b"a"), ("ledger.jsonl", b"b")], r"'ledger.jsonl'.*duplicate"),
        ([("a", b"x"), ("a/b", b"y")], r"'a'.*both a file and a directory"),
    ],
    ids=[
        "dotdot",
        "absolute",
        "drive-backslash",
        "drive",
        "backslash",
        "dot",
        "symlink",
        "duplicate",
        "file-dir",
    ],
)
def test_unsafe_zip_is_refused_naming_the_member(
    tmp_path: Path, members: list[tuple[Any, bytes]], message: str
) -> None:
    import re
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        z = _crafted(tmp_path / "evil.zip", members)
    report = verify_target(z)
    unsafe = [f for f in report.findings if f.code == "zip.unsafe"]
    assert unsafe and re.search(message, unsafe[0].message), report.render()
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack_zip(z, dest, Report(str(z)))
    written = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if not p.is_dir()}
    if "duplicate" in unsafe[0].message:
        assert (dest / "ledger.jsonl").read_bytes() == b"a"  # the first copy only
    else:
        assert unsafe[0].where not in written  # refused, while the safe members are unpacked
    assert not (tmp_path / "x").exists()


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ledger.jsonl", b"\0" * (MAX_RATIO * 4 << 10))
    dest = tmp_path / "d"
    dest.mkdir()
    report = Report(str(path))
    assert unpack_zip(path, dest, report) == []
    assert [(f.code, f.where) for f in report.findings] == [("zip.unsafe", "ledger.jsonl")]
    assert "zip bomb" in report.findings[0].message
    assert list(dest.iterdir()) == []


def test_two_examiners_and_a_transfer(
    report_module: None, case: CaseHandle, alice: Identity, bob_identity: Identity, tmp_path: Path
) -> None:
    """Both certificates are exported; the transfer's second signature checks with Bob's key."""
    from app.journal import record_transfer

    seq = record_transfer(case, alice, bob_identity, reason="to the lab", location="Room 1")
    out = tmp_path / "b"
    export(case, bob_identity, out)  # Bob, now holding the evidence, exports it
    report = verify_target(out)
    assert report.ok, report.render()
    assert {p.stem for p in (out / "certs").glob("*.pem")} == {
        alice.fingerprint,
        bob_identity.fingerprint,
    }
    manifest = json.loads((out / "manifest.json").read_bytes())
    assert manifest["exported_by"]["fingerprint"] == bob_identity.fingerprint
    pub = tmp_path / "bob.pub"
    pub.write_bytes(
        bob_identity.certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for sig, msg in (
        (f"signatures/{seq}-2.sig", f"signatures/{seq}.json"),
        ("SHA256SUMS.sig", "SHA256SUMS"),
    ):
        r = run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", sig, msg], out)
        assert r.stdout.strip() == b"Verified OK", (sig, r.stdout, r.stderr)
    guide = (out / "VERIFY.md").read_text()
    assert f"examiner-{bob_identity.fingerprint[:16]}.pub -signature SHA256SUMS.sig" in guide
    assert f"{seq}-2: Verified OK" in guide and f"{seq}-1: Verified OK" in guide
