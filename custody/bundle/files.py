"""Writing a bundle's files once each, hashing them as they go; detached signatures over a
file's SHA-256, so a large file is never held in memory to be signed or checked.

A signature made from the digest is the same as one made from the bytes (ECDSA here is
deterministic, RFC 6979, and signs the SHA-256 of the message either way), so
``openssl dgst -sha256 -verify pub.pem -signature F.sig F`` checks it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from custody.errors import ExportError
from custody.record.canonical import sha256_hex
from custody.record.keys import Identity
from custody.record.regular import open_regular

CHUNK = 4 << 20
#: Write buffer of a file written piece by piece (several are open at once during an export).
STREAM_BUFFER = 256 << 10


def sha256_file(path: Path) -> str:
    """Lower-case hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open_regular(path) as f:  # a FIFO in a bundle must not block its check
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sign_digest(identity: Identity, sha256_hex_digest: str) -> bytes:
    """The DER signature ``identity.sign(data)`` would give, from ``data``'s SHA-256."""
    digest = bytes.fromhex(sha256_hex_digest)
    prehashed = utils.Prehashed(hashes.SHA256())
    if isinstance(identity.key, ec.EllipticCurvePrivateKey):
        return identity.key.sign(digest, ec.ECDSA(prehashed, deterministic_signing=True))
    return identity.key.sign(digest, padding.PKCS1v15(), prehashed)


def verify_digest(cert: x509.Certificate, sha256_hex_digest: str, signature: bytes) -> bool:
    """True when ``signature`` over the data whose SHA-256 is given was made by ``cert``'s key."""
    digest = bytes.fromhex(sha256_hex_digest)
    prehashed = utils.Prehashed(hashes.SHA256())
    public = cert.public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, digest, ec.ECDSA(prehashed))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, digest, padding.PKCS1v15(), prehashed)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


class BundleFiles:
    """Creates bundle files (never overwrites) and remembers each one's size and SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, tuple[int, str]] = {}

    def path(self, name: str) -> Path:
        return self.root.joinpath(*name.split("/"))

    def _new(self, name: str) -> Path:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _failed(self, name: str, exc: OSError) -> ExportError:
        return ExportError(f"cannot write {name} in {self.root}: {exc.strerror or exc}")

    def put(self, name: str, data: bytes) -> str:
        """Write a new file; returns its SHA-256."""
        try:
            with open(self._new(name), "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise self._failed(name, exc) from exc
        digest = sha256_hex(data)
        self.files[name] = (len(data), digest)
        return digest

    def open(self, name: str) -> StreamFile:
        """A new file to write piece by piece (:class:`StreamFile`); listed once closed."""
        try:
            return StreamFile(self, name, open(self._new(name), "xb", buffering=STREAM_BUFFER))
        except OSError as exc:
            raise self._failed(name, exc) from exc

    def put_stream(self, name: str, chunks: Iterable[bytes]) -> str:
        """Write ``chunks`` to a new file as they come, hashing them; returns the SHA-256."""
        h = hashlib.sha256()
        size = 0
        try:
            with open(self._new(name), "xb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise self._failed(name, exc) from exc
        self.files[name] = (size, h.hexdigest())
        return h.hexdigest()

    def copy(
        self,
        name: str,
        fin: BinaryIO,
        src: str,
        expected_size: int | None,
        on_chunk: Callable[[int], None] | None = None,
    ) -> tuple[int, str]:
        """Stream the open source ``fin`` (``src``, for messages) into a new file (a copy,
        never a link), hashing it in the same pass; check the size. ``on_chunk(n)`` hears
        each block of ``n`` bytes copied (it may raise to stop: the partial copy stays for
        the caller's clean-up)."""
        h = hashlib.sha256()
        try:
            with open(self._new(name), "xb") as fout:
                source_size = fin.seek(0, os.SEEK_END)
                fin.seek(0)
                while chunk := fin.read(CHUNK):
                    h.update(chunk)
                    fout.write(chunk)
                    if on_chunk is not None:
                        on_chunk(len(chunk))
                fout.flush()
                os.fsync(fout.fileno())
                size = os.fstat(fout.fileno()).st_size
        except OSError as exc:
            raise ExportError(
                f"cannot copy {src} to {name} in {self.root}: {exc.strerror or exc}"
            ) from exc
        if size != source_size or (expected_size is not None and size != expected_size):
            raise ExportError(
                f"copy of {src} is {size} bytes; the source has {source_size} and the ledger "
                f"recorded {expected_size}: the archive changed while it was copied"
            )
        self.files[name] = (size, h.hexdigest())
        return size, h.hexdigest()

    def add_written(self, name: str, size: int, sha256: str) -> None:
        """List a file written by someone else who hashed it as they wrote it."""
        if not self.path(name).is_file():
            raise ExportError(f"{name} was not written in {self.root}")
        self.files[name] = (size, sha256)

    def add_existing(self, name: str) -> str:
        """Hash a file written by someone else (the PDF report) into the list."""
        path = self.path(name)
        digest = sha256_file(path)
        self.files[name] = (path.stat().st_size, digest)
        return digest


class StreamFile:
    """A bundle file written piece by piece, hashed and counted as it goes; on :meth:`close`
    it is synced and listed in its :class:`BundleFiles`. Used as a context manager, it is
    closed (and listed) only when the block ends without an error."""

    def __init__(self, files: BundleFiles, name: str, f: BinaryIO) -> None:
        self.files, self.name, self._f = files, name, f
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        try:
            self._f.write(data)
        except OSError as exc:
            raise self.files._failed(self.name, exc) from exc

    def close(self) -> str:
        """Sync and close the file, list it; its SHA-256."""
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
        except OSError as exc:
            raise self.files._failed(self.name, exc) from exc
        digest = self._hash.hexdigest()
        self.files.files[self.name] = (self.size, digest)
        return digest

    def abandon(self) -> None:
        """Close without listing (the export failed; its staging folder goes)."""
        self._f.close()

    def __enter__(self) -> StreamFile:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.close()
        else:
            self.abandon()
