"""A terminal progress display for collection runs (rich), fed by ProgressEvents."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.collection import ProgressEvent


class TerminalProgress:
    """Per-collector and overall progress bars with the current item; silent when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._overall: Any = None

    def __enter__(self) -> TerminalProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.fields[collector]:<12}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[current]}", style="dim"),
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(et, ev, tb)

    def update(self, event: ProgressEvent) -> None:
        p = self._progress
        if p is None:
            return
        if event.kind == "collector":
            self._tasks[event.collector] = p.add_task(
                "", total=None, collector=event.collector, current=""
            )
            return
        task = self._tasks.get(event.collector)
        if task is None:
            return
        current = event.current[-60:] if event.current else event.message[-60:]
        if event.kind == "item":
            p.update(task, completed=event.done, total=event.total, current=current)
        elif event.kind == "problem":
            p.update(task, current=f"[yellow]{event.message[-60:]}")
