"""Triage benchmark: ``chainproof collect --profile triage`` timed, beside UAC and acquire.

Run:  .venv/bin/python benchmarks/bench_triage.py [--reps N] [--profile NAME|FILE] [--keep]

It makes a throw-away examiner identity (``CHAINPROOF_HOME``) and, per repetition, a fresh
case under ``$BENCH_DIR`` (default: the directory above the repository), then times the
whole ``chainproof collect`` process and reads from its output the artifact, error and skip
counts, the bytes, and each collector's cost (the per-collector progress lines on stderr,
time-stamped as they arrive). Peers run on the same host, in the same session, when they
are installed (they are never installed by this script):

- UAC: ``$UAC_DIR/uac`` or ``uac`` on PATH, run as ``uac -p ir_triage OUT``; its artifacts
  are the files in the archive it writes.
- acquire (Fox-IT, ``pip install acquire``): ``$ACQUIRE`` or ``acquire`` on PATH, run as
  ``acquire --profile default -o OUT``; its artifacts are the files in its tar.

It prints the median wall time, the artifact count of each tool and the ratios peer /
chainproof (the issue's target: chainproof at or below 1/20 of UAC ir_triage's time).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAINPROOF = Path(sys.executable).with_name("chainproof")
PASSPHRASE = "bench passphrase, not a secret"
# "chainproof: 0:03 timeline done: 4 files, 52.1 MiB in 0:02"
_COLLECTOR_LINE = re.compile(r"^chainproof: \S+ (?P<name>[\w-]+) (?P<outcome>\w+): (?P<what>.*)$")
_SUMMARY = re.compile(
    r"finished: (?P<artifacts>[\d,]+) artifacts, .*?\((?P<bytes>[\d,]+) bytes\), "
    r"(?P<errors>[\d,]+) errors?, (?P<skipped>[\d,]+) skipped"
)


@dataclass
class Result:
    seconds: float
    artifacts: int
    errors: int = 0
    skipped: int = 0
    size: int = 0
    collectors: dict[str, tuple[float, str]] = field(default_factory=dict)


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def chainproof_env(home: Path) -> dict[str, str]:
    return {**os.environ, "CHAINPROOF_HOME": str(home), "CHAINPROOF_PASSPHRASE": PASSPHRASE}


def make_identity(home: Path) -> None:
    argv = [str(CHAINPROOF), "keys", "init", "--name", "Bench", "--org", "Bench"]
    argv += ["--email", "bench@example.org"]
    subprocess.run(argv, env=chainproof_env(home), check=True, capture_output=True)


def run_chainproof(base: Path, home: Path, profile: str, rep: int) -> Result:
    """One ``chainproof collect`` into a fresh case; collector costs from its stderr lines."""
    env = chainproof_env(home)
    case = base / f"case-{rep}"
    subprocess.run(
        [str(CHAINPROOF), "case", "new", str(case), "--title", f"bench triage {rep}"],
        env=env,
        check=True,
        capture_output=True,
    )
    argv = [str(CHAINPROOF), "collect", str(case), "--profile", profile]
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stamps: list[tuple[float, str]] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stamps.append((time.monotonic() - started, line.rstrip("\n")))

    reader = threading.Thread(target=read_stderr)
    reader.start()
    stdout = proc.stdout.read() if proc.stdout else ""
    proc.wait()
    reader.join()
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        tail = "\n".join(line for _t, line in stamps[-5:])
        raise SystemExit(f"chainproof collect failed ({proc.returncode}):\n{tail}\n{stdout}")
    match = _SUMMARY.search(stdout)
    if match is None:
        raise SystemExit(f"no run summary in chainproof's output:\n{stdout}")
    result = Result(
        seconds,
        _count(match["artifacts"]),
        _count(match["errors"]),
        _count(match["skipped"]),
        _count(match["bytes"]),
    )
    previous = 0.0
    for at, line in stamps:
        if (m := _COLLECTOR_LINE.match(line)) and m["outcome"] in ("done", "failed", "skipped"):
            result.collectors[m["name"]] = (at - previous, m["what"])
            previous = at
    result.collectors["(seal and exit)"] = (seconds - previous, "the run's end, signed")
    return result


def archive_members(path: Path) -> int:
    """Regular files in the tar (any compression) or directory ``path``."""
    if path.is_dir():
        return sum(1 for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    with tarfile.open(path) as tar:
        return sum(1 for m in tar if m.isfile())


def newest_output(out: Path) -> Path:
    found = [p for p in out.iterdir() if not p.name.endswith(".log")]
    if not found:
        raise SystemExit(f"the peer wrote nothing to {out}")
    return max(found, key=lambda p: p.stat().st_size)


def find_uac() -> list[str] | None:
    uac_dir = os.environ.get("UAC_DIR")
    if uac_dir and (Path(uac_dir) / "uac").is_file():
        return [str(Path(uac_dir) / "uac")]
    found = shutil.which("uac")
    return [found] if found else None


def find_acquire() -> list[str] | None:
    given = os.environ.get("ACQUIRE") or shutil.which("acquire")
    return [given] if given else None


def run_peer(argv: list[str], out: Path, cwd: Path | None = None) -> Result:
    out.mkdir(parents=True)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        print(f"  {Path(argv[0]).name} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    target = newest_output(out)
    return Result(seconds, archive_members(target), size=target.stat().st_size)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reps", type=int, default=1, help="repetitions of each tool (median)")
    ap.add_argument("--profile", default="triage", help="chainproof profile (name or file)")
    ap.add_argument("--keep", action="store_true", help="keep the cases and the peers' output")
    args = ap.parse_args()
    if not CHAINPROOF.exists():
        raise SystemExit(f"{CHAINPROOF} missing: run scripts/setup.sh")
    parent = Path(os.environ.get("BENCH_DIR") or REPO.parent)
    base = Path(tempfile.mkdtemp(prefix="chainproof-bench-triage-", dir=parent))
    uac, acquire = find_uac(), find_acquire()
    runs: dict[str, list[Result]] = {"chainproof": []}
    try:
        make_identity(base / "home")
        for rep in range(args.reps):
            print(f"repetition {rep + 1}/{args.reps}", flush=True)
            runs["chainproof"].append(run_chainproof(base, base / "home", args.profile, rep))
            if uac:
                uac_dir = Path(uac[0]).parent
                out = base / f"uac-{rep}"
                runs.setdefault("UAC ir_triage", []).append(
                    run_peer([*uac, "-p", "ir_triage", str(out)], out, cwd=uac_dir)
                )
            if acquire:
                out = base / f"acquire-{rep}"
                runs.setdefault("acquire default", []).append(
                    run_peer([*acquire, "--profile", "default", "-o", str(out)], out)
                )
        report(runs, args.profile, uac is not None, acquire is not None)
    finally:
        if args.keep:
            print(f"kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def report(runs: dict[str, list[Result]], profile: str, uac: bool, acquire: bool) -> None:
    ours = runs["chainproof"]
    ours_s = statistics.median(r.seconds for r in ours)
    print(f"\n| tool | median wall time | artifacts | size | ratio to chainproof {profile} |")
    print("|---|---|---|---|---|")
    for name, results in runs.items():
        seconds = statistics.median(r.seconds for r in results)
        last = results[-1]
        label = f"chainproof {profile}" if name == "chainproof" else name
        print(
            f"| {label} | {seconds:.1f} s | {last.artifacts:,} | {last.size / 1e6:,.1f} MB | "
            f"{seconds / ours_s:.1f}x |"
        )
    for missing, present in (("UAC (set UAC_DIR or put uac on PATH)", uac), ("acquire", acquire)):
        if not present:
            print(f"| {missing} | not installed: not run | | | |")
    last = ours[-1]
    print(f"\nchainproof {profile}: {last.errors:,} errors, {last.skipped:,} skipped")
    print("\n(the first collector's time includes start-up: the program, the key, the run opened)")
    print("\n| collector | wall time (last run) | recorded |")
    print("|---|---|---|")
    for name, (seconds, what) in last.collectors.items():
        print(f"| {name} | {seconds:.1f} s | {what} |")


if __name__ == "__main__":
    main()
