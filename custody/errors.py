"""One error hierarchy for Chainproof.

Every error a person can meet derives from :class:`ChainproofError`. The CLI prints
``diagnostics()`` and exits with ``exit_code``; the UI shows the same text in a dialog.
"""

from __future__ import annotations


class ChainproofError(Exception):
    """Base of every error Chainproof reports to a person."""

    exit_code: int = 1

    def diagnostics(self) -> str:
        """What happened and what to do, in one or two sentences for a person."""
        return str(self)


class UsageError(ChainproofError):
    """The command was called with arguments that cannot work."""

    exit_code = 2


class ProfileError(ChainproofError):
    """A collection profile is malformed; the message names file, line and problem."""

    exit_code = 2


class CaseError(ChainproofError):
    """A case directory is missing, not a case, or already exists."""

    exit_code = 3


class UnreliableLocks(CaseError):
    """A case directory lies on a file system whose locks cannot be trusted (a network
    share): a running collection could not be told from a crashed one there."""


class DatabaseError(ChainproofError):
    """The case database cannot be opened, is corrupt, or refused a write."""

    exit_code = 3


class StoreError(ChainproofError):
    """The evidence store cannot write: disk full, output not writable. Stops the run."""

    exit_code = 4


class RunAlive(ChainproofError):
    """Recovery of a run was refused because its process is alive: it holds the run's lease,
    or it is provably the process that started the run (same host, boot and start time), or,
    for a run that recorded neither, its PID is in use (``chainproof recover --force``)."""

    exit_code = 8


class LeaseLost(StoreError):
    """A running collection lost its run's lease (its database connection dropped) and
    another process took or ended the run meanwhile: the run stops without writing more."""


class ArchiveDamaged(StoreError):
    """An evidence archive is not a readable tar, or its last member is torn; the message
    names the archive, the offset and the member."""


class KeyError_(ChainproofError):
    """Base for identity problems (named with a trailing underscore to keep the builtin)."""

    exit_code = 5


class NoIdentity(KeyError_):
    """No examiner identity exists yet."""


class WrongPassphrase(KeyError_):
    """The passphrase does not open the key file."""


class CorruptKeyFile(KeyError_):
    """The key file cannot be parsed."""


class CertificateExpired(KeyError_):
    """The examiner certificate is outside its validity period."""


class UnsupportedKey(KeyError_):
    """The key type cannot sign Chainproof records (P-256 or RSA are required)."""


class SignatureError(ChainproofError):
    """Signing failed, or a signature does not verify."""

    exit_code = 5


class TimestampError(SignatureError):
    """A timestamp authority could not be reached, refused, or answered with a token that
    does not hold (wrong nonce, other bytes, bad signature)."""


class VerificationError(ChainproofError):
    """Verification found a problem; the message names the artifact or entry."""

    exit_code = 6


class MalformedEvent(VerificationError):
    """A ledger entry's payload does not have the shape its event kind declares; the message
    names the entry, the event and the field."""

    def __init__(self, message: str, *, seq: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.seq = seq
        self.field = field


class ExportError(ChainproofError):
    """A bundle cannot be written or read (including unsafe names in a zip)."""

    exit_code = 7


class ExportRefused(ExportError):
    """An export was refused because the case fails verification; nothing was written.
    Exporting with ``force`` writes the bundle and states the failure in it."""


class EnvelopeError(ExportError):
    """A bundle cannot be encrypted to its recipients, or an encrypted bundle (CMS
    EnvelopedData, ``.p7m``) cannot be read."""


class DamagedEnvelope(EnvelopeError):
    """An encrypted bundle is truncated, altered or not an envelope Chainproof can open; the
    message names the file and the place."""


class WrongRecipient(EnvelopeError):
    """The key given cannot open the encrypted bundle: it is not one of its recipients."""

    exit_code = 5


class UnsupportedRecipient(EnvelopeError):
    """A recipient certificate cannot receive an encrypted bundle (RSA of at least 2,048
    bits or P-256 are required, within its validity period)."""

    exit_code = 5


class Cancelled(ChainproofError):
    """The examiner cancelled the operation; what was done so far is kept."""

    exit_code = 130
