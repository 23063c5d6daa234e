"""Does case.jsonld say what the bundle's ledger says?

The graph is rebuilt from the bundle's ledger by the code that wrote it
(:func:`custody.report.caseuco.case_uco_nodes`) and compared node by node, matched by
``@id``, property by property: the case's title and status, the examiners, each run's host,
times and archive, and each artifact's name, path, size and hashes. Both sides are streamed
in the same order, so memory stays flat. Findings name the node and the property:

- ``caseuco.mismatch``: ``node kb:file-... (uco-observable:File) uco-core:hasFacet[...].
  uco-observable:filePath says '/x'; the ledger says '/y'``;
- ``caseuco.missing``, ``caseuco.extra``: a node (or property) the ledger gives and the file
  lacks, or the reverse;
- ``caseuco.structure``: what ``case_validate`` does not catch (a hash off its
  ContentDataFacet, a provenance record without an object); ``caseuco.malformed``.

Graphs written by the format 1 code listed every artifact in each run's provenance record;
for them a record's (and an action's) links must include the expected ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from custody.bundle.compare import Difference, differences, identical, pair_up, shown
from custody.bundle.facts import LedgerFacts, artifacts
from custody.bundle.jsonstream import ARRAY, scan
from custody.bundle.layout import CASE_UCO
from custody.record.entry import Entry
from custody.report.caseuco import CONTEXT, LINK_LISTS, ArchiveCopy, case_uco_nodes, node_problems
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


def _difference(report: Report, node_id: Any, node: Mapping[str, Any], d: Difference) -> None:
    prop = d.path.removeprefix(".")
    if d.missing:
        report.add(
            "caseuco.missing",
            CASE_UCO,
            f"{_name(node_id, node)} lacks {prop}; the ledger says {shown(d.expected)}",
        )
    else:
        report.add(
            "caseuco.mismatch",
            CASE_UCO,
            f"{_name(node_id, node)} {prop} says {shown(d.got)}; the ledger says "
            f"{shown(d.expected)}",
        )


def check_case_uco(
    root: Path,
    entries: Sequence[Entry],
    facts: LedgerFacts,
    archives: Mapping[str, ArchiveCopy | None],
    tool_version: str,
    report: Report,
    *,
    older: bool = False,
) -> None:
    """Compare case.jsonld with the graph the bundle's ledger gives.

    ``tool_version`` is the exporting tool's (the manifest says it; the ledger does not);
    ``older`` for a bundle of the format 1 code.
    """
    path = root / CASE_UCO
    if not os.path.lexists(path):
        report.add("caseuco.missing", CASE_UCO, "is missing")
        return
    links = LINK_LISTS if older else ()
    expected = (
        (node["@id"], node)
        for node in case_uco_nodes(facts.state, artifacts(entries), archives, tool_version)
    )
    members: dict[str, Any] = {}
    try:
        for node_id, e, g in pair_up(expected, _nodes(path, members)):
            if g is None:
                assert e is not None
                report.add(
                    "caseuco.missing",
                    CASE_UCO,
                    f"{_name(node_id, e)}, which the ledger gives, is missing",
                )
                continue
            n, node = g
            if not isinstance(node, dict):
                report.add("caseuco.extra", CASE_UCO, f"@graph[{n}] is not a node: {shown(node)}")
                continue
            for problem in node_problems(node):
                report.add("caseuco.structure", CASE_UCO, problem)
            if e is None:
                report.add(
                    "caseuco.extra",
                    CASE_UCO,
                    f"{_name(node_id, node)} at @graph[{n}] is not a node the ledger gives, "
                    "or is listed twice",
                )
                continue
            if identical(e, node):
                continue
            for d in differences(e, node, links=links):
                _difference(report, node_id, node, d)
    except ValueError as exc:
        report.add("caseuco.malformed", CASE_UCO, f"is not one well-formed JSON object: {exc}")
        return
    except OSError as exc:
        report.add("bundle.unreadable", CASE_UCO, f"cannot be read: {exc.strerror}")
        return
    if members.get(GRAPH) is not ARRAY:
        report.add("caseuco.malformed", CASE_UCO, f"has no {GRAPH} list")
    for d in differences(CONTEXT, members.get("@context"), "@context"):
        report.add(
            "caseuco.mismatch",
            CASE_UCO,
            f"{d.path} says {shown(d.got)}; Chainproof writes {shown(d.expected)}",
        )
    for key in sorted(members.keys() - {GRAPH, "@context"}):
        report.add("caseuco.extra", CASE_UCO, f"has a member {key!r} that the ledger does not give")
