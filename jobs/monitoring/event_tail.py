"""Worker-side figures, read from procrastinate_events as it grows.

Workers may run in other processes on other hosts, so their figures (how long
jobs ran, how long they waited to be picked up, retries, rescues, jobs
finished per minute) cannot be counted in the API process's memory as they
happen. They can be read from the database, where every state change is an
event row: every :data:`INTERVAL` seconds (and before each scrape) the tail
reads the events committed since its last read, one primary-key range, and
turns them into observations.

Durations pair events of the same job (its 'started' with its outcome, its
move to todo with its 'started'); the tail keeps the last few of each job in
memory, and reads the history of a job it first meets mid-way in one batched
query. So a read costs a scan of the new events, however many there are in
the table, never a probe per event.

The tail stops at the live-events hub's commit watermark, not at the newest
id: an event whose transaction commits late would otherwise be passed over
for good. It starts at the watermark of its first read: counters and
histograms count from the process's start, like any Prometheus counter
(``rate()`` handles restarts); the per-minute chart is loaded for the last
hour once, with one query.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from db import observability_store
from db.observability_store import FinishedCount, JobEventRow
from db.types import Connection, Pool
from jobs.background import BackgroundTask
from jobs.live.hub import EventHub

logger = logging.getLogger(__name__)

#: Seconds between two background reads.
INTERVAL = 2.0
#: Events read per round trip.
PAGE = 5000
#: Jobs whose clocks are kept between reads (queued and running ones, mostly).
MAX_TRACKED_JOBS = 100_000
#: Minutes of the throughput chart.
CHART_MINUTES = 60

FINISHED = frozenset({"succeeded", "failed", "aborted"})
#: Event types that put a job (back) in its queue.
QUEUED = frozenset({"deferred", "deferred_for_retry", "retried"})
#: Event types whose figure needs earlier events of the same job.
NEEDS_HISTORY = FINISHED | {"started", "deferred_for_retry"}


@dataclass(frozen=True, slots=True)
class EventFigure:
    """One state change, as the metrics see it."""

    type: str
    queue: str
    task: str
    #: Seconds the attempt ran (events that end an attempt: finished, deferred_for_retry).
    run_seconds: float | None
    #: Seconds from runnable to started ('started' events).
    pickup_seconds: float | None
    #: The stalled-job rescue wrote this state change, closing a lost attempt.
    rescued: bool


@dataclass(slots=True)
class _JobClock:
    queued_at: datetime.datetime | None = None
    scheduled_for: datetime.datetime | None = None
    started_at: datetime.datetime | None = None


class Throughput:
    """Jobs finished per minute and outcome, for the last :data:`CHART_MINUTES` minutes."""

    def __init__(self) -> None:
        self._minutes: dict[datetime.datetime, dict[str, int]] = {}

    def load(self, rows: list[FinishedCount]) -> None:
        """Start from ``job_finished_by_minute`` rows."""
        for row in rows:
            minute = row.minute.astimezone(datetime.UTC)
            self._minutes.setdefault(minute, {})[row.outcome] = row.count

    def add(self, outcome: str, at: datetime.datetime) -> None:
        minute = at.astimezone(datetime.UTC).replace(second=0, microsecond=0)
        counts = self._minutes.setdefault(minute, {})
        counts[outcome] = counts.get(outcome, 0) + 1
        oldest = minute - datetime.timedelta(minutes=CHART_MINUTES)
        for stale in [key for key in self._minutes if key < oldest]:
            del self._minutes[stale]

    def rows(self) -> list[FinishedCount]:
        """The counts as ``job_finished_by_minute`` rows, oldest first."""
        return [
            FinishedCount(minute=minute, outcome=outcome, count=count)
            for minute, counts in sorted(self._minutes.items())
            for outcome, count in sorted(counts.items())
        ]


class EventTail:
    """Reads the events committed since the previous read and reports each to ``observers``."""

    def __init__(self, pool: Pool, hub: EventHub) -> None:
        self._pool = pool
        self._hub = hub
        self._after: int | None = None
        self._clocks: OrderedDict[int, _JobClock] = OrderedDict()
        self._lock = asyncio.Lock()
        self._background = BackgroundTask("pgjobs-event-tail", self._loop)
        self.observers: list[Callable[[EventFigure], None]] = []
        self.throughput = Throughput()

    def start(self) -> None:
        self._background.start()

    async def stop(self) -> None:
        await self._background.stop()

    async def _loop(self) -> None:
        while True:
            try:
                await self.advance()
            except psycopg.Error as error:  # the database is away: try again next time
                logger.warning("metrics: events not read (%s)", type(error).__name__)
            await asyncio.sleep(INTERVAL)

    async def advance(self) -> int:
        """Read up to the hub's watermark; returns how many events were read."""
        async with self._lock:
            up_to = self._hub.watermark
            if up_to is None:  # the hub has not connected yet: nothing is known to be committed
                return 0
            async with self._pool.connection() as conn:
                if self._after is None:
                    self._after = up_to
                    self.throughput.load(
                        await observability_store.job_finished_by_minute(conn, CHART_MINUTES)
                    )
                    return 0
                return await self._read(conn, self._after, up_to)

    async def _read(self, conn: Connection, after: int, up_to: int) -> int:
        read = 0
        while after < up_to:
            rows = await observability_store.event_list_tail(conn, after, up_to, PAGE)
            await self._learn_history(conn, rows)
            for row in rows:
                self._apply(row, report=True)
            read += len(rows)
            after = rows[-1].id if len(rows) == PAGE else up_to
            self._after = after
        return read

    async def _learn_history(self, conn: Connection, rows: list[JobEventRow]) -> None:
        """Load the earlier events of jobs met mid-way, in one query."""
        unknown: set[int] = set()
        met: set[int] = set()
        for row in rows:
            job_id = row.job_id
            if row.type in NEEDS_HISTORY and job_id not in self._clocks and job_id not in met:
                unknown.add(job_id)
            met.add(job_id)
        if not unknown:
            return
        history = await observability_store.event_list_history(conn, sorted(unknown), rows[0].id)
        for event in history:
            self._apply(event, report=False)

    def _apply(self, row: JobEventRow, *, report: bool) -> None:
        job_id, kind, at = row.job_id, row.type, row.at
        if at is None:  # procrastinate's column defaults to now(): an event always has its time
            return
        clock = self._clocks.get(job_id)
        if clock is None:
            clock = self._clocks[job_id] = _JobClock()
            if len(self._clocks) > MAX_TRACKED_JOBS:
                self._clocks.popitem(last=False)
        run_seconds = pickup_seconds = None
        if kind == "scheduled":
            clock.scheduled_for = at
        elif kind == "started":
            if clock.queued_at is not None:
                since = max(clock.queued_at, clock.scheduled_for or clock.queued_at)
                pickup_seconds = max(0.0, (at - since).total_seconds())
            clock.started_at, clock.queued_at, clock.scheduled_for = at, None, None
        if kind in FINISHED or kind == "deferred_for_retry":
            if clock.started_at is not None:
                run_seconds = max(0.0, (at - clock.started_at).total_seconds())
            clock.started_at = None
        if kind in QUEUED:
            clock.queued_at = at
        if kind in FINISHED or kind == "cancelled":
            self._clocks.pop(job_id, None)  # done, unless retried (then its history is read)
        if not report:
            return
        if kind in FINISHED:
            self.throughput.add(kind, at)
        assert row.queue is not None, "a tail row names its job's queue and task"
        assert row.task is not None, "a tail row names its job's queue and task"
        figure = EventFigure(
            type=kind,
            queue=row.queue,
            task=row.task,
            run_seconds=run_seconds,
            pickup_seconds=pickup_seconds,
            rescued=row.rescued,
        )
        for observe in self.observers:
            observe(figure)
