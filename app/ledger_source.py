"""A case or an exported bundle, opened read-only as its ledger and its run archives.

``chainproof artifacts``, ``log`` and ``extract`` read any of the three places a record can
be: a case directory (the ledger in its database), an exported bundle directory (its
``ledger.jsonl`` and ``evidence/``) or a bundle zip, read where it lies
(:mod:`custody.bundle.zipread`). Each gives its entries in order, as many times as asked,
and opens a run archive by the name the ledger gives it; everything else (the fold, the
checks, the listings) is the same for all three. A target is told apart by the rules of
``chainproof verify``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.exc import SQLAlchemyError

from app.cases import CaseHandle, open_case
from app.targets import BUNDLE, CASE, ZIP, target_kind
from custody.bundle.layout import LEDGER
from custody.bundle.ledgerfile import read_ledger_jsonl
from custody.bundle.zipread import ZipBundle
from custody.db.engine import wrap_db_errors
from custody.db.ledger import read_entries
from custody.errors import CaseError, ExportError
from custody.record.entry import Entry
from custody.record.events import CaseOpened
from custody.store.storage import EVIDENCE, LocalEvidenceStore, archive_name
from custody.verify.findings import Report


@dataclass
class LedgerSource:
    """A case, bundle directory or bundle zip opened for reading.

    ``case`` is the open case (None for a bundle: read-only, it takes no ledger entry);
    ``opened`` holds what opening found wrong with a zip's structure.
    """

    path: Path
    kind: str
    case: CaseHandle | None = None
    opened: Report = field(default_factory=lambda: Report(""))
    _zip: ZipBundle | None = field(default=None, repr=False)

    @property
    def is_case(self) -> bool:
        return self.case is not None

    def describe(self) -> str:
        """What the source is, for people: ``case DIR``, ``bundle DIR`` or ``bundle zip Z``."""
        return {CASE: "case", BUNDLE: "bundle", ZIP: "bundle zip"}[self.kind] + f" {self.path}"

    def entries(self, report: Report | None = None) -> Iterator[Entry]:
        """The ledger's entries in order, as stored. A bundle's malformed ledger lines (and
        a zip ledger's damaged data) are findings in ``report``."""
        report = report if report is not None else Report(str(self.path))
        if self.case is not None:
            case = self.case
            try:
                yield from read_entries(case.sessions, case.case_id)
            except SQLAlchemyError as exc:
                raise wrap_db_errors(exc, case.sessions.kw["bind"]) from exc
        elif self._zip is not None:
            yield from self._zip.ledger(report)
        else:
            if not (self.path / LEDGER).is_file():
                raise ExportError(f"the bundle {self.path} holds no {LEDGER}")
            yield from read_ledger_jsonl(self.path / LEDGER, report)

    def open_archive(self, reference: str) -> BinaryIO:
        """The run archive the ledger names ``reference`` (``evidence/<run>.tar``), opened
        read-only; :class:`OSError` when it cannot be. A reference that points outside the
        evidence folder is refused (:class:`CaseError`)."""
        name = archive_name(reference)
        if name is None:
            raise CaseError(f"the ledger names no archive of this case: {reference!r}")
        if self._zip is not None:
            return self._zip.open(f"{EVIDENCE}/{name}")
        root = self.case.evidence_dir if self.case is not None else self.path / EVIDENCE
        return LocalEvidenceStore(root).open(name)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self.case is not None:
            with contextlib.suppress(Exception):
                self.case.sessions.kw["bind"].dispose()

    def __enter__(self) -> LedgerSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(target: Path, *, require_opened: bool = True) -> LedgerSource:
    """Open ``target`` for reading. ``require_opened=False`` opens a case whose ledger
    does not open it (to show what is wrong)."""
    kind = target_kind(target)
    if kind == CASE:
        # Not open_case's own check, which folds the whole ledger: the listing folds it once.
        case = open_case(target, require_opened=False)
        if require_opened:
            _require_opened(case)
        return LedgerSource(target, kind, case=case)
    if kind == BUNDLE:
        return LedgerSource(target, kind)
    opened = Report(str(target))
    return LedgerSource(target, kind, opened=opened, _zip=ZipBundle(target, opened))


def _require_opened(case: CaseHandle) -> None:
    """A :class:`CaseError` unless the case's first ledger entry opens it."""
    try:
        first = next(iter(list(read_entries(case.sessions, case.case_id, seqs=[1]))), None)
    except SQLAlchemyError as exc:
        raise wrap_db_errors(exc, case.sessions.kw["bind"]) from exc
    if first is None or first.event != CaseOpened.EVENT:
        raise CaseError(
            f"case {case.case_id} has no {CaseOpened.EVENT} entry in its database {case.url}"
        )
