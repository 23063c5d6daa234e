"""Is the bundle at a path the one an export made? For completing an interrupted export.

:func:`identify_bundle` reads a bundle directory or zip just enough to tell: ``SHA256SUMS``
is signed by the exporting examiner's certificate, it lists ``manifest.json`` with the
manifest's own SHA-256, and the manifest names the bundle id, time and ledger (entries and
head) that the export's ``export_started`` entry named. Every other file is bound by the
signed ``SHA256SUMS`` (``chainproof verify BUNDLE`` re-hashes them all). The answer is what
an ``exported`` entry records of the bundle; anything else raises :class:`ExportError`
saying why.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from cryptography import x509

from custody.bundle.files import CHUNK, sha256_file, verify_digest
from custody.bundle.jsonstream import scan
from custody.bundle.layout import MANIFEST, SUMS, SUMS_SIG
from custody.bundle.sha256sums import parse_sums
from custody.errors import ExportError

#: The largest SHA256SUMS (or its signature) read into memory.
MAX_SUMS = 256 << 20
MAX_SIG = 64 << 10


@dataclass(frozen=True)
class Expected:
    """What the export said of its bundle before writing it."""

    bundle_id: str
    generated_at: str
    ledger_entries: int
    ledger_head: str


@dataclass(frozen=True)
class FoundBundle:
    """A bundle found complete at its path: what its ``exported`` entry records."""

    manifest_sha256: str
    sha256sums_sha256: str
    files: int
    bytes: int
    zip_sha256: str | None


def identify_bundle(
    path: Path, *, as_zip: bool, expected: Expected, certificate: x509.Certificate
) -> FoundBundle:
    """The bundle at ``path``, when it is the one ``expected`` describes, signed by
    ``certificate``'s key; else :class:`ExportError` saying what is there instead."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise ExportError(f"there is nothing at {path}") from None
    except OSError as exc:
        raise ExportError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    try:
        if as_zip:
            if not stat.S_ISREG(st.st_mode):
                raise ExportError(f"{path} is not a file")
            found = _zip(path, expected, certificate)
        else:
            if not stat.S_ISDIR(st.st_mode):
                raise ExportError(f"{path} is not a directory")
            found = _directory(path, expected, certificate)
    except (
        OSError,
        ValueError,
        EOFError,
        RuntimeError,
        NotImplementedError,
        zipfile.BadZipFile,
    ) as exc:
        raise ExportError(f"{path} cannot be read as a bundle: {exc}") from exc
    return found


def _directory(root: Path, expected: Expected, cert: x509.Certificate) -> FoundBundle:
    files = size = 0
    for top, _dirs, names in os.walk(root):
        for name in names:
            st = os.lstat(Path(top) / name)
            if not stat.S_ISREG(st.st_mode):
                raise ExportError(f"{Path(top) / name} is not a regular file")
            files += 1
            size += st.st_size
    sums = _small(root / SUMS, MAX_SUMS)
    listed = _signed_manifest_digest(sums, _small(root / SUMS_SIG, MAX_SIG), cert)
    manifest = root / MANIFEST
    digest = sha256_file(manifest)
    _check_manifest(manifest, digest, listed, expected)
    return FoundBundle(digest, hashlib.sha256(sums).hexdigest(), files, size, None)


def _zip(path: Path, expected: Expected, cert: x509.Certificate) -> FoundBundle:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        by_name = {i.filename: i for i in infos}
        if len(by_name) != len(infos):
            raise ExportError(f"{path} holds a name twice")

        def member(name: str, limit: int) -> zipfile.ZipInfo:
            info = by_name.get(name)
            if info is None:
                raise ExportError(f"{path} holds no {name}")
            if info.file_size > limit:
                raise ExportError(f"{path}: {name} is larger than a bundle's ({info.file_size})")
            return info

        sums = zf.read(member(SUMS, MAX_SUMS))
        listed = _signed_manifest_digest(sums, zf.read(member(SUMS_SIG, MAX_SIG)), cert)
        info = member(MANIFEST, 1 << 62)
        with tempfile.TemporaryDirectory(prefix="chainproof-manifest-") as tmp:
            manifest = Path(tmp) / MANIFEST
            with zf.open(info) as src, open(manifest, "wb") as dst:
                digest = _copy(src, dst, info.file_size)
            _check_manifest(manifest, digest, listed, expected)
        found = FoundBundle(
            digest,
            hashlib.sha256(sums).hexdigest(),
            len(infos),
            sum(i.file_size for i in infos),
            None,
        )
    return replace(found, zip_sha256=sha256_file(path))


def _small(path: Path, limit: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ExportError(f"{path} is larger than a bundle's")
    return data


def _copy(src: IO[bytes], dst: IO[bytes], size: int) -> str:
    h, n = hashlib.sha256(), 0
    while chunk := src.read(CHUNK):
        n += len(chunk)
        if n > size:
            raise ExportError(f"{MANIFEST} is longer than its zip entry says")
        h.update(chunk)
        dst.write(chunk)
    return h.hexdigest()


def _signed_manifest_digest(sums: bytes, sig: bytes, cert: x509.Certificate) -> str:
    """The manifest's SHA-256 as the exporter's signed SHA256SUMS lists it."""
    if not verify_digest(cert, hashlib.sha256(sums).hexdigest(), sig):
        raise ExportError(f"{SUMS_SIG} is not the exporting examiner's signature of {SUMS}")
    listed = [d for n, d in parse_sums(sums) if n == MANIFEST.encode()]
    if len(listed) != 1:
        raise ExportError(f"{SUMS} does not list {MANIFEST} once")
    return listed[0]


def _check_manifest(manifest: Path, digest: str, listed: str, expected: Expected) -> None:
    if digest != listed:
        raise ExportError(f"{MANIFEST} has SHA-256 {digest}, {SUMS} lists {listed}")
    said = dict(_top_level(manifest))
    ledger = said.get("ledger")
    ledger = ledger if isinstance(ledger, dict) else {}
    pairs = (
        ("bundle_id", said.get("bundle_id"), expected.bundle_id),
        ("generated_at", said.get("generated_at"), expected.generated_at),
        ("ledger.entries", ledger.get("entries"), expected.ledger_entries),
        ("ledger.head", ledger.get("head"), expected.ledger_head),
    )
    for name, got, want in pairs:
        if got != want:
            raise ExportError(f"its {MANIFEST} says {name} {got!r}, the export {want!r}")


def _top_level(manifest: Path) -> Iterator[tuple[str, Any]]:
    """The manifest's members other than the artifacts (streamed past, not held)."""
    for key, value, item in scan(manifest, "artifacts"):
        if key != "artifacts" and not item:
            yield key, value
