"""The custody log's timeline chart: one lane per kind of act, the runs as spans, a legend.

Colours and lanes are keyed by the event classes; the legend names each kind as the ledger
does (its ``EVENT``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reportlab.graphics.shapes import Circle, Drawing, Line, Rect, String
from reportlab.lib import colors

from custody.record.events import (
    Accessed,
    ArchiveSetAside,
    CaseOpened,
    CaseUpdated,
    Decision,
    Event,
    Exported,
    ExportFailed,
    ExportStarted,
    IdentityAdded,
    Note,
    RunFinished,
    RunStarted,
    Sealed,
    Transferred,
    Verified,
)
from custody.record.times import parse_utc
from custody.report.model import ReportModel, RunReport, TimelineEvent
from custody.report.pdf.page import PORTRAIT_W
from custody.report.pdf.styles import INK, MONO, MUTED, SANS
from custody.report.pdf.text import visible

EVENT_COLOURS: dict[type[Event], colors.Color] = {
    CaseOpened: colors.HexColor("#1f3a5f"),
    IdentityAdded: colors.HexColor("#4a78a8"),
    CaseUpdated: colors.HexColor("#7d8ea3"),
    RunStarted: colors.HexColor("#2e8b57"),
    RunFinished: colors.HexColor("#1b5e37"),
    ArchiveSetAside: colors.HexColor("#8c8c3a"),
    Note: colors.HexColor("#e08a1e"),
    Decision: colors.HexColor("#c0392b"),
    Transferred: colors.HexColor("#7b3fa0"),
    Accessed: colors.HexColor("#17806d"),
    ExportStarted: colors.HexColor("#c49a6c"),
    Exported: colors.HexColor("#8a5a2b"),
    ExportFailed: colors.HexColor("#b03a2e"),
    Sealed: colors.HexColor("#333333"),
    Verified: colors.HexColor("#0f6f8f"),
}
LANES: tuple[tuple[str, tuple[type[Event], ...]], ...] = (
    ("Case and personnel", (CaseOpened, IdentityAdded, CaseUpdated)),
    ("Collection runs", (RunStarted, RunFinished, ArchiveSetAside)),
    ("Journal", (Note, Decision)),
    (
        "Custody acts",
        (Transferred, Accessed, ExportStarted, Exported, ExportFailed, Sealed, Verified),
    ),
)
RUN_FILL = colors.HexColor("#a9d7b8")
RUN_FAILED_FILL = colors.HexColor("#f3c1bd")
RUN_STROKE = colors.HexColor("#2e8b57")
LANE_BG = colors.HexColor("#f5f7f9")
LABEL_W = 92.0
LANE_H = 24
AXIS_Y = 28
TICKS = 5


@dataclass(frozen=True)
class _Axis:
    """Time to x: the span of the chart, padded by 3 % on each side."""

    t0: dt.datetime
    span: float  # seconds
    plot_w: float

    def x(self, t: dt.datetime) -> float:
        return float(LABEL_W + (t - self.t0).total_seconds() / self.span * self.plot_w)

    @property
    def end(self) -> dt.datetime:
        return self.t0 + dt.timedelta(seconds=self.span)


def timeline(m: ReportModel) -> Drawing | None:
    """The chart, or None when nothing is dated."""
    events = m.timeline
    spans = _run_spans(m)
    times = [e.at for e in events] + [t for _, a, b in spans for t in (a, b)]
    if not times:
        return None
    t0, t1 = min(times), max(times)
    span = max((t1 - t0).total_seconds(), 1.0)
    axis = _Axis(t0 - dt.timedelta(seconds=span * 0.03), span * 1.06, PORTRAIT_W - LABEL_W - 10)
    height = AXIS_Y + LANE_H * len(LANES) + 8
    d = Drawing(PORTRAIT_W, height + 14)
    _lanes(d, axis)
    _runs(d, axis, spans)
    _events(d, axis, events)
    _time_axis(d, axis)
    _legend(d, events, bool(spans), height)
    return d


def _run_spans(m: ReportModel) -> list[tuple[RunReport, dt.datetime, dt.datetime]]:
    spans = []
    for r in m.runs:
        start = _parse(r.started_at)
        end = _parse(r.finished_at)
        if end is None and r.last_bulk_at:
            end = _parse(r.last_bulk_at)
        if start is not None:
            spans.append((r, start, end or start))
    return spans


def _parse(at: str | None) -> dt.datetime | None:
    if not at:
        return None
    try:
        return parse_utc(at)
    except ValueError:
        return None


def _lane_y(index: int) -> float:
    return float(AXIS_Y + LANE_H * (len(LANES) - 1 - index))


def _lane_of(kind: type[Event] | None) -> int:
    for i, (_, kinds) in enumerate(LANES):
        if kind in kinds:
            return i
    return len(LANES) - 1


def _lanes(d: Drawing, axis: _Axis) -> None:
    for i, (name, _kinds) in enumerate(LANES):
        y = _lane_y(i)
        if i % 2 == 0:
            d.add(Rect(LABEL_W, y, axis.plot_w, LANE_H, fillColor=LANE_BG, strokeColor=None))
        d.add(String(0, y + LANE_H / 2 - 3, name, fontName=SANS, fontSize=7, fillColor=INK))


def _runs(d: Drawing, axis: _Axis, spans: list[tuple[RunReport, dt.datetime, dt.datetime]]) -> None:
    y = _lane_y(_lane_of(RunStarted))
    for r, a, b in spans:
        x0, x1 = axis.x(a), axis.x(b)
        fill = RUN_FILL if r.status == "finished" else RUN_FAILED_FILL
        d.add(
            Rect(
                x0,
                y + 6,
                max(x1 - x0, 2),
                LANE_H - 12,
                fillColor=fill,
                strokeColor=RUN_STROKE,
                strokeWidth=0.5,
            )
        )
        d.add(
            String(
                x0 + 1,
                y + LANE_H - 5,
                visible(r.short_id, font=MONO, limit=8)[0],
                fontName=MONO,
                fontSize=5.5,
                fillColor=MUTED,
            )
        )


def _events(d: Drawing, axis: _Axis, events: list[TimelineEvent]) -> None:
    for e in events:
        y = _lane_y(_lane_of(e.kind)) + LANE_H / 2
        colour = EVENT_COLOURS.get(e.kind, MUTED) if e.kind is not None else MUTED
        d.add(
            Circle(
                axis.x(e.at), y, 3.4, fillColor=colour, strokeColor=colors.white, strokeWidth=0.6
            )
        )


def _tick_label(t: dt.datetime, span: float, same_day: bool) -> str:
    """An axis label: milliseconds for a short chart, the time of day, or month-day and time."""
    if span < 10:
        return t.strftime("%H:%M:%S.%f")[:-3]
    if same_day:
        return t.strftime("%H:%M:%S")
    return t.strftime("%m-%d %H:%M")


def _time_axis(d: Drawing, axis: _Axis) -> None:
    d.add(Line(LABEL_W, AXIS_Y, LABEL_W + axis.plot_w, AXIS_Y, strokeColor=INK, strokeWidth=0.6))
    same_day = axis.t0.date() == axis.end.date()
    for k in range(TICKS + 1):
        t = axis.t0 + dt.timedelta(seconds=axis.span * k / TICKS)
        x = axis.x(t)
        d.add(Line(x, AXIS_Y, x, AXIS_Y - 3, strokeColor=INK, strokeWidth=0.5))
        d.add(
            String(
                x,
                AXIS_Y - 11,
                _tick_label(t, axis.span, same_day),
                fontName=SANS,
                fontSize=6,
                fillColor=MUTED,
                textAnchor="middle",
            )
        )
    d.add(
        String(
            LABEL_W,
            AXIS_Y - 21,
            f"UTC, {axis.t0:%Y-%m-%d}" + ("" if same_day else f" to {axis.end:%Y-%m-%d}"),
            fontName=SANS,
            fontSize=6,
            fillColor=MUTED,
        )
    )


def _legend(d: Drawing, events: list[TimelineEvent], has_runs: bool, height: float) -> None:
    """One item per kind shown, wrapped onto rows above the lanes."""
    shown = {e.kind for e in events}
    items: list[tuple[str, colors.Color | None]] = [
        (kind.EVENT, colour) for kind, colour in EVENT_COLOURS.items() if kind in shown
    ]
    if has_runs:
        items.append(("run (start to end)", None))
    placed: list[tuple[float, int, str, colors.Color | None]] = []
    x, row = LABEL_W, 0
    for name, colour in items:
        item_w = 16 + len(name) * 3.3
        if x + item_w > PORTRAIT_W and x > LABEL_W:
            x, row = LABEL_W, row + 1
        placed.append((x, row, name, colour))
        x += item_w
    d.height = height + 12 * (row + 1)
    for x, at_row, name, colour in placed:
        y = height + 3 + 10 * (row - at_row)
        if colour is None:
            d.add(Rect(x, y, 12, 6, fillColor=RUN_FILL, strokeColor=RUN_STROKE, strokeWidth=0.5))
            d.add(String(x + 15, y, name, fontName=SANS, fontSize=6.2, fillColor=INK))
        else:
            d.add(Circle(x + 3, y + 2.5, 3, fillColor=colour, strokeColor=None))
            d.add(String(x + 9, y, name, fontName=SANS, fontSize=6.2, fillColor=INK))
