"""Collection benchmark: copy-and-hash into the run archive, against coreutils, side by side.

Run:  .venv/bin/python benchmarks/bench_collect.py [--quick] [--keep] [--reps N]
      .venv/bin/python benchmarks/bench_collect.py --files N | --long [--keep] [--reps N]

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

Long mode (issue 18: a collection's peak RSS <= 100 MB, also at 1M files): ``--files N``
makes N files of 100-1,000 bytes, 1,000 to a directory, in
``$BENCH_DIR/chainproof-bench-files-N`` (or ``--data DIR``), and reuses the tree an earlier
``--keep`` run left there when its N and seed match; ``--long`` is ``--files 1000000``. It
warms the page cache, then runs ``--reps`` times (default 1), in this order, ``tar cf - DIR
| sha256sum``, ``chainproof collect CASE --profile none --path FILE`` of one of the files
(the baseline for memory) and ``chainproof collect CASE --profile none --path DIR/**``;
it prints wall s, the ratio, and the collect's peak RSS against the 100 MB target ("met" /
"NOT met"). It needs the chainproof CLI. The directory is deleted unless ``--keep`` (or
``--data``).
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
PASSPHRASE = "bench passphrase, not a secret"
LONG_FILES = 1_000_000  # --long
# the long mode's tree: the seed of its file sizes; a kept tree is reused for the same N and seed
TREE_SEED = 18
RSS_TARGET_MB = 100  # issue 18: peak RSS of a collection, at any number of files


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
    # stderr goes to a file, not a pipe: read only after wait4, a pipe could fill and block
    with tempfile.TemporaryFile() as err_file:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, shell=shell, env=env, stdout=subprocess.DEVNULL, stderr=err_file
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err_file.seek(0)
            err = err_file.read().decode(errors="replace")
            raise SystemExit(f"failed ({proc.returncode}): {argv}\n{err[-4000:]}")
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
    warm(base, [*([big.name] if big_size else []), "small"])
    return big, small


def warm(base: Path, names: list[str]) -> None:
    """Read ``names`` under ``base`` once: every benchmarked command then reads from memory.

    Through ``cat``: GNU tar writing straight to /dev/null skips reading the files' data.
    """
    subprocess.run(
        ["sh", "-c", 'cd "$0" && tar cf - "$@" | cat > /dev/null', str(base), *names],
        check=True,
    )


def make_tree(root: Path, n: int, seed: int) -> int:
    """``n`` files of 100-1,000 bytes, 1,000 to a directory, in one tight loop; returns
    the bytes written. Each file starts with its number, so no two are alike."""
    rng = random.Random(seed)
    block = os.urandom(1000)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    total = 0
    for first in range(0, n, 1000):
        directory = root / f"d{first // 1000:04d}"
        directory.mkdir(parents=True)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(first, min(n, first + 1000)):
                size = rng.randint(100, 1000)
                fd = os.open(f"f{i:07d}", flags, 0o644, dir_fd=dir_fd)
                try:
                    os.write(fd, b"%08d" % i + block[: size - 8])
                finally:
                    os.close(fd)
                total += size
        finally:
            os.close(dir_fd)
    return total


def ensure_tree(base: Path, n: int, seed: int, *, replace: bool) -> tuple[Path, str]:
    """The long mode's tree under ``base``: reused when a finished one of the same ``n``
    and ``seed`` is there (a ``--keep`` run's), else made afresh, replacing an unfinished
    or different one only if ``replace``; with a note of which."""
    root = base / "tree"
    done = base / "tree.done"  # written once the tree is whole: "N SEED BYTES"
    stamp = done.read_text().split() if done.exists() else []
    if root.exists() and stamp[:2] == [str(n), str(seed)]:
        return root, f"reused ({int(stamp[2]) / 1e6:.0f} MB of data)"
    if root.exists() and not replace:
        raise SystemExit(
            f"{root} is not a finished tree of {n} files (seed {seed}): remove it, or "
            "choose another --data"
        )
    done.unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    print(f"writing {n} files of 100-1,000 bytes under {root}", flush=True)
    start = time.perf_counter()
    total = make_tree(root, n, seed)
    subprocess.run(["sync"], check=True)
    seconds = time.perf_counter() - start
    done.write_text(f"{n} {seed} {total}\n")
    return root, f"written in {seconds:.0f} s ({total / 1e6:.0f} MB of data)"


def cli_env(home: Path) -> dict[str, str]:
    """The environment of every chainproof process: the throw-away identity's home."""
    return {**os.environ, "CHAINPROOF_HOME": str(home), "CHAINPROOF_PASSPHRASE": PASSPHRASE}


def cli_works(home: Path, probe: Path) -> tuple[bool, str]:
    if not CHAINPROOF.exists():
        return False, f"{CHAINPROOF} missing"
    env = cli_env(home)
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
        new_case_argv(probe / "case", "probe"),
        collect_argv(probe / "case", str(probe / "f")),
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


def new_case_argv(case: Path, title: str) -> list[str]:
    return [str(CHAINPROOF), "case", "new", str(case), "--title", title]


def new_case(case: Path, env: dict[str, str], title: str) -> None:
    subprocess.run(new_case_argv(case, title), env=env, check=True, capture_output=True)


def collect_argv(case: Path, path: str) -> list[str]:
    return [str(CHAINPROOF), "collect", str(case), "--profile", "none", "--path", path]


def record(
    rows: dict[str, Row],
    key: str,
    label: str,
    argv: list[str] | str,
    env: dict[str, str],
    *,
    shell: bool = False,
) -> None:
    """Run ``argv`` once with ``timed`` and add its figures to ``rows[key]``."""
    seconds, cpu, rss = timed(argv, env=env, shell=shell)
    row = rows.setdefault(key, Row(label))
    row.times.append(seconds)
    row.cpu.append(cpu)
    row.rss_kb.append(rss)


def print_header() -> None:
    print(
        f"{'command':44s} {'median s':>9s} {'min s':>7s} {'ratio':>7s} {'target':>7s} "
        f"{'CPU s':>6s} {'peak RSS':>9s}"
    )


def print_group(
    rows: dict[str, Row],
    group: str,
    keys: tuple[str, ...],
    judged: str | None,
    target: float,
    *,
    no_ratio: tuple[str, ...] = (),
) -> None:
    """One group's rows: median and min wall time, the ratio to ``{group}.base`` (judged
    against ``target`` on the row ``judged``), CPU time, and the peak RSS of chainproof's."""
    base_t = rows[f"{group}.base"].median
    for key in keys:
        row = rows.get(f"{group}.{key}")
        if row is None:
            continue
        ratio = row.median / base_t
        goal = ""
        if f"{group}.{key}" == judged:
            goal = f"<={target:.1f} " + ("ok" if ratio <= target else "MISS")
        shown = "" if key in no_ratio else f"{ratio:6.2f}x"
        rss = f"{max(row.rss_kb) / 1024:.0f} MB" if key in ("cli", "engine", "one") else ""
        label = row.label + ("  [judged]" if goal else "")
        print(
            f"{label:44s} {row.median:9.2f} {min(row.times):7.2f} {shown:>7s} {goal:>7s} "
            f"{row.cpu_median:6.2f} {rss:>9s}"
        )
    print()


def print_children_rss() -> None:
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak RSS of any child process: {children / 1024:.0f} MB")


def bench_parent() -> Path:
    """``$BENCH_DIR``, or the directory above the repository: the same disk as /work."""
    return Path(os.environ.get("BENCH_DIR") or REPO.parent)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="64 MiB and 2,000 files: a smoke run")
    ap.add_argument("--keep", action="store_true", help="keep the data and archives")
    ap.add_argument(
        "--reps",
        type=int,
        help="repetitions of each command (median); default 5, or 1 with --files/--long",
    )
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
    long_mode = ap.add_mutually_exclusive_group()
    long_mode.add_argument(
        "--files",
        type=int,
        metavar="N",
        help="long mode: collect N files of 100-1,000 bytes; peak RSS against 100 MB",
    )
    long_mode.add_argument(
        "--long", action="store_true", help=f"long mode with --files {LONG_FILES}"
    )
    ap.add_argument("--engine-only", nargs=2, metavar=("ARCHIVE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.engine_only:
        engine_only(*args.engine_only)
        return
    if args.reps is not None and args.reps < 1:
        ap.error("--reps needs at least 1")
    if args.long:
        args.files = LONG_FILES
    if args.files is not None:
        if args.quick or args.only:
            ap.error("--files/--long runs alone: not with --quick or --only")
        if args.files < 1:
            ap.error("--files needs at least 1 file")
        run_long(args.files, args.reps or 1, keep=args.keep, data=args.data)
    else:
        run_default(args, args.reps or 5)


def run_default(args: argparse.Namespace, reps: int) -> None:
    """Groups (a) and (b): see the module's docstring."""
    parent = bench_parent()
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
        env = cli_env(home)
        if not use_cli:
            print(f"chainproof CLI not usable ({why}): judging the targets on the ENGINE ONLY")

        rows: dict[str, Row] = {}

        def run(key: str, label: str, argv: list[str] | str, *, shell: bool = False) -> None:
            if args.only and not key.startswith(args.only):
                return
            record(rows, key, label, argv, env, shell=shell)

        out = base / "out"
        shutil.rmtree(out, ignore_errors=True)  # left by an earlier run with --keep
        for rep in range(reps):
            print(f"repetition {rep + 1}/{reps}", flush=True)
            out.mkdir()
            # (a) one large file
            run("a.base", "sha256sum FILE", ["sha256sum", str(big)])
            if use_cli and args.only != "b":
                case = out / "case-a"
                new_case(case, env, "bench a")
                run("a.cli", "chainproof collect --path FILE", collect_argv(case, str(big)))
            run(
                "a.engine",
                "engine only: capture FILE",
                [PYTHON, __file__, "--engine-only", str(out / "a.tar"), str(big)],
            )
            run("a.cp", "cp -a FILE", ["cp", "-a", str(big), str(out / "big.copy")])
            run(
                "a.tar",
                "tar cf ARCHIVE FILE",
                ["tar", "cf", str(out / "big.tar"), "-C", str(base), big.name],
            )
            shutil.rmtree(out)
            out.mkdir()
            # (b) many small files
            run(
                "b.base",
                "tar cf - DIR | sha256sum",
                f"tar cf - -C {base} small | sha256sum",
                shell=True,
            )
            if use_cli and args.only != "a":
                case = out / "case-b"
                new_case(case, env, "bench b")
                run("b.cli", "chainproof collect --path DIR/**", collect_argv(case, f"{small}/**"))
            run(
                "b.engine",
                "engine only: capture DIR",
                [PYTHON, __file__, "--engine-only", str(out / "b.tar"), str(small)],
            )
            run("b.cp", "cp -a DIR", ["cp", "-a", str(small), str(out / "small.copy")])
            run(
                "b.tar",
                "tar cf ARCHIVE DIR",
                ["tar", "cf", str(out / "small.tar"), "-C", str(base), "small"],
            )
            if not args.keep or rep + 1 < reps:
                shutil.rmtree(out)

        print()
        print(
            f"data: {big_size >> 20} MiB file, {small_count} small files; {reps} repetitions; "
            f"{base} ({fstype or 'unknown fs'}); {os.cpu_count()} CPUs"
        )
        print_header()
        for group, target in (("a", 0.9), ("b", 2.0)):
            if f"{group}.base" not in rows:
                continue
            judged = f"{group}.cli" if use_cli else f"{group}.engine"
            print_group(rows, group, ("base", "cli", "engine", "cp", "tar"), judged, target)
        print_children_rss()
        if not use_cli:
            print(
                "NOTE: ENGINE ONLY (the chainproof CLI was not usable); the CLI adds SQLite and the ledger."
            )
    finally:
        if args.keep or args.data:
            print(f"kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def run_long(n: int, reps: int, *, keep: bool, data: Path | None) -> None:
    """Long mode: N small files, ``tar | sha256sum`` beside ``chainproof collect``, and the
    collect's peak RSS against the 100 MB target, with a one-file collect's beside it."""
    base = data or bench_parent() / f"chainproof-bench-files-{n}"
    base.mkdir(parents=True, exist_ok=True)
    fstype = fs_note(base)
    if fstype == "tmpfs":
        print(f"warning: {base} is on tmpfs; set BENCH_DIR to a directory on a real disk")
    start = time.perf_counter()

    def say(step: str) -> None:  # a long run's steps, with the time since it began
        print(f"[{time.perf_counter() - start:5.0f} s] {step}", flush=True)

    try:
        tree, made = ensure_tree(base, n, TREE_SEED, replace=data is None)
        say(f"tree {made}; warming the page cache")
        warm(base, [tree.name])
        say("making a throw-away identity")
        home = base / "home"
        for left in (home, base / "probe"):  # an earlier run's, with --keep or --data
            shutil.rmtree(left, ignore_errors=True)
        use_cli, why = cli_works(home, base / "probe")
        if not use_cli:
            raise SystemExit(f"chainproof CLI not usable ({why}): the long mode measures the CLI")
        env = cli_env(home)
        one_file = tree / "d0000" / "f0000000"

        rows: dict[str, Row] = {}
        out = base / "out"
        shutil.rmtree(out, ignore_errors=True)  # left by an earlier run with --keep
        for rep in range(reps):
            out.mkdir()
            say(f"repetition {rep + 1}/{reps}: tar | sha256sum")
            record(
                rows,
                "l.base",
                "tar cf - DIR | sha256sum",
                f"tar cf - -C {base} {tree.name} | sha256sum",
                env,
                shell=True,
            )
            say(f"repetition {rep + 1}/{reps}: chainproof collect, one file")
            new_case(out / "case-one", env, "bench one file")
            record(
                rows,
                "l.one",
                "chainproof collect --path FILE (one file)",
                collect_argv(out / "case-one", str(one_file)),
                env,
            )
            say(f"repetition {rep + 1}/{reps}: chainproof collect, {n} files")
            new_case(out / "case-long", env, "bench long")
            record(
                rows,
                "l.cli",
                "chainproof collect --path DIR/**",
                collect_argv(out / "case-long", f"{tree}/**"),
                env,
            )
            say(f"repetition {rep + 1}/{reps} done")
            if not keep or rep + 1 < reps:
                shutil.rmtree(out)

        print()
        print(
            f"data: {n} files of 100-1,000 bytes, 1,000 to a directory (seed {TREE_SEED}); "
            f"{reps} repetitions; {base} ({fstype or 'unknown fs'}); {os.cpu_count()} CPUs"
        )
        print_header()
        print_group(rows, "l", ("base", "cli", "one"), None, 0.0, no_ratio=("one",))
        peak = max(rows["l.cli"].rss_kb) / 1024
        verdict = "met" if peak <= RSS_TARGET_MB else "NOT met"
        print(
            f"peak RSS of chainproof collect at {n} files: {peak:.0f} MB; "
            f"target <= {RSS_TARGET_MB} MB: {verdict}"
        )
        print(
            f"baseline: a one-file collect peaks at {max(rows['l.one'].rss_kb) / 1024:.0f} MB "
            f"(growth over it: {peak - max(rows['l.one'].rss_kb) / 1024:.0f} MB)"
        )
        print_children_rss()
    finally:
        if keep or data:
            print(f"kept: {base}")
        else:
            say(f"deleting {base}")
            shutil.rmtree(base, ignore_errors=True)
            say("deleted")


if __name__ == "__main__":
    main()
