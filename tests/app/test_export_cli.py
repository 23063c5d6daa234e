"""`chainproof export` end to end on a really collected case, checked the way VERIFY.md
tells a legal team to check it: every command in VERIFY.md is run as written."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from custody.record.canonical import canonical_json
from custody.record.keys import create_identity, load_identity
from custody.report.caseuco import check_case_uco
from tests.custody.bundle.helpers import Edit, resign, set_field
from tests.custody.report.test_signed_pdf import incremental_update

BIN = Path(sys.executable).parent
ODD_TREE: dict[bytes, bytes] = {
    b"notes.txt": b"meeting at 10\n",
    b"sp ace.txt": b"space\n",
    b"back\\slash": b"backslash\n",
    b"new\nline": b"newline\n",
    b"sub/\xff\xfe-bytes": b"not utf-8\n",
    b"sub/big.bin": os.urandom(200_000),
}


def cli(
    *args: str | Path, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chainproof"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        errors="replace",
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path, Path]:
    """Once per module: an examiner made with `keys init`, a case made and collected with the
    real CLI (`collect --profile none --path`), and its exported bundle."""
    root = tmp_path_factory.mktemp("pristine")
    env = {
        **os.environ,
        "CHAINPROOF_HOME": str(root / "home"),
        "CHAINPROOF_PASSPHRASE": "a passphrase for the tests",
    }
    r = cli(
        "keys",
        "init",
        "--name",
        "Ann Examiner",
        "--org",
        "Lab",
        "--email",
        "ann@lab.example",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    tree = root / "src"
    for rel, data in ODD_TREE.items():
        p = Path(os.fsdecode(bytes(tree) + b"/" + rel))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    case = root / "case"
    r = cli("case", "new", case, "--title", "Laptop of J. Doe", "--incident", "INC-2024-7", env=env)
    assert r.returncode == 0, r.stderr
    r = cli("collect", case, "--profile", "none", "--path", f"{tree}/**", "--no-progress", env=env)
    assert r.returncode == 0, r.stderr
    out = root / "bundle"
    r = cli("export", case, "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    assert "Exported bundle" in r.stdout
    return env, case, out


@pytest.fixture
def env(pristine: tuple[dict[str, str], Path, Path]) -> dict[str, str]:
    return pristine[0]


@pytest.fixture
def collected(pristine: tuple[dict[str, str], Path, Path], tmp_path: Path) -> Path:
    """A fresh copy of the collected case (tests that export change its ledger)."""
    return Path(shutil.copytree(pristine[1], tmp_path / "case"))


@pytest.fixture
def bundle(pristine: tuple[dict[str, str], Path, Path], tmp_path: Path) -> Path:
    """A fresh copy of the exported bundle, for tests that change it."""
    return Path(shutil.copytree(pristine[2], tmp_path / "bundle"))


def verify_md_steps(text: str) -> list[tuple[str, list[str]]]:
    """(commands, expected output lines) for each ```sh block and the ```text block after it."""
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", text, flags=re.S | re.M)
    steps: list[tuple[str, list[str]]] = []
    for (lang, body), (next_lang, next_body) in zip(blocks, [*blocks[1:], ("", "")], strict=True):
        if lang == "sh":
            assert next_lang == "text", f"no expected output after:\n{body}"
            steps.append((body, next_body.splitlines()))
    return steps


def test_every_verify_md_command_gives_the_promised_output(bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "reader-home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    steps = verify_md_steps((bundle / "VERIFY.md").read_text(encoding="utf-8"))
    commands = "\n".join(cmd for cmd, _ in steps)
    for needed in (
        "sha256sum --strict -c SHA256SUMS",
        "-pubkey -noout",
        "-signature SHA256SUMS.sig SHA256SUMS",
        "-signature manifest.json.sig manifest.json",
        "-fingerprint -sha256",
        "tar -xf",
        ".sha256",
        "pdfsig custody-report.pdf",
        "pdfdetach -saveall",
        "chainproof verify",
    ):
        assert needed in commands
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    for cmd, expected in steps:
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", cmd],
            cwd=bundle,
            env=env,
            capture_output=True,
        )
        out = result.stdout.decode("utf-8", "replace").splitlines()
        assert result.returncode == 0, f"{cmd}\n{result.stdout!r}\n{result.stderr!r}"
        for line in expected:
            assert line in out, f"{cmd}\nexpected {line!r} in:\n" + "\n".join(out)
        if cmd.strip() == "sha256sum --strict -c SHA256SUMS":
            assert sorted(out) == sorted(expected)  # exactly the files, each OK
    after = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    assert after == before  # the guide's commands leave the bundle untouched
    assert (home / "chainproof-check").is_dir()


def test_verify_md_names_this_bundle(bundle: Path) -> None:
    text = (bundle / "VERIFY.md").read_text(encoding="utf-8")
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    assert manifest["bundle_id"] in text
    fp = manifest["exported_by"]["fingerprint"]
    assert f"certs/{fp}.pem" in text
    assert ":".join(re.findall("..", fp.upper())) in text
    assert "Ann Examiner" in text
    for run in manifest["runs"]:
        assert f"All {run['regular_files']} files of run {run['id']} match." in text
    assert "Laptop of J. Doe" in text and "INC-2024-7" in text


def test_directory_and_zip_bundles_verify(
    collected: Path, bundle: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    r = cli("verify", bundle, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "RESULT: VERIFIED" in r.stdout
    z = tmp_path / "bundle.zip"
    r = cli("export", collected, "--out", z, "--zip", "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["format"] == "zip" and doc["verified"] is True
    r = cli("verify", z, "--json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["ok"] is True
    # both exports are signed entries of the case's ledger, and the case still verifies
    r = cli("verify", collected, "--json", env=env)
    assert r.returncode == 0, r.stdout
    assert cli("case", "show", collected, "--json", env=env).returncode == 0
    from app.cases import open_case
    from custody.db.ledger import read_entries

    handle = open_case(collected)
    exported = [e for e in read_entries(handle.sessions, handle.case_id) if e.event == "exported"]
    assert [e.payload["format"] for e in exported] == ["directory", "zip"]
    assert exported[1].payload["bundle_id"] == doc["bundle_id"]
    assert exported[1].payload["zip_sha256"] == doc["zip_sha256"]
    assert all(e.signatures for e in exported)


def test_full_inventory_lists_every_artifact_in_the_report(
    collected: Path, bundle: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """The default report is a summary (artifacts in inventory.csv, attached);
    ``--full-inventory`` also lists each artifact's hashes in the PDF itself."""
    digest = hashlib.sha256(ODD_TREE[b"notes.txt"]).hexdigest()

    def text(pdf: Path) -> str:
        out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True)
        return re.sub(r"\s+", "", out.stdout)

    with (bundle / "inventory.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    files = [r for r in rows if r["collector"] == "files" and r["kind"] == "file"]
    assert len(files) == len(ODD_TREE) and digest in {r["sha256"] for r in files}
    assert digest not in text(bundle / "custody-report.pdf")
    full = tmp_path / "full"
    r = cli("export", collected, "--out", full, "--full-inventory", env=env)
    assert r.returncode == 0, r.stderr
    assert digest in text(full / "custody-report.pdf")
    assert cli("verify", full, env=env).returncode == 0


def test_refuses_an_existing_non_empty_out(
    collected: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    out = tmp_path / "used"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = cli("export", collected, "--out", out, env=env)
    assert r.returncode == 7
    assert r.stderr.startswith("chainproof: ") and "not an empty directory" in r.stderr
    assert (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _flip_evidence(b: Path) -> str:
    tar = next((b / "evidence").glob("*.tar"))
    manifest = json.loads((b / "manifest.json").read_bytes())
    art = next(a for a in manifest["artifacts"] if a["member"].endswith("notes.txt"))
    data = bytearray(tar.read_bytes())
    data[art["data_offset"] + 3] ^= 0x20
    tar.write_bytes(bytes(data))
    return f"evidence/{tar.name}: SHA-256 is"


def _edit_ledger(b: Path) -> str:
    path = b / "ledger.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    i = next(i for i, x in enumerate(lines) if b'"artifact_collected"' in x)
    obj = json.loads(lines[i])
    obj["payload"]["member"]["size"] += 1
    lines[i] = canonical_json(obj) + b"\n"
    path.write_bytes(b"".join(lines))
    return f"entry {obj['seq']}: content does not match its entry_hash"


def _delete_file(b: Path) -> str:
    (b / "case.jsonld").unlink()
    return "case.jsonld: is listed in SHA256SUMS but missing from the bundle"


def _add_file(b: Path) -> str:
    (b / "evidence" / "extra.tar").write_bytes(b"\0" * 1024)
    return "evidence/extra.tar: is in the bundle but not listed in SHA256SUMS"


def _swap_certificate(b: Path) -> str:
    cert = next((b / "certs").glob("*.pem"))
    cert.write_text(create_identity("Mallory", "Elsewhere", "m@example.org").certificate_pem())
    return "the certificate was swapped"


def _edit_manifest(b: Path) -> str:
    path = b / "manifest.json"
    manifest = json.loads(path.read_bytes())
    manifest["case"]["title"] = "Some other case"
    path.write_bytes(canonical_json(manifest))
    return "manifest.json.sig: does not verify over manifest.json"


def _update_report(b: Path) -> str:
    """An incremental update to the signed PDF: pdfsig still says "Signature is Valid."."""
    pdf = b / "custody-report.pdf"
    pdf.write_bytes(incremental_update(pdf.read_bytes()))
    return "custody-report.pdf: has "


@pytest.mark.parametrize(
    "tamper",
    [
        _flip_evidence,
        _edit_ledger,
        _delete_file,
        _add_file,
        _swap_certificate,
        _edit_manifest,
        _update_report,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_tampered_bundle_fails_with_a_precise_message(
    bundle: Path, tamper: Callable[[Path], str], env: dict[str, str]
) -> None:
    for p in bundle.rglob("*"):
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    message = tamper(bundle)
    r = cli("verify", bundle, env=env)
    assert r.returncode == 6, r.stdout + r.stderr
    assert "RESULT: FAILED" in r.stdout
    assert message in r.stdout, r.stdout


def test_crafted_zip_is_refused_naming_the_member(
    bundle: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    for evil in ("../escape.txt", "/etc/evil", "C:\\evil"):
        z = tmp_path / "evil.zip"
        with zipfile.ZipFile(z, "w") as zf:
            for p in sorted(bundle.rglob("*")):
                if p.is_file():
                    zf.write(p, p.relative_to(bundle).as_posix())
            zf.writestr(evil, b"payload")
        r = cli("verify", z, "--json", env=env)
        assert r.returncode == 6, r.stdout + r.stderr
        found = json.loads(r.stdout)["findings"]
        assert [f["code"] for f in found] == ["zip.unsafe"], found  # the rest verifies
        assert repr(evil) in found[0]["message"]
        assert not (tmp_path / "escape.txt").exists()
        z.unlink()
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("evidence/link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    r = cli("verify", z, env=env)
    assert r.returncode == 6 and "evidence/link: unsafe zip member" in r.stdout, r.stdout
    assert "symbolic link" in r.stdout


def test_real_export_passes_case_validate(bundle: Path) -> None:
    exe = BIN / "case_validate"
    if not exe.exists():
        exe = Path(shutil.which("case_validate") or "case_validate")
    graphs = sorted(bundle.glob("case*.jsonld"))  # case.jsonld and the inventory files
    settings = ["--ontology-graph", str(bundle / "uco-shapes-off.ttl")]
    result = subprocess.run(
        [str(exe), *settings, *map(str, graphs)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Conforms: True" in result.stdout
    nodes = [n for g in graphs for n in json.loads(g.read_bytes())["@graph"]]
    assert check_case_uco({"@graph": nodes}) == []
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    files = {n["@id"] for n in nodes if n["@type"] == "uco-observable:File"}
    assert len(files) == len(manifest["artifacts"]) + len(manifest["runs"])


def _artifact_path(m: dict[str, Any]) -> None:
    next(a for a in m["artifacts"] if a.get("path", "").endswith("notes.txt"))["path"] = "/etc/x"


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (set_field("case.title", "Some other case"), "case.title says 'Some other case'"),
        (set_field("examiners.0.name", "Mallory"), "examiners[0].name says 'Mallory'"),
        (set_field("runs.0.host", "elsewhere"), "runs[0].host says 'elsewhere'"),
        (set_field("artifacts.0.sha256", "0" * 64), "artifacts[0].sha256 says '000"),
        (_artifact_path, "].path says '/etc/x'; the ledger says '/"),
    ],
    ids=["case-title", "examiner-name", "run-host", "artifact-sha256", "artifact-path"],
)
def test_manifest_resigned_with_the_examiners_key_still_fails(
    pristine: tuple[dict[str, str], Path, Path],
    bundle: Path,
    env: dict[str, str],
    edit: Edit,
    named: str,
) -> None:
    """The examiner edits manifest.json, signs it with their own key (made by `keys init`)
    and writes and signs SHA256SUMS anew: every signature holds, and verify still fails."""
    home = Path(env["CHAINPROOF_HOME"])
    identity = load_identity(home / "identity.p12", env["CHAINPROOF_PASSPHRASE"].encode())
    for p in bundle.rglob("*"):
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    resign(bundle, identity, manifest=edit)
    r = cli("verify", bundle, env=env)
    assert r.returncode == 6, r.stdout + r.stderr
    assert "RESULT: FAILED - 1 problem(s):" in r.stdout, r.stdout
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("  - ")]
    assert line.startswith("  - manifest.json: ") and named in line, line
    assert "; the ledger says " in line
    doc = json.loads(cli("verify", bundle, "--json", env=env).stdout)
    assert [f["code"] for f in doc["findings"]] == ["manifest.mismatch"]
