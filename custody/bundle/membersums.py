"""``evidence/<run>.sha256``: exactly the ledger's member hashes of that run, compared in
lockstep with the ledger as it passes.

The writer lists a run's members in ledger (archive) order, so each file is read one line
at a time beside the ledger's artifacts and nothing per artifact is held. A file that is
not in that order (a bundle written when the lists were sorted by name), or that differs
from the ledger by a member added, left out or renamed, cannot be matched in lockstep: its
run is checked again by name (:func:`check_by_name`), with the run's members gathered as
the rest of the ledger passes (the lines matched before are read again from the file, not
the ledger), which says exactly which member differs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from custody.bundle.facts import artifacts, member_name_bytes
from custody.bundle.layout import member_sums_file
from custody.bundle.sha256sums import parse_sums
from custody.record.entry import Entry
from custody.record.fold import RunState
from custody.record.regular import open_regular, read_regular
from custody.verify.findings import Report


def _digest_differs(member: bytes, got: str, expected: str) -> str:
    return f"gives member {os.fsdecode(member)!r} SHA-256 {got}; the ledger records {expected}"


class _Lockstep:
    """One run's file read line by line beside the ledger's members of the run. Once it
    differs by name, the run's members are gathered as they pass (the lines matched so far
    are read again from the file), for the check by name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Messages of members whose hash differs, in file order.
        self.messages: list[str] = []
        self.diverged = False
        #: After it diverged: the run's members so far, ``(name, sha256)`` in ledger order
        #: (None when the lines matched before could not be read again).
        self.members: list[tuple[bytes, str]] | None = None
        self._matched = 0  # lines matched name for name
        self._differs: dict[int, str] = {}  # line index -> the ledger's digest, where it differs
        self._file: BinaryIO | None = None
        try:
            self._file = open_regular(path)
        except OSError:
            self.diverged = True  # the check by name says why
            self.members = []

    def _next(self) -> tuple[bytes, str] | None:
        assert self._file is not None
        line = self._file.readline()
        return parse_sums(line)[0] if line else None

    def feed(self, member: bytes, digest: str) -> None:
        if self.diverged:
            if self.members is not None:
                self.members.append((member, digest))
            return
        try:
            listed = self._next()
        except (ValueError, OSError):
            listed = None
        if listed is None or listed[0] != member:
            self._diverge()
            if self.members is not None:
                self.members.append((member, digest))
            return
        if listed[1] != digest:
            self.messages.append(_digest_differs(member, listed[1], digest))
            self._differs[self._matched] = digest
        self._matched += 1

    def finish(self) -> bool:
        """True when the whole file matched the ledger's members name for name."""
        if self._file is None and not self.diverged:  # closed before the ledger's end
            self.diverged = True
        if not self.diverged:
            try:
                if self._next() is not None:
                    self._diverge()
            except (ValueError, OSError):
                self._diverge()
        self.close()
        return not self.diverged

    def _diverge(self) -> None:
        self.diverged = True
        self.messages.clear()
        self.close()
        self.members = self._matched_members()
        self._differs.clear()

    def _matched_members(self) -> list[tuple[bytes, str]] | None:
        """The members matched so far: the file's first lines, with the ledger's digest."""
        members: list[tuple[bytes, str]] = []
        try:
            with open_regular(self.path) as f:
                for n in range(self._matched):
                    name, digest = parse_sums(f.readline())[0]
                    members.append((name, self._differs.get(n, digest)))
        except (ValueError, OSError, IndexError):
            return None  # changed while read: the ledger is read again for this run
        return members

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class MemberSumsCheck:
    """Feeds each run's ``.sha256`` file the ledger's members as they pass
    (:class:`~custody.bundle.facts.FactsTap` calls :meth:`feed`), then reports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._runs: dict[str, _Lockstep] = {}

    def feed(self, run_id: str, archive: str, member: bytes, digest: str) -> None:
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = _Lockstep(self.root / member_sums_file(archive))
        run.feed(member, digest)

    def close(self) -> None:
        for run in self._runs.values():
            run.close()

    def report(
        self, runs: Iterable[RunState], read: Callable[[], Iterable[Entry]], report: Report
    ) -> None:
        """Add the findings of each run's file, in run order. ``read``: the ledger read
        anew, for a run whose file differs and changed while it was checked (read only
        then)."""
        runs = list(runs)
        matched: dict[str, list[str]] = {}
        by_name: dict[str, list[tuple[bytes, str]]] = {}
        again: set[str] = set()
        for run in runs:
            step = self._runs.pop(run.run_id, None)
            if step is None:  # no regular member: the check by name needs no ledger
                continue
            if step.finish():
                matched[run.run_id] = step.messages
            elif step.members is not None:
                by_name[run.run_id] = step.members
            else:
                again.add(run.run_id)
        self.close()
        if again:
            by_name.update(_members_of(read(), again))
        for run in runs:
            name = member_sums_file(run.archive)
            if run.run_id in matched:
                for message in matched[run.run_id]:
                    report.add("bundle.member_sums", name, message)
            else:
                check_by_name(self.root, run, by_name.pop(run.run_id, []), report)


def _members_of(entries: Iterable[Entry], run_ids: set[str]) -> dict[str, list[tuple[bytes, str]]]:
    """``(member name bytes, sha256)`` of each regular member of the runs ``run_ids``."""
    out: dict[str, list[tuple[bytes, str]]] = {}
    for _seq, a in artifacts(entries):
        if a.run_id in run_ids and a.is_regular:
            out.setdefault(a.run_id, []).append((member_name_bytes(a), a.digests.sha256))
    return out


def check_by_name(
    root: Path, run: RunState, members: list[tuple[bytes, str]], report: Report
) -> None:
    """Compare the run's whole file with its members (``members``) by name."""
    name = member_sums_file(run.archive)
    try:
        data = read_regular(root / name)
    except FileNotFoundError:
        report.add("bundle.member_sums_missing", name, f"is missing (run {run.run_id})")
        return
    except OSError as exc:
        report.add("bundle.member_sums", name, f"cannot be read: {exc.strerror}")
        return
    try:
        listed = parse_sums(data)
    except ValueError as exc:
        report.add("bundle.member_sums", name, f"is not a sha256sum file: {exc}")
        return
    expected = dict(members)
    got: dict[bytes, str] = {}
    for member, digest in listed:
        shown = os.fsdecode(member)
        if member in got:
            report.add("bundle.member_sums", name, f"lists member {shown!r} twice")
        got[member] = digest
        if member not in expected:
            report.add(
                "bundle.member_sums",
                name,
                f"lists member {shown!r}, which the ledger does not record for run {run.run_id}",
            )
        elif expected[member] != digest:
            report.add(
                "bundle.member_sums", name, _digest_differs(member, digest, expected[member])
            )
    for member in expected.keys() - got.keys():
        report.add(
            "bundle.member_sums",
            name,
            f"lacks member {os.fsdecode(member)!r}, which the ledger records",
        )
