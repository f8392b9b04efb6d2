"""The state of the queues, read from Postgres and cached briefly.

/metrics, /health/ready and the dashboard all want the same figures: jobs by
queue and state, the age of the oldest runnable job per queue, and the
workers. They are read by a few cheap queries and kept for
``metrics_cache_seconds``, however many scrapers and dashboards ask, so
watching the queue costs the database a bounded amount of work.

Counts of queued and running jobs come from procrastinate's partial indexes
and are as fresh as the rest. Totals of finished jobs need a full scan of
``procrastinate_jobs`` (about 0.15 s per million jobs), so they are re-read
only after :data:`TOTALS_COST_FACTOR` times as long as the last scan took
(at most 1% of a core), between ``metrics_cache_seconds`` and
``metrics_totals_cache_seconds``: fresh on a small table, every 15 s at a
million jobs.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from db import observability_store
from db.observability_store import RunningJob
from db.types import ACTIVE_STATUSES, JobStatus, Pool

#: The totals are re-read after this many times the duration of their last scan.
TOTALS_COST_FACTOR = 100


@dataclass(frozen=True, slots=True)
class WorkerState:
    id: int
    last_heartbeat: datetime.datetime
    heartbeat_age_seconds: float
    #: The jobs it runs now.
    jobs: list[RunningJob]
    stalled: bool
    #: Which process it is (None for workers registered by plain procrastinate code).
    name: str | None = None
    hostname: str | None = None
    pid: int | None = None
    started_at: datetime.datetime | None = None
    #: Figures of its last heartbeat: jobs finished since it started, resident memory.
    jobs_finished: int | None = None
    resident_memory_bytes: int | None = None
    #: Set while it drains to be replaced (max jobs or memory reached).
    recycling_reason: str | None = None

    @property
    def label(self) -> str:
        """Its name, or its id for a worker registered without one."""
        return self.name or f"worker {self.id}"


@dataclass(frozen=True, slots=True)
class QueueLag:
    runnable: int
    oldest_seconds: float


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One reading of the queues."""

    taken_at: datetime.datetime
    #: (queue, status) -> jobs; todo/doing fresh, finished states as of ``totals_at``.
    counts: dict[tuple[str, JobStatus], int]
    totals_at: datetime.datetime
    #: queue -> lag, for queues with at least one runnable job.
    lag: dict[str, QueueLag]
    workers: list[WorkerState]

    @property
    def queues(self) -> list[str]:
        return sorted({queue for queue, _ in self.counts} | set(self.lag))

    @property
    def alive_workers(self) -> list[WorkerState]:
        return [worker for worker in self.workers if not worker.stalled]

    def count(self, status: JobStatus, queue: str | None = None) -> int:
        return sum(
            value
            for (key_queue, key_status), value in self.counts.items()
            if key_status == status and (queue is None or key_queue == queue)
        )


@dataclass
class QueueStatsCache:
    """Reads :class:`QueueStats` at most once per ``ttl`` seconds (concurrent callers share it)."""

    pool: Pool
    ttl: float
    totals_ttl: float
    stalled_after_seconds: float
    clock: Callable[[], float] = time.monotonic
    _stats: QueueStats | None = field(default=None, init=False)
    _read_at: float = field(default=float("-inf"), init=False)
    _totals: dict[tuple[str, JobStatus], int] = field(default_factory=dict, init=False)
    _totals_at: datetime.datetime | None = field(default=None, init=False)
    _totals_read_at: float = field(default=float("-inf"), init=False)
    _totals_cost: float = field(default=0.0, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def get(self, *, max_age: float | None = None) -> QueueStats:
        """The last reading if younger than ``max_age`` (default: ``ttl``), else a new one."""
        limit = self.ttl if max_age is None else max_age
        async with self._lock:
            if self._stats is None or self.clock() - self._read_at >= limit:
                self._stats = await self._read()
                self._read_at = self.clock()
            return self._stats

    async def _read(self) -> QueueStats:
        async with self.pool.connection() as conn:
            totals_ttl = min(self.totals_ttl, max(self.ttl, TOTALS_COST_FACTOR * self._totals_cost))
            if self._totals_at is None or self.clock() - self._totals_read_at >= totals_ttl:
                started = self.clock()
                rows = await observability_store.job_count_by_queue_and_status(conn)
                self._totals = {(row.queue, row.status): row.count for row in rows}
                self._totals_at = datetime.datetime.now(datetime.UTC)
                self._totals_read_at = self.clock()
                self._totals_cost = self._totals_read_at - started
            active = await observability_store.job_count_active_by_queue(conn)
            lag_rows = await observability_store.queue_lag_list(conn)
            worker_rows = await observability_store.worker_list_with_jobs(conn)
        assert self._totals_at is not None
        counts = {
            key: value for key, value in self._totals.items() if key[1] not in ACTIVE_STATUSES
        }
        counts.update({(row.queue, row.status): row.count for row in active})
        return QueueStats(
            taken_at=datetime.datetime.now(datetime.UTC),
            counts=counts,
            totals_at=self._totals_at,
            lag={
                row.queue: QueueLag(
                    runnable=row.runnable, oldest_seconds=max(0.0, row.oldest_seconds)
                )
                for row in lag_rows
            },
            workers=[
                WorkerState(
                    id=row.id,
                    last_heartbeat=row.last_heartbeat,
                    heartbeat_age_seconds=row.heartbeat_age_seconds,
                    jobs=row.jobs,
                    stalled=row.heartbeat_age_seconds >= self.stalled_after_seconds,
                    name=row.name,
                    hostname=row.hostname,
                    pid=row.pid,
                    started_at=row.started_at,
                    jobs_finished=row.jobs_finished,
                    resident_memory_bytes=row.resident_memory_bytes,
                    recycling_reason=row.recycling_reason,
                )
                for row in worker_rows
            ],
        )
