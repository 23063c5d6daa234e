"""Background work with Qt signals: the core takes callbacks and a cancel token, ui/ wraps them.

Long work (collection, verification, export) runs on a QThreadPool thread; results, failures
and progress come back as queued signals to the GUI thread. A collection can report 20,000
items a second: :class:`ProgressCoalescer` folds them into snapshots emitted at most every
``interval`` seconds, so the event loop is never flooded.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

if TYPE_CHECKING:  # the collection engine is imported when a collection starts
    from app.collection import CollectionRun, ProgressEvent, RunSummary

_POOL: QThreadPool | None = None
_LIVE: set[Worker] = set()


def pool() -> QThreadPool:
    """The pool every worker runs on (two threads: the machines have two cores)."""
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(2)
    return _POOL


def wait_for_workers(timeout_ms: int = 30_000) -> bool:
    """Block until every worker is done (used at shutdown and by tests)."""
    return pool().waitForDone(timeout_ms)


class _Runnable(QRunnable):
    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._worker = worker

    def run(self) -> None:
        self._worker._run()


class Worker(QObject):
    """Runs ``fn(cancel, report)`` off the GUI thread.

    ``report(obj)`` emits :attr:`progress`; the return value is emitted by :attr:`finished`,
    an exception (any, never swallowed) by :attr:`failed`. :attr:`done` follows either.
    """

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(object)
    done = Signal()

    def __init__(
        self,
        fn: Callable[[threading.Event, Callable[[Any], None]], Any],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._fn = fn
        self.cancel_event = threading.Event()
        self.running = False

    def start(self) -> None:
        self.running = True
        _LIVE.add(self)
        pool().start(_Runnable(self))

    def cancel(self) -> None:
        self.cancel_event.set()

    def _report(self, obj: Any) -> None:
        self.progress.emit(obj)

    def _run(self) -> None:
        try:
            result = self._fn(self.cancel_event, self._report)
        except BaseException as exc:  # noqa: BLE001 - shown by the GUI thread, never swallowed
            self.running = False
            self.failed.emit(exc)
        else:
            self.running = False
            self.finished.emit(result)
        finally:
            self.done.emit()
            _LIVE.discard(self)


# --------------------------------------------------------------------------- collection


#: How a collector's part ends when its run ends by ``status`` (finished, interrupted,
#: failed): the one running then, and the ones that never started.
END_STATES = {
    "finished": ("done", "not reached"),
    "interrupted": ("cancelled", "not reached"),
}
FAILED_END = ("stopped", "not reached")


@dataclass
class CollectorProgress:
    """One collector's share of a run, as the collection screen shows it."""

    name: str
    description: str = ""
    #: waiting | running | done; when the run ended otherwise: cancelled, stopped (by a
    #: failure) or not reached
    state: str = "waiting"
    done: int = 0
    total: int | None = None
    errors: int = 0
    #: what it says of itself while it runs (a capture's packets and bytes so far)
    detail: str = ""


@dataclass
class Snapshot:
    """The state of a run at one moment; what the GUI thread receives.

    There is no overall fraction: what the collectors still to run will find is not known
    while the run goes on, so a share of the whole would be invented. ``step`` says which
    collector runs (1-based, of ``len(collectors)``), each collector its own items.
    """

    collectors: list[CollectorProgress]
    current: str = ""
    bytes_done: int = 0
    items_done: int = 0
    errors: int = 0
    elapsed: float = 0.0
    rate_bytes: float = 0.0
    eta_seconds: float | None = None  # of the running collector, when it knows its total
    step: int = 0  # the running collector's place in the run (0: none started yet)
    active: str = ""  # its name
    problems: list[str] = field(default_factory=list)  # new since the last snapshot
    #: running, or how the run ended: finished | interrupted | failed
    state: str = "running"
    message: str = ""
    events: int = 0  # progress events folded into snapshots so far

    @property
    def collectors_done(self) -> int:
        return sum(1 for c in self.collectors if c.state == "done")


class ProgressCoalescer:
    """Folds ProgressEvents (worker thread) into Snapshots emitted at most every ``interval`` s."""

    MAX_PROBLEMS = 200

    def __init__(
        self, collectors: list[str], emit: Callable[[Snapshot], None], interval: float = 0.08
    ) -> None:
        self._emit = emit
        self._interval = interval
        self._order = list(collectors)
        self._state = {n: CollectorProgress(n) for n in collectors}
        self._current = ""
        self._bytes = 0
        self._items = 0
        self._errors = 0
        self._problems: list[str] = []
        self._dropped = 0
        self._start = time.monotonic()
        self._last = 0.0
        self._active: str | None = None
        self._active_since = self._start
        self._message = ""
        self._events = 0
        self._ended: str | None = None

    def __call__(self, ev: ProgressEvent) -> None:
        self._events += 1
        force = ev.kind in ("started", "collector", "collector_end", "finished")
        st = self._state.get(ev.collector) if ev.collector else None
        if ev.collector and st is None:
            st = self._state[ev.collector] = CollectorProgress(ev.collector)
            self._order.append(ev.collector)
        if ev.kind == "collector" and st is not None:
            before = self._state.get(self._active) if self._active else None
            if before is not None and before.state == "running" and not _beside(before.name):
                before.state = "done"  # runs one after the other: the next one started
            self._active = ev.collector
            self._active_since = time.monotonic()
            st.state, st.description = "running", ev.message
            self._current = ev.message
        elif ev.kind == "item" and st is not None:
            if ev.done:  # a count of items recorded (the total may be unknown yet)
                st.done, st.total = ev.done, ev.total
                self._items += 1
            elif ev.message:
                st.detail = ev.message
            if ev.bytes_done:
                self._bytes = ev.bytes_done
            if ev.collector == self._active or not _beside(st.name):
                self._current = ev.current or ev.message or self._current
        elif ev.kind == "collector_end" and st is not None:
            st.done, st.total = ev.done, ev.total  # a total unknown until it ended is known now
            if st.state in ("waiting", "running"):
                st.state = "done"  # one beside the run ends after the others started
        elif ev.kind == "problem":
            if st is not None:
                st.errors += 1
            self._errors = max(self._errors, ev.errors)
            if len(self._problems) < self.MAX_PROBLEMS:
                where = f" {ev.current}" if ev.current else ""
                self._problems.append(f"[{ev.collector}]{where}: {ev.message}")
            else:
                self._dropped += 1
        elif ev.kind == "finished":
            # The run's status: only a finished run finished its collectors.
            self._ended = status = ev.message if ev.message in END_STATES else "failed"
            running, waiting = END_STATES.get(status, FAILED_END)
            for s in self._state.values():
                if s.state == "running":
                    s.state = running
                elif s.state == "waiting":
                    s.state = waiting
            self._message = ev.message
            self._errors = max(self._errors, ev.errors)
        now = time.monotonic()
        if force or now - self._last >= self._interval:
            self._last = now
            self._emit(self.snapshot())

    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        elapsed = now - self._start
        rate = self._bytes / elapsed if elapsed > 0 else 0.0
        eta = None
        if self._active is not None and self._ended is None:
            a = self._state[self._active]
            spent = now - self._active_since
            if a.state == "running" and a.total and a.done and spent > 0:
                eta = (a.total - a.done) * spent / a.done
        step = self._order.index(self._active) + 1 if self._active in self._order else 0
        problems, self._problems = self._problems, []
        if self._dropped:
            problems.append(f"... and {self._dropped} more problems (see the Artifacts screen)")
            self._dropped = 0
        return Snapshot(
            collectors=[copy.copy(self._state[n]) for n in self._order],
            current=self._current,
            bytes_done=self._bytes,
            items_done=self._items,
            errors=self._errors,
            elapsed=elapsed,
            rate_bytes=rate,
            eta_seconds=eta,
            step=step,
            active=self._active or "",
            problems=problems,
            state=self._ended or "running",
            message=self._message,
            events=self._events,
        )


class CollectionWorker(Worker):
    """A :class:`CollectionRun` off the GUI thread; progress arrives as :class:`Snapshot`."""

    def __init__(self, run: CollectionRun, parent: QObject | None = None) -> None:
        self.run = run
        self.names = names = sorted(run.profile.collectors, key=_volatility)

        def work(cancel: threading.Event, report: Callable[[Any], None]) -> RunSummary:
            from app.desktop_timestamps import task_stamping
            from app.export_recovery import recover_exports

            run.cancel = cancel
            run.progress = ProgressCoalescer(names, report)
            with task_stamping(run.case):  # the run's signed entries get RFC 3161 tokens
                recover_exports(run.case, run.identity)  # as the command line's collect does
                return run.execute()

        super().__init__(work, parent)


def _beside(name: str) -> bool:
    """Whether collector ``name`` runs beside the others (``Collector.concurrent``)."""
    from app.profiles import REGISTRY

    cls = REGISTRY.get(name)
    return bool(cls is not None and cls.concurrent)


def _volatility(name: str) -> int:
    from app.profiles import REGISTRY

    cls = REGISTRY.get(name)
    return int(cls.volatility) if cls is not None else 999
