"""Verification: does the record hold? The legal team's view, from the ledger and archives alone.

One pass over the ledger checks the chain and the signatures (:mod:`custody.verify.chain`)
and folds the case (:mod:`custody.record.fold`), whose problems become findings; then each
run's archive is checked against the run's artifact entries, read again, in one sequential
pass over the archive (:mod:`custody.verify.runs`, :mod:`custody.verify.archives`). Memory
stays flat for any case size. Certificate files must match the ledger; ``trusted`` pins the
signers to certificates known out of band.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from cryptography import x509

from custody.errors import ChainproofError
from custody.record.entry import Entry
from custody.record.fold import Folder
from custody.record.keys import fingerprint, load_certificate_pem
from custody.record.regular import read_regular
from custody.store.setaside import SetAsideFolder
from custody.store.storage import EvidenceStore
from custody.verify.chain import Chain
from custody.verify.findings import Report
from custody.verify.runs import check_orphan_archives, check_run, check_set_aside

#: The ledger's entries: a sequence, or a function that reads them (again) in order.
EntrySource = Sequence[Entry] | Callable[[], Iterable[Entry]]


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
) -> Report:
    """Verify a whole case record: ledger entries, certificates and (with ``archives``) the
    run archives in ``evidence`` and the archives set aside in ``set_aside`` (None: a
    bundle, which does not carry them)."""
    read: Callable[[], Iterable[Entry]] = entries if callable(entries) else (lambda: entries)
    report = Report(subject)
    chain = Chain(report, case_id)
    folder = Folder()
    for e in read():
        chain.feed(e, folder.apply(e))
    chain.finish()
    state = folder.state
    for problem in state.problems:
        where = f"run {problem.run_id}" if problem.run_id else f"entry {problem.seq}"
        report.add(problem.code, where, problem.message, problem.seq, problem.run_id)
    _check_certificate_files(certificate_files, chain.certs, report)
    _check_trusted(trusted, report)
    report.runs = len(state.runs)
    if archives:
        for run in state.runs.values():
            check_run(run, read, state.head_seq, evidence, report)
        pending: set[str] = set()
        if set_aside is not None:
            pending = check_set_aside(state.set_aside, set_aside, evidence, report)
        check_orphan_archives(state.runs, evidence, report, pending)
    return report


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
