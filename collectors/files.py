"""The files collector: paths and globs from the profile, with size and age filters.

Glob syntax: ``*``, ``?`` and ``[...]`` match within one name, ``**`` as a whole component
matches any number of directories (zero included), and a pattern that names a directory
selects everything below it (as ``DIR/**``). Unlike the shell, wildcards match names that
begin with a dot: hidden files are evidence too. Relative patterns are taken from the current
directory and ``~`` is expanded.

The walk starts at the pattern's root, the longest literal directory prefix, and never
follows a symlink to a directory outside that root; symlinked directories inside it are
followed once, after the real directories, and a link back to a directory being walked is
reported as a loop. /proc and /sys are not entered from above. Entries are never opened here (FIFOs cannot block the walk): the
evidence store decides what to copy and what to record as skipped. The one exception: a
regular ``.zip`` file that would be collected is opened read-only, as sources are, to read
its central directory, when the run keeps Chainproof bundles out.

What the run never collects (``CollectContext.never_collect``: the program itself, the case
being written, other cases and bundles, the examiner's keys) is pruned where the walk meets
it, or refused where a rule starts inside it, and reported once with a count
(:mod:`collectors.exclusions`). A file left out by a rule's size or age filter is named with
the reason, up to :data:`NAMED_PER_RULE` a rule; the rest are counted in one more record.
"""

# Paths are bytes here, so that non-UTF-8 names survive; pathlib has no bytes paths.
# ruff: noqa: PTH100, PTH111, PTH115, PTH116, PTH118

from __future__ import annotations

import fnmatch
import os
import re
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from collectors._util import (
    Listed,
    Opt,
    OwnOutput,
    describe_os_error,
    error,
    is_within,
    parse_size,
    scan_directory,
    skipped,
)
from collectors.base import (
    CollectContext,
    Collector,
    FileTarget,
    Observation,
    Problem,
    Volatility,
    register_collector,
)
from collectors.exclusions import Exclusions

_MAGIC = re.compile(rb"[*?[]")
_OS_ALIASES = {"macos": "darwin", "osx": "darwin"}
TARGET_KEYS = ("path", "max_size", "min_size", "max_age_days", "os")
# Never entered from above (a pattern rooted inside them, such as /proc/1/**, still works).
PSEUDO_DIRS = frozenset({b"/proc", b"/sys"})
#: Files left out by a rule's size or age filter are named, each in its own record, up to this
#: many a rule; the rest are counted in one record.
NAMED_PER_RULE = 1000

# A directory to walk: (path, glob states, (st_dev, st_ino) of it and its ancestors).
_Frame: TypeAlias = tuple[bytes, frozenset[int], tuple[tuple[int, int], ...]]
# A symlinked directory met in the walk: (path, states, ancestors, stat of its target).
_Link: TypeAlias = tuple[bytes, frozenset[int], tuple[tuple[int, int], ...], os.stat_result]


class Glob:
    """A compiled pattern: a literal root directory and the components below it."""

    def __init__(self, pattern: str, windows: bool = False) -> None:
        self.pattern = pattern
        self.windows = windows
        raw = os.path.abspath(os.fsencode(os.path.expanduser(pattern)))
        if windows:
            raw = raw.replace(b"\\", b"/")
        parts = raw.split(b"/")
        first_magic = next((i for i, p in enumerate(parts) if _MAGIC.search(p)), None)
        self.literal = first_magic is None
        cut = len(parts) if first_magic is None else first_magic
        root = b"/".join(parts[:cut])
        self.root = root + b"/" if not root or root.endswith(b":") else root
        comps: list[bytes] = []
        for comp in parts[cut:]:
            if comp and not (comp == b"**" and comps and comps[-1] == b"**"):
                comps.append(comp)
        self.comps = comps
        flags = re.IGNORECASE if windows else 0
        self._matchers: list[re.Pattern[bytes] | bytes | None] = []
        for comp in comps:
            if comp == b"**":
                self._matchers.append(None)
            elif _MAGIC.search(comp):
                regex = fnmatch.translate(comp.decode("latin-1")).encode("latin-1")
                self._matchers.append(re.compile(regex, flags | re.DOTALL))
            else:
                self._matchers.append(comp.lower() if windows else comp)

    def recursive(self) -> Glob:
        """This literal directory pattern as ``DIR/**``."""
        sep = "" if self.pattern.endswith(("/", "\\")) else "/"
        return Glob(self.pattern + sep + "**", self.windows)

    def start(self) -> frozenset[int]:
        return self._closure({0})

    def _closure(self, states: set[int]) -> frozenset[int]:
        todo = list(states)
        while todo:
            i = todo.pop()
            if i < len(self.comps) and self._matchers[i] is None and i + 1 not in states:
                states.add(i + 1)
                todo.append(i + 1)
        return frozenset(states)

    def step(self, states: frozenset[int], name: bytes) -> frozenset[int]:
        """The states after matching one more path component ``name``."""
        out: set[int] = set()
        key = name.lower() if self.windows else name
        for i in states:
            if i >= len(self.comps):
                continue
            matcher = self._matchers[i]
            if matcher is None:
                out.add(i)
            elif isinstance(matcher, bytes):
                if key == matcher:
                    out.add(i + 1)
            elif matcher.match(name):
                out.add(i + 1)
        return self._closure(out) if out else frozenset()

    def accepts(self, states: frozenset[int]) -> bool:
        return len(self.comps) in states

    def may_descend(self, states: frozenset[int]) -> bool:
        return any(i < len(self.comps) for i in states)

    def literal_next(self, states: frozenset[int]) -> bytes | None:
        """The one literal name that can match next, if that is all that can (no listing needed)."""
        if len(states) == 1:
            (i,) = states
            if i < len(self.comps) and isinstance(self._matchers[i], bytes):
                return self.comps[i]
        return None

    def matches(self, path: bytes) -> bool:
        """True if ``path`` is matched; for a literal pattern, also everything below it."""
        if self.windows:
            path = path.replace(b"\\", b"/")
        root = self.root.rstrip(b"/")
        if path != root and not path.startswith(root + b"/"):
            return False
        if self.literal:
            return True
        states = self.start()
        for name in path[len(root) :].split(b"/"):
            if name:
                states = self.step(states, name)
                if not states:
                    return False
        return self.accepts(states)


@dataclass(frozen=True)
class Rule:
    """One target of the profile: a glob and its filters."""

    pattern: str
    max_size: int | None = None
    min_size: int | None = None
    max_age_days: float | None = None

    @property
    def filtered(self) -> bool:
        return (
            self.max_size is not None or self.min_size is not None or self.max_age_days is not None
        )


def parse_targets(raw: Sequence[Any], system: str) -> tuple[list[Rule], list[Problem]]:
    """Rules from the ``targets`` option (strings or mappings); targets for other OSes dropped."""
    rules: list[Rule] = []
    problems: list[Problem] = []
    for item in raw:
        if isinstance(item, str):
            rules.append(Rule(item))
            continue
        try:
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                raise ValueError("a target must be a path or a mapping with a 'path'")
            systems = item.get("os")
            if systems is not None:
                wanted = [systems] if isinstance(systems, str) else list(systems)
                names = {_OS_ALIASES.get(s.lower(), s.lower()) for s in wanted}
                if system.lower() not in names:
                    continue
            age = item.get("max_age_days")
            rules.append(
                Rule(
                    item["path"],
                    None if item.get("max_size") is None else parse_size(item["max_size"]),
                    None if item.get("min_size") is None else parse_size(item["min_size"]),
                    None if age is None else float(age),
                )
            )
        except (ValueError, TypeError) as exc:
            problems.append(error(f"files: bad target {item!r}: {exc}"))
    return rules, problems


@dataclass
class _Entry:
    """A directory entry from a listing (``dirent``) or a direct lookup (``st``)."""

    name: bytes
    path: bytes
    listed: Listed | None = None
    st: os.stat_result | None = None

    def lstat(self) -> os.stat_result:
        if self.st is None and self.listed is not None:
            self.st = self.listed.lstat()
        assert self.st is not None
        return self.st

    def inode(self) -> int:
        if self.listed is not None:
            return self.listed.inode
        return self.lstat().st_ino

    def kind(self) -> tuple[bool, bool]:
        """(is a directory, is a symlink), neither following symlinks."""
        if self.listed is not None:
            return self.listed.is_dir, self.listed.is_symlink
        mode = self.lstat().st_mode
        return stat.S_ISDIR(mode), stat.S_ISLNK(mode)


class _Walker:
    """Expands the rules of one collection. A path two rules match is yielded for each: the
    run takes each path once, for the first (see ``app.collection``)."""

    def __init__(self, ctx: CollectContext, excludes: list[Glob]) -> None:
        self.ctx = ctx
        self.excludes = excludes
        self.own = OwnOutput(ctx.output_dir)
        self.never = Exclusions(ctx.never_collect)
        self.windows = ctx.host.system == "Windows"
        self.now = time.time()

    def _excluded(self, path: bytes) -> bool:
        return any(g.matches(path) for g in self.excludes)

    def run(self, rule: Rule) -> Iterator[Observation]:
        glob = Glob(rule.pattern, self.windows)
        counts = {"matched": 0, "filtered": 0, "errors": 0}
        self.ctx.status(f"files: {rule.pattern}")
        if glob.literal:
            try:
                st = os.lstat(glob.root)
            except FileNotFoundError:
                st = None
            except OSError as exc:
                counts["errors"] += 1
                yield error(f"cannot read: {describe_os_error(exc)}", glob.root)
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode):
                glob = glob.recursive()
            elif st is not None:
                why = self.never.above(glob.root, follow=False) if self.never else None
                if why is None and stat.S_ISREG(st.st_mode):
                    why = self._excluded_file(glob.root, st.st_ino)
                if why is not None:
                    counts["matched"] += 1
                    yield from self.never.problem(glob.root, why)
                else:
                    yield from self._candidate(glob.root, st, rule, counts, check_own=True)
        if not glob.literal:
            yield from self._walk(glob, rule, counts)
        filtered = counts["filtered"]
        if filtered > NAMED_PER_RULE:
            yield skipped(
                f"{filtered - NAMED_PER_RULE:,} more files outside the size/age filters of rule "
                f"{rule.pattern}, not named ({filtered:,} in all; the first "
                f"{NAMED_PER_RULE:,} are named, each in its own record)"
            )
        elif not counts["matched"] and not counts["errors"] and not self.ctx.cancelled:
            yield skipped(f"no match for {rule.pattern}")

    def _excluded_file(self, path: bytes, inode: int) -> str | None:
        """Why the file ``path`` is never collected (a root, or a zipped bundle), or None."""
        why = self.never.file(path, inode)
        if why is None and (marker := self.never.zip_bundle(path)) is not None:
            why = marker.reason
        return why

    def _candidate(
        self,
        path: bytes,
        st: os.stat_result | None,
        rule: Rule,
        counts: dict[str, int],
        check_own: bool = False,
    ) -> Iterator[Observation]:
        """Yield ``path`` unless excluded or filtered. A walk has kept out of the output
        directory already; a literal path is checked here (``check_own``)."""
        counts["matched"] += 1
        if self._excluded(path):
            return
        if check_own and self.own.contains(path):
            yield from self.own.problem_once(path)
            return
        if rule.filtered:
            try:
                st = st or os.lstat(path)
            except OSError as exc:
                counts["errors"] += 1
                yield error(f"cannot stat: {describe_os_error(exc)}", path)
                return
            outside = _outside_filters(rule, st, self.now)
            if outside is not None:
                counts["filtered"] += 1
                if counts["filtered"] <= NAMED_PER_RULE:
                    yield skipped(
                        f"outside the size/age filters of rule {rule.pattern}: {outside}", path
                    )
                return
        yield FileTarget(path, rule.pattern)

    def _walk(self, glob: Glob, rule: Rule, counts: dict[str, int]) -> Iterator[Observation]:
        root = glob.root
        try:
            root_st = os.stat(root)
        except OSError as exc:
            if not isinstance(exc, FileNotFoundError | NotADirectoryError):
                counts["errors"] += 1
                yield error(f"cannot read: {describe_os_error(exc)}", root)
            return
        if not stat.S_ISDIR(root_st.st_mode):
            return
        why = (
            (self.never.directory(root, root_st) or self.never.above(root)) if self.never else None
        )
        if why is not None:
            counts["matched"] += 1  # nothing to say that it matched nothing
            yield from self.never.problem(root, why)
            return
        if self.own.is_it(root_st) or self.own.contains(root):
            yield from self.own.problem_once(root)
            return
        root_real = os.path.realpath(root)
        stack: list[_Frame] = [(root, glob.start(), ((root_st.st_dev, root_st.st_ino),))]
        links: list[_Link] = []
        walked: set[tuple[int, int, frozenset[int]]] = set()
        while stack or links:
            if self.ctx.cancelled:
                return
            if not stack:
                yield from self._follow(links.pop(0), root_real, walked, stack)
                continue
            directory, states, ancestors = stack.pop()
            walked.add((*ancestors[-1], states))
            subdirs: list[_Frame] = []
            entries, problem, listed = self._entries(directory, glob, states)
            if self.never.markers and directory != root:
                names = {e.name for e in entries}
                marker = self.never.marked(names) if listed else self.never.marker_at(directory)
                if marker is not None:
                    yield from self.never.problem(directory, marker.reason)
                    continue
            if problem is not None:
                counts["errors"] += 1
                yield problem
            for entry in entries:
                path = entry.path
                after = glob.step(states, entry.name)
                if not after or self._excluded(path):
                    continue
                try:
                    is_dir, is_link = entry.kind()
                    st = entry.lstat() if is_dir else entry.st
                except OSError as exc:
                    counts["errors"] += 1
                    yield error(f"cannot stat: {describe_os_error(exc)}", path)
                    continue
                if is_dir and st is not None:
                    ident = (st.st_dev, st.st_ino)
                    why = self.never.directory(path, st)
                    if why is not None:
                        yield from self.never.problem(path, why)
                    elif path in PSEUDO_DIRS and not self.windows:
                        yield skipped("kernel pseudo file system, not walked", path)
                    elif self.own.is_it(st):
                        yield from self.own.problem_once(path)
                    elif ident in ancestors:  # a bind mount of an ancestor
                        yield skipped(
                            f"directory loop: {os.fsdecode(path)} revisits an ancestor", path
                        )
                    elif glob.may_descend(after):
                        subdirs.append((path, after, (*ancestors, ident)))
                    continue
                if glob.accepts(after):
                    why = None
                    if self.never and not is_link:
                        try:
                            why = self._excluded_file(path, entry.inode())
                        except OSError:
                            why = None  # the capture reports what cannot be read
                    if why is not None:
                        counts["matched"] += 1
                        yield from self.never.problem(path, why)
                        continue
                    yield from self._candidate(path, entry.st, rule, counts)
                if is_link and glob.may_descend(after):
                    try:
                        target_st = os.stat(path)
                    except OSError:
                        continue  # dangling link: recorded as a link if it matched
                    if stat.S_ISDIR(target_st.st_mode):
                        links.append((path, after, ancestors, target_st))
            stack.extend(reversed(subdirs))

    def _entries(
        self, directory: bytes, glob: Glob, states: frozenset[int]
    ) -> tuple[list[_Entry], Problem | None, bool]:
        """The entries of ``directory`` that may match next, sorted, or why they cannot be
        read; and whether the directory was listed (all its entries are there).

        When only one literal name can match, it is looked up without listing the directory.
        """
        literal = glob.literal_next(states)
        if literal is not None and not self.windows:
            path = os.path.join(directory, literal)
            try:
                return [_Entry(literal, path, st=os.lstat(path))], None, False
            except (FileNotFoundError, NotADirectoryError):
                return [], None, False
            except OSError as exc:
                return [], error(f"cannot read: {describe_os_error(exc)}", path), False
        try:
            found = scan_directory(directory)
        except (FileNotFoundError, NotADirectoryError):
            return [], None, False
        except OSError as exc:
            unlisted = error(f"cannot list directory: {describe_os_error(exc)}", directory)
            return [], unlisted, False
        return [_Entry(e.name, e.path, listed=e) for e in found], None, True

    def _follow(
        self,
        link: _Link,
        root_real: bytes,
        walked: set[tuple[int, int, frozenset[int]]],
        stack: list[_Frame],
    ) -> Iterator[Observation]:
        """Walk a symlinked directory if it stays inside the root and does not loop."""
        path, states, ancestors, st = link
        ident = (st.st_dev, st.st_ino)
        try:
            target = os.fsdecode(os.readlink(path))
        except OSError:
            target = "?"
        real = os.path.realpath(path)
        if not is_within(real, root_real):
            yield skipped(
                f"symlink to a directory outside the selected root not followed: "
                f"{os.fsdecode(path)} -> {target}",
                path,
            )
        elif ident in ancestors:
            yield skipped(
                f"symlink loop: {os.fsdecode(path)} -> {target} revisits {os.fsdecode(real)}",
                path,
            )
        elif (why := self.never.directory(path, st)) is not None:
            yield from self.never.problem(path, why)
        elif self.own.is_it(st):
            yield from self.own.problem_once(path)
        elif (*ident, states) not in walked:
            stack.append((path, states, (*ancestors, ident)))


def _outside_filters(rule: Rule, st: os.stat_result, now: float) -> str | None:
    """How a file of ``st`` falls outside ``rule``'s size and age filters, or None."""
    if rule.max_size is not None and st.st_size > rule.max_size:
        return f"{st.st_size:,} bytes, over max_size {rule.max_size:,}"
    if rule.min_size is not None and st.st_size < rule.min_size:
        return f"{st.st_size:,} bytes, under min_size {rule.min_size:,}"
    if rule.max_age_days is not None and st.st_mtime < now - rule.max_age_days * 86400:
        days = (now - st.st_mtime) / 86400
        return f"modified {days:,.1f} days ago, over max_age_days {rule.max_age_days:g}"
    return None


@register_collector
class Files(Collector):
    """Files selected by paths and globs, with size and age filters and exclusions."""

    name = "files"
    volatility = Volatility.FILES
    description = "Files and globs from the profile (and --path), with size/age filters"
    options_schema: ClassVar[dict[str, Any]] = {"targets": Opt.TARGETS, "exclude": Opt.STR_LIST}

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        rules, problems = parse_targets(ctx.options.get("targets") or [], ctx.host.system)
        yield from problems
        windows = ctx.host.system == "Windows"
        excludes = [Glob(str(p), windows) for p in ctx.options.get("exclude") or []]
        walker = _Walker(ctx, excludes)
        for rule in rules:
            if ctx.cancelled:
                return
            yield from walker.run(rule)
