"""Verification: does the record hold? The legal team's view, from the ledger and archives alone.

One pass over the ledger checks the chain and the signatures (:mod:`custody.verify.chain`)
and folds the case (:mod:`custody.record.fold`), whose problems become findings; then each
run's archive is checked against the run's artifact entries, read again, in one sequential
pass over the archive (:mod:`custody.verify.runs`, :mod:`custody.verify.archives`). Each
entry is parsed once in the ledger pass and handed, with its typed event, to a
:class:`LedgerTap` (the index check); when the entries are read again from the same snapshot
(``stable``) they are not hashed again; the archive checks take the members the ledger pass
held (:class:`~custody.verify.runs.HeldMembers`, a bounded number) instead of reading them
again. Memory stays bounded for any case size. Certificate files must match the ledger;
``trusted`` pins the signers to certificates known out of band.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from cryptography import x509

from custody.errors import ChainproofError
from custody.record.entry import Entry
from custody.record.events import Event
from custody.record.fold import CaseState, Folder
from custody.record.keys import fingerprint, load_certificate_pem
from custody.record.regular import read_regular
from custody.store.setaside import SetAsideFolder
from custody.store.storage import EvidenceStore, archive_name
from custody.verify.chain import Chain
from custody.verify.findings import Report
from custody.verify.progress import ARCHIVES, ENTRY_STEP, LEDGER, Monitor
from custody.verify.runs import HeldMembers, check_orphan_archives, check_run, check_set_aside

#: The ledger's entries: a sequence, or a function that reads them (again) in order.
EntrySource = Sequence[Entry] | Callable[[], Iterable[Entry]]


class LedgerTap(Protocol):
    """Sees each entry of the ledger pass with its typed event, then the folded case."""

    def feed(self, entry: Entry, event: Event | None) -> None: ...

    def finish(self, state: CaseState) -> None: ...


def verify(
    subject: str,
    entries: EntrySource,
    *,
    evidence: EvidenceStore,
    certificate_files: Iterable[Path] = (),
    trusted: Iterable[x509.Certificate] = (),
    case_id: str | None = None,
    archives: bool = True,
    set_aside: SetAsideFolder | None = None,
    monitor: Monitor | None = None,
    entry_count: int | None = None,
    tap: LedgerTap | None = None,
    stable: bool = False,
) -> Report:
    """Verify a whole case record: ledger entries, certificates and (with ``archives``) the
    run archives in ``evidence`` and the archives set aside in ``set_aside`` (None: a
    bundle, which does not carry them).

    ``monitor`` hears how far it is (phase ``ledger`` in entries, of ``entry_count`` or the
    sequence's length; phase ``archives`` in bytes, of the archives' sizes on disk) and
    raises :class:`~custody.errors.Cancelled` when its token is set: nothing is written.
    ``tap`` sees every entry of the ledger pass and the folded case. ``stable`` says that
    ``entries`` gives the same entries, in the same order, each time it is called (a
    sequence, or one database snapshot): the archive checks then skip the entries whose
    content did not hash instead of hashing every entry again.
    """
    monitor = monitor or Monitor()
    if entry_count is None:
        entry_count = 0 if callable(entries) else len(entries)
    read: Callable[[], Iterable[Entry]] = entries if callable(entries) else (lambda: entries)
    report = Report(subject)
    check = LedgerCheck(report, case_id)
    monitor.start(LEDGER, entry_count)
    held = HeldMembers() if archives else None
    for n, e in enumerate(read(), 1):
        event = check.feed(e)
        if tap is not None:
            tap.feed(e, event)
        if held is not None:
            held.feed(n, e, event, n in check.chain.unhashed)
        if n % ENTRY_STEP == 0:
            monitor.update(n)
    monitor.finish()
    state = check.finish()
    if tap is not None:
        tap.finish(state)
    unhashed = check.chain.unhashed if stable or not callable(entries) else None
    _check_certificate_files(certificate_files, check.chain.certs, report)
    _check_trusted(trusted, report)
    report.runs = len(state.runs)
    if archives:
        sizes = {run_id: _size_on_disk(evidence, run.archive) for run_id, run in state.runs.items()}
        monitor.start(ARCHIVES, sum(sizes.values()))
        base = 0
        for run_id, run in state.runs.items():
            check_run(
                run,
                read,
                state.head_seq,
                evidence,
                report,
                on_read=_reading_from(monitor, base),
                check_cancel=monitor.check,
                unhashed=unhashed,
                held=held,
            )
            base += sizes[run_id]
            monitor.update(base)
        pending: set[str] = set()
        if set_aside is not None:
            pending = check_set_aside(state.set_aside, set_aside, evidence, report, monitor.check)
        check_orphan_archives(state.runs, evidence, report, pending)
        monitor.finish()
    return report


def _reading_from(monitor: Monitor, base: int) -> Callable[[int], None]:
    """The archive hook of a run whose archive starts ``base`` bytes into the phase."""
    return lambda n: monitor.update(base + n)


def _size_on_disk(evidence: EvidenceStore, archive: str) -> int:
    """The size of a run's archive now (0: none, or not readable: the check says why)."""
    name = archive_name(archive)
    if name is None:
        return 0
    try:
        return evidence.size(name)
    except OSError:
        return 0


class LedgerCheck:
    """The ledger alone, entry by entry in one pass: its chain and signatures
    (:class:`~custody.verify.chain.Chain`) and its story (the fold's problems). What
    :func:`verify` checks before the archives; ``chainproof log`` and ``extract`` read the
    ledger through it, taking each typed event as it passes."""

    def __init__(self, report: Report, case_id: str | None = None) -> None:
        self.report = report
        self.chain = Chain(report, case_id)
        self.folder = Folder()

    def feed(self, entry: Entry) -> Event | None:
        """Check and fold one entry; its typed event (None when it cannot be read)."""
        event = self.folder.apply(entry)
        self.chain.feed(entry, event)
        return event

    def finish(self) -> CaseState:
        """End the pass: the signature coverage and the fold's problems become findings."""
        self.chain.finish()
        state = self.folder.state
        for problem in state.problems:
            where = f"run {problem.run_id}" if problem.run_id else f"entry {problem.seq}"
            self.report.add(problem.code, where, problem.message, problem.seq, problem.run_id)
        return state


def _check_certificate_files(
    files: Iterable[Path], certs: Mapping[str, x509.Certificate], report: Report
) -> None:
    for path in files:
        try:
            cert = load_certificate_pem(read_regular(path))
        except OSError as exc:
            report.add(
                "certificate.unreadable",
                f"certificate {path.name}",
                f"cannot be read: {exc.strerror}",
            )
            continue
        except ChainproofError as exc:
            report.add("certificate.unreadable", f"certificate {path.name}", str(exc))
            continue
        fp = fingerprint(cert)
        stem = path.stem
        if stem != fp:
            report.add(
                "certificate.swapped",
                f"certificate {path.name}",
                f"file holds certificate {fp}, not the one its name ({stem}) says: the "
                "certificate was swapped",
            )
        elif fp not in certs:
            report.add(
                "certificate.unknown",
                f"certificate {path.name}",
                "no identity_added entry in the ledger introduces this certificate",
            )


def _check_trusted(trusted: Iterable[x509.Certificate], report: Report) -> None:
    trusted_fps = {fingerprint(c) for c in trusted}
    if not trusted_fps:
        return
    for fp in sorted(report.signers):
        if fp not in trusted_fps:
            report.add(
                "signer.untrusted",
                f"signer {report.signers[fp]}",
                f"certificate {fp} is not among the trusted certificates given",
            )
