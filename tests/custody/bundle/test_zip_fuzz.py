"""Single-byte flips over a real exported zip bundle, checked by ``chainproof verify`` and by
the path VERIFY.md gives a legal team (``unzip``, ``sha256sum --strict -c``, ``openssl``).

Every flip must give exit 6 with JSON findings, or exit 0; never a traceback. Whenever
``chainproof verify`` says VERIFIED, the VERIFY.md path must pass too, and only a byte that
means nothing to either (``HARMLESS``) may pass. Flips: every byte of the headers of three
members (local and central: the first, the stored archive, the deflated ledger; of a name,
the ends of each run of letters and digits and every other byte) and of the end record, one
mask each in turn, bytes of a deflate stream, then random ones; the same for the bundle
zipped another way (data descriptors, zip64 fields and end records). The VERIFY.md path
runs for every flip that passes and for every ``UNZIP_EVERY``-th other one. The long run
(every member and every byte of it, every mask, all checked by unzip)::

    CHAINPROOF_ZIP_FLIPS=3000 CHAINPROOF_ZIP_MEMBERS=all CHAINPROOF_ZIP_MASKS=all \\
    CHAINPROOF_ZIP_UNZIP_EVERY=1 .venv/bin/python -m pytest -q tests/custody/bundle/test_zip_fuzz.py

(``CHAINPROOF_ZIP_FLIPS``: random flips, 50 by default; ``CHAINPROOF_FLIP_SEED``: another
sequence.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
import json
import os
import random
import shutil
import struct
import subprocess
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from app.cases import create_case
from app.cli import main
from custody.bundle.sha256sums import parse_sums
from custody.record.keys import Identity
from tests.custody.bundle.helpers import add_run, export

FLIPS = int(os.environ.get("CHAINPROOF_ZIP_FLIPS", "50"))
SEED = int(os.environ.get("CHAINPROOF_FLIP_SEED", "20261201"))
ALL_MEMBERS = os.environ.get("CHAINPROOF_ZIP_MEMBERS", "") == "all"
ALL_MASKS = os.environ.get("CHAINPROOF_ZIP_MASKS", "") == "all"
UNZIP_EVERY = max(1, int(os.environ.get("CHAINPROOF_ZIP_UNZIP_EVERY", "10")))
MASKS = (0x01, 0x80, 0xFF, 0x10, 0x04, 0x40, 0x02, 0x20, 0x08)

LOCAL_FIELDS = [
    ("signature", 4),
    ("version needed", 2),
    ("flags", 2),
    ("method", 2),
    ("time", 2),
    ("date", 2),
    ("crc", 4),
    ("compressed size", 4),
    ("size", 4),
    ("name length", 2),
    ("extra length", 2),
]
CENTRAL_FIELDS = [
    ("signature", 4),
    ("made by version", 1),
    ("made by host", 1),
    ("version needed", 2),
    ("flags", 2),
    ("method", 2),
    ("time", 2),
    ("date", 2),
    ("crc", 4),
    ("compressed size", 4),
    ("size", 4),
    ("name length", 2),
    ("extra length", 2),
    ("comment length", 2),
    ("disk", 2),
    ("internal attributes", 2),
    ("DOS attributes", 2),  # the low half of the external attributes
    ("mode low byte", 1),  # group and other permissions, owner write and execute
    ("mode high byte", 1),  # file type and owner read
    ("offset", 4),
]
LOCATOR_FIELDS = [("signature", 4), ("disk", 4), ("offset", 8), ("disks", 4)]
ZIP64_FIELDS = [
    ("signature", 4),
    ("size", 8),
    ("made by", 2),
    ("version needed", 2),
    ("disk", 4),
    ("cd disk", 4),
    ("entries on disk", 8),
    ("entries", 8),
    ("cd size", 8),
    ("cd offset", 8),
]
EOCD_FIELDS = [
    ("signature", 4),
    ("disk", 2),
    ("cd disk", 2),
    ("entries on disk", 2),
    ("entries", 2),
    ("cd size", 4),
    ("cd offset", 4),
    ("comment length", 2),
]
#: Bytes that neither unzip nor a bundle's checks read: a flip there may pass. So may one
#: that leaves a mode without file type bits (zipfile's writestr writes such modes).
HARMLESS = {
    "zip64 end made by",
    "zip64 end version needed",
    "central made by version",
    "central made by host",
    "central internal attributes",
    "central DOS attributes",
    "central mode low byte",
}


@dataclass(frozen=True)
class Region:
    """What the byte at an offset of the pristine zip is."""

    kind: str  # "local", "central", "eocd", "data"
    field: str
    member: str
    deflated: bool = False


def field_map(path: Path) -> dict[int, Region]:
    """Every byte of the zip, named, read with Python's zipfile (not the code under test)."""
    data = path.read_bytes()
    out: dict[int, Region] = {}

    def lay(at: int, fields: list[tuple[str, int]], kind: str, member: str = "") -> int:
        for name, width in fields:
            for i in range(width):
                out[at + i] = Region(kind, name, member)
            at += width
        return at

    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    eocd = len(data) - 22
    lay(eocd, EOCD_FIELDS, "eocd")
    cd = struct.unpack_from("<I", data, eocd + 16)[0]
    if data[eocd - 20 : eocd - 16] == b"PK\x06\x07":
        lay(eocd - 20, LOCATOR_FIELDS, "zip64 locator")
        z64 = struct.unpack_from("<Q", data, eocd - 12)[0]
        lay(z64, ZIP64_FIELDS, "zip64 end")
        cd = struct.unpack_from("<Q", data, z64 + 48)[0]
    for info in infos:
        at = lay(info.header_offset, LOCAL_FIELDS, "local", info.filename)
        nlen, elen = struct.unpack_from("<HH", data, info.header_offset + 26)
        at = lay(at, [("name", nlen), ("extra", elen)], "local", info.filename)
        deflated = info.compress_type == zipfile.ZIP_DEFLATED
        for i in range(info.compress_size):
            out[at + i] = Region("data", "data", info.filename, deflated)
        at += info.compress_size
        if info.flag_bits & 0x08:
            local_extra = data[at - info.compress_size - elen : at - info.compress_size]
            width = 8 if _zip64_extra(local_extra) else 4
            sig = data[at : at + 4] == b"PK\x07\x08"
            lay(at, [("descriptor", 4 * sig + 4 + 2 * width)], "local", info.filename)
        at = lay(cd, CENTRAL_FIELDS, "central", info.filename)
        nlen, elen, clen = struct.unpack_from("<HHH", data, cd + 28)
        fields = [("name", nlen), ("extra", elen), ("comment", clen)]
        cd = lay(at, fields, "central", info.filename)
    assert len(out) == len(data), "the field map must cover every byte"
    return out


def _zip64_extra(extra: bytes) -> bool:
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        if tag == 1:
            return True
        i += 4 + size
    return False


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, alice_identity: Identity) -> Path:
    """A tiny case exported with --zip, once per module."""
    pytest.importorskip("custody.report.build", reason="the PDF report module is not there")
    base = tmp_path_factory.mktemp("zipfuzz")
    case = create_case(base / "case", alice_identity, title="Zip fuzz", incident_ref="INC-Z")
    add_run(
        case,
        alice_identity,
        {
            "files/a.txt": b"alpha\n",
            "files/b.bin": random.Random(2).randbytes(3000),
            "volatile/system.json": b'{"hostname": "box"}\n',
        },
    )
    out = base / "bundle.zip"
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    export(case, alice_identity, out, as_zip=True, bundle_id="zip-fuzz", generated_at=when)
    pub = base / "examiner.pub"
    pub.write_bytes(
        alice_identity.certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return out


class _Unseekable(io.RawIOBase):
    """A file zipfile cannot seek in: it writes data descriptors."""

    def __init__(self, f: io.BufferedWriter) -> None:
        self.f = f

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        return self.f.write(b)


@pytest.fixture(scope="module")
def streamed(pristine: Path) -> Path:
    """The same bundle zipped another way: data descriptors, zip64 extra fields in every
    local header, zip64 end records."""
    out = pristine.with_name("streamed.zip")
    limit = zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP_FILECOUNT_LIMIT = 0  # type: ignore[misc]  # zip64 end records at any count
    try:
        with (
            zipfile.ZipFile(pristine) as src,
            open(out, "wb") as raw,
            zipfile.ZipFile(_Unseekable(raw), "w") as zf,
        ):
            for info in src.infolist():
                new = zipfile.ZipInfo(info.filename, info.date_time)
                new.compress_type = info.compress_type
                new.create_system, new.external_attr = 3, info.external_attr
                with zf.open(new, "w", force_zip64=True) as f:
                    f.write(src.read(info))
    finally:
        zipfile.ZIP_FILECOUNT_LIMIT = limit  # type: ignore[misc]
    return out


def targeted(path: Path, regions: dict[int, Region]) -> Iterator[tuple[int, int]]:
    """Every byte of the headers of three members (all with ``CHAINPROOF_ZIP_MEMBERS=all``)
    and of the end records, masks in turn, but of a name only the ends of its runs of
    letters and digits and what lies between them (:func:`_name_edge`; every byte with
    ``CHAINPROOF_ZIP_MEMBERS=all``); then bytes of a deflate stream."""
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    chosen = set(names)
    if not ALL_MEMBERS:  # the first member, a stored one (the archive), a deflated one
        tar = next(n for n in names if n.endswith(".tar"))
        chosen = {names[0], tar, "ledger.jsonl"}
    data = path.read_bytes()
    heads = [
        at
        for at, r in sorted(regions.items())
        if r.kind != "data"
        and (r.member in chosen or not r.member)
        and (ALL_MEMBERS or r.field != "name" or _name_edge(data, at, regions))
    ]
    for n, at in enumerate(heads):
        yield from ((at, m) for m in MASKS) if ALL_MASKS else [(at, MASKS[n % len(MASKS)])]
    stream = sorted(
        at for at, r in regions.items() if r.kind == "data" and r.member == "ledger.jsonl"
    )
    for at in [*stream[:6], *stream[len(stream) // 2 : len(stream) // 2 + 4], *stream[-6:]]:
        yield from ((at, m) for m in MASKS) if ALL_MASKS else [(at, 0x01)]


def _name_edge(data: bytes, at: int, regions: dict[int, Region]) -> bool:
    """Whether a name's byte is not inside a run of letters and digits: a flip inside one
    renames the member as a flip at its ends does (the same check catches it)."""

    def word(i: int) -> bool:
        return regions.get(i) == regions[at] and chr(data[i]).isalnum()

    return not (word(at) and word(at - 1) and word(at + 1))


def randomly(regions: dict[int, Region], count: int) -> Iterator[tuple[int, int]]:
    rng = random.Random(SEED)
    for _ in range(count):
        yield rng.randrange(len(regions)), 1 << rng.randrange(8)


def chainproof_verify(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["verify", str(path), "--json"])
    return code, out.getvalue() + err.getvalue()


def verify_md_path(path: Path, pub: Path, work: Path) -> str | None:
    """The VERIFY.md commands on the zip: None when all pass, else what failed."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()

    def run(*cmd: str | Path) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(c) for c in cmd], cwd=work, capture_output=True, stdin=subprocess.DEVNULL
        )

    r = run("unzip", "-o", "-q", path, "-d", work)
    if r.returncode:
        return f"unzip exit {r.returncode}: {r.stderr[-300:]!r}"
    r = run("sha256sum", "--strict", "--quiet", "-c", "SHA256SUMS")
    if r.returncode:
        return f"sha256sum exit {r.returncode}: {r.stdout[-300:]!r}"
    for signed in ("SHA256SUMS", "manifest.json"):
        r = run("openssl", "dgst", "-sha256", "-verify", pub, "-signature", f"{signed}.sig", signed)
        if r.stdout.strip() != b"Verified OK":
            return f"openssl over {signed}: {r.stdout!r} {r.stderr[-200:]!r}"
    listed = {os.fsdecode(n) for n, _ in parse_sums((work / "SHA256SUMS").read_bytes())}
    found = {p.relative_to(work).as_posix() for p in work.rglob("*") if not p.is_dir()}
    extra = found - listed - {"SHA256SUMS", "SHA256SUMS.sig"}
    return f"files not in SHA256SUMS: {sorted(extra)}" if extra else None


def fuzz(zipped: Path, flips: Iterable[tuple[int, int]], work: Path) -> dict[str, int]:
    """Flip, verify both ways, assert; return the counts."""
    pub = zipped.parent / "examiner.pub"
    assert verify_md_path(zipped, pub, work / "x") is None
    assert chainproof_verify(zipped)[0] == 0
    data = zipped.read_bytes()
    regions = field_map(zipped)
    flipped = work / zipped.name
    stats = dict.fromkeys(("flips", "reported", "passed", "unzip_runs", "stricter"), 0)
    for n, (at, mask) in enumerate(flips):
        r = regions[at]
        where = f"flip {n} (seed {SEED}): byte {at} ^ {mask:#04x}, {r.kind} {r.field} {r.member}"
        flipped.write_bytes(data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :])
        try:
            code, text = chainproof_verify(flipped)
        except Exception as exc:  # a traceback is a bug: say which flip made it
            raise AssertionError(f"{where}: verify raised {exc!r}") from exc
        stats["flips"] += 1
        if code == 6:
            doc = json.loads(text)
            assert doc["ok"] is False and doc["findings"], where
            assert all(f["code"] and f["where"] and f["message"] for f in doc["findings"]), where
            stats["reported"] += 1
            if n % UNZIP_EVERY == 0:
                stats["unzip_runs"] += 1
                if verify_md_path(flipped, pub, work / "x") is None:
                    stats["stricter"] += 1  # a byte unzip ignores, e.g. a local time
            continue
        assert code == 0, f"{where}: verify exited {code}: {text}"
        assert json.loads(text)["ok"] is True, where
        stats["passed"] += 1
        stats["unzip_runs"] += 1
        failed = verify_md_path(flipped, pub, work / "x")
        assert failed is None, f"{where}: chainproof VERIFIED, the VERIFY.md path failed: {failed}"
        # Only bytes that mean nothing may pass; in deflate data, the padding bits after the
        # last block (zlib gives the same bytes with or without them).
        label = f"{r.kind} {r.field}"
        typeless = label == "central mode high byte" and not (data[at] ^ mask) & 0xF0
        assert label in HARMLESS or typeless or (r.kind == "data" and r.deflated), where
    return stats


needs_unzip = pytest.mark.skipif(
    shutil.which("unzip") is None, reason="needs unzip (scripts/setup.sh --dev)"
)


@needs_unzip
def test_zip_flips_are_findings_and_agree_with_verify_md(pristine: Path, tmp_path: Path) -> None:
    regions = field_map(pristine)
    stats = fuzz(
        pristine,
        itertools.chain(targeted(pristine, regions), randomly(regions, FLIPS)),
        tmp_path,
    )
    print(f"zip flips, the bundle as exported: {stats}")
    assert stats["flips"] >= 200


#: What zipping with data descriptors and zip64 changes: the zip64 records, the extra
#: fields, the descriptors and the header fields they stand in for. The other header bytes
#: are laid out as in the exported zip, which the test above flips; the long run flips all.
STREAMED_FIELDS = {"extra", "descriptor", "flags", "crc", "compressed size", "size", "offset"}


def streamed_flips(path: Path, regions: dict[int, Region]) -> Iterator[tuple[int, int]]:
    """:func:`targeted` limited to what zip64 and data descriptors change (all of it with
    ``CHAINPROOF_ZIP_MEMBERS=all``)."""
    for at, mask in targeted(path, regions):
        r = regions[at]
        if ALL_MEMBERS or r.kind.startswith("zip64") or r.field in STREAMED_FIELDS:
            yield at, mask


@needs_unzip
def test_flips_in_zip64_records_and_data_descriptors(streamed: Path, tmp_path: Path) -> None:
    stats = fuzz(streamed, streamed_flips(streamed, field_map(streamed)), tmp_path)
    print(f"zip flips, streamed with zip64: {stats}")
