"""The bundle as CASE/UCO JSON-LD (CASE 1.5.0, UCO 1.4.0), for tools that read the standard.

Graph: one ``case-investigation:Investigation`` (name = case title) holding, per collection
run, an ``InvestigativeAction`` (start and end time, performer = examiner, instrument = the
tool, result = the run's ``ProvenanceRecord``) and the ``ProvenanceRecord`` whose objects are
the run's observables: the archive and every artifact as ``uco-observable:File`` with a
``FileFacet`` (name, path, size) and a ``ContentDataFacet`` (SHA256, SHA1, MD5 as
``uco-types:Hash``, values typed ``xsd:hexBinary``). Examiners are ``uco-identity:Person``
related to an ``Investigator`` role by ``Has_Role``; artifacts are ``Contained_Within``
their archive. Node ids are ``kb:<kind>-<uuid5>`` from the case id and a stable key, so the
same case gives the same graph.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

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


class _Ids:
    """Deterministic node ids: ``kb:<kind>-<uuid5(case namespace, kind:key)>``."""

    def __init__(self, case_id: str) -> None:
        try:
            self.ns = uuid.UUID(case_id)
        except ValueError:
            self.ns = uuid.uuid5(uuid.NAMESPACE_URL, f"chainproof:case:{case_id}")

    def __call__(self, kind: str, key: str = "") -> str:
        # uuid.uuid5(self.ns, f"{kind}:{key}"), without building UUID objects (160,000 of
        # them for 20,000 artifacts)
        b = bytearray(hashlib.sha1(self.ns.bytes + f"{kind}:{key}".encode()).digest()[:16])
        b[6] = (b[6] & 0x0F) | 0x50
        b[8] = (b[8] & 0x3F) | 0x80
        h = b.hex()
        return f"kb:{kind}-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ref(node_id: str) -> dict[str, str]:
    return {"@id": node_id}


def _time(at: str) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": at}


def _file_node(
    ids: _Ids,
    key: str,
    *,
    name: str,
    path: str,
    size: int,
    hashes: Mapping[str, str | None],
    description: str | None = None,
) -> dict[str, Any]:
    """A ``uco-observable:File`` with its FileFacet and, when hashed, its ContentDataFacet."""
    facets: list[dict[str, Any]] = [
        {
            "@id": ids("file-facet", key),
            "@type": "uco-observable:FileFacet",
            "uco-observable:fileName": name,
            "uco-observable:filePath": path,
            "uco-observable:sizeInBytes": size,
        }
    ]
    hash_nodes = [
        {
            "@id": ids("hash", f"{key}:{algo}"),
            "@type": "uco-types:Hash",
            "uco-types:hashMethod": method,
            "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": str(value).lower()},
        }
        for algo, method in HASH_METHODS
        if (value := hashes.get(algo))
    ]
    if hash_nodes:
        facets.append(
            {
                "@id": ids("content-data-facet", key),
                "@type": "uco-observable:ContentDataFacet",
                "uco-observable:sizeInBytes": size,
                "uco-observable:hash": hash_nodes,
            }
        )
    node: dict[str, Any] = {
        "@id": ids("file", key),
        "@type": "uco-observable:File",
        "uco-core:hasFacet": facets,
    }
    if description:
        node["uco-core:description"] = description
    return node


def _basename(path: str) -> str:
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name or path


def build_case_uco(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The CASE/UCO JSON-LD document for a bundle manifest (see :mod:`custody.bundle.writer`)."""
    case: Mapping[str, Any] = manifest["case"]
    ids = _Ids(str(case["id"]))
    graph: list[dict[str, Any]] = []
    tool_version = str(manifest["tool"]["version"])
    tool_id = ids("tool", f"chainproof {tool_version}")
    graph.append(
        {
            "@id": tool_id,
            "@type": "uco-tool:Tool",
            "uco-core:name": "Chainproof",
            "uco-tool:version": tool_version,
            "uco-tool:toolType": "forensic evidence collection",
        }
    )
    role_id = ids("role", "examiner")
    graph.append(
        {"@id": role_id, "@type": "case-investigation:Investigator", "uco-core:name": "Examiner"}
    )
    people: dict[str, str] = {}
    for examiner in manifest.get("examiners", []):
        fp = str(examiner["fingerprint"])
        person_id = people[fp] = ids("person", fp)
        person: dict[str, Any] = {
            "@id": person_id,
            "@type": "uco-identity:Person",
            "uco-core:name": str(examiner.get("name") or fp),
            "uco-core:description": f"examiner; certificate SHA-256 {fp}",
        }
        graph.append(person)
        graph.append(
            {
                "@id": ids("relationship", f"has-role:{fp}"),
                "@type": "uco-core:Relationship",
                "uco-core:source": [_ref(person_id)],
                "uco-core:target": _ref(role_id),
                "uco-core:kindOfRelationship": "Has_Role",
                "uco-core:isDirectional": True,
            }
        )
    by_run: dict[str, list[Mapping[str, Any]]] = {}
    for art in manifest.get("artifacts", []):
        by_run.setdefault(str(art["run_id"]), []).append(art)
    investigation_objects: list[str] = [tool_id, role_id, *people.values()]
    for run in manifest.get("runs", []):
        run_id = str(run["id"])
        archive_name = str(run["archive"])
        archive_key = f"archive:{run_id}"
        archive_id = ids("file", archive_key)
        graph.append(
            _file_node(
                ids,
                archive_key,
                name=_basename(archive_name),
                path=archive_name,
                size=int(run.get("archive_size") or 0),
                hashes={"sha256": run.get("archive_sha256")},
                description=f"evidence archive (POSIX pax tar) of collection run {run_id}",
            )
        )
        objects = [archive_id]
        for art in by_run.get(run_id, []):
            key = f"artifact:{run_id}:{art['member']}"
            file_id = ids("file", key)
            source = art.get("path")
            graph.append(
                _file_node(
                    ids,
                    key,
                    name=_basename(str(source or art["member"])),
                    path=str(source or art["member"]),
                    size=int(art["size"]),
                    hashes=art,
                    description=f"{art.get('kind', 'file')} collected by {art.get('collector')}; "
                    f"archive member {art['member']}",
                )
            )
            graph.append(
                {
                    "@id": ids("relationship", f"contained:{key}"),
                    "@type": "uco-core:Relationship",
                    "uco-core:source": [_ref(file_id)],
                    "uco-core:target": _ref(archive_id),
                    "uco-core:kindOfRelationship": "Contained_Within",
                    "uco-core:isDirectional": True,
                }
            )
            objects.append(file_id)
        record_id = ids("provenance-record", run_id)
        graph.append(
            {
                "@id": record_id,
                "@type": "case-investigation:ProvenanceRecord",
                "case-investigation:exhibitNumber": run_id,
                "uco-core:description": f"evidence of collection run {run_id} on host "
                f"{run.get('host') or 'unknown'}",
                "uco-core:object": [_ref(o) for o in objects],
            }
        )
        action_id = ids("investigative-action", run_id)
        action: dict[str, Any] = {
            "@id": action_id,
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": "evidence collection",
            "uco-core:description": f"collection run {run_id}, profile {run.get('profile')}, "
            f"host {run.get('host') or 'unknown'}, status {run.get('status')}",
            "uco-action:instrument": _ref(tool_id),
            "uco-action:result": [_ref(record_id), *(_ref(o) for o in objects)],
        }
        if run.get("started_at"):
            action["uco-action:startTime"] = _time(str(run["started_at"]))
        if run.get("finished_at"):
            action["uco-action:endTime"] = _time(str(run["finished_at"]))
        performer = people.get(str(run.get("examiner")))
        if performer:
            action["uco-action:performer"] = _ref(performer)
        graph.append(action)
        investigation_objects += [action_id, record_id]
    focus = case.get("description") or case.get("scope") or "digital evidence collection"
    investigation: dict[str, Any] = {
        "@id": ids("investigation", str(case["id"])),
        "@type": "case-investigation:Investigation",
        "uco-core:name": str(case.get("title") or case["id"]),
        "case-investigation:focus": str(focus),
        "case-investigation:investigationForm": "incident",
        "uco-core:object": [_ref(o) for o in investigation_objects],
    }
    if case.get("status"):
        investigation["case-investigation:investigationStatus"] = str(case["status"])
    if case.get("incident_ref"):
        investigation["uco-core:description"] = f"incident reference {case['incident_ref']}"
    graph.insert(0, investigation)
    return {"@context": CONTEXT, "@graph": graph}


def case_uco_chunks(manifest: Mapping[str, Any]) -> Iterator[bytes]:
    """:func:`build_case_uco` serialised in pieces: UTF-8, one graph node per line, byte-stable.

    Written piece by piece, a large case's document never exists whole in memory.
    (``json.dumps(indent=...)`` would use the pure-Python encoder: ten times slower for a
    case of 20,000 artifacts.)
    """
    doc = build_case_uco(manifest)

    def dump(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")

    yield b'{\n "@context": ' + dump(doc["@context"]) + b',\n "@graph": [\n  '
    for i, node in enumerate(doc["@graph"]):
        yield (b",\n  " if i else b"") + dump(node)
    yield b"\n ]\n}\n"


def case_uco_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The whole document as bytes (tests and small cases)."""
    return b"".join(case_uco_chunks(manifest))


def check_case_uco(doc: Mapping[str, Any]) -> list[str]:
    """Problems ``case_validate`` does not catch: hashes off ContentDataFacet, empty records."""
    problems: list[str] = []
    graph: Sequence[Mapping[str, Any]] = doc.get("@graph", [])
    for node in graph:
        types = node.get("@type")
        if types == "case-investigation:ProvenanceRecord" and not node.get("uco-core:object"):
            problems.append(f"{node['@id']}: ProvenanceRecord without uco-core:object")
        for facet in node.get("uco-core:hasFacet", []):
            if "uco-observable:hash" in facet and facet.get("@type") != (
                "uco-observable:ContentDataFacet"
            ):
                problems.append(f"{facet['@id']}: hash on {facet.get('@type')}")
    return problems
