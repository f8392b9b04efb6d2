"""Is this process ready to serve? The checks behind /health and /health/ready.

Ready means: the database answers, its schema is at the revision this code
expects, live events flow (the LISTEN connection is up), at least one worker
heartbeats, and no queue that must be served (``ready_queues``) has a runnable
job waiting longer than ``ready_max_queue_lag_seconds``.

procrastinate does not record which queues a worker listens to (its workers
table holds an id and a heartbeat), so "a live worker serves queue Q" is
judged by its effect: Q's oldest runnable job is younger than the threshold.
A queue nobody serves fails readiness as soon as a job has waited that long,
and an idle queue is never held against a healthy deployment.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from db import status as db_status
from jobs.background import BackgroundTask
from jobs.monitoring.queue_stats import QueueStats, QueueStatsCache
from jobs.settings import Settings

Status = Literal["ok", "degraded", "down"]
#: Seconds a check waits for a pooled connection before calling the database unreachable.
DATABASE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class DatabaseCheck:
    reachable: bool
    expected_revision: str
    revision: str | None = None
    error: str | None = None

    @property
    def at_head(self) -> bool:
        return self.reachable and self.revision == self.expected_revision


@dataclass(frozen=True, slots=True)
class QueueCheck:
    runnable: int
    oldest_seconds: float
    ok: bool


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: Status
    problems: list[str]
    database: DatabaseCheck
    alive_worker_ids: list[int]
    queues: dict[str, QueueCheck]
    live_events: bool
    checked_at: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC)
    )

    @property
    def ready(self) -> bool:
        return self.status == "ok"


async def check(
    settings: Settings,
    stats: QueueStatsCache,
    *,
    expected_revision: str,
    live_events: bool,
) -> HealthReport:
    """Run every readiness check; never raises for an unreachable database (that is the answer)."""
    problems: list[str] = []
    database = DatabaseCheck(reachable=False, expected_revision=expected_revision)
    queue_stats: QueueStats | None = None
    try:
        async with stats.pool.connection(timeout=DATABASE_TIMEOUT) as conn:
            revision = await db_status.schema_revision(conn)
        database = DatabaseCheck(
            reachable=True, expected_revision=expected_revision, revision=revision
        )
        if database.at_head:
            # Fresh: a probe must see a worker that just started (the totals keep their TTL).
            queue_stats = await stats.get(max_age=0)
    except Exception as error:  # any failure to talk to Postgres is the answer, not a crash
        database = DatabaseCheck(
            reachable=database.reachable,
            expected_revision=expected_revision,
            revision=database.revision,
            error=type(error).__name__,
        )
        problems.append("database unreachable" if not database.reachable else "database error")
    if database.reachable and not database.at_head:
        problems.append(
            f"schema at {database.revision}, expected {expected_revision}: run `pgjobs migrate`"
        )
    alive: list[int] = []
    queues: dict[str, QueueCheck] = {}
    if queue_stats is not None:
        alive = [worker.id for worker in queue_stats.alive_workers]
        if not alive:
            problems.append("no live worker: jobs are accepted but will not run")
        queues = _queue_checks(settings, queue_stats)
        problems.extend(
            f"queue {name}: oldest runnable job has waited {queue.oldest_seconds:.0f}s "
            f"(limit {settings.ready_max_queue_lag_seconds:.0f}s)"
            for name, queue in queues.items()
            if not queue.ok
        )
    if not live_events:
        problems.append("live events listener not connected (reconnecting)")
    if not database.reachable or not database.at_head:
        overall: Status = "down"
    elif problems:
        overall = "degraded"
    else:
        overall = "ok"
    return HealthReport(
        status=overall,
        problems=problems,
        database=database,
        alive_worker_ids=alive,
        queues=queues,
        live_events=live_events,
    )


def _queue_checks(settings: Settings, stats: QueueStats) -> dict[str, QueueCheck]:
    limit = settings.ready_max_queue_lag_seconds
    names = sorted(set(settings.ready_queues) | set(stats.lag))
    checks: dict[str, QueueCheck] = {}
    for name in names:
        lag = stats.lag.get(name)
        runnable = lag.runnable if lag else 0
        oldest = lag.oldest_seconds if lag else 0.0
        # Only the queues that must be served can fail readiness; the others are reported.
        checks[name] = QueueCheck(
            runnable=runnable,
            oldest_seconds=oldest,
            ok=name not in settings.ready_queues or oldest <= limit,
        )
    return checks


class HealthMonitor:
    """Re-runs the checks every ``interval`` seconds so /health answers without the database."""

    def __init__(self, run_check: Callable[[], Awaitable[HealthReport]], interval: float) -> None:
        self._run_check = run_check
        self._interval = interval
        self._background = BackgroundTask("pgjobs-health-monitor", self._loop)
        self.last: HealthReport | None = None
        self._last_at = float("-inf")

    def start(self) -> None:
        self._background.start()

    async def stop(self) -> None:
        await self._background.stop()

    async def refresh(self) -> HealthReport:
        """Check now (GET /health/ready does), and remember the answer for /health."""
        report = await self._run_check()
        self.last = report
        self._last_at = time.monotonic()
        return report

    async def _loop(self) -> None:
        while True:
            if time.monotonic() - self._last_at >= self._interval:
                await self.refresh()
            await asyncio.sleep(max(0.0, self._last_at + self._interval - time.monotonic()))
