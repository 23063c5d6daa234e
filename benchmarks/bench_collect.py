"""Collection benchmark: copy-and-hash into the run archive, against coreutils, side by side.

Run:  .venv/bin/python benchmarks/bench_collect.py [--quick] [--keep] [--reps N]

It makes, in a new directory under ``$BENCH_DIR`` (default: the directory above the
repository, i.e. the same disk as /work; never a tmpfs), (a) one 1 GiB file of random
data and (b) 20,000 files of 1-16 KiB in 100 directories; reads them all once to warm the
page cache; then runs, in one session and interleaved, ``--reps`` repetitions (default 5)
of each command below, and prints the median wall time of each whole process, the ratios
against the targets of DESIGN.md and the peak RSS of each chainproof process:

  (a) ``sha256sum FILE``                 vs  ``chainproof collect CASE --profile none --path FILE``
  (b) ``tar cf - DIR | sha256sum``       vs  ``chainproof collect CASE --profile none --path DIR/**``
  context: ``cp -a``, ``tar cf``, and the store engine alone (``capture_files`` into a fresh
  ``RunArchive`` and ``close()``, in a process of its own: no database, no ledger).

Targets (issue 18): (a) <= 0.9x ``sha256sum``, aiming at 0.85x; (b) <= 2.0x ``tar cf - |
sha256sum``, aiming at 1.5x. The chainproof CLI is used when ``.venv/bin/chainproof`` works
(an identity is made in a throw-away ``CHAINPROOF_HOME``; a fresh case per repetition);
otherwise the targets are judged on the engine alone, and the table says so.

``--quick`` uses 64 MiB and 2,000 files (a smoke run; ratios mean little). ``--keep``
leaves the data and the archives in place. ``--engine-only ARCHIVE PATH`` is the internal
entry point of the engine-only process.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CHAINPROOF = Path(PYTHON).with_name("chainproof")


# --------------------------------------------------------------------------- engine only


def engine_only(archive_path: str, source: str) -> None:
    """Capture a file, or a directory tree, into a new archive: the store engine alone."""
    sys.path.insert(0, str(REPO))
    import threading

    from collectors.base import FileTarget
    from custody.store.archive import RunArchive
    from custody.store.capture import Captured, capture_files

    root = os.fsencode(source)

    def targets():  # type: ignore[no-untyped-def]
        if not os.path.isdir(root):
            yield FileTarget(root, "bench")
            return
        for top, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                yield FileTarget(os.path.join(top, name), "bench")

    archive = RunArchive(Path(archive_path))
    captured = 0
    for result in capture_files(archive, targets(), cancel=threading.Event()):
        captured += isinstance(result, Captured)
    archive.close()
    print(f"{captured} captured", file=sys.stderr)


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    label: str
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def timed(
    argv: list[str] | str, *, env: dict[str, str] | None = None, shell: bool = False
) -> tuple[float, float, int]:
    """Wall time of a whole process, its CPU time (user + system, with the children it
    waited for: a pipeline's commands, the ring's helper) and its peak RSS (KiB; of the
    shell for pipelines)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, shell=shell, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {argv}\n{err}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def make_data(base: Path, big_size: int, small_count: int) -> tuple[Path, Path]:
    big = base / "big.bin"
    small = base / "small"
    if big_size and (not big.exists() or big.stat().st_size != big_size):
        print(f"writing {big_size >> 20} MiB of random data to {big}", flush=True)
        with big.open("wb") as f:
            left = big_size
            while left:
                n = min(left, 8 << 20)
                f.write(os.urandom(n))
                left -= n
    if not small.exists():
        print(f"writing {small_count} files of 1-16 KiB under {small}", flush=True)
        rng = random.Random(20_000)
        for i in range(small_count):
            d = small / f"d{i // 200:03d}"
            if i % 200 == 0:
                d.mkdir(parents=True)
            (d / f"f{i:05d}.bin").write_bytes(os.urandom(rng.randint(1024, 16384)))
    subprocess.run(["sync"], check=True)
    # warm the page cache: every benchmarked command then reads from memory
    subprocess.run(
        f"cat {big if big_size else '/dev/null'} > /dev/null; tar cf - -C {base} small > /dev/null",
        shell=True,
        check=True,
    )
    return big, small


def cli_works(home: Path, probe: Path) -> tuple[bool, str]:
    if not CHAINPROOF.exists():
        return False, f"{CHAINPROOF} missing"
    env = {
        **os.environ,
        "CHAINPROOF_HOME": str(home),
        "CHAINPROOF_PASSPHRASE": "bench passphrase, not a secret",
    }
    steps = [
        [
            str(CHAINPROOF),
            "keys",
            "init",
            "--name",
            "Bench",
            "--org",
            "Bench",
            "--email",
            "b@example.org",
        ],
        [str(CHAINPROOF), "case", "new", str(probe / "case"), "--title", "probe"],
        [
            str(CHAINPROOF),
            "collect",
            str(probe / "case"),
            "--profile",
            "none",
            "--path",
            str(probe / "f"),
        ],
    ]
    probe.mkdir(parents=True, exist_ok=True)
    (probe / "f").write_bytes(b"probe")
    for argv in steps:
        proc = subprocess.run(argv, env=env, capture_output=True, timeout=300)
        if proc.returncode != 0:
            return (
                False,
                f"{' '.join(argv[1:3])} failed: {proc.stderr.decode(errors='replace').strip()[-300:]}",
            )
    return True, ""


def fs_note(path: Path) -> str:
    best = ("", "")
    with open("/proc/mounts") as f:
        for line in f:
            _, mnt, fstype, *_ = line.split()
            if str(path).startswith(mnt) and len(mnt) > len(best[0]):
                best = (mnt, fstype)
    return best[1]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="64 MiB and 2,000 files: a smoke run")
    ap.add_argument("--keep", action="store_true", help="keep the data and archives")
    ap.add_argument("--reps", type=int, default=5, help="repetitions of each command (median)")
    ap.add_argument(
        "--only",
        choices=("a", "b"),
        help="run one group: a (the large file) or b (the small files)",
    )
    ap.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="make the data in DIR, or reuse what an earlier run left there (never deleted)",
    )
    ap.add_argument("--engine-only", nargs=2, metavar=("ARCHIVE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.engine_only:
        engine_only(*args.engine_only)
        return

    parent = Path(os.environ.get("BENCH_DIR") or REPO.parent)
    base = args.data or Path(tempfile.mkdtemp(prefix="chainproof-bench-", dir=parent))
    base.mkdir(parents=True, exist_ok=True)
    fstype = fs_note(base)
    if fstype == "tmpfs":
        print(f"warning: {base} is on tmpfs; set BENCH_DIR to a directory on a real disk")
    big_size, small_count = ((64 << 20), 2_000) if args.quick else ((1 << 30), 20_000)
    if args.only == "b":
        big_size = 0  # group (a) is not run: no large file
    try:
        big, small = make_data(base, big_size, small_count)
        home = base / "home"
        for left in (home, base / "probe"):  # an earlier run's, with --data
            shutil.rmtree(left, ignore_errors=True)
        use_cli, why = cli_works(home, base / "probe")
        env = {
            **os.environ,
            "CHAINPROOF_HOME": str(home),
            "CHAINPROOF_PASSPHRASE": "bench passphrase, not a secret",
        }
        if not use_cli:
            print(f"chainproof CLI not usable ({why}): judging the targets on the ENGINE ONLY")

        rows: dict[str, Row] = {}

        def record(key: str, label: str, argv: list[str] | str, *, shell: bool = False) -> None:
            if args.only and not key.startswith(args.only):
                return
            seconds, cpu, rss = timed(argv, env=env, shell=shell)
            row = rows.setdefault(key, Row(label))
            row.times.append(seconds)
            row.cpu.append(cpu)
            row.rss_kb.append(rss)

        out = base / "out"
        shutil.rmtree(out, ignore_errors=True)  # left by an earlier run with --keep
        for rep in range(args.reps):
            print(f"repetition {rep + 1}/{args.reps}", flush=True)
            out.mkdir()
            # (a) one large file
            record("a.base", "sha256sum FILE", ["sha256sum", str(big)])
            if use_cli and args.only != "b":
                case = out / "case-a"
                subprocess.run(
                    [str(CHAINPROOF), "case", "new", str(case), "--title", "bench a"],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                record(
                    "a.cli",
                    "chainproof collect --path FILE",
                    [
                        str(CHAINPROOF),
                        "collect",
                        str(case),
                        "--profile",
                        "none",
                        "--path",
                        str(big),
                    ],
                )
            record(
                "a.engine",
                "engine only: capture FILE",
                [PYTHON, __file__, "--engine-only", str(out / "a.tar"), str(big)],
            )
            record("a.cp", "cp -a FILE", ["cp", "-a", str(big), str(out / "big.copy")])
            record(
                "a.tar",
                "tar cf ARCHIVE FILE",
                ["tar", "cf", str(out / "big.tar"), "-C", str(base), big.name],
            )
            shutil.rmtree(out)
            out.mkdir()
            # (b) many small files
            record(
                "b.base",
                "tar cf - DIR | sha256sum",
                f"tar cf - -C {base} small | sha256sum",
                shell=True,
            )
            if use_cli and args.only != "a":
                case = out / "case-b"
                subprocess.run(
                    [str(CHAINPROOF), "case", "new", str(case), "--title", "bench b"],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                record(
                    "b.cli",
                    "chainproof collect --path DIR/**",
                    [
                        str(CHAINPROOF),
                        "collect",
                        str(case),
                        "--profile",
                        "none",
                        "--path",
                        f"{small}/**",
                    ],
                )
            record(
                "b.engine",
                "engine only: capture DIR",
                [PYTHON, __file__, "--engine-only", str(out / "b.tar"), str(small)],
            )
            record("b.cp", "cp -a DIR", ["cp", "-a", str(small), str(out / "small.copy")])
            record(
                "b.tar",
                "tar cf ARCHIVE DIR",
                ["tar", "cf", str(out / "small.tar"), "-C", str(base), "small"],
            )
            if not args.keep or rep + 1 < args.reps:
                shutil.rmtree(out)

        print()
        print(
            f"data: {big_size >> 20} MiB file, {small_count} small files; {args.reps} repetitions; "
            f"{base} ({fstype or 'unknown fs'}); {os.cpu_count()} CPUs"
        )
        print(
            f"{'command':44s} {'median s':>9s} {'min s':>7s} {'ratio':>7s} {'target':>7s} "
            f"{'CPU s':>6s} {'peak RSS':>9s}"
        )
        for group, target in (("a", 0.9), ("b", 2.0)):
            if f"{group}.base" not in rows:
                continue
            base_t = rows[f"{group}.base"].median
            judged = f"{group}.cli" if use_cli else f"{group}.engine"
            for key in ("base", "cli", "engine", "cp", "tar"):
                row = rows.get(f"{group}.{key}")
                if row is None:
                    continue
                ratio = row.median / base_t
                goal = ""
                if f"{group}.{key}" == judged:
                    goal = f"<={target:.1f} " + ("ok" if ratio <= target else "MISS")
                rss = f"{max(row.rss_kb) / 1024:.0f} MB" if key in ("cli", "engine") else ""
                label = row.label + ("  [judged]" if goal else "")
                print(
                    f"{label:44s} {row.median:9.2f} {min(row.times):7.2f} {ratio:6.2f}x {goal:>7s} "
                    f"{row.cpu_median:6.2f} {rss:>9s}"
                )
            print()
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"peak RSS of any child process: {children / 1024:.0f} MB")
        if not use_cli:
            print(
                "NOTE: ENGINE ONLY (the chainproof CLI was not usable); the CLI adds SQLite and the ledger."
            )
    finally:
        if args.keep or args.data:
            print(f"kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
