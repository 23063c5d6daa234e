"""Encrypting a file to recipients as a CMS EnvelopedData (DER), streamed.

The content key is 32 random bytes, the content is AES-256-CBC with PKCS#7 padding, so its
ciphertext length is known from the file size before a byte is read: the envelope is
written front to back with definite lengths (plain DER), one chunk in memory at a time.
``openssl cms -decrypt -inform DER -in F.p7m -recip CERT.pem -inkey KEY.pem`` opens it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from custody.envelope import cms
from custody.envelope.output import AtomicOutput
from custody.envelope.recipients import Recipient, recipient_info
from custody.errors import EnvelopeError, UsageError
from custody.store.sources import open_source

CHUNK = 1 << 20
#: The largest envelope ``openssl cms -decrypt`` (OpenSSL 3.0) opens: it reads the whole
#: envelope into one buffer, which OpenSSL refuses to grow past 0x5FFFFFFC bytes
#: ("BUF_MEM_grow_clean: malloc failure"). Measured: 1,610,611,792 bytes open, 1,610,612,800
#: do not, whatever the memory; ``chainproof decrypt`` has no limit.
OPENSSL_CMS_LIMIT = 0x5FFFFFFC


@dataclass(frozen=True)
class Envelope:
    """An envelope as written: where, its SHA-256 and size, and to whom."""

    path: Path
    sha256: str
    size: int
    content_size: int
    recipients: tuple[Recipient, ...]

    @property
    def openssl_opens(self) -> bool:
        """Whether ``openssl cms -decrypt`` (3.0) can open it (:data:`OPENSSL_CMS_LIMIT`)."""
        return self.size <= OPENSSL_CMS_LIMIT

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """The recipients' certificate SHA-256s, in order: how the ledger names them."""
        return tuple(r.fingerprint for r in self.recipients)


def encrypt_file(
    src: Path,
    recipients: Sequence[Recipient],
    out: Path,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> Envelope:
    """Write ``src`` encrypted to every one of ``recipients`` as ``out`` (which must not
    exist; it appears only when complete). ``on_chunk(n)`` hears each block of ``n`` plain
    bytes encrypted and may raise to stop."""
    unique = tuple({r.fingerprint: r for r in recipients}.values())
    if not unique:
        raise UsageError("an encrypted bundle needs at least one recipient certificate")
    try:
        fd = open_source(os.fspath(src), follow=True)
    except OSError as exc:
        raise EnvelopeError(f"cannot read {src}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb", buffering=0) as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise EnvelopeError(f"{src} is not a regular file")
        size = st.st_size
        cek, iv = os.urandom(32), os.urandom(16)
        infos = [recipient_info(r, cek) for r in unique]
        encryptor = Cipher(algorithms.AES256(cek), modes.CBC(iv)).encryptor()
        buf = bytearray(CHUNK)
        out_buf = bytearray(CHUNK + 16)
        done = 0
        with AtomicOutput(out) as o:
            o.write(cms.envelope_prefix(infos, iv, size))
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                done += n
                if done > size:
                    break
                m = encryptor.update_into(memoryview(buf)[:n], out_buf)
                o.write(memoryview(out_buf)[:m])
                if on_chunk is not None:
                    on_chunk(n)
            if done != size:
                raise EnvelopeError(
                    f"{src} changed size while it was encrypted ({size} bytes, then {done}): "
                    "nothing was written"
                )
            pad = 16 - size % 16
            m = encryptor.update_into(bytes([pad]) * pad, out_buf)
            o.write(memoryview(out_buf)[:m])
            o.write(encryptor.finalize())
            o.commit()
    return Envelope(out, o.sha256, o.size, size, unique)
