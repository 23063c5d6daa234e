"""Do the bundle's CASE/UCO files say what its ledger says?

The files are rebuilt from the bundle's ledger by the code that wrote them
(:func:`custody.report.caseuco.case_uco_files`: case.jsonld, each ``case-inventory-NNNN.jsonld``
and ``uco-shapes-off.ttl``) and compared file by file, node by node, matched by ``@id``,
property by property: the case's title and status, the examiners, each run's host, times and
archive, and each artifact's types, name, path, size, hash and description (kind, member,
link target); comparing every node's ``@type`` is what lets VERIFY.md's settings switch off
UCO's disjointness shapes. Every artifact must be in exactly the inventory file the
ledger's order puts it in: one moved, left out or listed twice is a finding, and so is an
inventory file the ledger does not give (SHA256SUMS and the manifest list every file; their
checks catch a file they do not list). Both sides are streamed in the
same order, so memory stays flat: :class:`UcoCheck` takes each artifact as the verification's
one pass over the ledger hands it over, and compares case.jsonld (which needs the ledger's
end) after it; :func:`check_case_uco` reads the artifacts itself. Findings name the file, the node
and the property:

- ``caseuco.mismatch``: ``node kb:file-... (uco-observable:File) uco-core:hasFacet[...].
  uco-observable:filePath says '/x'; the ledger says '/y'``;
- ``caseuco.missing``, ``caseuco.extra``: a node (or property) the ledger gives and the file
  lacks, or the reverse;
- ``caseuco.structure``: what ``case_validate`` does not catch (a hash off its
  ContentDataFacet, a provenance record without an object); ``caseuco.malformed``.

Bundles whose uco-shapes-off.ttl is :data:`~custody.report.caseuco.SHAPES_OFF_TEXT_4` hold
four nodes per artifact (a FileFacet and a ContentDataFacet apart) and are rebuilt so.
A bundle without inventory files is one made before the split: its case.jsonld holds every
artifact (:func:`custody.report.caseuco.case_uco_nodes`). Graphs written by the format 1
code listed every artifact in each run's provenance record; for them a record's (and an
action's) links must include the expected ones.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from custody.bundle.compare import Difference, differences, identical, shown
from custody.bundle.facts import LedgerFacts, artifacts
from custody.bundle.jsonstream import ARRAY, scan
from custody.bundle.layout import CASE_UCO
from custody.bundle.pushpair import DocumentPairs
from custody.record.entry import Entry
from custody.record.events import ArtifactCollected
from custody.record.fold import CaseState
from custody.record.regular import open_regular
from custody.report.caseuco import (
    CONTEXT,
    INVENTORY_CHUNK,
    INVENTORY_GLOB,
    LINK_LISTS,
    SHAPES_OFF,
    SHAPES_OFF_TEXT,
    SHAPES_OFF_TEXT_4,
    ArchiveCopy,
    case_uco_nodes,
    custody_nodes,
    inventory_graphs,
    node_problems,
)
from custody.verify.findings import Report

GRAPH = "@graph"


def _nodes(path: Path, members: dict[str, Any]) -> Iterator[tuple[Any, tuple[int, Any]]]:
    """``(@id, (position, node))`` of each graph node; other members land in ``members``."""
    n = 0
    for key, value, is_item in scan(path, GRAPH):
        if not is_item:
            members[key] = value
            continue
        node_id = value.get("@id") if isinstance(value, dict) else None
        yield (node_id if isinstance(node_id, str) else None), (n, value)
        n += 1


def _name(node_id: Any, node: Mapping[str, Any]) -> str:
    return f"node {node_id} ({node.get('@type')})"


def _difference(
    report: Report, name: str, node_id: Any, node: Mapping[str, Any], d: Difference
) -> None:
    prop = d.path.removeprefix(".")
    if d.missing:
        report.add(
            "caseuco.missing",
            name,
            f"{_name(node_id, node)} lacks {prop}; the ledger says {shown(d.expected)}",
        )
    else:
        report.add(
            "caseuco.mismatch",
            name,
            f"{_name(node_id, node)} {prop} says {shown(d.got)}; the ledger says "
            f"{shown(d.expected)}",
        )


class _GraphCompare:
    """One graph file compared node by node with the nodes the ledger gives, as they are
    pushed (:meth:`push`, in the writer's order), then its other members (:meth:`finish`)."""

    def __init__(
        self, root: Path, name: str, report: Report, links: frozenset[str] | tuple[()] = ()
    ) -> None:
        self.name, self.report, self.links = name, report, links
        self.members: dict[str, Any] = {}
        self._pairs: DocumentPairs[Any, Mapping[str, Any], tuple[int, Any]] | None = None
        path = root / name
        if not os.path.lexists(path):
            report.add("caseuco.missing", name, "is missing")
            return
        self._pairs = DocumentPairs(_nodes(path, self.members), self._pair, self._fail)

    def _pair(self, node_id: Any, e: Mapping[str, Any] | None, g: tuple[int, Any] | None) -> None:
        name, report = self.name, self.report
        if g is None:
            assert e is not None
            report.add(
                "caseuco.missing", name, f"{_name(node_id, e)}, which the ledger gives, is missing"
            )
            return
        n, node = g
        if not isinstance(node, dict):
            report.add("caseuco.extra", name, f"@graph[{n}] is not a node: {shown(node)}")
            return
        for problem in node_problems(node):
            report.add("caseuco.structure", name, problem)
        if e is None:
            report.add(
                "caseuco.extra",
                name,
                f"{_name(node_id, node)} at @graph[{n}] is not a node the ledger gives here, "
                "or is listed twice",
            )
            return
        if identical(e, node):
            return
        for d in differences(e, node, links=self.links):
            _difference(report, name, node_id, node, d)

    def _fail(self, exc: ValueError | OSError) -> None:
        if isinstance(exc, OSError):
            self.report.add("bundle.unreadable", self.name, f"cannot be read: {exc.strerror}")
        else:
            self.report.add(
                "caseuco.malformed", self.name, f"is not one well-formed JSON object: {exc}"
            )

    def push(self, node: Mapping[str, Any]) -> None:
        if self._pairs is not None:
            self._pairs.push(node["@id"], node)

    def close(self) -> None:
        if self._pairs is not None:
            self._pairs.close()

    def finish(self) -> None:
        if self._pairs is None or not self._pairs.finish():
            return
        members, name, report = self.members, self.name, self.report
        if members.get(GRAPH) is not ARRAY:
            report.add("caseuco.malformed", name, f"has no {GRAPH} list")
        for d in differences(CONTEXT, members.get("@context"), "@context"):
            report.add(
                "caseuco.mismatch",
                name,
                f"{d.path} says {shown(d.got)}; Chainproof writes {shown(d.expected)}",
            )
        for key in sorted(members.keys() - {GRAPH, "@context"}):
            report.add("caseuco.extra", name, f"has a member {key!r} that the ledger does not give")


def _check_graph(
    root: Path,
    name: str,
    expected_nodes: Iterable[Mapping[str, Any]],
    report: Report,
    links: frozenset[str] | tuple[()] = (),
) -> None:
    """Compare the graph file ``name`` with ``expected_nodes``, node by node."""
    graph = _GraphCompare(root, name, report, links)
    try:
        for node in expected_nodes:  # read to the end: the stream of artifacts moves on
            graph.push(node)
    except BaseException:
        graph.close()
        raise
    graph.finish()


class _Slot:
    """The one artifact the inventory graphs' builder may take next; it ends when told."""

    def __init__(self) -> None:
        self.item: tuple[int, ArtifactCollected] | None = None
        self.ended = False

    def __iter__(self) -> _Slot:
        return self

    def __next__(self) -> tuple[int, ArtifactCollected]:
        item, self.item = self.item, None
        if item is None:
            if not self.ended:
                raise RuntimeError("the inventory graph asked for an artifact out of turn")
            raise StopIteration
        return item


class UcoCheck:
    """The CASE/UCO files compared with the ledger as one pass over it goes: each inventory
    file's artifacts as they pass (:meth:`feed`), at most one file's artifact ids held
    (as the writer does), then case.jsonld from the fold (:meth:`finish`).

    Made before the pass: it lists the inventory files and reads uco-shapes-off.ttl.
    A bundle made before the split (no inventory files), one of the format 1 code, or a
    ledger whose case id is set only after its first artifact is compared in a pass of its
    own (:meth:`finish` returns False). :meth:`close` it when the pass fails."""

    def __init__(
        self, root: Path, *, chunk: int = INVENTORY_CHUNK, case_id: str | None = None
    ) -> None:
        self.root, self.chunk = root, chunk
        self.on_disk = sorted(p.name for p in root.glob(INVENTORY_GLOB))
        #: The case id the artifacts' node ids derive from (the first case_opened's).
        self.case_id = case_id
        self.artifacts = 0
        self._head = Report(str(root))  # uco-shapes-off.ttl's findings
        self._held = Report(str(root))  # the inventory files' findings
        self._four = _shapes_off(root, self._head) == SHAPES_OFF_TEXT_4
        self._slot = _Slot()
        self._graphs: Iterator[tuple[str, Iterator[dict[str, Any]]]] | None = None
        self._ids_of: str | None = None
        self._file: tuple[_GraphCompare, Iterator[dict[str, Any]]] | None = None
        self._in_file = 0
        self._given: set[str] = set()

    def opened(self, case_id: str) -> None:
        """A case_opened entry passed: the first one names the case."""
        if self.case_id is None:
            self.case_id = case_id

    def feed(self, seq: int, a: ArtifactCollected) -> None:
        """The ledger's next artifact (one the fold counts), in ledger order."""
        self.artifacts += 1
        if not self.on_disk:
            return  # made before the split, or a bundle without artifacts
        if self._graphs is None:
            self._ids_of = self.case_id
            state = CaseState(case_id=self.case_id)
            # the artifacts' nodes do not depend on the tool's version
            self._graphs = inventory_graphs(
                state, self._slot, "", chunk=self.chunk, four=self._four
            )
        self._slot.item = (seq, a)
        if self._file is None or self._in_file == self.chunk:
            self._end_file()
            name, nodes = next(self._graphs)
            self._given.add(name)
            self._file = (_GraphCompare(self.root, name, self._held), nodes)
            self._in_file = 0
        graph, nodes = self._file
        graph.push(next(nodes))
        self._in_file += 1

    def _end_file(self) -> None:
        if self._file is not None:
            graph, nodes = self._file
            self._file = None
            for node in nodes:  # the records of the file's runs
                graph.push(node)
            graph.finish()

    def close(self) -> None:
        if self._file is not None:
            self._file[0].close()
            self._file = None

    def one_pass(self, facts: LedgerFacts, older: bool) -> bool:
        """True when :meth:`finish` can report from this pass alone."""
        if older or (
            not self.on_disk and (self.artifacts or not os.path.lexists(self.root / SHAPES_OFF))
        ):
            return False
        return self._graphs is None or self._ids_of == facts.state.case_id

    def finish(
        self,
        facts: LedgerFacts,
        archives: Mapping[str, ArchiveCopy | None],
        tool_version: str,
        report: Report,
    ) -> None:
        """Add the findings to ``report`` (see :func:`check_case_uco`); only when
        :meth:`one_pass` is true."""
        self._slot.ended = True
        try:
            self._end_file()
        finally:
            self.close()
        report.findings.extend(self._head.findings)
        _check_graph(
            self.root, CASE_UCO, custody_nodes(facts.state, archives, tool_version), report
        )
        report.findings.extend(self._held.findings)
        for name in self.on_disk:
            if name not in self._given:
                report.add("caseuco.extra", name, "is an inventory file the ledger does not give")


def _shapes_off(root: Path, report: Report) -> bytes | None:
    """uco-shapes-off.ttl's bytes (None, and a finding, when it is missing or unreadable):
    the settings Chainproof writes, or those of bundles with four nodes per artifact."""
    try:
        with open_regular(root / SHAPES_OFF) as f:  # a FIFO there must not block
            data = f.read(max(len(SHAPES_OFF_TEXT), len(SHAPES_OFF_TEXT_4)) + 1)
    except FileNotFoundError:
        report.add("caseuco.missing", SHAPES_OFF, "is missing")
        return None
    except OSError as exc:
        report.add("bundle.unreadable", SHAPES_OFF, f"cannot be read: {exc.strerror}")
        return None
    if data not in (SHAPES_OFF_TEXT, SHAPES_OFF_TEXT_4):
        report.add(
            "caseuco.mismatch",
            SHAPES_OFF,
            "differs from the case_validate settings Chainproof writes (it could switch off "
            "other checks): compare it with VERIFY.md",
        )
    return data


def check_case_uco(
    root: Path,
    entries: Iterable[Entry],
    facts: LedgerFacts,
    archives: Mapping[str, ArchiveCopy | None],
    tool_version: str,
    report: Report,
    *,
    older: bool = False,
    chunk: int = INVENTORY_CHUNK,
) -> None:
    """Compare the bundle's CASE/UCO files with the ones the bundle's ledger gives.

    ``entries`` is read once, in ledger order (any iterable: a list or a stream);
    ``tool_version`` is the exporting tool's (the manifest says it; the ledger does not);
    ``older`` for a bundle of the format 1 code; ``chunk``: artifacts per inventory file, as
    the writer splits them.
    """
    on_disk = sorted(p.name for p in root.glob(INVENTORY_GLOB))
    items = artifacts(entries)
    first = next(items, None)
    stream = items if first is None else itertools.chain((first,), items)
    # made before the split: no inventory file, and artifacts or no settings file either
    if older or (not on_disk and (first is not None or not os.path.lexists(root / SHAPES_OFF))):
        links = LINK_LISTS if older else ()
        legacy = case_uco_nodes(facts.state, stream, archives, tool_version)
        _check_graph(root, CASE_UCO, legacy, report, links)
        return
    check = UcoCheck(root, chunk=chunk, case_id=facts.state.case_id)
    try:
        for seq, a in stream:
            check.feed(seq, a)
    except BaseException:
        check.close()
        raise
    check.finish(facts, archives, tool_version, report)
