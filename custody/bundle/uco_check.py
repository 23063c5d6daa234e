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
same order, one pass over the ledger, so memory stays flat. Findings name the file, the node
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

from custody.bundle.compare import Difference, differences, identical, pair_up, shown
from custody.bundle.facts import LedgerFacts, artifacts
from custody.bundle.jsonstream import ARRAY, scan
from custody.bundle.layout import CASE_UCO
from custody.record.entry import Entry
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


def _check_graph(
    root: Path,
    name: str,
    expected_nodes: Iterable[Mapping[str, Any]],
    report: Report,
    links: frozenset[str] | tuple[()] = (),
) -> None:
    """Compare the graph file ``name`` with ``expected_nodes``, node by node."""
    nodes = iter(expected_nodes)
    try:
        _compare_graph(root / name, name, nodes, report, links)
    finally:
        for _node in nodes:  # the stream of artifacts moves on past this file
            pass


def _compare_graph(
    path: Path,
    name: str,
    expected_nodes: Iterator[Mapping[str, Any]],
    report: Report,
    links: frozenset[str] | tuple[()],
) -> None:
    if not os.path.lexists(path):
        report.add("caseuco.missing", name, "is missing")
        return
    expected = ((node["@id"], node) for node in expected_nodes)
    members: dict[str, Any] = {}
    try:
        for node_id, e, g in pair_up(expected, _nodes(path, members)):
            if g is None:
                assert e is not None
                report.add(
                    "caseuco.missing",
                    name,
                    f"{_name(node_id, e)}, which the ledger gives, is missing",
                )
                continue
            n, node = g
            if not isinstance(node, dict):
                report.add("caseuco.extra", name, f"@graph[{n}] is not a node: {shown(node)}")
                continue
            for problem in node_problems(node):
                report.add("caseuco.structure", name, problem)
            if e is None:
                report.add(
                    "caseuco.extra",
                    name,
                    f"{_name(node_id, node)} at @graph[{n}] is not a node the ledger gives here, "
                    "or is listed twice",
                )
                continue
            if identical(e, node):
                continue
            for d in differences(e, node, links=links):
                _difference(report, name, node_id, node, d)
    except ValueError as exc:
        report.add("caseuco.malformed", name, f"is not one well-formed JSON object: {exc}")
        return
    except OSError as exc:
        report.add("bundle.unreadable", name, f"cannot be read: {exc.strerror}")
        return
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
    four = _shapes_off(root, report) == SHAPES_OFF_TEXT_4
    _check_graph(root, CASE_UCO, custody_nodes(facts.state, archives, tool_version), report)
    given = set()
    graphs = inventory_graphs(facts.state, stream, tool_version, chunk=chunk, four=four)
    for name, nodes in graphs:
        given.add(name)
        _check_graph(root, name, nodes, report)
    for name in on_disk:
        if name not in given:
            report.add("caseuco.extra", name, "is an inventory file the ledger does not give")
