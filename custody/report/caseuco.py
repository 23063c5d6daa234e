"""The bundle as CASE/UCO JSON-LD (CASE 1.5.0, UCO 1.4.0), for tools that read the standard.

Every fact comes from the fold of the ledger (:class:`CaseState`) and the typed
``artifact_collected`` events, streamed in one pass; only the archive copies' sizes and hashes
come from the bundle's files. The graph is split into files that each validate on their own
and together make the whole case (:func:`case_uco_files`):

- ``case.jsonld``, the custody graph: one ``case-investigation:Investigation`` (name = case
  title) holding, per collection run, an ``InvestigativeAction`` (start and end time,
  performer = examiner, instrument = the tool, result = the run's ``ProvenanceRecord`` and
  archive) and the ``ProvenanceRecord`` whose object is the run's evidence archive, a
  ``uco-observable:File``. Examiners are ``uco-identity:Person`` related to an
  ``Investigator`` role by ``Has_Role``.
- ``case-inventory-0001.jsonld``, ``-0002``, ...: :data:`INVENTORY_CHUNK` artifacts each, in
  ledger order. An artifact is three nodes (``case_validate``'s time grows with the nodes
  and the classes of each): a ``uco-observable:File`` whose one facet is both a
  ``FileFacet`` (name, path, size) and a ``ContentDataFacet`` holding one ``uco-types:Hash``
  (SHA-256, ``xsd:hexBinary``); its SHA-1 and MD5 are in the inventory files. A symbolic
  link is a ``SymbolicLink`` and a directory a ``Directory`` (``isDirectory``), each with a
  FileFacet alone: their members hold no content, so no size or hash. The node's
  description says the kind, the collector, the run, the member and a link's target. Per
  run, the file ends with a ``ProvenanceRecord`` whose objects are the run's archive (by
  IRI, with its type, so the file stands alone) and that run's artifacts in this file.
- ``uco-shapes-off.ttl``: six UCO shapes deactivated for ``case_validate --ontology-graph``,
  which pyshacl runs per node at a cost out of all proportion: three SPARQL-based ones
  whose query it parses again each time (about 0.1 s a node; hours at 20,000 artifacts)
  and three disjointness shapes, each a class check that fails and builds a report to be
  thrown away (a third of what is left). What they check (no blank-node UcoThing, a facet
  belongs to one object, ids end in a UUID, no node has two disjoint types) holds by
  construction and is checked again by ``chainproof verify``, which compares every node's
  ``@type``. Bundles whose inventory files hold four nodes per artifact (a FileFacet and a
  ContentDataFacet apart) came with :data:`SHAPES_OFF_TEXT_4`: that file tells them apart.

Node ids are ``kb:<kind>-<uuid5>`` from the case id and a stable key, so the same case gives
the same graph; no node grows with the case, so every file is written and checked node by
node. :func:`case_uco_nodes` is the single-file graph of bundles made before the split (three
hashes and a ``Contained_Within`` relationship per artifact), kept to check them.

Any text the ledger holds goes into plain string literals as it is (JSON escapes control
characters; ``case_validate`` accepts them, and lengths of 100,000 characters). Typed literals
are written only when their value has the type's form: a time that is not an
``xsd:dateTime`` or a hash that is not hexadecimal is left out and named in the node's
description instead, so the document always conforms.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any, NamedTuple, Protocol

from custody.record.events import ArtifactCollected
from custody.record.fold import CaseState, RunState

CONTEXT: dict[str, str] = {
    "kb": "urn:chainproof:kb:",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-role": "https://ontology.unifiedcyberontology.org/uco/role/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
HASH_METHODS = (("sha256", "SHA256"), ("sha1", "SHA1"), ("md5", "MD5"))
#: Artifacts per inventory file: each file validates alone in about a minute (see
#: benchmarks/bench_caseuco.py), and ``case_validate`` holds one in a few hundred MB.
INVENTORY_CHUNK = 5000
#: The custody graph's file; inventory files are :func:`inventory_file`.
CASE_UCO = "case.jsonld"
INVENTORY_GLOB = "case-inventory-*.jsonld"
#: Settings for ``case_validate --ontology-graph``: see the module's docstring.
SHAPES_OFF = "uco-shapes-off.ttl"
SHAPES_OFF_TEXT = (
    "# Settings for case_validate --ontology-graph (Chainproof). pyshacl runs these six UCO\n"
    "# shapes on every node at a cost out of all proportion to the rest: the SPARQL ones parse\n"
    "# their query again for each node (hours on a large case), the disjointness ones build a\n"
    "# report per node and throw it away. What they check holds by construction, and\n"
    "# chainproof verify checks it again: every node has an IRI ending in a UUID, no facet\n"
    "# belongs to two objects, and every node has exactly the types Chainproof gives it.\n"
    "@prefix sh: <http://www.w3.org/ns/shacl#> .\n"
    "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n"
    "@prefix uco-core: <https://ontology.unifiedcyberontology.org/uco/core/> .\n"
    "@prefix uco-observable: <https://ontology.unifiedcyberontology.org/uco/observable/> .\n"
    'uco-core:UcoThing sh:deactivated "true"^^xsd:boolean .\n'
    'uco-core:UcoThing-identifier-regex-shape sh:deactivated "true"^^xsd:boolean .\n'
    'uco-core:hasFacet-shape sh:deactivated "true"^^xsd:boolean .\n'
    'uco-core:UcoThing-disjointWith-UcoType-shape sh:deactivated "true"^^xsd:boolean .\n'
    "uco-core:UcoInherentCharacterizationThing-disjointWith-UcoObject-shape "
    'sh:deactivated "true"^^xsd:boolean .\n'
    'uco-observable:File-disjointWith-URL-shape sh:deactivated "true"^^xsd:boolean .\n'
).encode("ascii")
#: The settings of bundles with four nodes per artifact (three shapes off): kept to check them.
SHAPES_OFF_TEXT_4 = (
    "# Settings for case_validate --ontology-graph (Chainproof). UCO runs these three SPARQL\n"
    "# shapes once per node and re-parses the query each time, which takes hours on a large\n"
    "# case. What they check holds by construction and chainproof verify checks it again:\n"
    "# every node has an IRI ending in a UUID, and no facet belongs to two objects.\n"
    "@prefix sh: <http://www.w3.org/ns/shacl#> .\n"
    "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n"
    "@prefix uco-core: <https://ontology.unifiedcyberontology.org/uco/core/> .\n"
    'uco-core:UcoThing sh:deactivated "true"^^xsd:boolean .\n'
    'uco-core:UcoThing-identifier-regex-shape sh:deactivated "true"^^xsd:boolean .\n'
    'uco-core:hasFacet-shape sh:deactivated "true"^^xsd:boolean .\n'
).encode("ascii")
#: The facet class that holds hashes (an artifact's facet is also a FileFacet).
CONTENT_DATA = "uco-observable:ContentDataFacet"
#: Properties that link a node to others; a verifier reads them as "includes at least".
LINK_LISTS = frozenset({"uco-core:object", "uco-action:result"})
_XSD_DATETIME = re.compile(
    r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_HEX = re.compile(r"(?:[0-9a-f]{2})+")


class ArchiveCopy(NamedTuple):
    """The bundle's copy of a run archive: its size and SHA-256 (None when unknown)."""

    size: int | None
    sha256: str | None


#: Status of a run whose end is not in the ledger.
INCOMPLETE = "incomplete"


def run_examiner(run: RunState) -> str:
    """Who ran the collection: the examiner the run names, else the entry's actor."""
    return run.started.event.examiner or run.started.actor


def run_finished_at(run: RunState) -> str | None:
    """When the run ended, as its ``run_finished`` entry says (None while it has none)."""
    f = run.finished
    return (f.event.finished_at or f.at) if f else None


def run_status(run: RunState) -> str:
    """How the run ended; ``incomplete`` without a ``run_finished`` entry."""
    return run.finished.event.status if run.finished else INCOMPLETE


#: A hex digit with its top two bits set to binary 10 (the RFC 4122 variant).
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


class Ids:
    """Deterministic node ids: ``kb:<kind>-<uuid5(case namespace, kind:key)>``."""

    def __init__(self, case_id: str) -> None:
        try:
            self.ns = uuid.UUID(case_id)
        except ValueError:
            self.ns = uuid.uuid5(uuid.NAMESPACE_URL, f"chainproof:case:{case_id}")
        self._ns_bytes = self.ns.bytes

    def __call__(self, kind: str, key: str = "") -> str:
        # uuid.uuid5(self.ns, f"{kind}:{key}") without building UUID objects: the SHA-1's
        # first 16 bytes in hex, with the version (5) as the 13th digit and the variant
        # (binary 10) as the top bits of the 17th
        key_bytes = f"{kind}:{key}".encode("utf-8", "surrogatepass")
        h = hashlib.sha1(self._ns_bytes + key_bytes).hexdigest()
        variant = _VARIANT[h[16]]
        return f"kb:{kind}-{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def _ref(node_id: str) -> dict[str, str]:
    return {"@id": node_id}


def is_datetime(value: str | None) -> bool:
    """True when ``value`` is an ``xsd:dateTime`` that rdflib (case_validate's reader) reads."""
    if value is None or not _XSD_DATETIME.fullmatch(value):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_hex(value: str) -> bool:
    """True when ``value`` is an ``xsd:hexBinary`` digest: whole bytes, lower-case hex."""
    return _HEX.fullmatch(value) is not None


def _time(at: str) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": at}


def _basename(path: str) -> str:
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name or path


def _file_node(
    ids: Ids,
    key: str,
    *,
    path: str,
    size: int,
    hashes: Mapping[str, str | None],
    description: str,
    methods: Sequence[tuple[str, str]] = HASH_METHODS,
    content_size: bool = True,
) -> dict[str, Any]:
    """A ``uco-observable:File`` with its FileFacet and, when hashed, its ContentDataFacet
    (``methods``: which hashes; ``content_size``: the size on the ContentDataFacet too)."""
    facets: list[dict[str, Any]] = [
        {
            "@id": ids("file-facet", key),
            "@type": "uco-observable:FileFacet",
            "uco-observable:fileName": _basename(path),
            "uco-observable:filePath": path,
            "uco-observable:sizeInBytes": size,
        }
    ]
    hash_nodes = [
        {
            "@id": ids("hash", f"{key}:{algo}"),
            "@type": "uco-types:Hash",
            "uco-types:hashMethod": method,
            "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": value.lower()},
        }
        for algo, method in methods
        if (value := hashes.get(algo)) and is_hex(value.lower())
    ]
    for algo, method in methods:
        if (value := hashes.get(algo)) and not is_hex(value.lower()):
            description += f"; the recorded {method} value is not hexadecimal: {value}"
    if hash_nodes:
        content: dict[str, Any] = {
            "@id": ids("content-data-facet", key),
            "@type": "uco-observable:ContentDataFacet",
        }
        if content_size:
            content["uco-observable:sizeInBytes"] = size
        content["uco-observable:hash"] = hash_nodes
        facets.append(content)
    return {
        "@id": ids("file", key),
        "@type": "uco-observable:File",
        "uco-core:hasFacet": facets,
        "uco-core:description": description,
    }


def _relationship(ids: Ids, key: str, source: str, target: str, kind: str) -> dict[str, Any]:
    return {
        "@id": ids("relationship", key),
        "@type": "uco-core:Relationship",
        "uco-core:source": [_ref(source)],
        "uco-core:target": _ref(target),
        "uco-core:kindOfRelationship": kind,
        "uco-core:isDirectional": True,
    }


# --------------------------------------------------------------------------- the graph


_FILE = "uco-observable:File"
_SYMLINK = "uco-observable:SymbolicLink"
_DIRECTORY = "uco-observable:Directory"


class _ArtifactFacts(NamedTuple):
    """What an artifact's node says: its key (of its ids), class, path, description, and
    the lower-case hex SHA-256 of a File's facet (None: no hash node)."""

    key: str
    kind: str
    path: str
    description: str
    sha256: str | None


def _artifact_facts(a: ArtifactCollected) -> _ArtifactFacts:
    """What :meth:`_Graph.artifact` and :meth:`_Graph.artifact_json` write of ``a``."""
    member = a.member.name
    path = a.source.path if a.source else member
    target = a.source.symlink_target if a.source else None
    description = f"{a.kind} collected by {a.collector} in run {a.run_id}; archive member {member}"
    sha256 = None
    if a.kind == "symlink" or target is not None:
        kind = _SYMLINK
        description += (
            f"; a symbolic link to {target}"
            if target is not None
            else "; a symbolic link whose target the ledger does not record"
        )
    elif a.kind == "directory":
        kind = _DIRECTORY
    else:
        kind = _FILE
        value = (a.digests.sha256 or "").lower()
        if is_hex(value):
            sha256 = value
        elif a.digests.sha256:
            description += f"; the recorded SHA256 value is not hexadecimal: {a.digests.sha256}"
    return _ArtifactFacts(f"artifact:{a.run_id}:{member}", kind, path, description, sha256)


class _Graph:
    """The node ids and nodes of one case's graph."""

    def __init__(self, state: CaseState, tool_version: str) -> None:
        self.state = state
        self.ids = Ids(str(state.case_id))
        self.tool_version = tool_version
        self.tool = self.ids("tool", f"chainproof {tool_version}")
        self.role = self.ids("role", "examiner")
        self.people = {fp: self.ids("person", fp) for fp in state.examiners}

    def archive(self, run: RunState) -> str:
        return self.ids("file", f"archive:{run.run_id}")

    def record(self, run: RunState) -> str:
        return self.ids("provenance-record", run.run_id)

    def action(self, run: RunState) -> str:
        return self.ids("investigative-action", run.run_id)

    def investigation(self) -> dict[str, Any]:
        s = self.state
        fields = s.fields
        objects = [self.tool, self.role, *self.people.values()]
        for run in s.runs.values():
            objects += [self.action(run), self.record(run)]
        focus = (fields.description or fields.scope) if fields else None
        node: dict[str, Any] = {
            "@id": self.ids("investigation", str(s.case_id)),
            "@type": "case-investigation:Investigation",
            "uco-core:name": s.title or str(s.case_id),
            "case-investigation:focus": focus or "digital evidence collection",
            "case-investigation:investigationForm": "incident",
            "uco-core:object": [_ref(o) for o in objects],
        }
        if fields and fields.status:
            node["case-investigation:investigationStatus"] = fields.status
        if fields and fields.incident_ref:
            node["uco-core:description"] = f"incident reference {fields.incident_ref}"
        return node

    def head(self) -> Iterator[dict[str, Any]]:
        """The investigation, the tool, the examiner role and the examiners."""
        yield self.investigation()
        yield {
            "@id": self.tool,
            "@type": "uco-tool:Tool",
            "uco-core:name": "Chainproof",
            "uco-tool:version": self.tool_version,
            "uco-tool:toolType": "forensic evidence collection",
        }
        yield {
            "@id": self.role,
            "@type": "case-investigation:Investigator",
            "uco-core:name": "Examiner",
        }
        for fp, x in self.state.examiners.items():
            person = self.people[fp]
            yield {
                "@id": person,
                "@type": "uco-identity:Person",
                "uco-core:name": x.name or fp,
                "uco-core:description": f"examiner; certificate SHA-256 {fp}",
            }
            yield _relationship(self.ids, f"has-role:{fp}", person, self.role, "Has_Role")

    def run(self, run: RunState, archive: ArchiveCopy | None) -> Iterator[dict[str, Any]]:
        """The run's archive, its provenance record and the collection action."""
        s = run.started.event
        host = s.host or "unknown"
        archive_id = self.archive(run)
        yield _file_node(
            self.ids,
            f"archive:{run.run_id}",
            path=run.archive,
            size=(archive.size if archive else None) or 0,
            hashes={"sha256": archive.sha256 if archive else None},
            description=f"evidence archive (POSIX pax tar) of collection run {run.run_id}",
        )
        yield {
            "@id": self.record(run),
            "@type": "case-investigation:ProvenanceRecord",
            "case-investigation:exhibitNumber": run.run_id,
            "uco-core:description": f"evidence of collection run {run.run_id} on host {host}",
            "uco-core:object": [_ref(archive_id)],
        }
        description = (
            f"collection run {run.run_id}, profile {s.profile}, host {host}, "
            f"status {run_status(run)}"
        )
        action: dict[str, Any] = {
            "@id": self.action(run),
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": "evidence collection",
            "uco-core:description": description,
            "uco-action:instrument": _ref(self.tool),
            "uco-action:result": [_ref(self.record(run)), _ref(archive_id)],
        }
        times = (
            ("uco-action:startTime", "start", run.started.at),
            ("uco-action:endTime", "end", run_finished_at(run)),
        )
        for prop, what, at in times:
            if at is not None and is_datetime(at):
                action[prop] = _time(at)
            elif at is not None:
                description += f"; the recorded {what} time is not a date and time: {at}"
        action["uco-core:description"] = description
        performer = self.people.get(run_examiner(run))
        if performer:
            action["uco-action:performer"] = _ref(performer)
        yield action

    def artifact(self, a: ArtifactCollected) -> dict[str, Any]:
        """One artifact's node and its facet: a File, SymbolicLink or Directory."""
        f = _artifact_facts(a)
        facet: dict[str, Any] = {
            "@id": self.ids("file-facet", f.key),
            "@type": "uco-observable:FileFacet",
            "uco-observable:fileName": _basename(f.path),
            "uco-observable:filePath": f.path,
        }
        if f.kind == _DIRECTORY:
            facet["uco-observable:isDirectory"] = True
        elif f.kind == _FILE:
            facet["@type"] = ["uco-observable:FileFacet", CONTENT_DATA]
            facet["uco-observable:sizeInBytes"] = a.member.size
            if f.sha256 is not None:
                facet["uco-observable:hash"] = [
                    {
                        "@id": self.ids("hash", f"{f.key}:sha256"),
                        "@type": "uco-types:Hash",
                        "uco-types:hashMethod": "SHA256",
                        "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": f.sha256},
                    }
                ]
        return {
            "@id": self.ids("file", f.key),
            "@type": f.kind,
            "uco-core:hasFacet": [facet],
            "uco-core:description": f.description,
        }

    def artifact_json(self, a: ArtifactCollected) -> tuple[str, bytes]:
        """:meth:`artifact`'s node id, and the node as :func:`_dump` writes it, composed as
        text (the export writes one per artifact): only the free text needs escaping."""
        size = a.member.size
        if type(size) is not int:  # not as the ledger records it: as the dict dumps it
            node = self.artifact(a)
            return node["@id"], _dump(node)
        f = _artifact_facts(a)
        facet_type = '"uco-observable:FileFacet"'
        facet_more = ""
        if f.kind == _DIRECTORY:
            facet_more = ', "uco-observable:isDirectory": true'
        elif f.kind == _FILE:
            facet_type = f'["uco-observable:FileFacet", "{CONTENT_DATA}"]'
            facet_more = f', "uco-observable:sizeInBytes": {size}'
            if f.sha256 is not None:  # lower-case hex: nothing to escape
                facet_more += (
                    f', "uco-observable:hash": [{{"@id": "{self.ids("hash", f"{f.key}:sha256")}", '
                    '"@type": "uco-types:Hash", "uco-types:hashMethod": "SHA256", '
                    '"uco-types:hashValue": {"@type": "xsd:hexBinary", '
                    f'"@value": "{f.sha256}"}}}}]'
                )
        node_id = self.ids("file", f.key)
        text = (
            f'{{"@id": "{node_id}", "@type": "{f.kind}", "uco-core:hasFacet": '
            f'[{{"@id": "{self.ids("file-facet", f.key)}", "@type": {facet_type}, '
            f'"uco-observable:fileName": {_text(_basename(f.path))}, '
            f'"uco-observable:filePath": {_text(f.path)}{facet_more}}}], '
            f'"uco-core:description": {_text(f.description)}}}'
        )
        try:
            return node_id, text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: as _dump writes it
            return node_id, _dump(self.artifact(a))

    def artifact_4(self, a: ArtifactCollected) -> dict[str, Any]:
        """Four nodes per artifact, as :data:`SHAPES_OFF_TEXT_4` bundles have it: a File with
        a FileFacet, and a ContentDataFacet with the SHA-256, whatever the kind."""
        member = a.member.name
        return _file_node(
            self.ids,
            f"artifact:{a.run_id}:{member}",
            path=a.source.path if a.source else member,
            size=a.member.size,
            hashes={"sha256": a.digests.sha256},
            description=(
                f"{a.kind} collected by {a.collector} in run {a.run_id}; archive member {member}"
            ),
            methods=HASH_METHODS[:1],
            content_size=False,
        )

    def inventory(
        self, name: str, items: Iterable[ArtifactCollected], *, four: bool = False
    ) -> Iterator[dict[str, Any]]:
        """One inventory file's nodes: its artifacts (``four``: as :meth:`artifact_4`), then
        per run the archive (its type only: the full node is in case.jsonld) and a record of
        the run's artifacts here."""
        build = self.artifact_4 if four else self.artifact
        members: dict[str, list[str]] = {}
        for a in items:
            node = build(a)
            yield node
            members.setdefault(a.run_id, []).append(node["@id"])  # the artifact's id
        yield from self.run_records(name, members)

    def run_records(self, name: str, members: Mapping[str, list[str]]) -> Iterator[dict[str, Any]]:
        """The end of inventory file ``name``: per run, its archive (type only) and a record
        of ``members[run id]``, the ids of the run's artifacts in the file."""
        for run_id, ids in members.items():
            archive = self.ids("file", f"archive:{run_id}")
            yield {"@id": archive, "@type": "uco-observable:File"}
            yield {
                "@id": self.ids("provenance-record", f"{run_id}:{name}"),
                "@type": "case-investigation:ProvenanceRecord",
                "case-investigation:exhibitNumber": run_id,
                "uco-core:description": (
                    f"{len(ids)} artifacts of collection run {run_id} listed in {name}: "
                    "members of the run's evidence archive"
                ),
                "uco-core:object": [_ref(archive), *map(_ref, ids)],
            }

    def legacy_artifact(self, a: ArtifactCollected) -> Iterator[dict[str, Any]]:
        """Before the split: File node, three hashes, ``Contained_Within`` the archive."""
        member = a.member.name
        key = f"artifact:{a.run_id}:{member}"
        yield _file_node(
            self.ids,
            key,
            path=a.source.path if a.source else member,
            size=a.member.size,
            hashes={"sha256": a.digests.sha256, "sha1": a.digests.sha1, "md5": a.digests.md5},
            description=f"{a.kind} collected by {a.collector}; archive member {member}",
        )
        yield _relationship(
            self.ids,
            f"contained:{key}",
            self.ids("file", key),
            self.ids("file", f"archive:{a.run_id}"),
            "Contained_Within",
        )


def custody_nodes(
    state: CaseState, archives: Mapping[str, ArchiveCopy | None], tool_version: str
) -> Iterator[dict[str, Any]]:
    """case.jsonld's nodes, one by one: the case and people, then each run."""
    g = _Graph(state, tool_version)
    yield from g.head()
    for run in state.runs.values():
        yield from g.run(run, archives.get(run.run_id))


def inventory_file(n: int) -> str:
    """The ``n``-th (from 1) inventory file: ``case-inventory-0001.jsonld``."""
    return f"case-inventory-{n:04d}.jsonld"


def inventory_graphs(
    state: CaseState,
    artifacts: Iterable[tuple[int, ArtifactCollected]],
    tool_version: str,
    *,
    chunk: int = INVENTORY_CHUNK,
    four: bool = False,
) -> Iterator[tuple[str, Iterator[dict[str, Any]]]]:
    """``(file name, its nodes)`` per inventory file, ``chunk`` artifacts each, in one pass
    over ``artifacts``: read each file's nodes to the end before asking for the next file.
    ``four``: the layout of :data:`SHAPES_OFF_TEXT_4` bundles (four nodes per artifact)."""
    g = _Graph(state, tool_version)
    items = iter(artifacts)
    for n in itertools.count(1):
        first = next(items, None)
        if first is None:
            return
        part = (a for _seq, a in itertools.chain((first,), itertools.islice(items, chunk - 1)))
        name = inventory_file(n)
        yield name, g.inventory(name, part, four=four)


def case_uco_files(
    state: CaseState,
    artifacts: Iterable[tuple[int, ArtifactCollected]],
    archives: Mapping[str, ArchiveCopy | None],
    tool_version: str,
    *,
    chunk: int = INVENTORY_CHUNK,
) -> Iterator[tuple[str, Iterator[bytes]]]:
    """Every CASE/UCO file of a bundle as ``(name, its bytes in pieces)``: case.jsonld, each
    inventory file, then :data:`SHAPES_OFF`. One pass over ``artifacts`` (``(seq, event)``
    in ledger order); write each file's pieces out before asking for the next file, so
    memory stays flat at any case size::

        for name, pieces in case_uco_files(state, artifacts(entries), archives, version):
            with open(root / name, "wb") as f:
                f.writelines(pieces)
    """
    yield CASE_UCO, case_uco_chunks(custody_nodes(state, archives, tool_version))
    for name, nodes in inventory_graphs(state, artifacts, tool_version, chunk=chunk):
        yield name, case_uco_chunks(nodes)
    yield SHAPES_OFF, iter((SHAPES_OFF_TEXT,))


def case_uco_nodes(
    state: CaseState,
    artifacts: Iterable[tuple[int, ArtifactCollected]],
    archives: Mapping[str, ArchiveCopy | None],
    tool_version: str,
) -> Iterator[dict[str, Any]]:
    """The single-file graph of bundles made before the split (to check them), node by
    node: the case and people, each run, then each artifact with its relationship."""
    g = _Graph(state, tool_version)
    yield from custody_nodes(state, archives, tool_version)
    for _seq, a in artifacts:
        yield from g.legacy_artifact(a)


def build_case_uco(
    state: CaseState,
    artifacts: Iterable[tuple[int, ArtifactCollected]],
    archives: Mapping[str, ArchiveCopy | None],
    tool_version: str,
) -> dict[str, Any]:
    """The whole document in memory (tests and small cases)."""
    return {
        "@context": CONTEXT,
        "@graph": list(case_uco_nodes(state, artifacts, archives, tool_version)),
    }


_encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
_encode_ascii = json.JSONEncoder(separators=(", ", ": ")).encode
#: A JSON string as :func:`_dump` writes it (the escaper its encoder uses).
_text = encode_basestring


def _dump(value: Any) -> bytes:
    text = _encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (no canonical ledger holds one): \u escapes
        return _encode_ascii(value).encode("ascii")


#: A document's bytes before its first node, between two nodes, and after the last.
_DOC_HEAD = b'{\n "@context": ' + _dump(CONTEXT) + b',\n "@graph": [\n  '
_NODE_SEP = b",\n  "
_DOC_TAIL = b"\n ]\n}\n"


def case_uco_chunks(nodes: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """The document around ``nodes``, in pieces: UTF-8, one graph node per line, byte-stable.

    (``json.dumps(indent=...)`` would use the pure-Python encoder: ten times slower.)
    """
    yield _DOC_HEAD
    sep = b""
    for node in nodes:
        yield sep + _dump(node)
        sep = _NODE_SEP
    yield _DOC_TAIL


class FileSink(Protocol):
    """A new file written piece by piece; :meth:`close` completes it."""

    def write(self, data: bytes, /) -> object: ...

    def close(self) -> object: ...


class InventoryFiles:
    """The inventory files written as the artifacts come, one :meth:`add` each (a pass
    over the ledger that does other work too pushes them): the same bytes as
    :func:`inventory_graphs` through :func:`case_uco_chunks`, each file opened with
    ``open_file(name)`` and closed once complete. ``case_id``: the case's, which the node ids
    derive from (the first ``case_opened`` entry's)."""

    def __init__(
        self,
        case_id: str | None,
        open_file: Callable[[str], FileSink],
        *,
        chunk: int = INVENTORY_CHUNK,
    ) -> None:
        self.case_id = case_id
        self.names: list[str] = []
        self._graph = _Graph(CaseState(case_id=case_id), "")  # artifacts: no tool, no people
        self._open = open_file
        self._chunk = chunk
        self._file: FileSink | None = None
        self._in_file = 0
        self._members: dict[str, list[str]] = {}

    def add(self, a: ArtifactCollected) -> None:
        """The next artifact the fold counts, in ledger order."""
        node_id, node = self._graph.artifact_json(a)
        if self._file is None:
            self.names.append(inventory_file(len(self.names) + 1))
            self._file = self._open(self.names[-1])
            self._file.write(_DOC_HEAD + node)
        else:
            self._file.write(_NODE_SEP + node)
        self._members.setdefault(a.run_id, []).append(node_id)
        self._in_file += 1
        if self._in_file == self._chunk:
            self._end_file()

    def _end_file(self) -> None:
        assert self._file is not None
        for node in self._graph.run_records(self.names[-1], self._members):
            self._file.write(_NODE_SEP + _dump(node))
        self._file.write(_DOC_TAIL)
        self._file.close()
        self._file, self._in_file, self._members = None, 0, {}

    def close(self) -> None:
        """End the last file."""
        if self._file is not None:
            self._end_file()


def node_problems(node: Mapping[str, Any]) -> list[str]:
    """What ``case_validate`` does not catch in a node: hashes off ContentDataFacet, empty
    provenance records."""
    problems: list[str] = []
    if node.get("@type") == "case-investigation:ProvenanceRecord" and not node.get(
        "uco-core:object"
    ):
        problems.append(f"{node.get('@id')}: ProvenanceRecord without uco-core:object")
    facets = node.get("uco-core:hasFacet")
    for facet in facets if isinstance(facets, list) else []:
        if not isinstance(facet, Mapping) or "uco-observable:hash" not in facet:
            continue
        types = facet.get("@type")
        if CONTENT_DATA not in (types if isinstance(types, list) else [types]):
            problems.append(f"{facet.get('@id')}: hash on {types}")
    return problems


def check_case_uco(doc: Mapping[str, Any]) -> list[str]:
    """:func:`node_problems` of every node of a whole document."""
    graph: Sequence[Mapping[str, Any]] = doc.get("@graph", [])
    return [p for node in graph for p in node_problems(node)]
