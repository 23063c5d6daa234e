"""Export and verification at the size of a real machine (targets in DESIGN.md, "Targets").

Builds a tree of N small files (default 100,000; the acceptance run takes 500,000), collects
it with the real CLI into a fresh case, exports the case, verifies the case and the bundle,
and runs the standard tools over the same bytes in the same run:

    .venv/bin/python benchmarks/bench_export.py                     # 100,000 artifacts
    .venv/bin/python benchmarks/bench_export.py --artifacts 500000
    .venv/bin/python benchmarks/bench_export.py --artifacts 20000 --zip --keep
    BENCH_DIR=/mnt/disk .venv/bin/python benchmarks/bench_export.py

Every row is a whole process: wall time and its peak RSS (``wait4``). It prints

| row | judged against | target |
|---|---|---|
| export | the collection of the same case | <= 0.5x |
| verify CASE | `sha256sum` over the case's archives | <= 1.2x |
| verify BUNDLE | `sha256sum` over the bundle's files | context |
| peak RSS of export and verify | | <= 300 MB at 500,000 |

and the PDF's page count (target: <= 40 at any size). An export verifies the case first (the
same work as ``verify CASE``), so the bundle's own cost is printed too: export minus verify. Files are 200-2,000 bytes, so the
per-artifact cost dominates, as on a real triage collection (16,136 artifacts, 740 MB).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAINPROOF = Path(sys.executable).parent / "chainproof"
PASSPHRASE = "bench passphrase, not a secret"
RSS_TARGET_MB = 300


@dataclass(frozen=True)
class Timed:
    seconds: float
    rss_mb: float


def run(argv: list[str] | str, *, env: dict[str, str] | None = None) -> Timed:
    """Wall time and peak RSS of one whole process (of the shell, for a pipeline)."""
    shell = isinstance(argv, str)
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, shell=shell, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if code != 0:
        raise SystemExit(f"failed ({code}): {argv}\n{err[-2000:]}")
    return Timed(elapsed, usage.ru_maxrss / 1024)


def make_tree(base: Path, n: int) -> int:
    """``n`` files of 200-2,000 bytes, 1,000 to a directory; returns the bytes written."""
    rng = random.Random(n)
    block = os.urandom(4096)
    total = 0
    for i in range(n):
        if i % 1000 == 0:
            (base / f"d{i // 1000:04d}").mkdir(parents=True)
        size = rng.randint(200, 2000)
        data = f"{i:08d}".encode() + block[: size - 8]
        fd = os.open(base / f"d{i // 1000:04d}" / f"f{i:07d}", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        total += size
    return total


def pdf_pages(path: Path) -> int | None:
    """Pages of a PDF, from ``pdfinfo`` (poppler) when installed."""
    if shutil.which("pdfinfo") is None:
        return None
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    return None


def ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}x" if b > 0 else "  -  "


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--artifacts", type=int, default=100_000, help="files in the case")
    ap.add_argument("--zip", action="store_true", help="export as a zip")
    ap.add_argument("--keep", action="store_true", help="keep the tree, case and bundle")
    args = ap.parse_args()
    if not CHAINPROOF.exists():
        raise SystemExit(f"{CHAINPROOF} is missing: run scripts/setup.sh first")
    parent = Path(os.environ.get("BENCH_DIR", ROOT.parent))
    work = Path(tempfile.mkdtemp(prefix="chainproof-bench-export-", dir=parent))
    env = {
        **os.environ,
        "CHAINPROOF_HOME": str(work / "home"),
        "CHAINPROOF_PASSPHRASE": PASSPHRASE,
        "CHAINPROOF_NAME": "Bench Examiner",
        "CHAINPROOF_ORG": "Bench Lab",
        "CHAINPROOF_EMAIL": "bench@example.org",
    }
    cp = str(CHAINPROOF)
    try:
        tree = work / "tree"
        print(f"writing {args.artifacts:,} files under {tree}", flush=True)
        size = make_tree(tree, args.artifacts)
        subprocess.run(["sync"], check=True)
        run(f"tar cf - -C {work} tree > /dev/null")  # warm the page cache
        run(
            [
                cp,
                "keys",
                "init",
                "--name",
                "Bench Examiner",
                "--org",
                "Bench Lab",
                "--email",
                "bench@example.org",
            ],
            env=env,
        )
        case = work / "case"
        run([cp, "case", "new", str(case), "--title", "export bench"], env=env)
        print(f"collecting {args.artifacts:,} files ({size / 1e6:,.0f} MB)", flush=True)
        collect = run(
            [
                cp,
                "collect",
                str(case),
                "--profile",
                "none",
                "--path",
                f"{tree}/**",
                "--no-progress",
            ],
            env=env,
        )
        out = work / ("bundle.zip" if args.zip else "bundle")
        print("exporting", flush=True)
        export = run([cp, "export", str(case), "--out", str(out)] + ["--zip"] * args.zip, env=env)
        print("verifying", flush=True)
        verify_case = run([cp, "verify", str(case)], env=env)
        verify_bundle = run([cp, "verify", str(out)], env=env)
        archives = " ".join(str(p) for p in sorted((case / "evidence").glob("*.tar")))
        sha_case = run(f"sha256sum {archives} > /dev/null")
        sha_bundle = run(
            f"sha256sum {out} > /dev/null"
            if args.zip
            else f"find {out} -type f -print0 | xargs -0 sha256sum > /dev/null"
        )
        tar_sha = run(f"tar cf - -C {work} tree | sha256sum > /dev/null")
        pdf = out / "custody-report.pdf" if not args.zip else None
        pages = pdf_pages(pdf) if pdf is not None else None
        rows = [
            ("tar cf - TREE | sha256sum", tar_sha, "", ""),
            ("chainproof collect", collect, ratio(collect.seconds, tar_sha.seconds), ""),
            ("chainproof export", export, ratio(export.seconds, collect.seconds), "<= 0.5x collect"),
            ("sha256sum case archives", sha_case, "", ""),
            ("chainproof verify CASE", verify_case, ratio(verify_case.seconds, sha_case.seconds),
             "<= 1.2x sha256sum"),
            ("sha256sum bundle files", sha_bundle, "", ""),
            ("chainproof verify BUNDLE", verify_bundle,
             ratio(verify_bundle.seconds, sha_bundle.seconds), "context"),
        ]  # fmt: skip
        print(f"\n{args.artifacts:,} artifacts, {size / 1e6:,.0f} MB of file data")
        print(f"{'command':28} {'wall s':>8} {'peak RSS MB':>12} {'ratio':>7}  target")
        for label, t, r, target in rows:
            print(f"{label:28} {t.seconds:8.2f} {t.rss_mb:12.0f} {r:>7}  {target}")
        writing = export.seconds - verify_case.seconds
        print(
            f"export beyond its verification (export - verify CASE): {writing:.2f} s, "
            f"{ratio(writing, collect.seconds).strip()} collect"
        )
        worst = max(export.rss_mb, verify_case.rss_mb, verify_bundle.rss_mb)
        print(f"peak RSS of export and verify: {worst:.0f} MB (target <= {RSS_TARGET_MB} MB)")
        if pages is not None:
            print(f"custody-report.pdf: {pages} pages (target <= 40)")
        if args.keep:
            print(f"kept in {work}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
