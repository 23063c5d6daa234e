"""The progress of a collection run on the command line, fed by ProgressEvents.

On a terminal: one live row per collector and one for the run (rich), fitted to the
terminal's width whatever it is: the least useful columns go first (files/s, MiB/s, the bar,
the ETA, the bytes), then the current item is shortened from the left. Without a terminal
(stderr redirected to a file or a pipe): plain lines, one every :data:`PLAIN_INTERVAL`
seconds while the run goes on and one when a collector ends, with no control characters.
The commands in phases (verify, export, decrypt) show one line the same way
(:class:`PhaseProgress`); both displays share one lifecycle (:class:`_Display`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self, TextIO

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions
    from rich.text import Text

    from app.collection import ProgressEvent

#: Seconds between two plain progress lines (stderr not a terminal).
PLAIN_INTERVAL = 5.0
#: How a collector still running is shown once the run ended with that status.
_RUN_END = {"finished": "done", "interrupted": "cancelled"}
#: The columns of the live rows, widest layout first: the first that leaves the current item
#: :data:`_CURRENT_MIN` cells is used (the last one if none does). ``bar`` is a bar while a
#: collector runs, its end (done, skipped ...) once it ended; ``state`` the same in fewer
#: cells: a percentage instead of the bar.
_LAYOUTS = (
    ("name", "bar", "count", "bytes", "speed", "rate", "eta"),
    ("name", "bar", "count", "bytes", "speed", "eta"),
    ("name", "bar", "count", "bytes", "eta"),
    ("name", "state", "count", "bytes", "eta"),
    ("name", "state", "count", "bytes"),
    ("name", "state", "count"),
    ("name", "count"),
)
_CURRENT_MIN = 12  # cells: narrower than this, the current item is left out
_BAR_WIDTH = 12


# --------------------------------------------------------------------------- human units


def human_bytes(n: float) -> str:
    """``512 B``, ``1.5 KiB``, ``45.6 MiB``, ``1.2 GiB``: binary units, one decimal."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            break
    return f"{n:.1f} {unit}"


def size_text(n: int) -> str:
    """A size for a summary: ``512 bytes``, ``45.6 MiB (47,815,065 bytes)``."""
    return f"{n:,} bytes" if n < 1024 else f"{human_bytes(n)} ({n:,} bytes)"


def human_duration(seconds: float) -> str:
    """``0:05``, ``12:34``, ``1:02:03``."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def files(n: int) -> str:
    return f"{n:,} file" if n == 1 else f"{n:,} files"


def errors(n: int) -> str:
    return f"{n:,} error" if n == 1 else f"{n:,} errors"


def printable(text: str) -> str:
    """``text`` with every control or unprintable character (a newline, an escape sequence,
    an undecodable byte of a file name) shown as ``?``: a name cannot move the cursor."""
    return "".join(c if c.isprintable() else "?" for c in text)


# --------------------------------------------------------------------------- the state


@dataclass
class _Row:
    """One collector's share of the run, as far as the events told."""

    name: str
    started: float
    ended: float | None = None
    state: str = "running"  # running, done, skipped, failed; cancelled, stopped by the run
    done: int = 0
    total: int | None = None
    items_since: float | None = None  # when its first item was recorded
    bytes: int = 0
    current: str = ""
    problem: bool = False  # ``current`` is a problem's message

    def elapsed(self, now: float) -> float:
        return (self.ended if self.ended is not None else now) - self.started

    def rates(self, now: float) -> tuple[float, float] | None:
        """(items/s, bytes/s) since its first item, once that is long enough to say."""
        if self.items_since is None:
            return None
        spent = (self.ended if self.ended is not None else now) - self.items_since
        if spent < 0.5:
            return None
        return self.done / spent, self.bytes / spent

    def eta(self, now: float) -> float | None:
        rates = self.rates(now)
        if self.state != "running" or not self.total or not rates or not rates[0]:
            return None
        return (self.total - self.done) / rates[0]


class _Display:
    """The lifecycle shared by the command line's progress displays: as a context, a rich
    live display on a terminal (refreshed four times a second, :meth:`__rich_console__`
    draws it), else a thread that calls :meth:`_plain_tick` every ``interval`` seconds;
    nothing when disabled. ``stream`` (default stderr) is where it writes; ``live`` (default:
    whether ``stream`` is a terminal) chooses the display; ``console`` is the rich console of
    the live display (default: one on ``stream``); ``clock`` tells the time.
    """

    #: Whether the live display is erased when it ends (else its last state stays).
    TRANSIENT: ClassVar[bool] = True

    def __init__(
        self,
        enabled: bool,
        *,
        stream: TextIO | None = None,
        live: bool | None = None,
        console: Console | None = None,
        interval: float = PLAIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self._stream = stream if stream is not None else sys.stderr
        self.live = self._stream.isatty() if live is None else live
        self._console = console
        self._interval = interval
        self._clock = clock
        self._start = clock()
        self._live: Any = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._init_state()

    def _init_state(self) -> None:
        """Set up what the subclass shows (called at the end of ``__init__``)."""

    def __enter__(self) -> Self:
        if not self.enabled:
            return self
        self._start = self._clock()
        if self.live:
            from rich.console import Console  # rich only when a terminal shows it
            from rich.live import Live

            console = self._console or Console(file=self._stream)
            self._live = Live(self, console=console, refresh_per_second=4, transient=self.TRANSIENT)
            self._live.__enter__()
        else:
            self._ticker = threading.Thread(
                target=self._tick, name="chainproof-progress", daemon=True
            )
            self._ticker.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._live is not None:
            self._live.__exit__(et, ev, tb)

    def _tick(self) -> None:
        while not self._stop.wait(self._interval):
            self._plain_tick()

    def _plain_tick(self) -> None:
        """Write the periodic plain line, if there is one to write."""
        raise NotImplementedError

    def _write(self, line: str) -> None:
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # a closed pipe: the work goes on without its display
            self._stop.set()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        raise NotImplementedError


class TerminalProgress(_Display):
    """Live rows on a terminal, plain periodic lines without one; nothing when disabled
    (the arguments are :class:`_Display`'s). The rows stay on the terminal when it ends."""

    TRANSIENT = False

    def _init_state(self) -> None:
        self._lock = threading.RLock()
        self._rows: dict[str, _Row] = {}
        self._active: _Row | None = None
        self._bytes = 0
        self._errors = 0
        self._ended: str | None = None

    def _plain_tick(self) -> None:
        with self._lock:
            if self._ended is None and self._rows:
                self._write(self._status_line(self._clock()))

    # --- the events --------------------------------------------------------------------

    def update(self, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._fold(event)

    def _fold(self, event: ProgressEvent) -> None:
        row = self._rows.get(event.collector) if event.collector else None
        if event.bytes_done:
            # The run records one collector's items at a time, so what the total grew by
            # since the last event is the bytes of this event's collector (a capture that
            # ran beside the others is recorded after them, its own bytes only).
            if row is not None:
                row.bytes += max(0, event.bytes_done - self._bytes)
            self._bytes = event.bytes_done
        if event.errors > self._errors:
            self._errors = event.errors
        if event.kind == "item":  # the frequent one (thousands a second): no clock if it can
            if row is not None:
                if event.done:  # a count of items recorded (the total may be unknown yet)
                    if row.items_since is None:
                        row.items_since = self._clock()
                    row.done, row.total = event.done, event.total
                row.current, row.problem = event.current or event.message, False
            return
        now = self._clock()
        if event.kind == "started":
            self._start = now
            return
        if event.kind == "finished":
            self._ended = event.message
            for running in self._rows.values():
                if running.state == "running":
                    running.state = _RUN_END.get(event.message, "stopped")
                    running.ended = now
            return
        if event.kind == "collector":
            self._active = self._rows[event.collector] = _Row(event.collector, now)
            return
        if row is None:
            return
        if event.kind == "problem":
            row.current, row.problem = event.message, True
        elif event.kind == "collector_end":
            row.done, row.total = event.done, event.total
            row.state, row.ended, row.current = event.message or "done", now, ""
            if not self.live:
                self._write(self._end_line(row))

    # --- plain lines -------------------------------------------------------------------

    def _prefix(self, now: float) -> str:
        return f"chainproof: {human_duration(now - self._start)}"

    def _run_part(self) -> str:
        items = sum(r.done for r in self._rows.values())
        problems = f", {errors(self._errors)}" if self._errors else ""
        return f"run: {files(items)}, {human_bytes(self._bytes)}{problems}"

    def _status_line(self, now: float) -> str:
        beside = "".join(
            f"; {r.name}: {_cut_left(printable(r.current), 60, '...')}"
            for r in self._rows.values()
            if r is not self._active and r.state == "running" and r.current
        )  # a collector running beside the others (a capture) says what it has so far
        return self._active_part(now) + beside

    def _active_part(self, now: float) -> str:
        row = self._active
        if row is None or row.state != "running":
            return f"{self._prefix(now)} {self._run_part()}"
        parts = [_count(row), human_bytes(row.bytes)] if row.items_since is not None else []
        rates = row.rates(now)
        if rates:
            parts += [f"{rates[0]:,.0f} files/s", f"{human_bytes(rates[1])}/s"]
        eta = row.eta(now)
        if eta is not None:
            parts.append(f"ETA {human_duration(eta)}")
        if row.current:
            parts.append(_cut_left(printable(row.current), 60, "..."))
        return f"{self._prefix(now)} {row.name}: {', '.join(parts)}; {self._run_part()}"

    def _end_line(self, row: _Row) -> str:
        assert row.ended is not None
        return (
            f"{self._prefix(row.ended)} {row.name} {row.state}: {files(row.done)}, "
            f"{human_bytes(row.bytes)} in {human_duration(row.elapsed(row.ended))}"
        )

    # --- live rows ---------------------------------------------------------------------

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        with self._lock:
            yield from self.render(options.max_width, unicode=options.encoding.startswith("utf"))

    def render(self, width: int, *, unicode: bool = True) -> list[Text]:
        """The rows (collectors, then the run) fitted to ``width`` cells."""
        from rich.cells import cell_len
        from rich.text import Text

        now = self._clock()
        cells = [_row_cells(r, now, unicode) for r in self._rows.values()]
        cells.append(self._run_cells(now))
        widths = {k: max(cell_len(c[k][0]) for c in cells) for k in cells[0] if k != "current"}
        for layout in _LAYOUTS:
            shown = [k for k in layout if widths[k]]
            used = sum(widths[k] for k in shown) + len(shown) - 1
            if width - used - 1 >= _CURRENT_MIN:
                break
        room = width - used - 1
        ellipsis = "…" if unicode else "..."
        lines = []
        for c in cells:
            line = Text(no_wrap=True, overflow="ellipsis", end="\n")
            for i, k in enumerate(shown):
                text, style = c[k]
                pad = " " * (widths[k] - cell_len(text))
                line.append(" " if i else "")
                line.append(
                    text + pad if k in ("name", "bar", "state") else pad + text, style=style
                )
            current, style = c["current"]
            if current and room >= _CURRENT_MIN:
                line.append(
                    " " + _cut_left(printable(current), room, ellipsis, cell_len), style=style
                )
            line.rstrip()
            line.truncate(width, overflow="ellipsis")
            lines.append(line)
        return lines

    def _run_cells(self, now: float) -> dict[str, tuple[str, str]]:
        elapsed = now - self._start
        items = sum(r.done for r in self._rows.values())
        speed = rate = ""
        if elapsed >= 0.5:
            speed, rate = (
                f"{human_bytes(self._bytes / elapsed)}/s",
                f"{items / elapsed:,.0f} files/s",
            )
        state = (self._ended or "", _STATE_STYLE.get(self._ended or "", ""))
        return {
            "name": ("run", "bold"),
            "bar": state,
            "state": state,
            "count": (files(items), ""),
            "bytes": (human_bytes(self._bytes), ""),
            "speed": (speed, ""),
            "rate": (rate, ""),
            "eta": (human_duration(elapsed), ""),
            "current": (errors(self._errors) if self._errors else "", "yellow"),
        }


_STATE_STYLE = {
    "done": "green",
    "finished": "green",
    "skipped": "yellow",
    "cancelled": "yellow",
    "interrupted": "yellow",
    "failed": "red",
    "stopped": "red",
}


def _count(row: _Row) -> str:
    """``12/456`` when the total is known, else ``12 files``."""
    if row.total is None:
        return files(row.done)
    return f"{row.done:,}/{row.total:,}"


def _row_cells(row: _Row, now: float, unicode: bool) -> dict[str, tuple[str, str]]:
    rates = row.rates(now)
    eta = row.eta(now)
    if row.state != "running":
        bar = state = (row.state, _STATE_STYLE.get(row.state, ""))
        eta_text = human_duration(row.elapsed(now))
    else:
        bar = (_bar(row.done, row.total, unicode), "magenta") if row.total else ("", "")
        state = (f"{100 * row.done // row.total}%", "magenta") if row.total else ("", "")
        eta_text = f"ETA {human_duration(eta)}" if eta is not None else ""
    shown_count = row.items_since is not None or row.state != "running"
    return {
        "name": (row.name, "bold"),
        "bar": bar,
        "state": state,
        "count": (_count(row) if shown_count else "", ""),
        "bytes": (human_bytes(row.bytes) if shown_count else "", ""),
        "speed": (f"{human_bytes(rates[1])}/s" if rates else "", ""),
        "rate": (f"{rates[0]:,.0f} files/s" if rates else "", ""),
        "eta": (eta_text, ""),
        "current": (row.current, "yellow" if row.problem else "dim"),
    }


def _bar(done: int, total: int, unicode: bool) -> str:
    filled = min(_BAR_WIDTH, _BAR_WIDTH * done // total) if total else 0
    full, empty = ("━", "╌") if unicode else ("#", "-")
    return full * filled + empty * (_BAR_WIDTH - filled)


def _cut_left(text: str, width: int, ellipsis: str, measure: Callable[[str], int] = len) -> str:
    """``text`` in at most ``width`` (``measure``: characters, or a terminal's cells), its
    start given way to ``ellipsis``: a path's end says most."""
    if measure(text) <= width:
        return text
    keep = width - measure(ellipsis)
    tail = text[-keep:] if keep > 0 else ""
    while tail and measure(tail) > keep:
        tail = tail[1:]
    return ellipsis + tail


# --------------------------------------------------------------------------- phases


class PhaseProgress(_Display):
    """How far a long command in phases is (verify, export, decrypt), on stderr: one live line on a
    terminal (rich), fitted to its width; without one, a plain line every
    :data:`PLAIN_INTERVAL` seconds; nothing when disabled. :meth:`update` is the
    ``progress(phase, done, total)`` callback of :class:`custody.verify.progress.Monitor`: it
    only stores the numbers (any thread), the display reads them.

    The line: the command's word and time, the phase, a bar and percentage when the total is
    known, the count (entries) or bytes, the speed and the ETA; the least useful parts go
    first when the width is short. A subclass names its phases (:attr:`LABELS`), says which
    count bytes (:attr:`BYTES`) and entries (:attr:`ENTRIES`), and which show a rate and ETA
    (:attr:`TIMED`).
    """

    VERB: ClassVar[str] = "working"
    LABELS: ClassVar[Mapping[str, str]] = {}
    BYTES: ClassVar[frozenset[str]] = frozenset()
    ENTRIES: ClassVar[frozenset[str]] = frozenset()
    TIMED: ClassVar[frozenset[str]] = frozenset()

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._phase = ""
        self._phase_start = self._start
        self._done = 0
        self._total = 0

    def update(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            if phase != self._phase:
                self._phase, self._phase_start = phase, self._clock()
            self._done, self._total = done, total

    # --- what is shown -----------------------------------------------------------------

    def _parts(self, now: float, unicode: bool) -> dict[str, str]:
        """Every part of the line, empty when it has nothing to say."""
        with self._lock:
            phase, done, total, since = self._phase, self._done, self._total, self._phase_start
        parts = dict.fromkeys(("phase", "bar", "percent", "amount", "speed", "eta"), "")
        if not phase:
            return parts
        parts["phase"] = self.LABELS.get(phase, phase)
        if total:
            parts["bar"] = _bar(done, total, unicode)
            parts["percent"] = f"{100 * done // total}%"
        if phase in self.BYTES:
            parts["amount"] = (
                f"{human_bytes(done)}/{human_bytes(total)}" if total else human_bytes(done)
            )
        elif phase in self.ENTRIES:
            parts["amount"] = f"{done:,}/{total:,} entries" if total else f"{done:,} entries"
        spent = now - since
        if phase in self.TIMED and spent >= 0.5 and done:
            rate = done / spent
            if phase in self.BYTES:
                parts["speed"] = f"{human_bytes(rate)}/s"
            if total > done:
                parts["eta"] = f"ETA {human_duration((total - done) / rate)}"
        return parts

    def summary(self) -> str:
        """The phase and how far it is, in words, without the bar or the elapsed time (for
        a status line in the desktop app, which draws its own bar)."""
        parts = self._parts(self._clock(), unicode=True)
        return " ".join(
            parts[k] for k in ("phase", "percent", "amount", "speed", "eta") if parts[k]
        )

    def line(self, width: int, *, unicode: bool = True) -> str:
        """The live line in at most ``width`` cells: parts are left out, least useful first
        (the bar, the speed, the ETA, the amount), then it is cut."""
        from rich.cells import cell_len

        now = self._clock()
        parts = self._parts(now, unicode)
        head = f"{self.VERB} {human_duration(now - self._start)}"
        order = ["phase", "bar", "percent", "amount", "speed", "eta"]
        for drop in (
            (),
            ("bar",),
            ("bar", "speed"),
            ("bar", "speed", "eta"),
            ("bar", "speed", "eta", "amount"),
        ):
            text = " ".join([head] + [parts[k] for k in order if parts[k] and k not in drop])
            if cell_len(text) <= width:
                return text
        return text[:width]

    def plain_line(self) -> str:
        """A line for a file or a pipe: no bar, no control characters."""
        now = self._clock()
        parts = self._parts(now, unicode=False)
        if not parts["phase"]:
            return f"chainproof: {human_duration(now - self._start)} {self.VERB}"
        shown = [parts[k] for k in ("percent", "amount", "speed", "eta") if parts[k]]
        rest = f": {', '.join(shown)}" if shown else ""
        return f"chainproof: {human_duration(now - self._start)} {self.VERB} {parts['phase']}{rest}"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        from rich.text import Text

        unicode = options.encoding.startswith("utf")
        yield Text(self.line(options.max_width - 1, unicode=unicode), no_wrap=True, style="")

    def _plain_tick(self) -> None:
        self._write(self.plain_line())


class VerifyProgress(PhaseProgress):
    """How far ``chainproof verify`` is (phases of :mod:`custody.verify.progress`)."""

    VERB = "verifying"
    LABELS: ClassVar[Mapping[str, str]] = {
        "ledger": "ledger",
        "archives": "archives",
        "bundle": "bundle files",
    }
    BYTES = frozenset({"archives"})
    ENTRIES = frozenset({"ledger"})
    TIMED = frozenset({"archives"})


class ExportProgress(PhaseProgress):
    """How far ``chainproof export`` is: the verification's phases, then the bundle's
    (:mod:`app.export_service`): the ledger's pass written, the archives copied, the zip."""

    VERB = "exporting"
    LABELS: ClassVar[Mapping[str, str]] = {
        "ledger": "verifying the ledger",
        "archives": "verifying the archives",
        "write": "writing the bundle",
        "copy": "copying the archives",
        "zip": "writing the zip",
    }
    BYTES = frozenset({"archives", "copy", "zip"})
    ENTRIES = frozenset({"ledger", "write"})
    TIMED = frozenset({"archives", "write", "copy", "zip"})


class DecryptProgress(PhaseProgress):
    """How far ``chainproof decrypt`` is: one phase, the envelope's bytes read (its
    ciphertext: a little short of the file's size until :meth:`complete`)."""

    VERB = "decrypting"
    LABELS: ClassVar[Mapping[str, str]] = {"envelope": "envelope"}
    BYTES = frozenset({"envelope"})
    TIMED = frozenset({"envelope"})

    def expect(self, size: int) -> None:
        """Start the phase: ``size`` bytes to read."""
        self.update("envelope", 0, size)

    def advance(self, n: int) -> None:
        """``n`` more bytes read (the ``on_chunk`` callback of the decryption)."""
        self.update("envelope", self._done + n, self._total)

    def complete(self) -> None:
        """The whole envelope read and checked: the phase at 100%."""
        self.update("envelope", self._total, self._total)
