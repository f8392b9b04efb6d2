"""What the dashboard's templates display, computed in Python (templates only lay it out).

The throughput chart is an inline SVG built here from per-minute counts, so
the page needs no chart library and no JavaScript to draw it; the timeline
turns a job's events into rows with the time spent in each state.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from api.schemas import JobEvent
from db.observability_store import FinishedCount

#: Shown for a missing time or duration.
MISSING = "\u2013"
#: Width and height of the throughput chart's drawing area, in SVG units.
CHART_WIDTH = 1200
CHART_HEIGHT = 150


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    #: Heights (SVG units) of the succeeded part and of the failed/aborted part on top.
    succeeded_height: float
    failed_height: float
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    peak: int
    total_succeeded: int
    total_failed: int
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def throughput_chart(rows: list[FinishedCount], now: datetime.datetime, minutes: int = 60) -> Chart:
    """Per-minute bars of jobs finished (``job_finished_by_minute`` rows), oldest on the left."""
    current = now.replace(second=0, microsecond=0)
    starts = [current - datetime.timedelta(minutes=minutes - 1 - index) for index in range(minutes)]
    succeeded = dict.fromkeys(starts, 0)
    failed = dict.fromkeys(starts, 0)
    for row in rows:
        minute = row.minute.astimezone(datetime.UTC)
        if minute not in succeeded:
            continue
        if row.outcome == "succeeded":
            succeeded[minute] += row.count
        else:
            failed[minute] += row.count
    peak = max((succeeded[start] + failed[start] for start in starts), default=0)
    scale = CHART_HEIGHT / peak if peak else 0.0
    slot = CHART_WIDTH / minutes
    bars = [
        Bar(
            x=round(index * slot + 1, 2),
            width=round(slot - 2, 2),
            succeeded_height=round(succeeded[start] * scale, 2),
            failed_height=round(failed[start] * scale, 2),
            title=f"{start:%H:%M} UTC: {succeeded[start]} succeeded, {failed[start]} failed",
        )
        for index, start in enumerate(starts)
    ]
    return Chart(
        bars=bars,
        peak=peak,
        total_succeeded=sum(succeeded.values()),
        total_failed=sum(failed.values()),
    )


@dataclass(frozen=True, slots=True)
class TimelineRow:
    id: int
    type: str
    at: datetime.datetime | None
    #: Seconds since the previous event (time spent in the previous state).
    since_previous: float | None
    #: Seconds since the job was created.
    since_created: float | None


def timeline(events: list[JobEvent], created_at: datetime.datetime | None) -> list[TimelineRow]:
    """Rows for a job's events, oldest first, with the time between them.

    ``scheduled`` events carry the time the job was scheduled for, which may be
    in the future: it is shown but never used as the start of a duration.
    """
    rows: list[TimelineRow] = []
    previous: datetime.datetime | None = None
    for event in events:
        at = event.at
        rows.append(
            TimelineRow(
                id=event.id,
                type=event.type,
                at=at,
                since_previous=_seconds(previous, at) if event.type != "scheduled" else None,
                since_created=_seconds(created_at, at) if event.type != "scheduled" else None,
            )
        )
        if event.type != "scheduled" and at is not None:
            previous = at
    return rows


def _seconds(start: datetime.datetime | None, end: datetime.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def age(seconds: float | None) -> str:
    """A duration for people: ``850 ms``, ``42 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``."""
    if seconds is None:
        return MISSING
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def when(moment: datetime.datetime | None) -> str:
    """A timestamp in UTC, to the millisecond (times on the dashboard are all UTC)."""
    if moment is None:
        return MISSING
    utc = moment.astimezone(datetime.UTC)
    return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond // 1000:03d}"


def size(value: int | None) -> str:
    """A number of bytes for people: ``812 KiB``, ``143.2 MiB``, ``2.10 GiB``."""
    if value is None:
        return MISSING
    if value < 2**20:
        return f"{value / 2**10:.0f} KiB"
    if value < 2**30:
        return f"{value / 2**20:.1f} MiB"
    return f"{value / 2**30:.2f} GiB"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def since(moment: datetime.datetime | None, now: datetime.datetime) -> str:
    """How long ago, for people (``age`` of now - moment)."""
    return age(_seconds(moment, now))
