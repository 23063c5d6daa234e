"""Does manifest.json say what the bundle's ledger says? Field by field, item by item.

A manifest signed with a good key can still be a lie: its signer may have edited it and
signed it again. So every part the ledger determines is rebuilt from the bundle's ledger by
the functions that wrote it (:mod:`custody.bundle.manifest`) and compared: format, case,
ledger, examiners, exported_by, runs, artifacts (matched by ``seq``), signatures, custody;
contents and files against the bundle's files. Findings:

- ``manifest.mismatch``: ``runs[0].host says 'x'; the ledger says 'y'``;
- ``manifest.missing``: a field or an item the ledger has and the manifest lacks (a field
  missing from a format 1 manifest is not a finding: that format did not have it);
- ``manifest.extra``: an item the ledger does not have, or one listed twice;
- ``manifest.format``, ``manifest.exporter``, ``manifest.malformed``.

The manifest is read as a stream and its artifacts are matched with the ledger's in ``seq``
order, so memory stays flat for any number of artifacts. :class:`ManifestCheck` takes the
ledger's artifacts as a pass made for other checks too hands them over
(:class:`~custody.bundle.pushpair.DocumentPairs`); :func:`check_manifest` reads them itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custody.bundle.compare import Difference, differences, identical, pair_up, shown
from custody.bundle.facts import LedgerFacts, artifacts
from custody.bundle.jsonstream import ARRAY, scan
from custody.bundle.layout import BUNDLE_FORMAT, MANIFEST, OLDER_FORMATS, is_older_format
from custody.bundle.manifest import (
    ARCHIVE_FIELDS,
    artifact_doc,
    case_doc,
    custody_doc,
    examiner_doc,
    exporter_doc,
    ledger_doc,
    run_doc,
    signature_doc,
)
from custody.bundle.pushpair import DocumentPairs
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected
from custody.report.caseuco import ArchiveCopy
from custody.verify.findings import Report

#: Top-level members of a manifest of this format; older formats lack ``custody``.
MEMBERS = frozenset(
    {
        "artifacts",
        "bundle_id",
        "case",
        "contents",
        "custody",
        "examiners",
        "exported_by",
        "files",
        "format",
        "generated_at",
        "ledger",
        "runs",
        "signatures",
        "tool",
        "verification",
    }
)
OLDER_MEMBERS = MEMBERS - {"custody"}
LEDGER_SAYS = "the ledger says"
#: How many findings of fields missing from artifacts are kept until the format is known
#: (it comes after the artifacts in the file).
_HELD = 1000


@dataclass(frozen=True)
class _Said:
    """Who states the expected value, and what names the item (" (entry 12, ...)")."""

    by: str = LEDGER_SAYS
    context: str = ""
    seq: int | None = None
    run_id: str | None = None


@dataclass
class _Findings:
    """Adds findings to the report; holds back missing fields until the format is known."""

    report: Report
    older: bool | None = None
    held: list[tuple[Difference, _Said]] = field(default_factory=list)
    held_over: int = 0

    def difference(self, d: Difference, said: _Said = _Said()) -> None:
        if not d.missing:
            self.add(
                "manifest.mismatch",
                f"{d.path} says {shown(d.got)}; {said.by} {shown(d.expected)}{said.context}",
                said.seq,
                said.run_id,
            )
        elif self.older is None:
            if len(self.held) < _HELD:
                self.held.append((d, said))
            else:
                self.held_over += 1
        elif not self.older:
            self._missing(d, said)

    def _missing(self, d: Difference, said: _Said) -> None:
        self.add(
            "manifest.missing",
            f"{d.path} is missing; {said.by} {shown(d.expected)}{said.context}",
            said.seq,
            said.run_id,
        )

    def format_known(self, older: bool) -> None:
        """Report (or, for an older format, drop) the missing fields held so far."""
        self.older = older
        if not older:
            for d, said in self.held:
                self._missing(d, said)
            if self.held_over:
                self.add("manifest.missing", f"{self.held_over} more artifact fields are missing")
        self.held.clear()

    def add(
        self, code: str, message: str, seq: int | None = None, run_id: str | None = None
    ) -> None:
        self.report.add(code, MANIFEST, message, seq, run_id)


@dataclass(frozen=True)
class _Section:
    """How the items of one list are matched and named."""

    name: str
    key: str
    label: Callable[[Any], str]
    said: Callable[[Any, Difference], str] = lambda _k, _d: LEDGER_SAYS
    #: What a message adds to name the item, e.g. " (entry 12, files/etc/hostname)".
    context: Callable[[Any, Mapping[str, Any]], str] = lambda _k, _e: ""
    seq_of: Callable[[Any], int | None] = lambda _k: None
    run_of: Callable[[Any], str | None] = lambda _k: None


def _numbered(items: Iterable[Any], key: str) -> Iterator[tuple[Any, tuple[int, Any]]]:
    for n, item in enumerate(items):
        k = item.get(key) if isinstance(item, dict) else None
        yield (k if isinstance(k, str | int) and not isinstance(k, bool) else None), (n, item)


def _compare_items(
    out: _Findings,
    section: _Section,
    expected: Iterable[tuple[Any, Mapping[str, Any]]],
    got: Iterable[Any],
) -> None:
    """Match the manifest's items with the ledger's by key, then compare each pair."""
    for k, e, g in pair_up(expected, _numbered(got, section.key)):
        _compare_pair(out, section, k, e, g)


def _compare_pair(
    out: _Findings,
    section: _Section,
    k: Any,
    e: Mapping[str, Any] | None,
    g: tuple[int, Any] | None,
) -> None:
    """Compare one matched pair: the ledger's item ``e`` and the manifest's ``g``
    (its position and value); None on the side that lacks the key."""
    s = section
    if g is None:
        out.add(
            "manifest.missing",
            f"{s.name} has no item for {s.label(k)}; the ledger has one",
            s.seq_of(k),
            s.run_of(k),
        )
        return
    n, item = g
    if e is None:
        what = (
            f"is for {s.label(k)}: the ledger has no such item, or it is listed twice"
            if k is not None
            else f"has no {s.key!r}"
        )
        out.add("manifest.extra", f"{s.name}[{n}] {what}", s.seq_of(k), s.run_of(k))
        return
    if identical(e, item):
        return
    for d in differences(e, item, f"{s.name}[{n}]"):
        said = _Said(s.said(k, d), s.context(k, e), s.seq_of(k), s.run_of(k))
        out.difference(d, said)


def _list_section(
    out: _Findings,
    members: Mapping[str, Any],
    section: _Section,
    expected: Iterable[tuple[Any, Mapping[str, Any]]],
) -> None:
    got = members.get(section.name)
    if got is None:
        return  # reported with the other missing members
    if not isinstance(got, list):
        out.add("manifest.mismatch", f"{section.name} is not a list: {shown(got)}")
        return
    _compare_items(out, section, expected, got)


def _object_section(
    out: _Findings, members: Mapping[str, Any], name: str, expected: Mapping[str, Any]
) -> None:
    got = members.get(name)
    if got is None:
        return
    if not isinstance(got, dict):
        out.add("manifest.mismatch", f"{name} is not an object: {shown(got)}")
        return
    for d in differences(expected, got, name):
        out.difference(d)


def _check_members(out: _Findings, members: Mapping[str, Any]) -> None:
    fmt = members.get("format")
    older = is_older_format(fmt)
    if fmt != BUNDLE_FORMAT and not older:
        out.add(
            "manifest.format",
            f"format says {shown(fmt)}; this verifier reads {BUNDLE_FORMAT!r} and "
            f"{', '.join(map(repr, sorted(OLDER_FORMATS)))}",
        )
    out.format_known(older)
    due = OLDER_MEMBERS if older else MEMBERS
    for name in sorted(due - members.keys()):
        out.add("manifest.missing", f"{name} is missing")
    for name in sorted(members.keys() - MEMBERS):
        out.add("manifest.extra", f"{name} is not a member of a bundle manifest")


def _check_exporter(out: _Findings, members: Mapping[str, Any], facts: LedgerFacts) -> None:
    got = members.get("exported_by")
    if not isinstance(got, dict):
        if got is not None:
            out.add("manifest.mismatch", f"exported_by is not an object: {shown(got)}")
        return
    fp = got.get("fingerprint")
    x = facts.state.examiners.get(fp) if isinstance(fp, str) else None
    if x is None:
        out.add(
            "manifest.exporter",
            f"exported_by.fingerprint says {shown(got.get('fingerprint'))}, which is not an "
            "examiner of the ledger (no identity_added entry)",
        )
        return
    for d in differences(exporter_doc(x), got, "exported_by"):
        out.difference(d)


def _streamed(path: Path, members: dict[str, Any]) -> Iterator[Any]:
    """``ARRAY`` and then the manifest's artifacts one by one (nothing when there is no
    list of them); every other member lands in ``members``."""
    for key, value, is_item in scan(path, "artifacts"):
        if is_item:
            yield value
        elif value is ARRAY:
            members[key] = value
            yield ARRAY
        else:
            members[key] = value


def _run_said(facts: LedgerFacts) -> Callable[[Any, Difference], str]:
    """Archive sizes and hashes are the ledger's once a run is sealed with them, else the
    bundle's archive file's; the rest is the ledger's."""

    def said(run_id: Any, d: Difference) -> str:
        if not d.path.endswith(ARCHIVE_FIELDS):
            return LEDGER_SAYS
        run = facts.state.runs.get(run_id) if isinstance(run_id, str) else None
        f = run.finished.event if run and run.finished else None
        if f is None:
            return "the archive file has"
        recorded = f.archive_size if d.path.endswith("archive_size") else f.archive_sha256
        return LEDGER_SAYS if recorded is not None else "the archive file has"

    return said


#: How the manifest's artifacts are matched and named.
_ARTIFACTS = _Section(
    "artifacts",
    "seq",
    lambda k: f"entry {k}",
    context=lambda k, e: f" (entry {k}, {e.get('member')})",
    seq_of=lambda k: k if isinstance(k, int) else None,
)


class ManifestCheck:
    """manifest.json compared with the ledger as one pass over it goes: its artifacts as
    the ledger's pass by (:meth:`feed`, in step, nothing per artifact held), then the rest
    from the fold (:meth:`finish`). Made before the pass: it reads the manifest up to its
    artifacts. :meth:`close` it when the pass fails."""

    def __init__(self, root: Path) -> None:
        self.path = root / MANIFEST
        #: The manifest's members other than its artifacts, as far as they are read.
        self.members: dict[str, Any] = {}
        self._held = Report(str(root))  # the findings of the pass, until finish()
        self._out = _Findings(self._held)
        self._pairs: DocumentPairs[Any, dict[str, Any], tuple[int, Any]] | None = None
        self._failure: tuple[str, str] | None = None
        self._missing = not os.path.lexists(self.path)
        if self._missing:
            return
        try:
            stream = _streamed(self.path, self.members)
            if next(stream, None) is not ARRAY:
                got = self.members.get("artifacts")
                if got is not None:
                    self._out.add("manifest.mismatch", f"artifacts is not a list: {shown(got)}")
                return
        except (ValueError, OSError) as exc:
            self._fail(exc)
            return
        self._pairs = DocumentPairs(_numbered(stream, "seq"), self._pair, self._fail)

    def _pair(self, k: Any, e: dict[str, Any] | None, g: tuple[int, Any] | None) -> None:
        _compare_pair(self._out, _ARTIFACTS, k, e, g)

    def _fail(self, exc: ValueError | OSError) -> None:
        if isinstance(exc, OSError):
            self._failure = ("bundle.unreadable", f"cannot be read: {exc.strerror}")
        else:
            self._failure = ("manifest.malformed", f"is not one well-formed JSON object: {exc}")

    def feed(self, seq: int, a: ArtifactCollected) -> None:
        """The ledger's next artifact (one the fold counts), in ledger order."""
        if self._pairs is not None:
            self._pairs.push(seq, artifact_doc(seq, a))

    def close(self) -> None:
        if self._pairs is not None:
            self._pairs.close()

    def finish(
        self,
        facts: LedgerFacts,
        archives: Mapping[str, ArchiveCopy | None],
        contents: Sequence[Mapping[str, Any]],
        present: Iterable[str],
        report: Report,
    ) -> dict[str, Any] | None:
        """Add the findings to ``report`` (see :func:`check_manifest`); the manifest's
        members other than its artifacts, or None when it cannot be read."""
        report.findings.extend(self._held.findings)
        self._held.findings.clear()
        self._out.report = report
        if self._missing:
            report.add("manifest.missing", MANIFEST, "is missing")
            return None
        if self._pairs is not None:
            self._pairs.finish()
        if self._failure is not None:
            report.add(self._failure[0], MANIFEST, self._failure[1])
            return None
        return _check_rest(self._out, self.members, facts, archives, contents, present)


def check_manifest(
    root: Path,
    entries: Iterable[Entry],
    facts: LedgerFacts,
    archives: Mapping[str, ArchiveCopy | None],
    contents: Sequence[Mapping[str, Any]],
    present: Iterable[str],
    report: Report,
) -> dict[str, Any] | None:
    """Compare manifest.json with the ledger and the bundle's files; returns the manifest's
    members other than its artifacts, or None when it cannot be read.

    ``entries`` is read once, in ledger order; ``archives`` are the bundle's copies of the
    run archives (by run id), ``contents`` what the manifest's ``contents`` must list,
    ``present`` the name of every file in the bundle. (:class:`ManifestCheck` does the
    same within a pass made for other checks too.)
    """
    check = ManifestCheck(root)
    try:
        for seq, a in artifacts(entries):
            check.feed(seq, a)
    except BaseException:
        check.close()
        raise
    return check.finish(facts, archives, contents, present, report)


def _check_rest(
    out: _Findings,
    members: dict[str, Any],
    facts: LedgerFacts,
    archives: Mapping[str, ArchiveCopy | None],
    contents: Sequence[Mapping[str, Any]],
    present: Iterable[str],
) -> dict[str, Any]:
    """Every member but the artifacts against the fold and the bundle's files."""
    state = facts.state
    _check_members(out, members)
    _object_section(out, members, "case", case_doc(state))
    _object_section(out, members, "ledger", ledger_doc(facts))
    _object_section(out, members, "custody", custody_doc(state))
    _check_exporter(out, members, facts)
    _list_section(
        out,
        members,
        _Section(
            "examiners",
            "fingerprint",
            lambda k: f"examiner {k}",
            context=lambda _k, e: f" (examiner {e.get('name')})",
        ),
        ((fp, examiner_doc(x)) for fp, x in state.examiners.items()),
    )
    _list_section(
        out,
        members,
        _Section(
            "runs",
            "id",
            lambda k: f"run {k}",
            said=_run_said(facts),
            context=lambda k, _e: f" (run {k})",
            run_of=lambda k: k if isinstance(k, str) else None,
        ),
        ((rid, run_doc(r, archives.get(rid))) for rid, r in state.runs.items()),
    )
    _list_section(
        out,
        members,
        _Section(
            "signatures",
            "seq",
            lambda k: f"signed entry {k}",
            seq_of=lambda k: k if isinstance(k, int) else None,
        ),
        ((s.seq, signature_doc(s)) for s in facts.signed),
    )
    _list_section(
        out,
        members,
        _Section("contents", "name", lambda k: f"file {k}", said=lambda _k, _d: "the file has"),
        ((c["name"], c) for c in contents),
    )
    _check_files(out, members, present)
    return members


def _check_files(out: _Findings, members: Mapping[str, Any], present: Iterable[str]) -> None:
    files = members.get("files")
    if files is None:
        return
    if not isinstance(files, list) or any(not isinstance(n, str) for n in files):
        out.add("manifest.mismatch", f"files is not a list of names: {shown(files)}")
        return
    names = set(present)
    for name in sorted(set(files) - names):
        out.add("manifest.extra", f"files names {name!r}, which is not in the bundle")
    for name in sorted(names - set(files)):
        out.add("manifest.missing", f"files lacks {name!r}, which is in the bundle")
    if len(files) != len(set(files)):
        out.add("manifest.extra", "files names a file more than once")
