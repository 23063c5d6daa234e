"""``chainproof keys init | show | import``: the examiner's identity.

``keys init`` takes the examiner's name, organisation and e-mail from ``--name``, ``--org``
and ``--email``, else from ``CHAINPROOF_NAME``, ``CHAINPROOF_ORG`` and ``CHAINPROOF_EMAIL``,
else asks for them in a terminal. Without a terminal a missing value is an error that names
it (exit 2): no name is ever made up, and placeholders are refused. A new passphrase must be
strong (:func:`app.passphrase.read_new_passphrase`).

Replacing an identity (``--force``) is confirmed by typing ``yes`` in a terminal, or by
``--yes`` without one, and keeps the old file as a dated backup beside it
(:mod:`app.identity_backup`). ``keys show`` reads the public certificate from
``identity.pem`` and needs no passphrase.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import NoIdentity, UsageError
from app.identity_backup import backup_identity
from app.passphrase import ENV, add_passphrase_fd, read_new_passphrase, read_passphrase
from app.paths import identity_file
from app.times import shown, utc_text

if TYPE_CHECKING:
    from cryptography import x509

#: (argument, flag, environment variable, prompt, what field_problem calls it)
FIELDS = (
    ("name", "--name", "CHAINPROOF_NAME", "Your name: ", "name"),
    ("org", "--org", "CHAINPROOF_ORG", "Organisation: ", "organisation"),
    ("email", "--email", "CHAINPROOF_EMAIL", "E-mail: ", "email"),
)
ATTEMPTS = 3


def register(sub: Any) -> None:
    """Add the ``keys`` subcommands to the CLI's subparsers."""
    keys = sub.add_parser("keys", help="examiner identity").add_subparsers(
        dest="keys_cmd", required=True
    )
    k = keys.add_parser(
        "init",
        help="create your signing key and certificate",
        description="Create your examiner identity: a P-256 key and a certificate naming you, "
        "in a PKCS#12 file protected by a passphrase of at least 12 characters. The name, "
        "organisation and e-mail come from the options, else from CHAINPROOF_NAME, "
        "CHAINPROOF_ORG and CHAINPROOF_EMAIL, else from questions in a terminal; without a "
        "terminal a missing one is an error. The passphrase comes from --passphrase-fd, "
        "CHAINPROOF_PASSPHRASE or the terminal (asked twice).",
    )
    k.add_argument("--name", help="your name (else $CHAINPROOF_NAME or a question)")
    k.add_argument("--org", help="your organisation (else $CHAINPROOF_ORG or a question)")
    k.add_argument("--email", help="your e-mail address (else $CHAINPROOF_EMAIL or a question)")
    k.add_argument(
        "--force",
        action="store_true",
        help="replace an existing identity (asks first; the old file is kept as a dated backup)",
    )
    k.add_argument("--yes", action="store_true", help="confirm --force without a terminal")
    k.add_argument(
        "--if-missing",
        action="store_true",
        help="keep an existing identity: show which one and exit 0 without asking anything",
    )
    add_passphrase_fd(k)
    k.set_defaults(func=cmd_keys_init)

    k = keys.add_parser(
        "show",
        help="show your identity (public data only; no passphrase needed)",
        description="Show your examiner certificate. It is read from identity.pem beside the "
        "key file, without the passphrase; an identity made by an older version is opened "
        "with its passphrase once, and its identity.pem written then.",
    )
    k.add_argument("--json", action="store_true")
    k.add_argument(
        "--unlock",
        action="store_true",
        help="also open the key with its passphrase: checks the passphrase and the key file",
    )
    add_passphrase_fd(k)
    k.set_defaults(func=cmd_keys_show)

    k = keys.add_parser("import", help="import an organisation-issued PKCS#12 identity")
    k.add_argument("file", type=Path, metavar="FILE.p12")
    k.add_argument(
        "--force",
        action="store_true",
        help="replace an existing identity (asks first; the old file is kept as a dated backup)",
    )
    k.add_argument("--yes", action="store_true", help="confirm --force without a terminal")
    add_passphrase_fd(k)
    k.add_argument(
        "--source-passphrase-fd",
        type=int,
        metavar="N",
        help="read FILE.p12's passphrase from this descriptor "
        "(else $CHAINPROOF_IMPORT_PASSPHRASE or a prompt)",
    )
    k.set_defaults(func=cmd_keys_import)


# --- keys init ---------------------------------------------------------------------------


def cmd_keys_init(args: argparse.Namespace) -> int:
    # lazy: cryptography
    from app.identity import create_identity, field_problem, save_examiner_identity

    path = identity_file()
    if args.if_missing and args.force:
        raise UsageError(
            "--if-missing keeps an existing identity and --force replaces it: give one"
        )
    exists = path.exists()
    if exists and args.if_missing:
        _show_kept(path, args)
        return 0
    if exists and not args.force:
        raise UsageError(_exists_message(path, "init"))
    terminal = _terminal()
    missing: list[str] = []
    if exists and not args.yes and not terminal:
        missing.append(f"--yes (to confirm replacing the identity at {path})")
    values: dict[str, str] = {}
    for field, flag, env, _prompt, kind in FIELDS:
        value, source = getattr(args, field), flag
        if value is None and os.environ.get(env, "").strip():
            value, source = os.environ[env], env
        if value is None:
            if not terminal:
                missing.append(f"{flag} or {env}")
            continue
        problem = field_problem(kind, value)
        if problem is not None:
            raise UsageError(f"{source}: {problem}")
        values[field] = value.strip()
    if not terminal and args.passphrase_fd is None and not os.environ.get(ENV):
        missing.append(f"a passphrase ({ENV} or --passphrase-fd N)")
    if missing:
        raise UsageError("keys init needs, without a terminal: " + ", ".join(missing))
    if exists and not args.yes:
        _confirm_replace(path)
    asked = [f for f in FIELDS if f[0] not in values]
    if asked:
        sys.stderr.write(
            "Your examiner identity: every act you record is signed with it, and its "
            "certificate names you.\n"
        )
    for field, _flag, _env, prompt, kind in asked:
        values[field] = _ask_field(prompt, kind)
    passphrase = read_new_passphrase(fd=args.passphrase_fd)
    identity = create_identity(values["name"], values["org"], values["email"])
    backup = backup_identity(path) if exists else None  # before anything is replaced
    save_examiner_identity(identity, passphrase, path)
    print(f"Created identity for {identity.name} <{identity.email}> ({identity.organisation})")
    print(f"Certificate SHA-256: {identity.fingerprint}")
    print(f"Key file: {path} (PKCS#12, AES-256, 600,000 PBKDF2 rounds, mode 0600)")
    _print_backup(backup)
    return 0


def _show_kept(path: Path, args: argparse.Namespace) -> None:
    """``keys init --if-missing`` with an identity: say which one is used, and that the
    name, organisation and e-mail given are not."""
    from app.identity import public_certificate  # lazy: cryptography

    cert = public_certificate(path)
    print(f"Using the examiner identity at {path}{_who(cert)}")
    subject = _subject(cert) if cert is not None else {}
    for field, _flag, env, _prompt, kind in FIELDS:
        given = (getattr(args, field) or os.environ.get(env, "")).strip()
        if given and given != subject.get(kind):
            sys.stderr.write(
                "chainproof: note: the name, organisation and e-mail given are not used: the "
                "existing identity is kept ('chainproof keys init --force' replaces it)\n"
            )
            return


def _ask_field(prompt: str, kind: str) -> str:
    from app.identity import field_problem  # lazy: cryptography

    problem = ""
    for _ in range(ATTEMPTS):
        answer = _ask(prompt)
        problem = field_problem(kind, answer) or ""
        if not problem:
            return answer.strip()
        sys.stderr.write(f"Not usable: {problem}. Try again.\n")
    raise UsageError(f"no usable {kind} given: {problem}")


def _ask(prompt: str) -> str:
    """One line typed in the terminal after ``prompt``."""
    try:
        if sys.stdout.isatty():
            return input(prompt)
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")
    except EOFError:
        raise UsageError("no answer (the input ended)") from None


def _terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _exists_message(path: Path, command: str) -> str:
    from app.identity import public_certificate  # lazy: cryptography

    return (
        f"an examiner identity already exists at {path}{_who(public_certificate(path))}: "
        "keep using it (commands ask for its passphrase; 'chainproof keys show' shows it), or "
        f"replace it with 'chainproof keys {command} --force', which keeps the old file as a "
        "dated backup beside it"
    )


def _confirm_replace(path: Path) -> None:
    """Ask the examiner at the terminal to type ``yes`` before their identity is replaced."""
    from app.identity import public_certificate  # lazy: cryptography

    sys.stderr.write(
        f"This replaces your examiner identity at {path}{_who(public_certificate(path))}.\n"
        "From then on you sign as the new identity. The old file is kept as a dated backup "
        "beside it and still opens with its passphrase.\n"
    )
    if _ask("Type yes to replace it: ").strip().lower() != "yes":
        raise UsageError(f"the identity at {path} was not replaced")


def _print_backup(backup: Path | None) -> None:
    if backup is not None:
        print(f"Previous identity kept in {backup} (it opens with its old passphrase)")


def _subject(cert: x509.Certificate) -> dict[str, str | None]:
    from cryptography.x509.oid import NameOID  # lazy: cryptography

    def attr(oid: x509.ObjectIdentifier) -> str | None:
        found = cert.subject.get_attributes_for_oid(oid)
        return str(found[0].value) if found else None

    return {
        "name": attr(NameOID.COMMON_NAME),
        "organisation": attr(NameOID.ORGANIZATION_NAME),
        "email": attr(NameOID.EMAIL_ADDRESS),
    }


def _who(cert: x509.Certificate | None) -> str:
    """`` (Ann Example <ann@example.org>, Example Lab, certificate SHA-256 0123abcd…)``, or
    nothing when the certificate cannot be read without the passphrase."""
    if cert is None:
        return ""
    from custody.record.keys import fingerprint  # lazy: cryptography

    s = _subject(cert)
    return (
        f" ({s['name']} <{s['email']}>, {s['organisation']}, "
        f"certificate SHA-256 {fingerprint(cert)[:16]}…)"
    )


# --- keys show ---------------------------------------------------------------------------


def cmd_keys_show(args: argparse.Namespace) -> int:
    from app.identity import (  # lazy: cryptography
        certificate_file,
        public_certificate,
        unlock_identity,
        write_certificate_file,
    )

    path = identity_file()
    if not path.exists():
        raise NoIdentity(
            f"no examiner identity at {path}: create one with 'chainproof keys init' "
            "(it asks for your name, organisation and e-mail, or takes --name, --org and --email)"
        )
    public = public_certificate(path)
    cert = None if args.unlock else public
    if cert is None:  # asked to check the key, or an identity without a current identity.pem
        try:
            cert = unlock_identity(args.passphrase_fd, path).certificate
        except UsageError as exc:  # no passphrase to be had
            if args.unlock:
                raise
            raise UsageError(
                f"{certificate_file(path)} is missing or belongs to another identity file, so "
                f"the certificate is read with the passphrase this once: {exc}"
            ) from exc
        if public != cert:
            try:
                pem = write_certificate_file(path, cert)
            except OSError as exc:
                sys.stderr.write(
                    f"chainproof: note: cannot write {certificate_file(path)}: {exc.strerror}\n"
                )
            else:
                sys.stderr.write(
                    f"chainproof: note: wrote the certificate to {pem}: 'keys show' needs no "
                    "passphrase from now on\n"
                )
    info = {
        **_certificate_info(cert),
        "key_file": str(path),
        "certificate_file": str(certificate_file(path)),
        "unlocked": bool(args.unlock or public is None),
    }
    if args.json:
        sys.stdout.write(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
        return 0
    for k in ("name", "organisation", "email", "fingerprint_sha256"):
        print(f"{k:20} {info[k]}")
    for k in ("not_valid_before", "not_valid_after"):
        print(f"{k:20} {shown(info[k])}")
    print(f"{'key_file':20} {info['key_file']}")
    print(f"{'certificate_file':20} {info['certificate_file']}")
    unlocked = (
        "yes: the passphrase opens the key"
        if info["unlocked"]
        else "no (--unlock checks the passphrase)"
    )
    print(f"{'unlocked':20} {unlocked}")
    print(info["certificate_pem"], end="")
    return 0


def _certificate_info(cert: x509.Certificate) -> dict[str, Any]:
    from custody.record.keys import certificate_pem, fingerprint  # lazy: cryptography

    return {
        **_subject(cert),
        "fingerprint_sha256": fingerprint(cert),
        "not_valid_before": utc_text(cert.not_valid_before_utc),
        "not_valid_after": utc_text(cert.not_valid_after_utc),
        "key": type(cert.public_key()).__name__.lstrip("_"),
        "certificate_pem": certificate_pem(cert),
    }


# --- keys import -------------------------------------------------------------------------


def cmd_keys_import(args: argparse.Namespace) -> int:
    from app.identity import load_identity, save_examiner_identity  # lazy: cryptography

    path = identity_file()
    exists = path.exists()
    if exists and not args.force:
        raise UsageError(_exists_message(path, "import FILE.p12"))
    if exists and not args.yes:
        if not _terminal():
            raise UsageError(
                f"replacing the identity at {path} needs confirmation: run in a terminal, "
                "or add --yes (the old file is kept as a dated backup beside it)"
            )
        _confirm_replace(path)
    if not args.file.is_file():
        raise UsageError(f"cannot import {args.file}: it is not a file")
    src_pass = read_passphrase(
        prompt=f"Passphrase of {args.file}: ",
        env="CHAINPROOF_IMPORT_PASSPHRASE",
        fd=args.source_passphrase_fd,
    )
    identity = load_identity(args.file, src_pass)  # opened and checked before anything else
    new_pass = read_new_passphrase(fd=args.passphrase_fd)
    backup = backup_identity(path) if exists else None
    save_examiner_identity(identity, new_pass, path)
    print(
        f"Imported identity of {identity.name} ({identity.organisation}); certificate SHA-256 {identity.fingerprint}"
    )
    _print_backup(backup)
    return 0
