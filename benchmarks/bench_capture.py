"""Capture benchmark: a packet capture beside a collection must not lengthen it.

Run:  .venv/bin/python benchmarks/bench_capture.py [--files N] [--reps N] [--seconds S]

Target (issue 22): when the other collectors take longer than the capture, adding
``--capture-seconds 5`` lengthens the run by no more than 10 %. It makes, under
``$BENCH_DIR`` (default: the directory above the repository), a tree of ``--files`` files of
1-16 KiB (default 40,000: longer to collect than the capture here), warms the page cache,
then runs interleaved, ``--reps`` times each (default 5), as whole processes with a fresh
case each time:

  (a) ``chainproof collect CASE --profile none --path DIR/**``
  (b) the same with ``--capture-seconds S --capture-interface lo``

and prints the median wall time of each and the ratio (b)/(a). Needs root (or
CAP_NET_RAW) for (b) to capture; without it (b) records a skip and the ratio means little.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAINPROOF = Path(sys.executable).with_name("chainproof")
PASSPHRASE = "benchmark passphrase, not secret"


def make_tree(root: Path, count: int) -> int:
    rng = random.Random(22)
    total = 0
    for i in range(count):
        d = root / f"d{i % 200:03d}"
        d.mkdir(parents=True, exist_ok=True)
        size = rng.randint(1024, 16384)
        (d / f"f{i:06d}.bin").write_bytes(os.urandom(size))
        total += size
    return total


def warm(root: Path) -> None:
    for path in root.rglob("*.bin"):
        path.read_bytes()


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    spent = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, default=40_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    base = Path(os.environ.get("BENCH_DIR", REPO.parent))
    work = Path(tempfile.mkdtemp(prefix="chainproof-bench-capture-", dir=base))
    try:
        env = {
            **os.environ,
            "CHAINPROOF_HOME": str(work / "home"),
            "CHAINPROOF_PASSPHRASE": PASSPHRASE,
        }
        subprocess.run(
            [str(CHAINPROOF), "keys", "init", "--name", "Bench", "--org", "Bench", "--email", "b@example.org"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        tree = work / "tree"
        size = make_tree(tree, args.files)
        warm(tree)
        print(f"tree: {args.files:,} files, {size / 1e6:.0f} MB; capture {args.seconds:g} s on lo")
        times: dict[str, list[float]] = {"plain": [], "capture": []}
        for rep in range(args.reps):
            for kind in ("plain", "capture") if rep % 2 == 0 else ("capture", "plain"):
                case = work / f"case-{kind}-{rep}"
                subprocess.run(
                    [str(CHAINPROOF), "case", "new", str(case), "--title", "bench"],
                    env=env, check=True, capture_output=True,
                )  # fmt: skip
                argv = [str(CHAINPROOF), "collect", str(case), "--profile", "none",
                        "--path", f"{tree}/**", "--no-progress"]  # fmt: skip
                if kind == "capture":
                    argv += ["--capture-seconds", f"{args.seconds:g}", "--capture-interface", "lo"]
                times[kind].append(timed(argv, env))
                shutil.rmtree(case)
        plain, capture = (statistics.median(times[k]) for k in ("plain", "capture"))
        print(f"{'run':<44} {'median s':>9}   all")
        print(f"{'collect (a)':<44} {plain:>9.2f}   {' '.join(f'{t:.2f}' for t in times['plain'])}")
        label = f"collect + --capture-seconds {args.seconds:g} (b)"
        print(f"{label:<44} {capture:>9.2f}   {' '.join(f'{t:.2f}' for t in times['capture'])}")
        ratio = capture / plain
        verdict = "meets" if ratio <= 1.10 else "misses"
        print(f"ratio (b)/(a): {ratio:.3f}  ({verdict} the target of 1.10)")
        if plain < args.seconds:
            print("note: the collection alone is shorter than the capture; use more --files")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
