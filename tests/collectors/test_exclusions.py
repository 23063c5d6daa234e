"""What a walk never collects: roots pruned by identity, cases and bundles by their markers."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from collectors import REGISTRY
from collectors.base import CollectContext, FileTarget, Host, Observation
from collectors.exclusions import ExcludedRoot, Exclusions, Marker, NeverCollect
from tests.collectors.helpers import problems

CASE = Marker(("case.json", "evidence", "identities"), "another Chainproof case")
BUNDLE = Marker(
    ("manifest.json", "ledger.jsonl", "SHA256SUMS", "SHA256SUMS.sig"), "a Chainproof bundle", True
)


def tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rel.encode())


def collect(tmp_path: Path, never: NeverCollect, *targets: object, name: str = "files") -> list:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    ctx = CollectContext(
        host=Host.this(),
        options={"targets": list(targets)} if name == "files" else {"root": targets[0]},
        output_dir=out,
        never_collect=never,
    )
    return list(REGISTRY[name]().collect(ctx))


def collected(obs: list[Observation], base: Path) -> list[str]:
    return sorted(
        os.fsdecode(o.path)[len(str(base)) + 1 :] for o in obs if isinstance(o, FileTarget)
    )


def excluded(obs: list[Observation]) -> dict[bytes | None, str]:
    return {p.path: p.reason for p in problems(obs) if p.kind == "excluded"}


def test_roots_and_marked_directories_are_pruned_and_reported_once_with_a_count(
    tmp_path: Path,
) -> None:
    scan = tmp_path / "scan"
    tree(
        scan,
        [
            "keep/a.txt",
            "venv/lib/x.py",
            "venv/lib/y.py",
            "venv/pyvenv.cfg",
            "cases/old/case.json",
            "cases/old/evidence/r.tar",
            "cases/old/identities/f.pem",
            "loose/case.json",  # a file called case.json alone is evidence like any other
            "b/manifest.json",
            "b/ledger.jsonl",
            "b/SHA256SUMS",
            "b/SHA256SUMS.sig",
            "b/evidence/r.tar",
        ],
    )
    never = NeverCollect(
        roots=(ExcludedRoot(str(scan / "venv"), "the venv"),), markers=(CASE, BUNDLE)
    )
    obs = collect(tmp_path, never, f"{scan}/**", f"{scan}/*/**")
    # Once for each rule: the run takes a path once, for the first.
    assert collected(obs, scan) == 2 * ["keep/a.txt"] + 2 * ["loose/case.json"]
    assert excluded(obs) == {
        os.fsencode(scan / "venv"): "the venv (3 files in 1 directory below it, not walked)",
        os.fsencode(scan / "cases/old"): (
            "another Chainproof case (3 files in 2 directories below it, not walked)"
        ),
        os.fsencode(
            scan / "b"
        ): "a Chainproof bundle (5 files in 1 directory below it, not walked)",
    }
    assert len([p for p in problems(obs) if p.kind == "excluded"]) == 3  # once, two rules


def test_a_root_reached_by_another_path_or_started_inside_is_excluded(tmp_path: Path) -> None:
    scan = tmp_path / "scan"
    tree(scan, ["venv/pyvenv.cfg", "venv/lib/x.py"])
    (scan / "link").symlink_to(scan / "venv")
    never = NeverCollect(roots=(ExcludedRoot(str(scan / "venv"), "the venv"),))
    assert collected(collect(tmp_path, never, f"{scan}/link/**"), scan) == []
    inside = collect(tmp_path, never, f"{scan}/venv/pyvenv.cfg", f"{scan}/venv/lib/*.py")
    assert collected(inside, scan) == []
    assert excluded(inside) == {
        os.fsencode(
            scan / "venv/pyvenv.cfg"
        ): f"inside the venv {scan}/venv (1 file, not collected)",
        os.fsencode(scan / "venv/lib"): (
            f"inside the venv {scan}/venv (1 file below it, not walked)"
        ),
    }
    # A rule rooted inside a case is refused by the case's markers above it.
    tree(scan, ["c/case.json", "c/evidence/r.tar", "c/identities/f.pem"])
    obs = collect(tmp_path, NeverCollect(markers=(CASE,)), f"{scan}/c/evidence/r.tar")
    assert collected(obs, scan) == []
    assert list(excluded(obs).values()) == [
        f"inside another Chainproof case {scan}/c (1 file, not collected)"
    ]


def test_file_roots_and_zipped_bundles_are_not_collected(tmp_path: Path) -> None:
    scan = tmp_path / "scan"
    tree(scan, ["identity.p12", "other.zip.txt", "keep.txt"])
    with zipfile.ZipFile(scan / "case-export.zip", "w") as zf:
        for name in BUNDLE.names:
            zf.writestr(name, name)
        zf.writestr("evidence/r.tar", "t")
    with zipfile.ZipFile(scan / "holiday.zip", "w") as zf:
        zf.writestr("manifest.json", "{}")
    (scan / "broken.zip").write_bytes(b"PK not a zip")
    never = NeverCollect(
        roots=(ExcludedRoot(str(scan / "identity.p12"), "the examiner's identity"),),
        markers=(BUNDLE,),
    )
    obs = collect(tmp_path, never, f"{scan}/**")
    assert collected(obs, scan) == ["broken.zip", "holiday.zip", "keep.txt", "other.zip.txt"]
    assert excluded(obs) == {
        os.fsencode(scan / "case-export.zip"): "a Chainproof bundle (1 file, not collected)",
        os.fsencode(scan / "identity.p12"): "the examiner's identity (1 file, not collected)",
    }
    literal = collect(tmp_path, never, str(scan / "identity.p12"))
    assert collected(literal, scan) == [] and len(excluded(literal)) == 1


def test_the_logs_walk_prunes_them_too(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    tree(logs, ["syslog", "app/case.json", "app/evidence/r.tar", "app/identities/f.pem"])
    obs = collect(tmp_path, NeverCollect(markers=(CASE,)), str(logs), name="logs")
    assert collected(obs, logs) == ["syslog"]
    assert list(excluded(obs)) == [os.fsencode(logs / "app")]


def test_nothing_to_exclude_costs_nothing(tmp_path: Path) -> None:
    assert not Exclusions(NeverCollect(roots=(ExcludedRoot(str(tmp_path / "gone"), "x"),)))
