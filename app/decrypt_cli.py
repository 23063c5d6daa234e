"""``chainproof decrypt B.zip.p7m [--out B.zip] [--identity FILE.p12]``: open a bundle
encrypted to you (CMS EnvelopedData, see :mod:`custody.envelope`) with your PKCS#12
identity, streamed, so a bundle of any size needs a few MB of memory.

Exit codes (the CLI's table): 0 done; 2 usage (no output name, no passphrase); 5 the key is
not a recipient's, a wrong passphrase or a damaged key file; 7 the envelope is truncated or
altered, or the output cannot be written. The output appears only when the whole envelope
checked out; then ``chainproof verify`` checks the bundle itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.errors import UsageError
from app.passphrase import add_passphrase_fd
from app.progress import DecryptProgress

SUFFIXES = (".p7m", ".cms")


def register(sub: Any) -> None:
    """Add ``decrypt`` to the CLI's subparsers."""
    c = sub.add_parser(
        "decrypt",
        help="decrypt a bundle encrypted to you (B.zip.p7m) with your PKCS#12 identity",
        description="Decrypt an encrypted bundle (a CMS EnvelopedData, as 'chainproof export "
        "--encrypt-to' writes it) with the private key of one of its recipients, read from "
        "a PKCS#12 file (default: your examiner identity). The bundle is streamed: any size "
        "opens in a few MB of memory. The output appears only when the whole envelope has "
        "been read and checked; check the bundle itself with 'chainproof verify'. The same "
        "envelope opens with 'openssl cms -decrypt -inform DER -in B.zip.p7m -recip "
        "CERT.pem -inkey KEY.pem -out B.zip', which holds the whole bundle in memory.",
    )
    c.add_argument("envelope", type=Path, metavar="BUNDLE.p7m")
    c.add_argument(
        "--out",
        type=Path,
        metavar="BUNDLE.zip",
        help="where to write the bundle (must not exist; default: the name without .p7m)",
    )
    c.add_argument(
        "--identity",
        type=Path,
        metavar="FILE.p12",
        help="the recipient's PKCS#12 file (key and certificate; default: your examiner identity)",
    )
    add_passphrase_fd(c, "the identity's")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress on stderr (default: a live line in a terminal, else a line every 5 s)",
    )
    c.set_defaults(func=cmd_decrypt)


def output_name(envelope: Path, out: Path | None) -> Path:
    """``--out``, else the envelope's name without ``.p7m`` (``B.zip.p7m`` -> ``B.zip``)."""
    if out is not None:
        return out
    if envelope.suffix.lower() in SUFFIXES and envelope.stem:
        return envelope.with_name(envelope.stem)
    raise UsageError(f"{envelope} does not end in .p7m: name the output with --out FILE")


def cmd_decrypt(args: argparse.Namespace) -> int:
    from app.encryption import decrypt_bundle, open_identity
    from app.passphrase import read_passphrase
    from app.paths import identity_file
    from custody.errors import NoIdentity

    out = output_name(args.envelope, args.out)
    if out.exists() or out.is_symlink():
        raise UsageError(f"{out} already exists: name another output with --out, or remove it")
    if not args.envelope.exists():
        raise UsageError(f"{args.envelope} does not exist")
    key_file = args.identity or identity_file()
    if not key_file.exists():
        if args.identity is None:
            raise NoIdentity(
                f"no examiner identity at {key_file}: give the recipient's PKCS#12 file with "
                "--identity FILE.p12"
            )
        raise UsageError(f"{key_file} does not exist")
    passphrase = read_passphrase(prompt=f"Passphrase of {key_file}: ", fd=args.passphrase_fd)
    identity = open_identity(key_file, passphrase)
    progress = DecryptProgress(enabled=not (args.json or args.no_progress))
    progress.expect(args.envelope.stat().st_size)
    with progress:
        opened = decrypt_bundle(args.envelope, identity, out, on_chunk=progress.advance)
        progress.complete()
    doc = {
        "envelope": str(args.envelope),
        "out": str(opened.path),
        "bytes": opened.size,
        "sha256": opened.sha256,
        "recipient": identity.fingerprint,
        "recipient_name": identity.name,
    }
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    print(f"Decrypted {args.envelope} to {opened.path} ({opened.size:,} bytes)")
    print(f"  as recipient {identity.name} (certificate SHA-256 {identity.fingerprint})")
    print(f"  SHA-256 of {opened.path.name}: {opened.sha256}")
    print(f"  check the bundle with: chainproof verify {opened.path}")
    return 0
